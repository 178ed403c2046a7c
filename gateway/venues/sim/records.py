"""Plain records of the simulated exchange: the engine's order state and the events its calls return.

Everything here is a plain dataclass of str / int / bool / Decimal / StrEnum fields, so the engine state
serializes without custom code. Events are frozen snapshots; `SimOrder` is the engine's mutable state.

Engine events, in the order a call returns them:
- `OrderEvent`: an order's state after a change (ack, partial fill, fill, cancel, expiry, amend, trigger).
  Accessors return the same snapshot type.
- `FillEvent`: one side of one match (a match yields two, one per account, sharing the trade id).
- `TradeEvent`: a match for the public tape (the taker's side).
- `BalanceEvent` / `PositionEvent`: an account's asset balance or perp position after the call.
- `BookEvent`: the book of a symbol changed during the call; `seq` is its sequence number afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.core.enums import Liquidity, MarginType, OrderStatus, OrderType, Side, TimeInForce

__all__ = [
    "BalanceEvent",
    "BookEvent",
    "EngineEvent",
    "FillEvent",
    "OrderEvent",
    "OrderRefused",
    "PositionEvent",
    "SimOrder",
    "TradeEvent",
    "ZERO",
]

ZERO = Decimal(0)


class OrderRefused(Exception):
    """The engine refused a request and changed nothing.

    Attributes:
        reason: a stable snake_case code, e.g. ``insufficient_balance``, ``duplicate_client_order_id``,
            ``post_only_would_take``, ``price_off_tick``, ``qty_off_step``, ``order_not_found``.
    """

    def __init__(self, reason: str, message: str | None = None):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason


@dataclass(slots=True)
class SimOrder:
    """The engine's state of one order. Mutated only by the engine."""

    order_id: str
    account: str
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    client_order_id: str | None
    created_ts: int
    updated_ts: int
    house: bool = False
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = ZERO
    cost: Decimal = ZERO  # sum of price * qty over fills, for the average price
    triggered: bool = False
    resting: bool = False  # in the book now
    seq: int = 0  # queue token: changes whenever the order (re)joins a price level
    reason: str | None = None
    # the balance held for this order: `locked` of `lock_asset`, released per fill at
    # qty * (lock_price or fill price) * lock_rate, the rest when the order ends
    locked: Decimal = ZERO
    lock_asset: str = ""
    lock_price: Decimal | None = None
    lock_rate: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN

    def snapshot(self) -> OrderEvent:
        return OrderEvent(
            account=self.account,
            symbol=self.symbol,
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            side=self.side,
            type=self.type,
            tif=self.tif,
            price=self.price,
            trigger_price=self.trigger_price,
            qty=self.qty,
            filled_qty=self.filled_qty,
            avg_price=(self.cost / self.filled_qty) if self.filled_qty else None,
            status=self.status,
            reduce_only=self.reduce_only,
            triggered=self.triggered,
            reason=self.reason,
            created_ts=self.created_ts,
            ts=self.updated_ts,
        )


_OPEN = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


@dataclass(frozen=True, slots=True)
class OrderEvent:
    account: str
    symbol: str
    order_id: str
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
    triggered: bool
    reason: str | None
    created_ts: int
    ts: int


@dataclass(frozen=True, slots=True)
class FillEvent:
    account: str
    symbol: str
    order_id: str
    client_order_id: str | None
    trade_id: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    realized_pnl: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class TradeEvent:
    symbol: str
    trade_id: str
    price: Decimal
    qty: Decimal
    taker_side: Side
    ts: int


@dataclass(frozen=True, slots=True)
class BalanceEvent:
    account: str
    asset: str
    free: Decimal
    locked: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class PositionEvent:
    account: str
    symbol: str
    qty: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    margin: Decimal
    leverage: int
    margin_type: MarginType
    ts: int


@dataclass(frozen=True, slots=True)
class BookEvent:
    symbol: str
    seq: int
    ts: int


EngineEvent = OrderEvent | FillEvent | TradeEvent | BalanceEvent | PositionEvent | BookEvent

