"""Fetching the venue's truth for reconciliation: a `VenueView` per market type, and prices per symbol.

Orders and fills reach back to the oldest live request of a bracket (`since_ms`, bounded); positions are
asked only when the venue lists perps, and the view of spot symbols carries `positions=None` (a spot
"position" is a balance, not something a venue reports as flat). Prices come from the market cache
(or the venue when the cache is stale); `high_low_since` adds the highest and lowest price of the 1m
klines since then, for triggers crossed while the gateway was away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.enums import MarketType
from gateway.core.errors import GatewayError
from gateway.core.events import Fill, OrderUpdate, Position
from gateway.core.ports import VenueAdapter
from gateway.market.service import MarketService
from gateway.orders.brackets.model import Bracket, LegStatus
from gateway.orders.brackets.venue_view import PriceView, VenueView

__all__ = ["armed_symbols", "fetch_views", "oldest_request", "price_views"]

log = structlog.get_logger("gateway.brackets")


def oldest_request(brackets: Iterable[Bracket]) -> int | None:
    """Return the time of the oldest request of a live bracket (its entry or a leg), or None if none is live."""
    oldest: int | None = None
    for b in brackets:
        if b.is_terminal:
            continue
        times = [b.entry.requested_ts, *(t for leg in b.legs for t in (leg.placed_ts, leg.requested_ts) if t)]
        first = min(times)
        oldest = first if oldest is None else min(oldest, first)
    return oldest


async def fetch_views(adapter: VenueAdapter, *, ts: int, since_ms: int | None,
                      prices: dict[str, PriceView]) -> list[VenueView]:
    """Fetch the venue's open orders, orders and fills since `since_ms`, and positions; split by market type.

    Raises:
        GatewayError, TimeoutError, OSError: the venue did not answer (the caller bounds the time).
    """
    open_orders: list[OrderUpdate] = await adapter.open_orders()
    recent: list[OrderUpdate] = []
    fills: list[Fill] = []
    if since_ms is not None:
        recent = await adapter.orders_since(since_ms)
        fills = await adapter.fills_since(since_ms)
    perps = {s for s, i in adapter.instruments.items() if i.type is MarketType.PERP}
    positions: list[Position] = await adapter.positions() if perps else []
    views = []
    for is_perp in (True, False):
        def mine(symbol: str, is_perp: bool = is_perp) -> bool:
            return (symbol in perps) is is_perp
        views.append(VenueView.from_reports(
            adapter.name, open_orders=[o for o in open_orders if mine(o.symbol)],
            recent_orders=[o for o in recent if mine(o.symbol)], fills=[f for f in fills if mine(f.symbol)],
            positions=[p for p in positions if p.symbol in perps] if is_perp else None,
            prices={s: p for s, p in prices.items() if mine(s)}, ts=ts))
    return views


async def price_views(market: MarketService, venue: str, symbols: Iterable[str],
                      high_low_since: int | None) -> dict[str, PriceView]:
    """Return the current prices of `symbols` (and their 1m-kline extremes since `high_low_since`)."""
    out: dict[str, PriceView] = {}
    for symbol in symbols:
        last = bid = ask = high = low = None
        try:
            ticker = await market.ticker(venue, symbol)
            last = _dec(ticker.get("last"))
            bbo = await market.bbo(venue, symbol)
            bid, ask = _dec(bbo.get("bid")), _dec(bbo.get("ask"))
            if high_low_since is not None:
                klines = await market.klines(venue, symbol, "1m", limit=1000, start=high_low_since)
                highs = [_dec(k["high"]) for k in klines]
                lows = [_dec(k["low"]) for k in klines]
                high = max((h for h in highs if h is not None), default=None)
                low = min((x for x in lows if x is not None), default=None)
        except (GatewayError, TimeoutError, OSError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.warning("bracket.prices_unavailable", venue=venue, symbol=symbol, error=repr(exc))
        entry = market.entry(venue, symbol)
        mark = entry.mark.mark_price if entry is not None and entry.mark is not None else None
        out[symbol] = PriceView(last=last, mark=mark, bid=bid, ask=ask, high=high, low=low)
    return out


def armed_symbols(brackets: Iterable[Bracket]) -> set[str]:
    """Return the symbols of brackets that have an armed emulated leg (they need prices)."""
    return {b.symbol for b in brackets if not b.is_terminal
            and any(leg.status is LegStatus.ARMED for leg in b.legs)}


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))
