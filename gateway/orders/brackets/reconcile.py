"""Pure reconciliation: stored brackets against the venue's truth -> repairs, each with its reason.

`reconcile(brackets, view, now_ms, policy)` never mutates its inputs. For every non-terminal bracket of the
view's venue it works on a copy, in this order:

1. finds the venue's report of the entry and of each leg's current order: by client order id, else by
   venue id, else (the venue kept neither) by the seed's field match (`matching.py`); fills stand in for
   an order that has aged out of the order lists;
2. folds what it found through the machine (learning late venue ids, fills, cancels, rejects; an entry
   that filled while the gateway was down arms its legs; a resize the venue never applied is re-sent);
   fills of older generations of a leg are counted too;
3. ends the bracket when the venue position is gone (flat or flipped) and the bracket still holds some;
4. treats a leg order the venue has no trace of, once `grace_ms` has passed since it was requested, as
   dropped: a native leg is re-placed with the next generation while the position is open (up to the
   machine's replacement limit), a fired emulated leg is re-armed;
5. applies `policy.crossed_trigger` to an armed emulated leg whose trigger the price crossed while the
   gateway was down (current price, or the high/low the service saw over the gap): fire it (default), or
   disarm it and mark the bracket `needs_attention`;

and, over all open venue orders, cancels orphans: orders with a bracket client id (or a known venue id)
whose bracket is terminal or unknown, whose leg generation is not the current one, or whose leg is no
longer wanted (a cancel that did not land is re-sent after `grace_ms`).

Repairs are idempotent: run the intents, fold the venue's answers, reconcile again against the venue
that results, and nothing more is asked (tested). Each Repair carries the repaired record to persist
(shared by all repairs of one bracket in a pass) and intents starting with its `Publish`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from gateway.core.enums import OrderStatus, Side
from gateway.core.events import OrderUpdate
from gateway.orders.brackets.ids import parse_client_order_id
from gateway.orders.brackets.intents import (
    VENUE_INTENTS,
    CancelEntry,
    CancelLeg,
    Decision,
    Intent,
    Publish,
    ResizeLeg,
)
from gateway.orders.brackets.machine import (
    OrderReport,
    on_attention,
    on_entry_update,
    on_leg_update,
    on_leg_vanished,
    on_position,
    on_trigger,
)
from gateway.orders.brackets.matching import Wanted, match_orders
from gateway.orders.brackets.model import (
    ZERO,
    Bracket,
    BracketState,
    EntryOrder,
    Leg,
    LegName,
    LegStatus,
    TriggerSource,
)
from gateway.orders.brackets.settle import merge_status
from gateway.orders.brackets.triggers import TriggerDirection, is_crossed, watch_rule
from gateway.orders.brackets.venue_view import PriceView, VenueTruth, VenueView

__all__ = [
    "CrossedTriggerPolicy",
    "PriceView",
    "ReconcilePolicy",
    "Repair",
    "RepairKind",
    "VenueView",
    "reconcile",
    "summarize",
]

_HAS_ORDER = (LegStatus.PENDING, LegStatus.OPEN, LegStatus.PENDING_CANCEL)


class CrossedTriggerPolicy(StrEnum):
    FIRE = "fire"  # fire the leg at once (default)
    NEEDS_ATTENTION = "needs_attention"  # disarm it and wait for an operator


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    match_window_ms: int = 300_000  # the seed's match_window_sec=300
    grace_ms: int = 10_000  # a request younger than this may still be in flight: not vanished, not orphaned
    crossed_trigger: CrossedTriggerPolicy = CrossedTriggerPolicy.FIRE
    cancel_unknown: bool = True  # cancel open orders carrying the client id of a bracket we do not hold


class RepairKind(StrEnum):
    LEARNED_ID = "learned_id"  # a venue id reported late, now known
    VENUE_REPORT = "venue_report"  # a report the gateway missed (fill, cancel, reject) folded in
    ENTRY_FILLED = "entry_filled"  # the entry filled while the gateway was away: legs armed
    RESIZED_LEG = "resized_leg"  # the venue's leg size differs from what it should be
    REPLACED_LEG = "replaced_leg"  # a leg vanished from the venue while the position is open
    POSITION_GONE = "position_gone"  # the position was closed elsewhere: legs canceled, bracket ended
    FIRED_TRIGGER = "fired_trigger"  # an emulated trigger crossed while away: fired
    NEEDS_ATTENTION = "needs_attention"
    CANCELED_ORPHAN = "canceled_orphan"


@dataclass(frozen=True, slots=True)
class Repair:
    """One repair: its kind, its reason (log it, publish it), the intents to run, the record to persist."""

    bracket_id: str
    kind: RepairKind
    reason: str
    intents: tuple[Intent, ...]
    bracket: Bracket | None  # None: nothing to persist (an orphan order)
    learned_id: bool = False  # a venue id reported late was learnt (counted as `matched`)

    @property
    def has_work(self) -> bool:
        """Whether it asks for anything beyond persisting and publishing (venue or trigger intents)."""
        return any(not isinstance(i, Publish) for i in self.intents)

    @property
    def has_venue_work(self) -> bool:
        return any(isinstance(i, VENUE_INTENTS) for i in self.intents)


class _Pass:
    """One bracket's repairs, on a copy made on first need (`edit()`); `b` reads the current record."""

    def __init__(self, original: Bracket, now: int):
        self.original = original
        self.b = original
        self.now = now
        self.repairs: list[Repair] = []

    def edit(self) -> Bracket:
        if self.b is self.original:
            self.b = self.original.copy()
        return self.b

    def add(self, kind: RepairKind, reason: str, decision: Decision | None = None, learned: bool = False) -> None:
        intents = tuple(i for i in decision.intents if not isinstance(i, Publish)) if decision else ()
        self.repairs.append(Repair(self.b.bracket_id, kind, reason,
                                   (Publish(bracket_id=self.b.bracket_id, reason=reason), *intents), self.b, learned))

    def fold(self, kind: RepairKind, decision: Decision, reason: str | None = None,
             learned: str | None = None) -> None:
        """Record a machine decision as a repair; `learned` names a venue id the same report taught us."""
        if not (decision.changed or decision.intents):
            return
        reason = reason or decision.reason or kind.value
        if learned is None:
            self.add(kind, reason, decision)
        elif decision.state is not decision.previous or any(not isinstance(i, Publish) for i in decision.intents):
            self.add(kind, f"{reason}; {learned}", decision, learned=True)
        else:
            self.add(RepairKind.LEARNED_ID, learned, decision, learned=True)


def reconcile(brackets: Iterable[Bracket], view: VenueView, now_ms: int,
              policy: ReconcilePolicy = ReconcilePolicy()) -> list[Repair]:
    """Return the repairs that bring `brackets` (of any venue; others are skipped) in line with `view`."""
    truth = VenueTruth(view)
    held = {b.bracket_id: b for b in brackets if b.venue == view.venue}
    known_oids = {oid for b in held.values() for oid in (b.entry.order_id, *(leg.order_id for leg in b.legs)) if oid}
    passes = [_Pass(b, now_ms) for b in held.values() if not b.state.is_terminal]
    matched = _match_unknown(passes, truth, view, known_oids, policy)
    for p in passes:
        _reconcile_one(p, truth, matched, view, policy)
    repairs = [r for p in passes for r in p.repairs]
    current = {**held, **{p.b.bracket_id: p.b for p in passes if p.repairs}}
    repairs.extend(_orphans(current, view, now_ms, policy, {id(p.b): p for p in passes if p.repairs}))
    return repairs


def summarize(total: int, repairs: Sequence[Repair]) -> dict[str, int]:
    """Return the `brackets.reconcile` answer: total, matched (ids learnt), updated (records), repaired (work)."""
    return {"total": total,
            "matched": sum(1 for r in repairs if r.learned_id),
            "updated": len({r.bracket_id for r in repairs if r.bracket is not None}),
            "repaired": sum(1 for r in repairs if r.has_work)}


def _match_unknown(passes: list[_Pass], truth: VenueTruth, view: VenueView, known_oids: set[str],
                   policy: ReconcilePolicy) -> dict[object, OrderUpdate]:
    wanted: list[Wanted] = []
    for p in passes:
        b, e = p.b, p.b.entry
        if e.order_id is None and not e.status.is_terminal and truth.find(e.client_order_id, None) is None:
            wanted.append(Wanted((b.bracket_id, "en"), b.symbol, b.side, False, e.type, b.qty, e.price, None,
                                 e.requested_ts))
        for leg in b.legs:
            if leg.status in _HAS_ORDER and leg.order_id is None and leg.order_type is not None \
                    and truth.find(leg.client_order_id, None) is None:
                trigger = leg.trigger_price if leg.order_type.is_conditional else None
                price = leg.price if leg.order_type.has_limit_price else None
                wanted.append(Wanted((b.bracket_id, leg.name.value), b.symbol, b.exit_side, True, leg.order_type,
                                     leg.order_qty, price, trigger, leg.placed_ts))
    if not wanted:
        return {}
    candidates = [o for o in (*view.open_orders, *view.recent_orders)
                  if (not o.order_id or o.order_id not in known_oids)
                  and parse_client_order_id(o.client_order_id) is None]
    return match_orders(wanted, candidates, policy.match_window_ms)


def _report_for(p: _Pass, role: str, cid: str | None, oid: str | None, qty: Decimal, truth: VenueTruth,
                matched: dict[object, OrderUpdate]) -> tuple[OrderReport | None, str]:
    found = truth.by_cid.get(cid) if cid else None
    how = "by client id"
    if found is None and oid:
        found, how = truth.by_oid.get(oid), "by venue id"
    if found is None:
        found, how = matched.get((p.b.bracket_id, role)), "by field match"
    if found is not None:
        return OrderReport.from_update(found), how
    return truth.from_fills(cid, oid, qty), "by fills"


def _reconcile_one(p: _Pass, truth: VenueTruth, matched: dict[object, OrderUpdate], view: VenueView,
                   policy: ReconcilePolicy) -> None:
    now = p.now
    e = p.b.entry
    report, how = _report_for(p, "en", e.client_order_id, e.order_id, p.b.qty, truth, matched)
    if report is not None and _entry_news(e, report):
        learned = e.order_id is None and report.order_id is not None
        before = (e.filled_qty, p.b.state)
        b = p.edit()
        decision = on_entry_update(b, report, now)
        armed = b.entry.filled_qty > before[0] and before[1] is BracketState.PENDING_ENTRY
        kind = RepairKind.ENTRY_FILLED if armed else RepairKind.VENUE_REPORT
        p.fold(kind, decision, "entry filled while the gateway was away: legs armed" if armed else None,
               f"entry venue id {report.order_id} learned {how}" if learned else None)
    missing: list[LegName] = []
    for name in (LegName.TP, LegName.SL):
        _fold_old_generations(p, name, truth)
        leg = p.b.leg(name)
        if leg.status not in _HAS_ORDER and leg.status is not LegStatus.ARMED:
            continue
        report, how = _report_for(p, name.value, leg.client_order_id, leg.order_id, leg.order_qty, truth, matched)
        if report is None:
            if leg.status in _HAS_ORDER:
                missing.append(name)
            continue
        stale_resize = not leg.resizing or now - leg.requested_ts >= policy.grace_ms
        if not _leg_news(leg, report, stale_resize):
            continue
        learned = leg.order_id is None and report.order_id is not None
        decision = on_leg_update(p.edit(), name, report, now, authoritative=stale_resize)
        learned = learned and p.b.leg(name).order_id == report.order_id
        resized = any(isinstance(i, ResizeLeg) for i in decision.intents)
        p.fold(RepairKind.RESIZED_LEG if resized else RepairKind.VENUE_REPORT, decision,
               learned=f"{name} venue id {report.order_id} learned {how}" if learned else None)
    b = p.b
    if view.positions is not None and b.open_qty > 0:
        qty = view.positions.get(b.symbol, ZERO)
        if qty * b.side.sign <= 0:
            p.fold(RepairKind.POSITION_GONE, on_position(p.edit(), qty, view.ts, now))
    for name in missing:
        leg = p.b.leg(name)
        if p.b.grouped and leg.generation == 1 and p.b.state is BracketState.PENDING_ENTRY:
            continue  # a grouped child may stay off the venue's order lists until its entry executes
        if leg.status in _HAS_ORDER and now - leg.requested_ts >= policy.grace_ms:
            kind = RepairKind.REPLACED_LEG if leg.status is not LegStatus.PENDING_CANCEL else RepairKind.VENUE_REPORT
            p.fold(kind, on_leg_vanished(p.edit(), name, now))
    prices = view.prices.get(p.b.symbol)
    if prices is not None:
        for name in (LegName.TP, LegName.SL):
            if p.b.leg(name).status is LegStatus.ARMED:
                _crossed_while_away(p, name, prices, policy)


def _entry_news(entry: EntryOrder, report: OrderReport) -> bool:
    return (entry.order_id is None and report.order_id is not None) or report.filled_qty > entry.filled_qty \
        or merge_status(entry.status, report.status) is not entry.status


def _leg_news(leg: Leg, report: OrderReport, stale_resize: bool) -> bool:
    """Whether folding `report` (about the leg's current order) would change anything."""
    if (report.order_id and leg.order_id != report.order_id) or leg.status is LegStatus.ARMED:
        return True
    if report.filled_qty > leg.current_filled or report.status.is_terminal:
        return leg.status in _HAS_ORDER or report.filled_qty > leg.current_filled
    if leg.status is LegStatus.PENDING and report.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
        return True
    if report.qty is None or leg.status not in (LegStatus.PENDING, LegStatus.OPEN):
        return False
    return (report.qty != leg.order_qty and stale_resize) or (leg.resizing and report.qty == leg.order_qty)


def _fold_old_generations(p: _Pass, name: LegName, truth: VenueTruth) -> None:
    for generation in range(1, p.b.leg(name).generation):
        found = truth.by_cid.get(f"{p.b.bracket_id}-{name.value}{generation}")
        if found is not None and found.filled_qty > p.b.leg(name).fills.get(generation, ZERO):
            p.fold(RepairKind.VENUE_REPORT, on_leg_update(p.edit(), name, OrderReport.from_update(found), p.now))


def _crossed_while_away(p: _Pass, name: LegName, prices: PriceView, policy: ReconcilePolicy) -> None:
    b, leg = p.b, p.b.leg(name)
    direction = watch_rule(b.exit_side, leg.name)
    if b.trigger_source is TriggerSource.BBO:
        now_price = prices.bid if b.exit_side is Side.SELL else prices.ask
    else:
        now_price = prices.mark if b.trigger_source is TriggerSource.MARK else prices.last
    extreme = prices.high if direction is TriggerDirection.RISE else prices.low
    seen = [x for x in (now_price, extreme) if x is not None and is_crossed(direction, leg.trigger_price, x)]
    if not seen:
        return
    what = f"{leg.name} trigger {leg.trigger_price} crossed while the gateway was away ({b.trigger_source} {seen[0]})"
    if policy.crossed_trigger is CrossedTriggerPolicy.FIRE:
        p.fold(RepairKind.FIRED_TRIGGER, on_trigger(p.edit(), name, p.now), f"{what}: fired")
    else:
        decision = on_attention(p.edit(), f"{what}: needs attention", p.now, disarm=(name,))
        p.fold(RepairKind.NEEDS_ATTENTION, decision, f"{what}: needs attention")


def _orphans(current: dict[str, Bracket], view: VenueView, now: int, policy: ReconcilePolicy,
             passes: dict[int, _Pass]) -> list[Repair]:
    by_oid: dict[str, tuple[Bracket, str]] = {}
    for b in current.values():
        for role, oid in (("en", b.entry.order_id), *((leg.name.value, leg.order_id) for leg in b.legs)):
            if oid:
                by_oid[oid] = (b, role)
    repairs: list[Repair] = []
    for order in view.open_orders:
        ref = parse_client_order_id(order.client_order_id)
        if ref is not None:
            b = current.get(ref.bracket_id)
            role, generation = ref.role, ref.generation
        elif order.order_id in by_oid:
            b, role = by_oid[order.order_id]
            generation = 0 if role == "en" else b.leg(role).generation
        else:
            continue  # not ours
        if b is None:
            if policy.cancel_unknown:
                repairs.append(_orphan_repair(ref.bracket_id if ref else "", role, view.venue, view.venue, order,
                                              "order of an unknown bracket", None))
            continue
        reason = _orphan_reason(b, role, generation, now, policy)
        if reason is not None:
            p = passes.get(id(b))
            repairs.append(_orphan_repair(b.bracket_id, role, b.venue, b.account, order, reason, p.b if p else None))
    return repairs


def _orphan_reason(b: Bracket, role: str, generation: int, now: int, policy: ReconcilePolicy) -> str | None:
    if role == "en":
        if not b.state.is_terminal or now - b.entry.requested_ts < policy.grace_ms:
            return None
        return f"entry still open after the bracket ended ({b.state})"
    leg = b.leg(role)
    if now - leg.requested_ts < policy.grace_ms:
        return None  # a cancel or a replacement is in flight
    if generation != leg.generation:
        return f"{role} generation {generation} left open after generation {leg.generation} replaced it"
    if b.state.is_terminal:
        return f"{role} still open after the bracket ended ({b.state})"
    if leg.status not in (LegStatus.PENDING, LegStatus.OPEN):
        return f"{role} still open although it is {leg.status}: cancel re-sent"
    return None


def _orphan_repair(bracket_id: str, role: str, venue: str, account: str, order: OrderUpdate, reason: str,
                   bracket: Bracket | None) -> Repair:
    if role == "en":
        intent: Intent = CancelEntry(bracket_id=bracket_id, venue=venue, account=account, symbol=order.symbol,
                                     client_order_id=order.client_order_id or "", order_id=order.order_id,
                                     reason=reason)
    else:
        intent = CancelLeg(bracket_id=bracket_id, leg=LegName(role), venue=venue, account=account,
                           symbol=order.symbol, client_order_id=order.client_order_id, order_id=order.order_id,
                           reason=reason)
    return Repair(bracket_id, RepairKind.CANCELED_ORPHAN, reason,
                  (Publish(bracket_id=bracket_id, reason=reason), intent), bracket)
