"""Binance wire structs -> the gateway's market events. Pure free functions.

Sides: Binance reports ``m`` / ``isBuyerMaker``; when the buyer was the maker the taker sold.
Prices and quantities stay decimal strings on the wire and become `Decimal` here, once.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.core.enums import Side
from gateway.core.events import Bbo, Depth, Kline, MarkPrice, Ticker, Trade
from gateway.venues.binance.schemas import (
    AggTradeEvent,
    BookTickerEvent,
    KlineEvent,
    KlineRow,
    Level,
    MarkPriceEvent,
    RestTrade,
    Ticker24h,
    TradeEvent,
)

__all__ = [
    "to_bbo",
    "to_depth",
    "to_kline",
    "to_klines",
    "to_levels",
    "to_mark_price",
    "to_rest_trades",
    "to_ticker",
    "to_trade",
]

PriceLevels = list[tuple[Decimal, Decimal]]


def to_levels(levels: list[Level]) -> PriceLevels:
    """Return ``[[price, qty], ...]`` strings as (price, qty) Decimals, in the given order."""
    return [(Decimal(p), Decimal(q)) for p, q in levels]


def _taker_side(buyer_is_maker: bool) -> Side:
    return Side.SELL if buyer_is_maker else Side.BUY


def to_trade(msg: TradeEvent | AggTradeEvent, venue: str, symbol: str, recv_ts: int) -> Trade:
    """Convert a trade or aggTrade event (an aggTrade's id is its aggregate id)."""
    trade_id = msg.t if isinstance(msg, TradeEvent) else msg.a
    return Trade(venue, symbol, str(trade_id), Decimal(msg.p), Decimal(msg.q), _taker_side(msg.m), msg.T, recv_ts)


def to_rest_trades(rows: list[RestTrade], venue: str, symbol: str, recv_ts: int) -> list[Trade]:
    """Convert ``GET .../trades`` rows (oldest first, as Binance sends them)."""
    return [Trade(venue, symbol, str(r.id), Decimal(r.price), Decimal(r.qty), _taker_side(r.isBuyerMaker), r.time,
                  recv_ts) for r in rows]


def to_bbo(msg: BookTickerEvent, venue: str, symbol: str, recv_ts: int) -> Bbo:
    """Convert a bookTicker; spot sends no time, so its venue time is the receive time."""
    ts = msg.T or msg.E or recv_ts
    bid, bid_qty, ask, ask_qty = Decimal(msg.b), Decimal(msg.B), Decimal(msg.a), Decimal(msg.A)
    # An empty side comes as price 0 / qty 0.
    return Bbo(venue, symbol, bid if bid_qty else None, bid_qty if bid_qty else None,
               ask if ask_qty else None, ask_qty if ask_qty else None, ts, recv_ts)


def to_kline(msg: KlineEvent, venue: str, symbol: str) -> Kline:
    k = msg.k
    return Kline(venue, symbol, k.i, k.t, Decimal(k.o), Decimal(k.h), Decimal(k.l), Decimal(k.c), Decimal(k.v), k.x)


def to_klines(rows: list[KlineRow], venue: str, symbol: str, interval: str, now_ms: int) -> list[Kline]:
    """Convert REST kline rows; a bar is closed once its close time has passed (server time `now_ms`)."""
    return [Kline(venue, symbol, interval, r.openTime, Decimal(r.open), Decimal(r.high), Decimal(r.low),
                  Decimal(r.close), Decimal(r.volume), r.closeTime < now_ms) for r in rows]


def to_mark_price(msg: MarkPriceEvent, venue: str, symbol: str) -> MarkPrice:
    return MarkPrice(venue, symbol, Decimal(msg.p), Decimal(msg.i), Decimal(msg.r), msg.T, msg.E)


def to_ticker(msg: Ticker24h, venue: str, symbol: str) -> Ticker:
    return Ticker(venue, symbol, Decimal(msg.lastPrice), Decimal(msg.openPrice), Decimal(msg.highPrice),
                  Decimal(msg.lowPrice), Decimal(msg.volume), Decimal(msg.quoteVolume), msg.closeTime)


def to_depth(
    bids: PriceLevels, asks: PriceLevels, seq: int, venue: str, symbol: str, ts: int, recv_ts: int
) -> Depth:
    """Build a depth event from best-first levels (the local book's top, or a REST snapshot)."""
    return Depth(venue, symbol, tuple(bids), tuple(asks), seq, ts, recv_ts)
