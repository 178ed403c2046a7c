"""Normalized events. Venues parse their wire formats into these at the edge; the APIs serialize them out.

Field names are the strategy API's field names (docs/strategy-api.md), so an event serializes as-is.
Every event carries venue time `ts` and, where it came over a wire, gateway receive time `recv_ts` (ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.core.enums import Liquidity, MarginType, OrderStatus, OrderType, Side, TimeInForce

__all__ = [
    "Balance",
    "Bbo",
    "Depth",
    "Fill",
    "Kline",
    "KLINE_INTERVALS",
    "MarkPrice",
    "MarketEvent",
    "OrderUpdate",
    "Position",
    "Ticker",
    "Trade",
    "UserEvent",
]

KLINE_INTERVALS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
                                   "4h": 14_400_000, "1d": 86_400_000}

PriceLevel = tuple[Decimal, Decimal]  # (price, qty)


@dataclass(frozen=True, slots=True)
class Trade:
    venue: str
    symbol: str
    id: str
    price: Decimal
    qty: Decimal
    side: Side  # the taker's side
    ts: int
    recv_ts: int


@dataclass(frozen=True, slots=True)
class Bbo:
    venue: str
    symbol: str
    bid: Decimal | None
    bid_qty: Decimal | None
    ask: Decimal | None
    ask_qty: Decimal | None
    ts: int
    recv_ts: int


@dataclass(frozen=True, slots=True)
class Depth:
    venue: str
    symbol: str
    bids: tuple[PriceLevel, ...]  # best first
    asks: tuple[PriceLevel, ...]
    seq: int
    ts: int
    recv_ts: int


@dataclass(frozen=True, slots=True)
class Ticker:
    venue: str
    symbol: str
    last: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    quote_volume: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class Kline:
    venue: str
    symbol: str
    interval: str
    open_ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool


@dataclass(frozen=True, slots=True)
class MarkPrice:
    venue: str
    symbol: str
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal
    next_funding_ts: int
    ts: int


MarketEvent = Trade | Bbo | Depth | Ticker | Kline | MarkPrice


# --- user data: reports a venue pushes about our account -------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A venue's report of an order's state (ack, reject, cancel, expiry, amend, or a query answer)."""

    venue: str
    symbol: str
    order_id: str | None
    client_order_id: str | None
    side: Side
    type: OrderType
    tif: TimeInForce
    price: Decimal | None
    trigger_price: Decimal | None
    qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    status: OrderStatus
    reduce_only: bool
    ts: int
    recv_ts: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    venue: str
    symbol: str
    order_id: str | None
    client_order_id: str | None
    trade_id: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    ts: int
    recv_ts: int


@dataclass(frozen=True, slots=True)
class Balance:
    venue: str
    asset: str
    free: Decimal
    locked: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class Position:
    venue: str
    symbol: str
    qty: Decimal  # signed: long > 0, short < 0
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
    margin_type: MarginType
    ts: int


UserEvent = OrderUpdate | Fill | Balance | Position
