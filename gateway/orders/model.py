"""The order record the order manager owns, and the fill record it keeps.

`Order` is mutable and belongs to exactly one writer, `OrderManager`; everything else sees its public
dict (`to_public()`, the strategy API's order shape) or a persisted row. Quantities are `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.core.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import Fill

__all__ = ["FillRecord", "Order", "ZERO", "order_key"]

ZERO = Decimal(0)


def order_key(client_order_id: str | None, order_id: str | None) -> str:
    """Return the key an order is stored under within its account.

    Orders the gateway placed always have a client order id. An external order reported without one is
    keyed by the venue's order id, with a `#` prefix no generated or accepted client id can carry.
    """
    if client_order_id:
        return client_order_id
    return f"#{order_id}"


@dataclass(slots=True, eq=False)
class Order:
    """One order as the gateway knows it. Mutated only by the order manager."""

    venue: str
    account: str
    symbol: str
    client_order_id: str | None
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    status: OrderStatus
    created_ts: int
    updated_ts: int
    order_id: str | None = None
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    reason: str | None = None
    strategy: str | None = None
    external: bool = False  # reported by the venue, never placed by us: visible, never adopted or canceled
    sent_at: int | None = None  # command time of the placement (latency, unknown resolution)
    notional: Decimal = ZERO  # sum of price * qty over the distinct fills (avg_price = notional / filled)
    # The venue's own cumulative figures from its order reports. A venue may report FILLED before the
    # fills themselves arrive (Binance answers a market order FILLED; its trades come on the stream):
    # the order shows the larger of both until the fills catch up (`known_filled_qty`).
    venue_filled_qty: Decimal = ZERO
    venue_avg_price: Decimal | None = None
    fill_ids: set[str] = field(default_factory=set)  # trade ids of the fills counted in filled_qty
    # Resolution and cancel bookkeeping (in memory only; rebuilt after a restart).
    cancel_requested: bool = False  # a cancel arrived before the placement was answered
    cancel_in_doubt: bool = False  # the cancel's answer was lost; the resolver queries the venue
    status_before_cancel: OrderStatus | None = None
    needs_query: bool = False  # reconciliation could not account for this order; ask the venue
    query_in_flight: bool = False
    query_attempts: int = 0
    next_query_ms: int = 0

    @property
    def key(self) -> str:
        """The order's key within its account (the client order id, for every order we placed)."""
        return order_key(self.client_order_id, self.order_id)

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    @property
    def known_filled_qty(self) -> Decimal:
        """The filled quantity as far as anyone knows: our fills, or the venue's report when it is ahead."""
        return self.venue_filled_qty if self.venue_filled_qty > self.filled_qty else self.filled_qty

    @property
    def remaining_qty(self) -> Decimal:
        remaining = self.qty - self.known_filled_qty
        return remaining if remaining > 0 else ZERO

    def to_public(self) -> dict[str, Any]:
        """Return the strategy API's order shape."""
        return {
            "venue": self.venue,
            "account": self.account,
            "symbol": self.symbol,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "side": self.side,
            "type": self.type,
            "tif": self.tif,
            "price": self.price,
            "trigger_price": self.trigger_price,
            "qty": self.qty,
            "filled_qty": self.known_filled_qty,
            "avg_price": self.venue_avg_price if self.venue_filled_qty > self.filled_qty else self.avg_price,
            "status": self.status,
            "reduce_only": self.reduce_only,
            "created_ts": self.created_ts,
            "updated_ts": self.updated_ts,
            "reason": self.reason,
            "external": self.external,
        }


@dataclass(frozen=True, slots=True)
class FillRecord:
    """A fill as stored and published: the venue's `Fill` plus the account and owning strategy."""

    venue: str
    account: str
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
    strategy: str | None = None

    @classmethod
    def from_event(cls, fill: Fill, account: str, order: Order | None) -> FillRecord:
        return cls(
            venue=fill.venue,
            account=account,
            symbol=fill.symbol,
            order_id=fill.order_id if fill.order_id is not None else (order.order_id if order else None),
            client_order_id=(
                fill.client_order_id if fill.client_order_id is not None
                else (order.client_order_id if order else None)
            ),
            trade_id=fill.trade_id,
            side=fill.side,
            price=fill.price,
            qty=fill.qty,
            fee=fill.fee,
            fee_asset=fill.fee_asset,
            liquidity=fill.liquidity,
            ts=fill.ts,
            recv_ts=fill.recv_ts,
            strategy=order.strategy if order else None,
        )

    def to_public(self) -> dict[str, Any]:
        """Return the strategy API's fill shape."""
        return {
            "venue": self.venue,
            "account": self.account,
            "symbol": self.symbol,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "trade_id": self.trade_id,
            "side": self.side,
            "price": self.price,
            "qty": self.qty,
            "fee": self.fee,
            "fee_asset": self.fee_asset,
            "liquidity": self.liquidity,
            "ts": self.ts,
        }
