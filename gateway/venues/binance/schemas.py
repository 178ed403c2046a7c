"""Binance wire messages as frozen structs with Binance's own field names, and their decoders. Pure.

Field comments cite the fact sheet (../shared/venues/binance.md) sections. Decoders take the dict orjson
produced and ignore unknown keys (futures payloads gain ``st`` / ``ps`` fields: §0.7). Conversion to the
gateway's model lives in `parse` and `instruments`, as free functions.

Stream messages are dispatched on their event type ``e`` (a typed discriminator); spot ``bookTicker``
has no ``e``, so the channel known from the subscription stands in for it (`decode_market_message`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AggTradeEvent",
    "BookTickerEvent",
    "ControlReply",
    "DepthSnapshot",
    "DepthUpdate",
    "ExchangeInfo",
    "KlineBar",
    "KlineEvent",
    "KlineRow",
    "MarkPriceEvent",
    "MarketMessage",
    "RateLimitInfo",
    "RestTrade",
    "ServerTime",
    "StreamFrame",
    "SymbolInfo",
    "Ticker24h",
    "TradeEvent",
    "decode_control_reply",
    "decode_depth_snapshot",
    "decode_depth_update",
    "decode_exchange_info",
    "decode_kline_rows",
    "decode_market_message",
    "decode_rest_trades",
    "decode_server_time",
    "decode_stream_frame",
    "decode_ticker_24h",
]

Level = list[str]  # [price, qty] as decimal strings


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """Diff depth ``<symbol>@depth[@100ms]`` (§6.1 spot, §6.2 futures)."""

    e: str  # event type: "depthUpdate"
    E: int  # event time (ms)
    s: str  # symbol, e.g. "BTCUSDT"
    U: int  # first update id in the event
    u: int  # final update id in the event
    b: list[Level]  # bids to update; quantities are absolute, "0" removes the level
    a: list[Level]  # asks to update
    pu: int | None = None  # futures only: final update id of the previous event (the chain to check)
    T: int | None = None  # futures only: transaction time


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """``GET /api/v3/depth`` / ``GET /fapi/v1/depth`` (§2, §4)."""

    lastUpdateId: int  # the update id the snapshot reflects
    bids: list[Level]  # best first
    asks: list[Level]
    E: int | None = None  # futures only: message output time
    T: int | None = None  # futures only: transaction time


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """Spot ``<symbol>@trade`` (§6.1)."""

    e: str  # "trade"
    E: int  # event time
    s: str  # symbol
    t: int  # trade id
    p: str  # price
    q: str  # quantity
    T: int  # trade time
    m: bool  # is the buyer the maker (then the taker sold)


@dataclass(frozen=True, slots=True)
class AggTradeEvent:
    """``<symbol>@aggTrade`` (§6.1, §6.2)."""

    e: str  # "aggTrade"
    E: int  # event time
    s: str  # symbol
    a: int  # aggregate trade id
    p: str  # price
    q: str  # quantity
    f: int  # first trade id
    l: int  # last trade id
    T: int  # trade time
    m: bool  # is the buyer the maker


@dataclass(frozen=True, slots=True)
class BookTickerEvent:
    """``<symbol>@bookTicker`` (§6.1: no e/E on spot; §6.2: futures adds e, E, T)."""

    u: int  # order book update id
    s: str  # symbol
    b: str  # best bid price
    B: str  # best bid qty
    a: str  # best ask price
    A: str  # best ask qty
    E: int | None = None  # futures: event time
    T: int | None = None  # futures: transaction time


@dataclass(frozen=True, slots=True)
class KlineBar:
    """The ``k`` object of a kline event."""

    t: int  # open time
    T: int  # close time
    i: str  # interval
    o: str  # open
    c: str  # close
    h: str  # high
    l: str  # low
    v: str  # base volume
    x: bool  # is this bar closed


@dataclass(frozen=True, slots=True)
class KlineEvent:
    """``<symbol>@kline_<interval>`` (§6.1, §6.2)."""

    e: str  # "kline"
    E: int  # event time
    s: str  # symbol
    k: KlineBar


@dataclass(frozen=True, slots=True)
class MarkPriceEvent:
    """Futures ``<symbol>@markPrice[@1s]`` (§6.2)."""

    e: str  # "markPriceUpdate"
    E: int  # event time
    s: str  # symbol
    p: str  # mark price
    i: str  # index price
    r: str  # funding rate
    T: int  # next funding time


MarketMessage = DepthUpdate | TradeEvent | AggTradeEvent | BookTickerEvent | KlineEvent | MarkPriceEvent


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """A combined-stream envelope ``{"stream": name, "data": payload}`` (§6.1)."""

    stream: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ControlReply:
    """The answer to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS: ``{"result": ..., "id": ...}``."""

    id: int | str | None
    result: Any
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RestTrade:
    """One row of ``GET /api/v3/trades`` / ``GET /fapi/v1/trades``."""

    id: int  # trade id
    price: str
    qty: str
    time: int  # trade time
    isBuyerMaker: bool  # then the taker sold


@dataclass(frozen=True, slots=True)
class KlineRow:
    """One row of ``GET .../klines``: [openTime, o, h, l, c, volume, closeTime, ...] (§2)."""

    openTime: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    closeTime: int


@dataclass(frozen=True, slots=True)
class Ticker24h:
    """``GET /api/v3/ticker/24hr`` / ``GET /fapi/v1/ticker/24hr`` for one symbol."""

    symbol: str
    lastPrice: str
    openPrice: str
    highPrice: str
    lowPrice: str
    volume: str  # base volume
    quoteVolume: str
    closeTime: int


@dataclass(frozen=True, slots=True)
class ServerTime:
    """``GET /api/v3/time`` / ``GET /fapi/v1/time``."""

    serverTime: int  # ms


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """One ``rateLimits`` entry of exchangeInfo."""

    rateLimitType: str  # REQUEST_WEIGHT, ORDERS, RAW_REQUESTS
    interval: str  # SECOND, MINUTE, HOUR, DAY
    intervalNum: int
    limit: int


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One ``symbols`` entry of exchangeInfo (§2 filters; §4 futures fields)."""

    symbol: str  # native name, e.g. BTCUSDT
    status: str  # TRADING, ...
    baseAsset: str
    quoteAsset: str
    filters: dict[str, dict[str, Any]]  # by filterType
    contractType: str | None = None  # futures: PERPETUAL, CURRENT_QUARTER, ...
    marginAsset: str | None = None  # futures: the settle asset


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    """``GET /api/v3/exchangeInfo`` / ``GET /fapi/v1/exchangeInfo``."""

    serverTime: int
    rateLimits: list[RateLimitInfo]
    symbols: list[SymbolInfo]


# --- decoders ------------------------------------------------------------------------------------------


def decode_stream_frame(obj: dict[str, Any]) -> StreamFrame | ControlReply:
    """Decode one message of a combined-stream connection: an event envelope or a control reply."""
    stream = obj.get("stream")
    if stream is not None:
        return StreamFrame(stream, obj["data"])
    return decode_control_reply(obj)


def decode_control_reply(obj: dict[str, Any]) -> ControlReply:
    return ControlReply(obj.get("id"), obj.get("result"), obj.get("error"))


def decode_depth_update(d: dict[str, Any]) -> DepthUpdate:
    return DepthUpdate(d["e"], d["E"], d["s"], d["U"], d["u"], d["b"], d["a"], d.get("pu"), d.get("T"))


def _trade(d: dict[str, Any]) -> TradeEvent:
    return TradeEvent(d["e"], d["E"], d["s"], d["t"], d["p"], d["q"], d["T"], d["m"])


def _agg_trade(d: dict[str, Any]) -> AggTradeEvent:
    return AggTradeEvent(d["e"], d["E"], d["s"], d["a"], d["p"], d["q"], d["f"], d["l"], d["T"], d["m"])


def _book_ticker(d: dict[str, Any]) -> BookTickerEvent:
    return BookTickerEvent(d["u"], d["s"], d["b"], d["B"], d["a"], d["A"], d.get("E"), d.get("T"))


def _kline(d: dict[str, Any]) -> KlineEvent:
    k = d["k"]
    bar = KlineBar(k["t"], k["T"], k["i"], k["o"], k["c"], k["h"], k["l"], k["v"], k["x"])
    return KlineEvent(d["e"], d["E"], d["s"], bar)


def _mark_price(d: dict[str, Any]) -> MarkPriceEvent:
    return MarkPriceEvent(d["e"], d["E"], d["s"], d["p"], d["i"], d["r"], d["T"])


_DECODERS = {
    "depthUpdate": decode_depth_update,
    "trade": _trade,
    "aggTrade": _agg_trade,
    "bookTicker": _book_ticker,
    "kline": _kline,
    "markPriceUpdate": _mark_price,
}


def decode_market_message(data: dict[str, Any], channel: str) -> MarketMessage | None:
    """Decode a stream payload by its ``e`` (or, without one, the subscription's `channel`).

    Returns None for an event type this module does not model (the caller ignores it).

    Raises:
        KeyError, TypeError: a known event type with a field missing (a malformed frame).
    """
    decoder = _DECODERS.get(data.get("e") or channel)
    return decoder(data) if decoder is not None else None


def decode_depth_snapshot(d: dict[str, Any]) -> DepthSnapshot:
    return DepthSnapshot(d["lastUpdateId"], d["bids"], d["asks"], d.get("E"), d.get("T"))


def decode_rest_trades(rows: list[dict[str, Any]]) -> list[RestTrade]:
    return [RestTrade(r["id"], r["price"], r["qty"], r["time"], r["isBuyerMaker"]) for r in rows]


def decode_kline_rows(rows: list[list[Any]]) -> list[KlineRow]:
    return [KlineRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in rows]


def decode_ticker_24h(d: dict[str, Any]) -> Ticker24h:
    return Ticker24h(d["symbol"], d["lastPrice"], d["openPrice"], d["highPrice"], d["lowPrice"], d["volume"],
                     d["quoteVolume"], d["closeTime"])


def decode_server_time(d: dict[str, Any]) -> ServerTime:
    return ServerTime(d["serverTime"])


def decode_exchange_info(d: dict[str, Any]) -> ExchangeInfo:
    limits = [RateLimitInfo(r["rateLimitType"], r["interval"], r["intervalNum"], r["limit"])
              for r in d.get("rateLimits", [])]
    symbols = [
        SymbolInfo(
            s["symbol"], s["status"], s["baseAsset"], s["quoteAsset"],
            {f["filterType"]: f for f in s.get("filters", [])}, s.get("contractType"), s.get("marginAsset"),
        )
        for s in d.get("symbols", [])
    ]
    return ExchangeInfo(d.get("serverTime", 0), limits, symbols)
