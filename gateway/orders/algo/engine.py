"""The slicing decisions of the local algo engine: pure functions of (algo, now, market snapshot). Pure.

`advance` is called on every tick and after every child report. It mutates the algo (state, new child
records) and returns the venue intents to run: at most **one live child** per parent, so what is filled
plus what is working never exceeds the parent (a new child is sized from what is left after every
earlier child ended).

Per tick, for a running parent:
1. Work out the bands. TWAP/VWAP: `done_by_now` / `due_now` from the schedule, `cap = due_now + up band`,
   `behind = done_by_now - done`. POV: `cap = pov_limit * V`, `behind = pov_min_limit * V - done`, where V
   is the market's traded volume since the start (in the parent's unit).
2. If behind by more than the low band (and the parent may chase: `must_complete`, or a POV floor, and the
   maker rate allows it), a resting maker child is canceled and the shortfall is taken (IOC at the far
   touch, never beyond the limit price).
3. Otherwise the child for `cap - done` rests at the touch (one tick inside when the spread allows),
   post-only, or is taken when `enable_make` is false; a maker that was outbid is repriced after
   `reprice_ms`.
4. At the end: a must-complete TWAP/VWAP takes what is left for up to `overtime_ms`, then expires; the
   others cancel their child and expire. A remainder below the venue's minimum ends the parent
   `completed` (QE's COMPLETED_WITHTAIL), with the tail named in `reason`.

Sizes are Decimal and on the instrument's step; prices on its tick (buys round down, sells up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.core.enums import OrderStatus, Side, TimeInForce
from gateway.orders.algo.ids import child_client_order_id
from gateway.orders.algo.model import ZERO, Algo, Algorithm, AlgoState, Child, ChildRole, transition
from gateway.orders.algo.schedule import due_amounts
from gateway.orders.algo.sizing import (
    MarketSnapshot,
    SizeRules,
    is_outbid,
    maker_price,
    min_qty_at,
    placeable_qty,
    size_child,
    take_price,
)

__all__ = [
    "CancelChild",
    "ChildReport",
    "Intent",
    "MarketSnapshot",
    "PlaceChild",
    "SizeRules",
    "Step",
    "Tuning",
    "advance",
    "cancel",
    "min_qty_at",
    "on_cancel_failed",
    "on_child_refused",
    "on_child_report",
    "on_market_volume",
    "pause",
    "resume",
    "size_child",
]


@dataclass(frozen=True, slots=True)
class Tuning:
    """Engine knobs (from the `algos` settings)."""

    reprice_ms: int = 1_000  # a maker outbid this long is canceled and placed again at the touch
    overtime_ms: int = 5_000  # a must-complete parent keeps taking this long after its end, then expires
    max_rejects: int = 10  # consecutive refused children that fail the parent
    reject_backoff_ms: int = 250  # after a refused child, wait this long (a fresher book) before the next


@dataclass(frozen=True, slots=True)
class PlaceChild:
    algo_id: str
    account: str
    symbol: str
    client_order_id: str
    side: Side
    qty: Decimal
    price: Decimal
    tif: TimeInForce
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class CancelChild:
    algo_id: str
    account: str
    client_order_id: str


Intent = PlaceChild | CancelChild


@dataclass(slots=True)
class Step:
    """What one decision did: whether the algo changed, why, and the venue intents to run."""

    intents: list[Intent] = field(default_factory=list)
    changed: bool = False
    reasons: list[str] = field(default_factory=list)

    def note(self, reason: str) -> None:
        self.changed = True
        self.reasons.append(reason)


@dataclass(frozen=True, slots=True)
class ChildReport:
    """A child order as the order service reports it (cumulative: fold the latest)."""

    client_order_id: str
    status: OrderStatus
    filled_qty: Decimal
    avg_price: Decimal | None
    order_id: str | None = None
    reason: str | None = None

    @classmethod
    def from_order(cls, order: dict[str, Any]) -> ChildReport:
        avg = order.get("avg_price")
        return cls(order["client_order_id"], OrderStatus(order["status"]), Decimal(order["filled_qty"]),
                   None if avg is None else Decimal(avg), order.get("order_id"), order.get("reason"))


# --- folding reports -------------------------------------------------------------------------------------


def on_child_report(algo: Algo, report: ChildReport, now_ms: int) -> Step:
    """Fold a child's report (cumulative filled qty and status). Stale reports change nothing; a terminal
    child never becomes live again, but a late fill of it still counts (it raced the cancel)."""
    step = Step()
    child = algo.child(report.client_order_id)
    if child is None:
        return step
    if report.filled_qty < child.filled_qty:
        return step  # older than what was folded
    more = report.filled_qty > child.filled_qty
    status = report.status
    if child.status.is_terminal and not status.is_terminal:
        status = child.status
    if not more and status is child.status and (report.order_id is None or report.order_id == child.order_id):
        return step
    was_live = child.is_live
    child.filled_qty = report.filled_qty
    if report.avg_price is not None:
        child.avg_price = report.avg_price
    child.status = status
    if report.order_id is not None:
        child.order_id = report.order_id
    if report.reason is not None and status.is_terminal:
        child.reason = report.reason
    child.updated_ts = now_ms
    if more:
        algo.rejects = 0
    elif was_live and status is OrderStatus.REJECTED and not _is_post_only_cross(child):
        algo.rejects += 1
    algo.updated_ts = now_ms
    step.note("child_filled" if more else f"child_{status.value}")
    return step


def on_child_refused(algo: Algo, client_order_id: str, reason: str, now_ms: int) -> Step:
    """The order service refused a child before the venue saw it (or the venue refused it)."""
    step = Step()
    child = algo.child(client_order_id)
    if child is None or not child.is_live:
        return step
    child.status = OrderStatus.REJECTED
    child.reason = reason
    child.updated_ts = algo.updated_ts = now_ms
    if not _is_post_only_cross(child):
        algo.rejects += 1
    step.note("child_rejected")
    return step


def on_cancel_failed(algo: Algo, client_order_id: str, reason: str, now_ms: int) -> Step:
    """A cancel was refused (the order service answered an error): allow a later decision to ask again."""
    step = Step()
    child = algo.child(client_order_id)
    if child is not None and child.is_live and child.cancel_requested:
        child.cancel_requested = False
        child.reason = f"cancel failed: {reason}"
        child.updated_ts = now_ms
        step.note("child_cancel_failed")
    return step


def on_market_volume(algo: Algo, qty: Decimal, notional: Decimal) -> bool:
    """Count tape volume traded since the start (POV's denominator). Returns whether it counted."""
    if algo.algorithm is not Algorithm.POV or algo.state is not AlgoState.RUNNING or qty <= 0:
        return False
    algo.market_volume += qty
    algo.market_notional += notional
    return True


# --- commands ---------------------------------------------------------------------------------------------


def cancel(algo: Algo, now_ms: int, reason: str = "canceled by request") -> Step:
    """Cancel the parent: no new child; the live one is canceled. Idempotent on an ended parent."""
    step = Step()
    if algo.is_terminal:
        return step
    transition(algo, AlgoState.CANCELED, now_ms, reason)
    step.note("canceled")
    _cancel_live(algo, step, now_ms)
    return step


def pause(algo: Algo, now_ms: int) -> Step:
    """Pause: no new child; the live one is canceled. The horizon does not move."""
    step = Step()
    if algo.state is AlgoState.PAUSED or algo.is_terminal:
        return step
    transition(algo, AlgoState.PAUSED, now_ms, "paused by request")
    step.note("paused")
    _cancel_live(algo, step, now_ms)
    return step


def resume(algo: Algo, now_ms: int) -> Step:
    """Resume a paused parent (back to pending before its start time). The schedule catches up as usual."""
    step = Step()
    if algo.state is not AlgoState.PAUSED:
        return step
    transition(algo, AlgoState.PENDING if now_ms < algo.start_ts else AlgoState.RUNNING, now_ms, "resumed")
    step.note("resumed")
    return step


# --- the decision ------------------------------------------------------------------------------------------


def advance(algo: Algo, now_ms: int, market: MarketSnapshot | None, rules: SizeRules, tuning: Tuning) -> Step:
    """Decide what the parent does now (see the module docstring). Mutates `algo`; returns the intents."""
    step = Step()
    state = algo.state
    if state.is_terminal:
        # A child whose cancel raced its own placement (refused: not found yet) is canceled once it is
        # acknowledged: an ended parent never leaves a child working.
        _cancel_live(algo, step, now_ms, acknowledged_only=True)
        return step
    if state is AlgoState.PENDING:
        if now_ms >= algo.end_ts:
            transition(algo, AlgoState.EXPIRED, now_ms, "the horizon ended before it started")
            step.note("expired")
            return step
        if now_ms < algo.start_ts:
            return step
        transition(algo, AlgoState.RUNNING, now_ms, None)
        step.note("started")
    if algo.state is AlgoState.PAUSED:
        _cancel_live(algo, step, now_ms, acknowledged_only=True)
        if algo.live_children():
            return step
        if algo.remaining <= 0:  # a fill of the child the pause canceled raced the cancel
            transition(algo, AlgoState.COMPLETED, now_ms, None)
            step.note("completed")
        elif now_ms >= algo.end_ts:
            transition(algo, AlgoState.EXPIRED, now_ms, f"the horizon ended while paused; {algo.remaining} left")
            step.note("expired")
        return step

    p = algo.params
    live = algo.live_children()
    if algo.remaining <= 0:
        if not live:
            transition(algo, AlgoState.COMPLETED, now_ms, None)
            step.note("completed")
        return step
    reference = None if market is None else market.reference(algo.side)
    if not live and reference is not None and placeable_qty(algo, reference, rules) < min_qty_at(rules, reference):
        transition(algo, AlgoState.COMPLETED, now_ms, f"completed with a tail below the venue minimum: "
                                                       f"{algo.remaining} left")
        step.note("completed")
        return step
    if algo.rejects >= tuning.max_rejects and not live:
        last = algo.children[-1].reason if algo.children else None
        transition(algo, AlgoState.FAILED, now_ms, f"the venue refused {algo.rejects} children in a row: {last}")
        step.note("failed")
        return step

    pov = algo.algorithm is Algorithm.POV
    must_complete = bool(p.get("must_complete", True)) and not pov
    past_end = now_ms >= algo.end_ts
    if past_end and (not must_complete or now_ms >= algo.end_ts + tuning.overtime_ms):
        _cancel_live(algo, step, now_ms)
        if not algo.live_children():
            transition(algo, AlgoState.EXPIRED, now_ms, f"the horizon ended with {algo.remaining} left")
            step.note("expired")
        return step

    target, done = algo.target, algo.done
    if pov:
        volume = algo.market_notional if algo.by_notional else algo.market_volume
        cap = min(target, Decimal(p["pov_limit"]) * volume)
        floor = p.get("pov_min_limit")
        behind = (Decimal(floor) * volume - done) if floor is not None else ZERO
        low_band = ZERO
        may_chase = floor is not None and Decimal(floor) > 0
    else:
        done_by_now, due_now = due_amounts(algo.schedule, target, algo.start_ts, algo.end_ts, now_ms)
        up, low = Decimal(p["up_tolerance"]), Decimal(p["low_tolerance"])
        cap = min(target, due_now + (up * target if up > 0 else ZERO))
        low_band = low * target if low > 0 else ZERO
        behind = done_by_now - done
        may_chase = must_complete
        pov_limit = Decimal(p["pov_limit"])
        if not must_complete and 0 < pov_limit < 1:
            # Participation cap, lower priority than must_complete (QE): only binds a parent that won't chase.
            volume = algo.market_notional if algo.by_notional else algo.market_volume
            if volume > 0:
                cap = min(cap, pov_limit * volume)
    finishing = past_end and must_complete
    if finishing:
        behind, cap, low_band = algo.remaining, target, ZERO
    maker_floor = Decimal(p.get("maker_rate_limit", "-1"))
    if may_chase and maker_floor > 0 and not finishing:
        rate = algo.maker_rate
        may_chase = rate is None or rate >= maker_floor
    chase = may_chase and behind > low_band

    if live:
        child = live[-1]
        if child.cancel_requested or child.role is ChildRole.TAKER or market is None:
            return step
        if chase:
            _request_cancel(algo, child, step, now_ms, "behind schedule: taking")
        elif is_outbid(child, market) and now_ms - child.created_ts >= tuning.reprice_ms:
            _request_cancel(algo, child, step, now_ms, "outbid: repricing")
        return step
    if market is None:
        return step
    last = algo.children[-1] if algo.children else None
    if last is not None and last.status is OrderStatus.REJECTED and now_ms - last.updated_ts < tuning.reject_backoff_ms:
        return step  # the book the refused child was priced on is gone: wait for a fresher one

    side = algo.side
    strict = bool(p.get("strict_up_bound", False))
    tail = bool(p.get("tail_order_protection", True))
    limit = Decimal(p.get("limit_price", "-1"))
    if chase:
        price = take_price(market, side, limit)
        if price is not None:
            qty = size_child(algo, behind, price, rules, strict=strict, tail=tail)
            if qty is not None:
                _place(algo, step, now_ms, ChildRole.TAKER, qty, price, TimeInForce.IOC)
                return step
    want = cap - done
    if want <= 0:
        return step
    if p.get("enable_make", True):
        price = maker_price(market, side, limit, rules)
        role, tif = ChildRole.MAKER, (TimeInForce.POST_ONLY if rules.post_only else TimeInForce.GTC)
    else:
        price = take_price(market, side, limit)
        role, tif = ChildRole.TAKER, TimeInForce.IOC
    if price is None:
        return step
    qty = size_child(algo, want, price, rules, strict=strict, tail=tail)
    if qty is not None:
        _place(algo, step, now_ms, role, qty, price, tif)
    return step


# --- helpers ----------------------------------------------------------------------------------------------


def _place(algo: Algo, step: Step, now_ms: int, role: ChildRole, qty: Decimal, price: Decimal,
           tif: TimeInForce) -> None:
    seq = algo.next_seq
    algo.next_seq += 1
    cid = child_client_order_id(algo.algo_id, seq)
    algo.children.append(Child(seq=seq, client_order_id=cid, role=role, side=algo.side, qty=qty, price=price,
                               tif=tif, created_ts=now_ms, updated_ts=now_ms))
    algo.updated_ts = now_ms
    step.note(f"child_{role.value}")
    step.intents.append(PlaceChild(algo.algo_id, algo.account, algo.symbol, cid, algo.side, qty, price, tif,
                                   bool(algo.params.get("reduce_only", False))))


def _request_cancel(algo: Algo, child: Child, step: Step, now_ms: int, why: str) -> None:
    child.cancel_requested = True
    child.reason = why
    child.updated_ts = algo.updated_ts = now_ms
    step.note("child_cancel")
    step.intents.append(CancelChild(algo.algo_id, algo.account, child.client_order_id))


def _is_post_only_cross(child: Child) -> bool:
    # A maker refused because the book moved under it (it would have taken): retried, never counted.
    reason = (child.reason or "").lower()
    return child.tif is TimeInForce.POST_ONLY and ("post_only" in reason or "post-only" in reason
                                                   or "would take" in reason or "would immediately" in reason)


def _cancel_live(algo: Algo, step: Step, now_ms: int, *, acknowledged_only: bool = False) -> None:
    for child in algo.live_children():
        if acknowledged_only and child.status is OrderStatus.PENDING_NEW:
            continue  # its placement has not been answered: asked again when its report comes
        if not child.cancel_requested:
            _request_cancel(algo, child, step, now_ms, f"parent {algo.state.value}")
