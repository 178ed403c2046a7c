"""Binance JSON shapes of the sim exchange's state: REST answers and stream payloads. Pure.

Shapes follow the fact sheet (../shared/venues/binance.md §2, §4, §6): decimal values as strings, times
in ms, spot stream events without ``E`` on bookTicker, futures events with ``E``/``T``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.enums import MarketType, Side
from gateway.core.events import KLINE_INTERVALS, Kline, MarkPrice, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.simserver.binance.depth import DepthDiff

__all__ = [
    "agg_trade_event",
    "book_ticker_event",
    "depth_event",
    "depth_snapshot",
    "error",
    "exchange_info",
    "is_futures",
    "kline_event",
    "kline_row",
    "mark_price_event",
    "native_of",
    "order_limit",
    "rest_trade",
    "ticker_24h",
    "trade_event",
]


def native_of(instrument: Instrument) -> str:
    """Binance's name of a sim instrument: BASEQUOTE on spot and on USD-M futures alike."""
    return f"{instrument.base}{instrument.quote}"


def _s(value: Decimal) -> str:
    return format(value, "f")


def error(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}


def _levels(levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[_s(p), _s(q)] for p, q in levels]


def exchange_info(instruments: list[Instrument], futures: bool, now_ms: int, weight_limit: int,
                  weight_interval_s: int, order_limits: tuple[tuple[int, int], ...] = ()) -> dict[str, Any]:
    """``GET /api/v3/exchangeInfo`` or ``GET /fapi/v1/exchangeInfo`` for `instruments`."""
    if weight_interval_s % 60 == 0:
        interval, num = "MINUTE", weight_interval_s // 60
    else:
        interval, num = "SECOND", weight_interval_s
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": interval, "intervalNum": num, "limit": weight_limit}]
    limits += [order_limit(seconds, limit) for seconds, limit in order_limits]
    if not futures:
        limits.append({"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300_000})
    symbols = [_futures_symbol(i) if futures else _spot_symbol(i) for i in instruments]
    return {"timezone": "UTC", "serverTime": now_ms, "rateLimits": limits, "exchangeFilters": [], "symbols": symbols}


def order_limit(seconds: int, limit: int) -> dict[str, Any]:
    """One ORDERS entry of exchangeInfo ``rateLimits``."""
    for unit_s, name in ((86_400, "DAY"), (3_600, "HOUR"), (60, "MINUTE"), (1, "SECOND")):
        if seconds % unit_s == 0:
            return {"rateLimitType": "ORDERS", "interval": name, "intervalNum": seconds // unit_s, "limit": limit}
    raise ValueError(seconds)


def _common_filters(i: Instrument) -> list[dict[str, Any]]:
    return [
        {"filterType": "PRICE_FILTER", "minPrice": _s(i.tick_size), "maxPrice": "10000000", "tickSize": _s(i.tick_size)},
        {"filterType": "LOT_SIZE", "minQty": _s(i.min_qty), "maxQty": "9000", "stepSize": _s(i.step_size)},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": "1000", "stepSize": "0"},
    ]


def _spot_symbol(i: Instrument) -> dict[str, Any]:
    filters = [*_common_filters(i), {
        "filterType": "NOTIONAL", "minNotional": _s(i.min_notional), "applyMinToMarket": True,
        "maxNotional": "9000000", "applyMaxToMarket": False, "avgPriceMins": 5,
    }]
    return {
        "symbol": native_of(i), "status": "TRADING", "baseAsset": i.base, "baseAssetPrecision": 8,
        "quoteAsset": i.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": False, "ocoAllowed": False, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": filters, "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
    }


def _futures_symbol(i: Instrument) -> dict[str, Any]:
    filters = [*_common_filters(i), {"filterType": "MIN_NOTIONAL", "notional": _s(i.min_notional)},
               {"filterType": "MAX_NUM_ORDERS", "limit": 200}]
    return {
        "symbol": native_of(i), "pair": native_of(i), "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "baseAsset": i.base, "quoteAsset": i.quote,
        "marginAsset": i.settle or i.quote, "pricePrecision": max(0, -i.tick_size.as_tuple().exponent),
        "quantityPrecision": max(0, -i.step_size.as_tuple().exponent), "underlyingType": "COIN",
        "triggerProtect": "0.0500", "filters": filters, "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def depth_snapshot(last_id: int, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]],
                   futures: bool, now_ms: int) -> dict[str, Any]:
    body: dict[str, Any] = {"lastUpdateId": last_id}
    if futures:
        body["E"] = now_ms
        body["T"] = now_ms
    body["bids"] = _levels(bids)
    body["asks"] = _levels(asks)
    return body


def rest_trade(trade: Trade) -> dict[str, Any]:
    return {"id": int(trade.id), "price": _s(trade.price), "qty": _s(trade.qty),
            "quoteQty": _s(trade.price * trade.qty), "time": trade.ts, "isBuyerMaker": trade.side is Side.SELL,
            "isBestMatch": True}


def kline_row(k: Kline) -> list[Any]:
    close_time = k.open_ts + KLINE_INTERVALS[k.interval] - 1
    return [k.open_ts, _s(k.open), _s(k.high), _s(k.low), _s(k.close), _s(k.volume), close_time,
            _s(k.volume * k.close), 0, "0", "0", "0"]


def ticker_24h(t: Ticker, native: str) -> dict[str, Any]:
    change = t.last - t.open
    pct = (change / t.open * 100).quantize(Decimal("0.001")) if t.open else Decimal(0)
    return {"symbol": native, "priceChange": _s(change), "priceChangePercent": _s(pct),
            "weightedAvgPrice": _s(t.quote_volume / t.volume if t.volume else t.last), "lastPrice": _s(t.last),
            "lastQty": "0", "openPrice": _s(t.open), "highPrice": _s(t.high), "lowPrice": _s(t.low),
            "volume": _s(t.volume), "quoteVolume": _s(t.quote_volume), "openTime": t.ts - 86_400_000,
            "closeTime": t.ts, "firstId": 0, "lastId": 0, "count": 0}


# --- stream payloads ------------------------------------------------------------------------------------


def depth_event(diff: DepthDiff, native: str, futures: bool, now_ms: int) -> dict[str, Any]:
    event: dict[str, Any] = {"e": "depthUpdate", "E": now_ms}
    if futures:
        event["T"] = now_ms
    event.update({"s": native, "U": diff.U, "u": diff.u})
    if futures:
        event["pu"] = diff.pu
    event["b"] = _levels(diff.bids)
    event["a"] = _levels(diff.asks)
    return event


def trade_event(t: Trade, native: str, now_ms: int) -> dict[str, Any]:
    return {"e": "trade", "E": now_ms, "s": native, "t": int(t.id), "p": _s(t.price), "q": _s(t.qty), "T": t.ts,
            "m": t.side is Side.SELL, "M": True}


def agg_trade_event(t: Trade, native: str, now_ms: int, futures: bool) -> dict[str, Any]:
    event = {"e": "aggTrade", "E": now_ms, "s": native, "a": int(t.id), "p": _s(t.price), "q": _s(t.qty),
             "f": int(t.id), "l": int(t.id), "T": t.ts, "m": t.side is Side.SELL}
    if futures:
        event["nq"] = _s(t.qty)
    else:
        event["M"] = True
    return event


def book_ticker_event(update_id: int, native: str, bbo: tuple[Decimal | None, ...], futures: bool,
                      now_ms: int) -> dict[str, Any]:
    bid, bid_qty, ask, ask_qty = (v if v is not None else Decimal(0) for v in bbo)
    event: dict[str, Any] = {"e": "bookTicker", "u": update_id, "E": now_ms, "T": now_ms} if futures else \
        {"u": update_id}
    event.update({"s": native, "b": _s(bid), "B": _s(bid_qty), "a": _s(ask), "A": _s(ask_qty)})
    return event


def kline_event(k: Kline, native: str, now_ms: int) -> dict[str, Any]:
    close_time = k.open_ts + KLINE_INTERVALS[k.interval] - 1
    return {"e": "kline", "E": now_ms, "s": native, "k": {
        "t": k.open_ts, "T": close_time, "s": native, "i": k.interval, "f": 0, "L": 0, "o": _s(k.open),
        "c": _s(k.close), "h": _s(k.high), "l": _s(k.low), "v": _s(k.volume), "n": 0, "x": k.closed,
        "q": _s(k.volume * k.close), "V": "0", "Q": "0", "B": "0"}}


def mark_price_event(m: MarkPrice, native: str, now_ms: int) -> dict[str, Any]:
    return {"e": "markPriceUpdate", "E": now_ms, "s": native, "p": _s(m.mark_price), "ap": _s(m.mark_price),
            "P": _s(m.mark_price), "i": _s(m.index_price), "r": _s(m.funding_rate), "T": m.next_funding_ts}


def is_futures(instrument: Instrument) -> bool:
    return instrument.type is MarketType.PERP
