"""The Binance dialect's further market-data endpoints: aggregate and historical trades, the futures kline
families (continuous, index price, mark price, premium index), mark price / funding, and the price and
book tickers (fact sheet §2, §4), with the ws-fapi market methods ``depth``, ``ticker.price`` and
``ticker.book`` (§5) answered by the same code.

The sim keeps trade klines only; the mark price, the index price and the premium index
(``(mark - index) / index``) are sampled into their own `CandleSeries` each time the market steps
(`PriceHistory`), so their klines exist from the dialect's start on (no back-dated history: their bars
carry zero volume, as Binance's index klines do). Continuous klines of a ``PERPETUAL`` pair are the
perpetual's own trade klines (the sim lists no delivery contracts).

``/fapi/v1/historicalTrades`` is a MARKET_DATA endpoint: it needs ``X-MBX-APIKEY`` but no signature.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.core.enums import Side
from gateway.core.events import KLINE_INTERVALS, Kline, Trade
from gateway.simserver.binance.render import kline_row, rest_trade
from gateway.simserver.binance.rest import ApiError, Endpoint
from gateway.venues.sim.candles import CandleSeries

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["PriceHistory", "book_ticker_rows", "market_endpoints", "price_ticker_rows"]

_ONE = Decimal(1)
_KINDS = ("mark", "index", "premium")


def _s(value: Decimal) -> str:
    return format(value, "f")


class PriceHistory:
    """Mark, index and premium-index candles of every perpetual, sampled as the market steps."""

    def __init__(self, venue: str, symbols: list[str]):
        self.series = {(s, kind): CandleSeries(venue, s) for s in symbols for kind in _KINDS}

    def sample(self, symbol: str, mark: Decimal, index: Decimal, now_ms: int) -> None:
        """Fold one observation of `symbol`'s mark and index price into its candles."""
        if (symbol, "mark") not in self.series:
            return
        premium = ((mark - index) / index).quantize(Decimal("1e-8")) if index else Decimal(0)
        for kind, value in (("mark", mark), ("index", index), ("premium", premium)):
            self.series[(symbol, kind)].update(now_ms, [(value, _ONE)])  # weight 1: one sample

    def klines(self, symbol: str, kind: str, interval: str, limit: int, start: int | None,
               end: int | None) -> list[Kline]:
        return self.series[(symbol, kind)].klines(interval, limit, start, end)


# --- parameters ---------------------------------------------------------------------------------------


def _param(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def _int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                   "'^[0-9]{1,20}$'.") from None


def _limit(request: web.Request, default: int, maximum: int) -> int:
    limit = _int(request, "limit")
    return max(1, min(limit if limit is not None else default, maximum))


def _interval(request: web.Request) -> str:
    interval = _param(request, "interval")
    if interval not in KLINE_INTERVALS:
        raise ApiError(400, -1120, "Invalid interval.")
    return interval


def _index_row(k: Kline) -> list[Any]:
    # Index / mark / premium klines: the price columns, zero volume and counts (Binance's "ignore" fields).
    close_time = k.open_ts + KLINE_INTERVALS[k.interval] - 1
    return [k.open_ts, _s(k.open), _s(k.high), _s(k.low), _s(k.close), "0", close_time, "0", 0, "0", "0", "0"]


# --- handlers -----------------------------------------------------------------------------------------


def _agg(t: Trade, futures: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"a": int(t.id), "p": _s(t.price), "q": _s(t.qty), "f": int(t.id), "l": int(t.id),
                           "T": t.ts, "m": t.side is Side.SELL}
    if not futures:
        row["M"] = True
    return row


async def _agg_trades(d: BinanceDialect, market: str, request: web.Request) -> Any:
    symbol = d.symbol_of(market, _param(request, "symbol"))
    from_id, start, end = _int(request, "fromId"), _int(request, "startTime"), _int(request, "endTime")
    limit = _limit(request, 500, 1_000)
    trades = d.market.recent_trades(symbol, 1_000)
    found = [t for t in trades if (from_id is None or int(t.id) >= from_id)
             and (start is None or t.ts >= start) and (end is None or t.ts <= end)]
    found = found[:limit] if from_id is not None or start is not None else found[-limit:]
    return [_agg(t, market == "usdm") for t in found]


async def _historical_trades(d: BinanceDialect, market: str, request: web.Request) -> Any:
    key = request.headers.get("X-MBX-APIKEY")
    if key is None:
        raise ApiError(401, -2014, "API-key format invalid.")
    if key not in d.keys:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    symbol = d.symbol_of(market, _param(request, "symbol"))
    from_id, limit = _int(request, "fromId"), _limit(request, 500, 1_000)
    trades = d.market.recent_trades(symbol, 1_000)
    found = [t for t in trades if from_id is None or int(t.id) >= from_id]
    found = found[:limit] if from_id is not None else found[-limit:]
    return [rest_trade(t) for t in found]


def _pair_symbol(d: BinanceDialect, request: web.Request) -> str:
    return d.symbol_of("usdm", _param(request, "pair"))


async def _continuous_klines(d: BinanceDialect, market: str, request: web.Request) -> Any:
    symbol = _pair_symbol(d, request)
    contract = _param(request, "contractType")
    if contract not in ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER", "TRADIFI_PERPETUAL"):
        raise ApiError(400, -1100, "Illegal characters found in parameter 'contractType'.")
    if contract != "PERPETUAL":  # the sim lists perpetuals only
        return []
    interval, limit = _interval(request), _limit(request, 500, 1_500)
    klines = d.market.klines(symbol, interval, limit, _int(request, "startTime"), _int(request, "endTime"))
    return [kline_row(k) for k in klines]


def _price_klines(kind: str, by_pair: bool) -> Callable[..., Any]:
    async def handler(d: BinanceDialect, market: str, request: web.Request) -> Any:
        symbol = _pair_symbol(d, request) if by_pair else d.symbol_of("usdm", _param(request, "symbol"))
        interval, limit = _interval(request), _limit(request, 500, 1_500)
        klines = d.prices.klines(symbol, kind, interval, limit, _int(request, "startTime"), _int(request, "endTime"))
        return [_index_row(k) for k in klines]

    return handler


async def _premium_index(d: BinanceDialect, market: str, request: web.Request) -> Any:
    wanted = request.query.get("symbol")
    symbols = [d.symbol_of("usdm", wanted)] if wanted else [i.symbol for i in d.instruments_of("usdm")]
    now, rows = d.now_ms(), []
    for symbol in symbols:
        mark = d.market.mark(symbol)
        if mark is None:
            continue
        rows.append({"symbol": d.native_of(symbol), "markPrice": _s(mark.mark_price),
                     "indexPrice": _s(mark.index_price), "estimatedSettlePrice": _s(mark.mark_price),
                     "lastFundingRate": _s(mark.funding_rate), "interestRate": "0.00010000",
                     "nextFundingTime": mark.next_funding_ts, "time": now})
    return rows[0] if wanted and rows else rows


def _symbols(d: BinanceDialect, market: str, wanted: str | None) -> list[str]:
    return [d.symbol_of(market, wanted)] if wanted else [i.symbol for i in d.instruments_of(market)]


def price_ticker_rows(d: BinanceDialect, market: str, wanted: str | None) -> Any:
    """``ticker/price`` (REST) and ``ticker.price`` (ws-fapi): one object with a symbol, else a list."""
    now, rows = d.now_ms(), []
    for symbol in _symbols(d, market, wanted):
        last = d.engine.last_price(symbol)
        row: dict[str, Any] = {"symbol": d.native_of(symbol), "price": _s(last) if last is not None else "0"}
        if market == "usdm":
            row["time"] = now
        rows.append(row)
    return rows[0] if wanted else rows


def book_ticker_rows(d: BinanceDialect, market: str, wanted: str | None) -> Any:
    """``ticker/bookTicker`` (REST) and ``ticker.book`` (ws-fapi): one object with a symbol, else a list."""
    now, rows = d.now_ms(), []
    for symbol in _symbols(d, market, wanted):
        bid, bid_qty, ask, ask_qty = (v if v is not None else Decimal(0) for v in d.engine.bbo(symbol))
        row: dict[str, Any] = {"symbol": d.native_of(symbol), "bidPrice": _s(bid), "bidQty": _s(bid_qty),
                               "askPrice": _s(ask), "askQty": _s(ask_qty)}
        if market == "usdm":
            row = {"lastUpdateId": d.feeds[symbol].last_id, **row, "time": now}
        rows.append(row)
    return rows[0] if wanted else rows


async def _price_ticker(d: BinanceDialect, market: str, request: web.Request) -> Any:
    return price_ticker_rows(d, market, request.query.get("symbol"))


async def _book_ticker(d: BinanceDialect, market: str, request: web.Request) -> Any:
    return book_ticker_rows(d, market, request.query.get("symbol"))


def _fixed(weight: int, without_symbol: int | None = None) -> Callable[[web.Request], int]:
    if without_symbol is None:
        return lambda request: weight
    return lambda request: weight if "symbol" in request.query else without_symbol


def _by_limit(request: web.Request) -> int:
    # Futures kline families (fact sheet §4): 1 below 100, 2 below 500, 5 up to 1000, 10 above.
    try:
        limit = int(request.query.get("limit", "500"))
    except ValueError:
        return 1
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def market_endpoints() -> dict[str, Endpoint]:
    """Return path -> endpoint of the endpoints above (weights: fact sheet §2, §4; the rest unverified)."""
    return {
        "/api/v3/aggTrades": Endpoint("spot", _fixed(4), _agg_trades),
        "/api/v3/historicalTrades": Endpoint("spot", _fixed(25), _historical_trades),
        "/api/v3/ticker/price": Endpoint("spot", _fixed(2, 4), _price_ticker),
        "/api/v3/ticker/bookTicker": Endpoint("spot", _fixed(2, 4), _book_ticker),
        "/fapi/v1/aggTrades": Endpoint("usdm", _fixed(20), _agg_trades),
        "/fapi/v1/historicalTrades": Endpoint("usdm", _fixed(20), _historical_trades),
        "/fapi/v1/continuousKlines": Endpoint("usdm", _by_limit, _continuous_klines),
        "/fapi/v1/indexPriceKlines": Endpoint("usdm", _by_limit, _price_klines("index", by_pair=True)),
        "/fapi/v1/markPriceKlines": Endpoint("usdm", _by_limit, _price_klines("mark", by_pair=False)),
        "/fapi/v1/premiumIndexKlines": Endpoint("usdm", _by_limit, _price_klines("premium", by_pair=False)),
        "/fapi/v1/premiumIndex": Endpoint("usdm", _fixed(1, 10), _premium_index),
        "/fapi/v1/ticker/price": Endpoint("usdm", _fixed(1, 2), _price_ticker),
        "/fapi/v2/ticker/price": Endpoint("usdm", _fixed(1, 2), _price_ticker),
        "/fapi/v1/ticker/bookTicker": Endpoint("usdm", _fixed(2, 5), _book_ticker),
    }
