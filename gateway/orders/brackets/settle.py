"""Settling a bracket's state from its quantities, and aligning its legs with that state (pure).

`settle` derives the state after a report was folded in (first fill -> active, a leg closing everything
-> closed_by_<leg>, late reports after an end -> the race rows of the table), then `sync_legs` makes the
legs match it: in `active`/`partially_closed` each leg is live and covers exactly `open_qty` (placed,
armed or resized as needed); in `needs_attention` live legs follow `open_qty` but nothing new is placed;
in any other state nothing stays live and the entry's remainder is canceled. Both are idempotent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from gateway.core.enums import OrderStatus, OrderType
from gateway.orders.brackets.ids import leg_client_order_id
from gateway.orders.brackets.intents import (
    ArmTrigger,
    CancelEntry,
    CancelLeg,
    Decision,
    DisarmTrigger,
    Intent,
    PlaceLeg,
    Publish,
    ResizeLeg,
)
from gateway.orders.brackets.model import (
    ZERO,
    Bracket,
    BracketState,
    Leg,
    LegMode,
    LegName,
    LegStatus,
    transition,
)
from gateway.orders.brackets.triggers import watch_rule

__all__ = ["NATIVE_TYPE", "ORDER_LIVE", "Step", "arm_intent", "merge_status", "settle", "sync_legs"]

_S = BracketState
ORDER_LIVE: Final = (LegStatus.PENDING, LegStatus.OPEN)
NATIVE_TYPE: Final = {(LegName.TP, False): OrderType.TAKE_PROFIT, (LegName.TP, True): OrderType.TAKE_PROFIT_LIMIT,
                       (LegName.SL, False): OrderType.STOP, (LegName.SL, True): OrderType.STOP_LIMIT}


class Step:
    """One decision in the making: the intents to run first (cancels, shrinks) and then (placements)."""

    __slots__ = ("b", "now", "first", "then", "previous", "before", "reason")

    def __init__(self, bracket: Bracket, now: int):
        self.b = bracket
        self.now = now
        self.first: list[Intent] = []
        self.then: list[Intent] = []
        self.previous = bracket.state
        self.before = bracket.fingerprint()
        self.reason: str | None = None

    def move(self, to: BracketState, reason: str) -> None:
        if self.b.state is not to:
            transition(self.b, to, self.now, reason)
            self.reason = reason

    def done(self, default_reason: str) -> Decision:
        b = self.b
        changed = b.fingerprint() != self.before
        intents: list[Intent] = [*self.first, *self.then]
        if changed:
            b.version += 1
            b.updated_ts = self.now
            intents.insert(0, Publish(bracket_id=b.bracket_id, reason=self.reason or default_reason))
        return Decision(b, self.previous, b.state, tuple(intents), changed)


def merge_status(current: OrderStatus, reported: OrderStatus) -> OrderStatus:
    """Return the entry status after a report: terminal is sticky (but a fill beats a cancel), no regress."""
    if current.is_terminal:
        return OrderStatus.FILLED if reported is OrderStatus.FILLED else current  # fill raced the cancel
    if reported.is_terminal:
        return reported
    if current is OrderStatus.PENDING_CANCEL:
        return current
    return reported if _RANK[reported] >= _RANK[current] else current


_RANK: Final = {OrderStatus.PENDING_NEW: 0, OrderStatus.UNKNOWN: 0, OrderStatus.NEW: 1,
                OrderStatus.PARTIALLY_FILLED: 2, OrderStatus.PENDING_CANCEL: 3}


def settle(step: Step, cause: str, closing: LegName | None = None) -> None:
    """Derive the state from the quantities (`closing`: the leg whose fill was just folded), then align legs."""
    b = step.b
    filled, closed, state = b.entry.filled_qty, b.closed_qty, b.state
    closer = closing or (LegName.TP if b.take_profit.filled_qty > b.stop_loss.filled_qty else LegName.SL)
    closed_by = _S.CLOSED_BY_TP if closer is LegName.TP else _S.CLOSED_BY_SL
    if state is _S.PENDING_ENTRY:
        if filled > 0:
            step.move(_S.ACTIVE, cause)
        elif b.entry.status.is_terminal:
            ended = _S.EXPIRED if b.entry.status is OrderStatus.EXPIRED else _S.CANCELED
            step.move(ended, cause)
    elif not state.is_terminal:  # active, partially_closed, needs_attention
        if filled > 0 and closed > filled:
            step.move(_S.NEEDS_ATTENTION, f"overclosed: legs closed {closed} of {filled}")
        elif filled > 0 and closed >= filled:
            step.move(closed_by, f"{closer}_filled")
        elif closed > 0 and state is _S.ACTIVE:
            step.move(_S.PARTIALLY_CLOSED, cause)
        elif filled == 0 and state is _S.NEEDS_ATTENTION and b.entry.status.is_terminal:
            step.move(_S.EXPIRED if b.entry.status is OrderStatus.EXPIRED else _S.CANCELED, cause)
    elif filled > 0 and closed > filled and state is not _S.EXPIRED:  # late reports after the end
        step.move(_S.NEEDS_ATTENTION, f"overclosed: legs closed {closed} of {filled}")
    elif state in (_S.CLOSED_BY_TP, _S.CLOSED_BY_SL) and filled > closed:
        step.move(_S.PARTIALLY_CLOSED, "late_entry_fill")
    elif state in (_S.CANCELED, _S.EXPIRED) and b.ended_from is _S.PENDING_ENTRY and not b.cancel_requested \
            and filled > 0:
        step.move(_S.ACTIVE, "late_entry_fill")
    elif state is _S.CANCELED and closing is not None and filled > 0 and closed >= filled:
        step.move(closed_by, f"{closer}_filled")
    sync_legs(step)


def sync_legs(step: Step) -> None:
    """Make the legs (and the entry's remainder) match the bracket's state; idempotent."""
    b = step.b
    open_qty = b.open_qty
    managed = b.state.has_position and open_qty > 0
    attention = b.state is _S.NEEDS_ATTENTION and open_qty > 0
    for leg in b.legs:
        _align(step, leg, open_qty if managed or attention else ZERO, may_place=managed)
    entry = b.entry
    if b.state.is_terminal and not entry.status.is_terminal and entry.status is not OrderStatus.PENDING_CANCEL:
        entry.status = OrderStatus.PENDING_CANCEL
        entry.requested_ts = step.now
        step.first.append(CancelEntry(bracket_id=b.bracket_id, venue=b.venue, account=b.account, symbol=b.symbol,
                                      client_order_id=entry.client_order_id, order_id=entry.order_id,
                                      reason=b.reason or "bracket_ended"))


def _align(step: Step, leg: Leg, target: Decimal, *, may_place: bool) -> None:
    b, now = step.b, step.now
    if b.grouped and leg.generation == 1 and leg.is_live and not b.state.is_terminal:
        # Sent with the entry: the venue sizes it to the entry's execution and cancels it with its sibling.
        # It waits through pending_entry and is never resized; only the bracket's end cancels it (below).
        leg.armed_qty = target if target > 0 else ZERO
        return
    if target <= 0:
        if leg.status is LegStatus.ARMED:
            step.first.append(DisarmTrigger(key=(b.bracket_id, leg.name), bracket_id=b.bracket_id, leg=leg.name))
            leg.status, leg.armed_qty = LegStatus.CANCELED, ZERO
        elif leg.status in ORDER_LIVE:
            step.first.append(CancelLeg(bracket_id=b.bracket_id, leg=leg.name, venue=b.venue, account=b.account,
                                        symbol=b.symbol, client_order_id=leg.client_order_id,
                                        order_id=leg.order_id, reason=b.reason or "leg_not_needed"))
            leg.status, leg.armed_qty, leg.resizing, leg.requested_ts = LegStatus.PENDING_CANCEL, ZERO, False, now
        return
    if leg.is_live:
        leg.armed_qty = target
        want = target + leg.current_filled
        if leg.status is not LegStatus.ARMED and want != leg.order_qty and leg.client_order_id and leg.order_type:
            intent = ResizeLeg(
                bracket_id=b.bracket_id, leg=leg.name, venue=b.venue, account=b.account, symbol=b.symbol,
                client_order_id=leg.client_order_id, order_id=leg.order_id,
                replace_client_order_id=leg_client_order_id(b.bracket_id, leg.name, leg.generation + 1),
                side=b.exit_side, type=leg.order_type, qty=target, amend_qty=want,
                price=leg.price if leg.order_type.has_limit_price else None,
                trigger_price=leg.trigger_price if leg.order_type.is_conditional else None,
                trigger_source=b.trigger_source)
            (step.then if want > leg.order_qty else step.first).append(intent)
            leg.order_qty, leg.resizing, leg.requested_ts = want, True, now
        return
    if not may_place or leg.status is LegStatus.REJECTED:
        return
    leg.generation += 1
    leg.client_order_id = leg_client_order_id(b.bracket_id, leg.name, leg.generation)
    leg.order_id, leg.resizing = None, False
    leg.armed_qty = leg.order_qty = target
    leg.placed_ts = leg.requested_ts = now
    if b.mode is LegMode.EMULATED:
        leg.status, leg.order_type = LegStatus.ARMED, None
        step.then.append(arm_intent(b, leg))
        return
    leg.status = LegStatus.PENDING
    leg.order_type = NATIVE_TYPE[(leg.name, leg.price is not None)]
    step.then.append(PlaceLeg(bracket_id=b.bracket_id, leg=leg.name, venue=b.venue, account=b.account,
                              symbol=b.symbol, client_order_id=leg.client_order_id, side=b.exit_side,
                              type=leg.order_type, qty=target, price=leg.price, trigger_price=leg.trigger_price,
                              trigger_source=b.trigger_source))


def arm_intent(b: Bracket, leg: Leg) -> ArmTrigger:
    """Return the ArmTrigger that puts `leg` in the TriggerIndex."""
    return ArmTrigger(key=(b.bracket_id, leg.name), bracket_id=b.bracket_id, leg=leg.name, venue=b.venue,
                      symbol=b.symbol, source=b.trigger_source, exit_side=b.exit_side,
                      direction=watch_rule(b.exit_side, leg.name), trigger_price=leg.trigger_price)
