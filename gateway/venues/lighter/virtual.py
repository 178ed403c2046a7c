"""Virtual grouped orders: a TP/SL group recorded before Lighter has given its orders indexes. Pure.

sendTx answers without an order index (fact sheet §8): the index is assigned when the sequencer runs
the tx, and children of an OTO / OTOCO group may only appear once the parent fills. So a grouped order
is recorded here first, with the client order index of every leg, and `reconcile` fills in the real
order indexes from the venue's open and closed orders, matching:

1. by client order index (the gateway sets a unique one on every leg, children included);
2. failing that (an order the venue lists without it), as the seed does: same market, the leg's side,
   reduce-only, the same price and trigger price, created within the match window after the group.

A matched order is claimed, so one venue order never fills two legs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["VirtualLeg", "VirtualOrder", "readable", "reconcile"]


@dataclass
class VirtualLeg:
    """One leg of a group: entry, tp or sl."""

    role: str  # entry | tp | sl
    client_order_index: int
    is_ask: bool
    reduce_only: bool
    price: Decimal
    trigger_price: Decimal | None
    order_index: int | None = None
    status: str | None = None  # Lighter's status once matched
    filled: Decimal = Decimal(0)


@dataclass
class VirtualOrder:
    """A grouped order as recorded at submission, completed by `reconcile`."""

    virtual_id: str
    symbol: str
    market_id: int
    grouping: str  # oto | oco | otoco
    created_ms: int
    legs: list[VirtualLeg] = field(default_factory=list)
    tx_hash: str | None = None

    @property
    def is_resolved(self) -> bool:
        return all(leg.order_index is not None for leg in self.legs)

    def leg(self, role: str) -> VirtualLeg | None:
        return next((leg for leg in self.legs if leg.role == role), None)

    def to_public(self) -> dict[str, Any]:
        out = asdict(self)
        out["resolved"] = self.is_resolved
        return out


def _matches(leg: VirtualLeg, order: dict[str, Any], market_id: int, created_ms: int, window_ms: int) -> bool:
    if int(order.get("market_index", -1)) != market_id or bool(order.get("is_ask")) != leg.is_ask:
        return False
    if bool(order.get("reduce_only")) != leg.reduce_only:
        return False
    if Decimal(str(order.get("price", "0"))) != leg.price:
        return False
    trigger = Decimal(str(order.get("trigger_price", "0") or "0"))
    if trigger != (leg.trigger_price or Decimal(0)):
        return False
    ts = int(order.get("timestamp") or order.get("created_at") or 0)
    ts = ts * 1000 if 0 < ts < 1_000_000_000_000 else ts
    return created_ms - 1_000 <= ts <= created_ms + window_ms


def readable(order: Any) -> str | None:
    """Return why `order` (a raw venue row) cannot be used by `reconcile`, or None if it can."""
    if not isinstance(order, dict):
        return "not an object"
    try:
        int(order["order_index"])
        int(order.get("client_order_index") or 0)
        int(order.get("market_index", -1))
        int(order.get("timestamp") or order.get("created_at") or 0)
        for name, default in (("price", "0"), ("filled_base_amount", "0")):
            if not Decimal(str(order.get(name, default))).is_finite():
                return f"{name} is not finite"
        if not Decimal(str(order.get("trigger_price", "0") or "0")).is_finite():
            return "trigger_price is not finite"
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:  # ArithmeticError: InvalidOperation
        return f"{type(exc).__name__}: {exc}"
    return None


def reconcile(virtuals: list[VirtualOrder], orders: list[dict[str, Any]], window_ms: int,
              include_entry: bool = True, on_bad: Callable[[Any, str], None] | None = None) -> dict[str, int]:
    """Fill in order indexes and statuses of `virtuals` from the venue's `orders` (open and closed).

    A row that cannot be read (`readable`) is skipped and handed to `on_bad` (row, reason): one garbage
    row never fails the others.

    Returns the seed's counts: total virtual orders, updated (a leg learnt something), matched (legs
    that have their order index now).
    """
    usable = []
    for order in orders:
        reason = readable(order)
        if reason is None:
            usable.append(order)
        elif on_bad is not None:
            on_bad(order, reason)
    orders = usable
    claimed = {leg.order_index for v in virtuals for leg in v.legs if leg.order_index is not None}
    by_client: dict[int, dict[str, Any]] = {}
    for order in orders:
        index = int(order.get("client_order_index") or 0)
        if index:
            by_client[index] = order
    updated = matched = 0
    for virtual in virtuals:
        touched = False
        for leg in virtual.legs:
            if leg.role == "entry" and not include_entry and leg.order_index is None:
                continue
            order = by_client.get(leg.client_order_index)
            if order is None and leg.order_index is None:
                order = next((o for o in orders if int(o.get("order_index", 0)) not in claimed
                              and _matches(leg, o, virtual.market_id, virtual.created_ms, window_ms)), None)
            if order is None and leg.order_index is not None:
                order = next((o for o in orders if int(o.get("order_index", 0)) == leg.order_index), None)
            if order is None:
                continue
            index = int(order["order_index"])
            status = str(order.get("status"))
            filled = Decimal(str(order.get("filled_base_amount", "0")))
            if (index, status, filled) != (leg.order_index, leg.status, leg.filled):
                leg.order_index, leg.status, leg.filled = index, status, filled
                claimed.add(index)
                touched = True
        matched += sum(1 for leg in virtual.legs if leg.order_index is not None)
        updated += touched
    return {"total": len(virtuals), "updated": updated, "matched": matched}
