"""The bracket state machine: pure functions that fold reports into a bracket and return a Decision.

No I/O, no clock: every function takes `now_ms`. Each one mutates the bracket it is given (its single
writer is the service, or `reconcile` on a copy) and returns the new state and the intents to run.

How it decides. Every step folds its input (a report, a position, a request) into the record, settles the
state from the quantities, then aligns the legs with the state (`settle.sync_legs`): in `active` and
`partially_closed` each leg must be live and cover exactly `open_qty`; in `needs_attention` live legs
follow `open_qty` but nothing new is placed; in every other state nothing may be live and the entry's
remainder is canceled. Aligning is idempotent (a second call asks for nothing), so the same code serves
live reports and repairs.

Semantics (issue 4): legs are sized to the entry's filled quantity and follow its partial fills; they are
one-cancels-other (a fill closing the position cancels the other; a partial fill shrinks it to what is
still open); legs are reduce-only and never armed for more than `open_qty`; a position closed (flat or
flipped) by anything else ends the bracket and cancels its legs. A cancel request stops management:
the entry's remainder and the legs are canceled, and any position is left to the strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from gateway.core.enums import OrderStatus, OrderType
from gateway.core.events import OrderUpdate
from gateway.orders.brackets.ids import leg_client_order_id, parse_client_order_id
from gateway.orders.brackets.intents import ArmTrigger, Decision, DisarmTrigger, FireLeg
from gateway.orders.brackets.model import ZERO, Bracket, BracketState, Leg, LegName, LegStatus
from gateway.orders.brackets.settle import ORDER_LIVE, Step, arm_intent, merge_status, settle, sync_legs

__all__ = [
    "MAX_LEG_REPLACEMENTS",
    "OrderReport",
    "on_attention",
    "on_cancel_request",
    "on_entry_update",
    "on_leg_update",
    "on_leg_vanished",
    "on_order_report",
    "on_position",
    "on_resume",
    "on_trigger",
    "rearm_intents",
]

MAX_LEG_REPLACEMENTS: Final = 3  # the venue dropped a leg more often than this: needs attention

_S = BracketState



@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the machine needs of an order report (a venue update, or the order manager's order).

    `filled_qty` is cumulative for that order; `qty` is the order's total size when known.
    """

    client_order_id: str | None
    order_id: str | None
    status: OrderStatus
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    qty: Decimal | None = None
    ts: int = 0  # venue time (ms)
    reason: str | None = None

    @classmethod
    def from_update(cls, update: OrderUpdate) -> OrderReport:
        return cls(update.client_order_id, update.order_id, update.status, update.filled_qty, update.avg_price,
                   update.qty, update.ts, update.reason)


# --- reports ---------------------------------------------------------------------------------------------


def on_order_report(bracket: Bracket, report: OrderReport, now_ms: int) -> Decision:
    """Route a report about one of the bracket's orders (by client order id, else venue id) and fold it."""
    ref = parse_client_order_id(report.client_order_id)
    if ref is not None and ref.bracket_id == bracket.bracket_id:
        if ref.role == "en":
            return on_entry_update(bracket, report, now_ms)
        return on_leg_update(bracket, LegName(ref.role), report, now_ms)
    if report.order_id is not None:
        if report.order_id == bracket.entry.order_id:
            return on_entry_update(bracket, report, now_ms)
        for leg in bracket.legs:
            if report.order_id == leg.order_id:
                return on_leg_update(bracket, leg.name, report, now_ms)
    return Step(bracket, now_ms).done("ignored")


def on_entry_update(bracket: Bracket, report: OrderReport, now_ms: int) -> Decision:
    """Fold a report of the entry: accepted, partially filled, filled, canceled, expired or rejected."""
    step = Step(bracket, now_ms)
    entry = bracket.entry
    if report.order_id and entry.order_id is None:
        entry.order_id = report.order_id
    cause = f"entry_{report.status}"
    if report.filled_qty > entry.filled_qty:
        entry.filled_qty = report.filled_qty
        if report.avg_price is not None:
            entry.avg_price = report.avg_price
        bracket.last_fill_ts = max(bracket.last_fill_ts, report.ts)
        late = bracket.state.is_terminal
        cause = "late_entry_fill" if late else ("entry_filled" if report.status is OrderStatus.FILLED
                                                 else "entry_partially_filled")
    entry.status = merge_status(entry.status, report.status)
    if report.status is OrderStatus.REJECTED and report.reason:
        cause = f"entry_rejected: {report.reason}"
    settle(step, cause)
    return step.done(cause)


def on_leg_update(bracket: Bracket, leg_name: LegName, report: OrderReport, now_ms: int, *,
                  authoritative: bool = False) -> Decision:
    """Fold a report of a leg's order: accepted (maybe with its late venue id), filled, canceled, rejected.

    The generation comes from the report's client order id; a report without one (matched by venue id or
    by reconciliation) is taken as the current generation's. A newer generation is a cancel-replace's
    replacement and becomes current; an older one only counts its fills. `authoritative` (reconciliation's
    venue snapshot) lets the report's size override a resize still in flight.
    """
    step = Step(bracket, now_ms)
    leg = bracket.leg(leg_name)
    ref = parse_client_order_id(report.client_order_id)
    own = ref is not None and ref.bracket_id == bracket.bracket_id and ref.role == leg.name.value
    generation = ref.generation if own and ref is not None else leg.generation
    if generation == 0:
        return step.done("ignored")
    if generation > leg.generation:
        _adopt(bracket, leg, generation, report)
    cause = f"{leg.name}_{report.status}"
    delta = report.filled_qty - leg.fills.get(generation, ZERO)
    if delta > 0:
        leg.fills[generation] = report.filled_qty
        bracket.last_fill_ts = max(bracket.last_fill_ts, report.ts)
        if generation == leg.generation:
            leg.armed_qty = max(leg.armed_qty - delta, ZERO)
        cause = f"{leg.name}_filled" if report.status is OrderStatus.FILLED else f"{leg.name}_partially_filled"
    attention = None
    if generation == leg.generation:
        replacements = leg.replacements
        attention = _fold_current(step, leg, report, authoritative)
        if leg.replacements > replacements:
            cause = f"{leg.name}_{report.status}_by_venue"
    if attention is not None and bracket.state.has_position and bracket.open_qty > 0:
        step.move(_S.NEEDS_ATTENTION, attention)
    settle(step, cause, leg.name if delta > 0 else None)
    return step.done(cause)


def _adopt(bracket: Bracket, leg: Leg, generation: int, report: OrderReport) -> None:
    leg.generation = generation
    leg.client_order_id = leg_client_order_id(bracket.bracket_id, leg.name, generation)
    leg.order_id = report.order_id
    leg.status = LegStatus.PENDING
    leg.resizing = False
    leg.order_qty = report.qty if report.qty is not None else leg.armed_qty + leg.fills.get(generation, ZERO)


def _fold_current(step: Step, leg: Leg, report: OrderReport, authoritative: bool) -> str | None:
    """Fold a report of the leg's current order; return a needs-attention reason, if any."""
    if report.order_id and leg.order_id != report.order_id:
        leg.order_id = report.order_id  # a venue that reports ids late (Lighter): learnt here
    if leg.status is LegStatus.ARMED:  # the fired order exists although the record still says armed
        step.first.append(DisarmTrigger(key=(step.b.bracket_id, leg.name), bracket_id=step.b.bracket_id,
                                        leg=leg.name))
        leg.status = LegStatus.PENDING
        leg.order_type = OrderType.LIMIT if leg.price is not None else OrderType.MARKET
        leg.order_qty = leg.armed_qty + leg.current_filled
    if leg.status not in (LegStatus.PENDING, LegStatus.OPEN, LegStatus.PENDING_CANCEL):
        return None  # settled already: later reports only count fills
    if report.qty is not None:
        if not leg.resizing or authoritative:
            leg.order_qty, leg.resizing = report.qty, False
        elif report.qty == leg.order_qty:
            leg.resizing = False  # the amend took effect
    status = report.status
    if status is OrderStatus.FILLED:
        leg.status, leg.armed_qty, leg.resizing = LegStatus.FILLED, ZERO, False
    elif status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
        if leg.status is LegStatus.PENDING_CANCEL:
            leg.status = LegStatus.CANCELED
        elif leg.resizing and status is not OrderStatus.REJECTED:
            _await_replacement(step.b, leg)  # cancel-replace: the replacement is the next generation
        elif status is OrderStatus.REJECTED:
            leg.status, leg.armed_qty = LegStatus.REJECTED, ZERO
            return f"{leg.name}_rejected: {report.reason or 'venue refused the leg'}"
        else:
            return _dropped(leg)
    elif status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED) and leg.status is LegStatus.PENDING:
        leg.status = LegStatus.OPEN
    return None


def _await_replacement(bracket: Bracket, leg: Leg) -> None:
    leg.generation += 1
    leg.client_order_id = leg_client_order_id(bracket.bracket_id, leg.name, leg.generation)
    leg.order_id = None
    leg.status = LegStatus.PENDING
    leg.resizing = False
    leg.order_qty = leg.armed_qty
    leg.placed_ts = leg.requested_ts


def _dropped(leg: Leg) -> str | None:
    """The venue dropped a live leg we did not ask to cancel: re-place it, up to a limit."""
    leg.status, leg.armed_qty, leg.resizing = LegStatus.CANCELED, ZERO, False
    leg.replacements += 1
    if leg.replacements > MAX_LEG_REPLACEMENTS:
        return f"{leg.name}_dropped_by_venue_{leg.replacements}_times"
    return None


def on_leg_vanished(bracket: Bracket, leg_name: LegName, now_ms: int) -> Decision:
    """The venue has no trace of the leg's current order (reconciliation decided, after a grace period)."""
    step = Step(bracket, now_ms)
    leg = bracket.leg(leg_name)
    cause = f"{leg.name}_vanished"
    if leg.status is LegStatus.PENDING_CANCEL:
        leg.status = LegStatus.CANCELED
    elif leg.status in ORDER_LIVE:
        attention = _dropped(leg)
        if attention is not None and bracket.state.has_position:
            step.move(_S.NEEDS_ATTENTION, attention)
        elif bracket.state.has_position and bracket.open_qty > 0:
            cause = f"{leg.name}_vanished_replaced"
    settle(step, cause)
    return step.done(cause)


def on_position(bracket: Bracket, position_qty: Decimal, position_ts: int, now_ms: int) -> Decision:
    """Fold the venue's signed position for the bracket's symbol.

    Flat or flipped against the entry while the bracket holds an open quantity means something else closed
    it: cancel the legs and the entry's remainder, end the bracket `canceled` with the reason. A position
    report older than the latest fill folded in (`position_ts < last_fill_ts`) is stale and ignored.
    """
    step = Step(bracket, now_ms)
    if (bracket.state.has_position or bracket.state is _S.NEEDS_ATTENTION) and bracket.open_qty > 0 \
            and position_ts >= bracket.last_fill_ts and position_qty * bracket.side.sign <= 0:
        reason = "position_closed_externally" if position_qty == 0 else "position_flipped_externally"
        step.move(_S.CANCELED, reason)
        sync_legs(step)
    return step.done("position")


def on_cancel_request(bracket: Bracket, now_ms: int, reason: str = "canceled_by_request") -> Decision:
    """Stop managing the bracket: cancel the entry's remainder and the legs; a position stays as it is.

    Idempotent: a terminal bracket is left as it is.
    """
    step = Step(bracket, now_ms)
    if not bracket.state.is_terminal:
        bracket.cancel_requested = True
        step.move(_S.CANCELED, reason)
        sync_legs(step)
    return step.done(reason)


def on_trigger(bracket: Bracket, leg_name: LegName, now_ms: int) -> Decision:
    """An emulated leg's trigger was crossed: fire it (reduce-only market, or limit at the leg's price).

    A gap through the trigger still closes (market) or rests at the limit. A stale trigger (the leg is no
    longer armed) changes nothing.
    """
    step = Step(bracket, now_ms)
    leg = bracket.leg(leg_name)
    live = bracket.state.has_position or bracket.state is _S.NEEDS_ATTENTION
    if leg.status is LegStatus.ARMED and live and leg.armed_qty > 0 and leg.client_order_id:
        order_type = OrderType.LIMIT if leg.price is not None else OrderType.MARKET
        leg.status, leg.order_type, leg.order_qty = LegStatus.PENDING, order_type, leg.armed_qty + leg.current_filled
        leg.placed_ts = leg.requested_ts = now_ms
        b = bracket
        step.first.append(DisarmTrigger(key=(b.bracket_id, leg.name), bracket_id=b.bracket_id, leg=leg.name))
        step.first.append(FireLeg(bracket_id=b.bracket_id, leg=leg.name, venue=b.venue, account=b.account,
                                  symbol=b.symbol, client_order_id=leg.client_order_id, side=b.exit_side,
                                  type=order_type, qty=leg.armed_qty, price=leg.price,
                                  trigger_price=leg.trigger_price))
        step.reason = f"{leg.name}_triggered"
    return step.done(f"{leg.name}_triggered")


def on_attention(bracket: Bracket, reason: str, now_ms: int, *, disarm: tuple[LegName, ...] = ()) -> Decision:
    """Put a live bracket in `needs_attention` (and take the named emulated legs out of the index)."""
    step = Step(bracket, now_ms)
    if bracket.state.is_terminal:
        return step.done(reason)
    for name in disarm:
        leg = bracket.leg(name)
        if leg.status is LegStatus.ARMED:
            step.first.append(DisarmTrigger(key=(bracket.bracket_id, name), bracket_id=bracket.bracket_id, leg=name))
            leg.status, leg.armed_qty = LegStatus.IDLE, ZERO
    step.move(_S.NEEDS_ATTENTION, reason)
    sync_legs(step)
    return step.done(reason)


def on_resume(bracket: Bracket, now_ms: int) -> Decision:
    """An operator resumes a `needs_attention` bracket: missing legs are placed again."""
    step = Step(bracket, now_ms)
    if bracket.state is not _S.NEEDS_ATTENTION:
        return step.done("resumed")
    for leg in bracket.legs:
        leg.replacements = 0
        if leg.status is LegStatus.REJECTED:
            leg.status = LegStatus.IDLE
    filled, closed = bracket.entry.filled_qty, bracket.closed_qty
    step.move(_S.PENDING_ENTRY if filled == 0 else _S.PARTIALLY_CLOSED if closed > 0 else _S.ACTIVE, "resumed")
    settle(step, "resumed")
    return step.done("resumed")


def rearm_intents(bracket: Bracket) -> list[ArmTrigger]:
    """Return the ArmTrigger of every armed emulated leg: rebuild the TriggerIndex after a restart."""
    return [arm_intent(bracket, leg) for leg in bracket.legs if leg.status is LegStatus.ARMED]


