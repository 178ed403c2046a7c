"""Market data on demand (the market service's fallback, and the seed's fetch_* calls) over REST."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.errors import ErrorCode, LookupFailed
from gateway.core.events import KLINE_INTERVALS, Depth, Kline, Ticker, Trade
from gateway.venues.lighter import parse

if TYPE_CHECKING:
    from gateway.venues.lighter.adapter import LighterAdapter

__all__ = ["fetch_depth", "fetch_klines", "fetch_ticker", "fetch_trades"]


async def fetch_ticker(adapter: LighterAdapter, symbol: str) -> Ticker:
    """The venue's ticker from orderBookDetails (daily statistics)."""
    spec = adapter.spec(symbol)
    assert adapter.rest is not None
    answer = await adapter.rest.get("/api/v1/orderBookDetails", {"market_id": spec.market_id})
    rows = answer.get("order_book_details") or []
    if not rows:
        raise LookupFailed(f"no details for {symbol}", code=ErrorCode.UNKNOWN_SYMBOL)
    return parse.to_ticker(adapter.name, spec, rows[0], adapter.now_ms())


async def fetch_depth(adapter: LighterAdapter, symbol: str, limit: int) -> Depth:
    spec = adapter.spec(symbol)
    assert adapter.rest is not None
    answer = await adapter.rest.get("/api/v1/orderBookOrders", {"market_id": spec.market_id,
                                                              "limit": max(1, min(limit, 250))})
    return parse.to_depth(adapter.name, spec, answer, adapter.now_ms())


async def fetch_trades(adapter: LighterAdapter, symbol: str, limit: int) -> list[Trade]:
    spec = adapter.spec(symbol)
    assert adapter.rest is not None
    answer = await adapter.rest.get("/api/v1/recentTrades", {"market_id": spec.market_id,
                                                           "limit": max(1, min(limit, 100))})
    now = adapter.now_ms()
    return [parse.to_trade(adapter.name, spec, t, now) for t in answer.get("trades") or []]


async def fetch_klines(adapter: LighterAdapter, symbol: str, interval: str, limit: int, start: int | None = None,
                       end: int | None = None) -> list[Kline]:
    spec = adapter.spec(symbol)
    assert adapter.rest is not None
    step = KLINE_INTERVALS[interval]
    now = adapter.now_ms()
    end = end if end is not None else now
    start = start if start is not None else end - step * limit
    answer = await adapter.rest.get("/api/v1/candles", {
        "market_id": spec.market_id, "resolution": adapter.settings.candle_resolution.get(interval, interval),
        "start_timestamp": start, "end_timestamp": end, "count_back": min(limit, 500)})
    return parse.to_klines(adapter.name, spec, interval, answer, now, step)[-limit:]

