"""What the user stream has already told: dedupe by ``messageId``, and fold cumulative reports. Pure.

QE may deliver a push more than once (the README says to dedupe on ``messageId``), and after every
reconnect the gateway reads master orders and child orders over REST (the catch-up) — which repeats what
the socket may already have said. So every report, from either source, goes through one `Tracker`:

- a frame whose ``messageId`` was seen is dropped (a bounded memory of the last `max_message_ids`);
- a parent report is passed on only when it moves the parent forward: more filled, or another status
  (a report with less filled than what was folded is stale and dropped);
- a child report is passed on when it moves the child forward, and its filled-quantity increase becomes
  one `ChildFill` (quantity and notional deltas): fills are derived from cumulative quantities, so a
  replay or a REST record that repeats what was folded yields nothing, and a gap yields one fill for the
  whole missed increase — nothing lost, nothing counted twice.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from gateway.core.algo_ports import AlgoEvent, ChildFill, ChildOrder, ParentOrder

__all__ = ["Tracker"]

_ZERO = Decimal(0)
_TERMINAL_CHILD = frozenset({"FILLED", "CANCELLED", "CANCELED", "REJECTED", "EXPIRED", "CANCELACK"})
_TERMINAL_PARENT = frozenset({"CANCELLED", "COMPLETED", "COMPLETED_WITHTAIL", "REJECTED", "EXPIRED"})


@dataclass(slots=True)
class _Child:
    filled_qty: Decimal
    filled_notional: Decimal
    status: str


class Tracker:
    """The folded view of one QE user's parents and children (see the module docstring).

    Args:
        max_message_ids: how many message ids are remembered for dedupe.
        max_orders: how many parents and children are remembered (oldest forgotten first).
    """

    def __init__(self, max_message_ids: int = 10_000, max_orders: int = 20_000):
        self._message_ids: OrderedDict[str, None] = OrderedDict()
        self._max_ids = max_message_ids
        self._max_orders = max_orders
        self.parents: OrderedDict[str, ParentOrder] = OrderedDict()
        self._children: OrderedDict[str, _Child] = OrderedDict()
        self.duplicates = 0  # frames dropped by messageId
        self.stale = 0  # reports that told nothing new

    def is_new_message(self, message_id: str | None) -> bool:
        """Remember `message_id` and say whether it is new (a frame without one is always new)."""
        if message_id is None:
            return True
        if message_id in self._message_ids:
            self.duplicates += 1
            return False
        self._message_ids[message_id] = None
        if len(self._message_ids) > self._max_ids:
            self._message_ids.popitem(last=False)
        return True

    def on_parent(self, parent: ParentOrder) -> list[AlgoEvent]:
        """Fold a parent report; return it if it moved the parent forward."""
        known = self.parents.get(parent.parent_id)
        if known is not None:
            if parent.filled_qty < known.filled_qty:
                self.stale += 1
                return []
            if parent.filled_qty == known.filled_qty and parent.status == known.status:
                self.stale += 1
                return []
            if known.status in _TERMINAL_PARENT and parent.status not in _TERMINAL_PARENT:
                self.stale += 1  # an older report (a REST read that raced the push) never reopens it
                return []
        self.parents[parent.parent_id] = parent
        self.parents.move_to_end(parent.parent_id)
        _trim(self.parents, self._max_orders)
        return [parent]

    def on_child(self, child: ChildOrder) -> list[AlgoEvent]:
        """Fold a child report; return it (if new) and the fill its filled-quantity increase means."""
        known = self._children.get(child.order_id)
        before = known or _Child(_ZERO, _ZERO, "")
        if child.filled_qty < before.filled_qty:
            self.stale += 1
            return []
        status = child.status
        if before.status in _TERMINAL_CHILD and status not in _TERMINAL_CHILD:
            status = before.status  # a late non-terminal report never reopens a child
        more = child.filled_qty > before.filled_qty
        if known is not None and not more and status == known.status:
            self.stale += 1
            return []
        events: list[AlgoEvent] = [child]
        if more:
            qty = child.filled_qty - before.filled_qty
            notional = child.filled_notional - before.filled_notional
            price = notional / qty if notional > 0 else (child.avg_price or child.price or _ZERO)
            if notional <= 0:
                notional = price * qty
            events.append(ChildFill(
                fill_id=f"{child.order_id}:{child.filled_qty.normalize()}", parent_id=child.parent_id,
                order_id=child.order_id, symbol=child.symbol, side=child.side, qty=qty, price=price,
                notional=notional, cum_qty=child.filled_qty, ts=child.updated_ms))
        self._children[child.order_id] = _Child(child.filled_qty, max(child.filled_notional, before.filled_notional),
                                                status)
        self._children.move_to_end(child.order_id)
        _trim(self._children, self._max_orders)
        return events

    def on_legacy_fill(self, child: ChildOrder) -> list[AlgoEvent]:
        """Fold a legacy ``fill`` message (its quantity is this fill's, not cumulative)."""
        before = self._children.get(child.order_id) or _Child(_ZERO, _ZERO, "")
        notional = child.filled_notional if child.filled_notional > 0 else (child.avg_price or _ZERO) * child.filled_qty
        cumulative = ChildOrder(
            order_id=child.order_id, parent_id=child.parent_id, symbol=child.symbol, side=child.side,
            status=child.status or before.status or "PARTIALLY_FILLED", qty=child.qty, price=child.price,
            filled_qty=before.filled_qty + child.filled_qty, filled_notional=before.filled_notional + notional,
            avg_price=child.avg_price, order_type=child.order_type, reason=child.reason, updated_ms=child.updated_ms,
            raw=child.raw)
        return self.on_child(cumulative)

    def child_filled(self, order_id: str) -> Decimal:
        """The cumulative filled quantity folded for child `order_id` (0 if unknown)."""
        known = self._children.get(order_id)
        return _ZERO if known is None else known.filled_qty


def _trim(mapping: OrderedDict[str, object], limit: int) -> None:
    while len(mapping) > limit:
        mapping.popitem(last=False)
