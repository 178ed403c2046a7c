"""Reconciliation: late ids learnt, vanished legs re-placed once, orphans canceled, work missed while away
done, and idempotency: apply the repairs, reconcile against the resulting venue, nothing more is asked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from brackets_testkit import SYMBOL, T0, D, SimVenue, apply_repairs, make, open_at, venue_intents
from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import Fill, Liquidity, OrderUpdate
from gateway.orders.brackets import (
    ArmTrigger,
    Bracket,
    BracketState,
    CancelEntry,
    CancelLeg,
    CrossedTriggerPolicy,
    DisarmTrigger,
    FireLeg,
    LegMode,
    LegName,
    LegStatus,
    OrderReport,
    PlaceLeg,
    PriceView,
    ReconcilePolicy,
    RepairKind,
    ResizeLeg,
    TriggerSource,
    on_order_report,
    reconcile,
    summarize,
)

GRACE = ReconcilePolicy().grace_ms
LATER = T0 + 60_000  # past the grace period of everything requested at T0


def kinds(repairs) -> list[RepairKind]:
    return [r.kind for r in repairs]


def settle_and_check(brackets: dict[str, Bracket], repairs, venue: SimVenue, now: int, **view) -> None:
    """Apply the repairs, then assert that a second pass against the resulting venue finds nothing."""
    apply_repairs(brackets, repairs, venue, now)
    again = reconcile(list(brackets.values()), venue.view(now, **view), now + 1)
    assert again == [], [r.reason for r in again]


def test_late_venue_ids_are_learnt_by_client_id() -> None:
    venue = SimVenue(ack_with_id=False)  # acks carry our client id but not the venue's id
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(), T0, fill="1")
    b = brackets["b1"]
    assert b.entry.order_id is None and b.take_profit.order_id is None and b.stop_loss.status is LegStatus.OPEN
    repairs = reconcile([b], venue.view(LATER), LATER)
    assert kinds(repairs) == [RepairKind.LEARNED_ID] * 3
    assert all("by client id" in r.reason and not r.has_work and r.learned_id for r in repairs)
    fixed = repairs[0].bracket
    assert fixed.take_profit.order_id == venue.by_cid["b1-tp1"] and fixed.stop_loss.order_id == venue.by_cid["b1-sl1"]
    assert b.take_profit.order_id is None  # inputs are never mutated
    settle_and_check(brackets, repairs, venue, LATER)


def test_late_venue_ids_are_learnt_by_field_match_closest_in_time_and_never_twice() -> None:
    venue = SimVenue(echo_client_ids=False, ack_with_id=False)  # Lighter-like: neither id comes back
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make("b1", now=T0), T0, fill="1")
    open_at(venue, brackets, make("b2", now=T0 + 60_000), T0 + 60_000, fill="1")  # the same legs, later
    # a foreign order with the same fields, long before: outside the window, never matched
    venue.place(bracket_id="", cid="foreign", symbol=SYMBOL, side=Side.SELL, type_=OrderType.STOP, qty=D(1),
                price=None, trigger=D(95), reduce_only=True, ts=T0 - 3_600_000)
    now = T0 + 120_000
    repairs = reconcile(list(brackets.values()), venue.view(now), now)
    learned = [r for r in repairs if r.kind is RepairKind.LEARNED_ID]
    assert len(learned) == 4 and all("by field match" in r.reason for r in learned)
    b1, b2 = repairs[0].bracket, learned[-1].bracket
    assert b1.bracket_id == "b1" and b2.bracket_id == "b2"
    assert b1.stop_loss.order_id == venue.by_cid["b1-sl1"] and b2.stop_loss.order_id == venue.by_cid["b2-sl1"]
    assert b1.take_profit.order_id == venue.by_cid["b1-tp1"] and b2.take_profit.order_id == venue.by_cid["b2-tp1"]
    ids = [leg.order_id for b in (b1, b2) for leg in b.legs]
    assert len(set(ids)) == 4 and venue.by_cid["foreign"] not in ids
    settle_and_check(brackets, repairs, venue, now)


def test_field_match_respects_the_window() -> None:
    venue = SimVenue(echo_client_ids=False, ack_with_id=False)
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(), T0, fill="1")
    for order in venue.orders.values():  # the venue stamps the legs 10 minutes before we asked: clock trouble
        order.update = replace(order.update, ts=T0 - 600_000)
    repairs = reconcile(list(brackets.values()), venue.view(T0 + 1_000), T0 + 1_000)
    assert RepairKind.LEARNED_ID not in kinds(repairs)


def test_a_vanished_native_leg_is_replaced_exactly_once() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(), T0, fill="1")
    sl_oid = venue.by_cid["b1-sl1"]
    del venue.orders[sl_oid]  # gone without a trace (lost on a venue restart)
    repairs = reconcile(list(brackets.values()), venue.view(LATER), LATER)
    assert kinds(repairs) == [RepairKind.REPLACED_LEG]
    (place,) = venue_intents(repairs[0].intents)
    assert isinstance(place, PlaceLeg) and place.client_order_id == "b1-sl2" and place.qty == 1
    brackets["b1"] = repairs[0].bracket
    # the placement is still in flight: the next pass does not place it again
    assert reconcile(list(brackets.values()), venue.view(LATER + 1_000), LATER + 1_000) == []
    settle_and_check(brackets, repairs, venue, LATER + 2_000)


def test_a_leg_younger_than_the_grace_period_is_not_vanished() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(), T0, fill="1")
    del venue.orders[venue.by_cid["b1-sl1"]]
    assert reconcile(list(brackets.values()), venue.view(T0 + GRACE - 1), T0 + GRACE - 1) == []


def test_orphans_are_canceled() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make("b1"), T0, fill="1")
    open_at(venue, brackets, make("b2"), T0, fill="1")
    # b1: the TP filled and the SL's cancel never landed
    b1 = brackets["b1"]
    tp = venue.orders[venue.by_cid["b1-tp1"]]
    venue.fill(tp, D(1), T0 + 5)
    on_order_report(b1, OrderReport.from_update(tp.update), T0 + 5)  # the CancelLeg it returns is "lost"
    assert b1.state is BracketState.CLOSED_BY_TP
    # b2: an old generation left open after a replacement; plus an order of a bracket we do not hold
    b2 = brackets["b2"]
    b2.stop_loss.generation = 2
    b2.stop_loss.client_order_id = "b2-sl2"
    venue.place(bracket_id="b2", cid="b2-sl2", symbol=SYMBOL, side=Side.SELL, type_=OrderType.STOP, qty=D(1),
                price=None, trigger=D(95), reduce_only=True, ts=T0)
    b2.stop_loss.order_id = venue.by_cid["b2-sl2"]
    venue.place(bracket_id="zz", cid="zz9-tp1", symbol=SYMBOL, side=Side.SELL, type_=OrderType.TAKE_PROFIT,
                qty=D(1), price=None, trigger=D(120), reduce_only=True, ts=T0)
    venue.position[SYMBOL] = D(1)  # b2's position
    repairs = reconcile(list(brackets.values()), venue.view(LATER), LATER)
    assert kinds(repairs) == [RepairKind.CANCELED_ORPHAN] * 3
    canceled = {i.client_order_id for r in repairs for i in r.intents if isinstance(i, CancelLeg)}
    assert canceled == {"b1-sl1", "b2-sl1", "zz9-tp1"}
    settle_and_check(brackets, repairs, venue, LATER)


@pytest.mark.parametrize("mode", [LegMode.NATIVE, LegMode.EMULATED])
def test_an_entry_filled_while_away_gets_its_legs_exactly_once(mode: LegMode) -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(mode=mode), T0)
    venue.fill(venue.orders[venue.by_cid["b1-en"]], D(1), T0 + 5)  # we were down: nobody folded it
    repairs = reconcile(list(brackets.values()), venue.view(LATER), LATER)
    assert kinds(repairs) == [RepairKind.ENTRY_FILLED]
    assert repairs[0].reason == "entry filled while the gateway was away: legs armed"
    wanted = PlaceLeg if mode is LegMode.NATIVE else ArmTrigger
    assert [type(i) for i in repairs[0].intents[1:]] == [wanted, wanted]
    brackets["b1"] = repairs[0].bracket
    assert reconcile(list(brackets.values()), venue.view(LATER + 1), LATER + 1) == []  # not twice
    settle_and_check(brackets, repairs, venue, LATER + 2)


@pytest.mark.parametrize(("source", "prices"), [
    (TriggerSource.LAST, PriceView(last=D(94))),
    (TriggerSource.LAST, PriceView(last=D(100), low=D("94.5"), high=D(101))),  # crossed and came back
    (TriggerSource.MARK, PriceView(last=D(100), mark=D(95))),
    (TriggerSource.BBO, PriceView(bid=D(95), ask=D(96))),
])
def test_an_emulated_trigger_crossed_while_away_fires_at_once(source: TriggerSource, prices: PriceView) -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(mode=LegMode.EMULATED, source=source), T0, fill="1")
    view = {"prices": {SYMBOL: prices}}
    repairs = reconcile(list(brackets.values()), venue.view(LATER, **view), LATER)
    assert kinds(repairs) == [RepairKind.FIRED_TRIGGER] and "sl trigger 95 crossed" in repairs[0].reason
    fire = [i for i in repairs[0].intents if isinstance(i, FireLeg)][0]
    assert fire.type is OrderType.MARKET and fire.qty == 1 and fire.reduce_only and fire.side is Side.SELL
    assert any(isinstance(i, DisarmTrigger) for i in repairs[0].intents)
    settle_and_check(brackets, repairs, venue, LATER, **view)


def test_an_uncrossed_trigger_is_left_armed() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(mode=LegMode.EMULATED, source=TriggerSource.BBO), T0, fill="1")
    view = venue.view(LATER, prices={SYMBOL: PriceView(last=D(90), bid=D("95.5"), ask=D(94))})  # ask is not watched
    assert reconcile(list(brackets.values()), view, LATER) == []


def test_the_needs_attention_policy_disarms_instead_of_firing() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(mode=LegMode.EMULATED), T0, fill="1")
    policy = ReconcilePolicy(crossed_trigger=CrossedTriggerPolicy.NEEDS_ATTENTION)
    view = {"prices": {SYMBOL: PriceView(last=D(90))}}
    repairs = reconcile(list(brackets.values()), venue.view(LATER, **view), LATER, policy)
    assert kinds(repairs) == [RepairKind.NEEDS_ATTENTION]
    b = repairs[0].bracket
    assert b.state is BracketState.NEEDS_ATTENTION and b.stop_loss.status is LegStatus.IDLE
    assert b.take_profit.status is LegStatus.ARMED  # the other leg still protects
    assert not any(isinstance(i, FireLeg) for i in repairs[0].intents)
    apply_repairs(brackets, repairs, venue, LATER)
    assert reconcile(list(brackets.values()), venue.view(LATER + 1, **view), LATER + 1, policy) == []


def test_a_position_gone_while_away_cancels_the_legs_and_ends_the_bracket() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(), T0, fill="1")
    venue.position[SYMBOL] = D(0)  # another strategy closed it
    repairs = reconcile(list(brackets.values()), venue.view(LATER), LATER)
    assert kinds(repairs) == [RepairKind.POSITION_GONE]
    b = repairs[0].bracket
    assert b.state is BracketState.CANCELED and b.reason == "position_closed_externally"
    assert {i.client_order_id for i in repairs[0].intents if isinstance(i, CancelLeg)} == {"b1-tp1", "b1-sl1"}
    settle_and_check(brackets, repairs, venue, LATER)


def test_a_leg_filled_while_away_closes_the_bracket_even_from_fills_alone() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(), T0, fill="1")
    sl = venue.orders.pop(venue.by_cid["b1-sl1"])  # filled, and aged out of the order lists
    venue.position[SYMBOL] = D(0)
    fill = Fill("sim", SYMBOL, sl.update.order_id, "b1-sl1", "t1", Side.SELL, D(95), D(1), D(0), "USDT",
                Liquidity.TAKER, T0 + 30, T0 + 30)
    view = replace(venue.view(LATER), fills=(fill,))
    repairs = reconcile(list(brackets.values()), view, LATER)
    b = repairs[-1].bracket
    assert b.state is BracketState.CLOSED_BY_SL
    assert [i.client_order_id for r in repairs for i in r.intents if isinstance(i, CancelLeg)] == ["b1-tp1"]
    assert RepairKind.POSITION_GONE not in kinds(repairs)  # our own stop closed it, not someone else


def test_a_resize_the_venue_never_applied_is_sent_again() -> None:
    venue = SimVenue()
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make(qty="2"), T0, fill="2")
    tp = venue.orders[venue.by_cid["b1-tp1"]]
    venue.set_status(tp, OrderStatus.NEW, T0, qty=D(3))  # the venue holds a bigger TP than the position
    repairs = reconcile(list(brackets.values()), venue.view(LATER), LATER)
    assert kinds(repairs) == [RepairKind.RESIZED_LEG]
    (resize,) = venue_intents(repairs[0].intents)
    assert isinstance(resize, ResizeLeg) and resize.leg is LegName.TP and resize.qty == 2
    settle_and_check(brackets, repairs, venue, LATER)


def test_idempotent_over_a_mixed_book_and_pure_on_its_inputs() -> None:
    venue = SimVenue(ack_with_id=False)
    brackets: dict[str, Bracket] = {}
    open_at(venue, brackets, make("ok"), T0, fill="1")  # ids unknown -> learnt
    venue.ack_with_id = True  # from here on the venue answers with its ids, as most do
    open_at(venue, brackets, make("gone", symbol="ETH/USDT:USDT"), T0, fill="1")
    open_at(venue, brackets, make("fill", mode=LegMode.EMULATED, symbol="SOL/USDT:USDT"), T0)
    open_at(venue, brackets, make("vanish", symbol="XRP/USDT:USDT"), T0, fill="1")
    venue.position["ETH/USDT:USDT"] = D(0)
    venue.fill(venue.orders[venue.by_cid["fill-en"]], D(1), T0 + 5)
    del venue.orders[venue.by_cid["vanish-sl1"]]
    venue.place(bracket_id="old", cid="old1-en", symbol=SYMBOL, side=Side.BUY, type_=OrderType.LIMIT, qty=D(1),
                price=D(90), trigger=None, reduce_only=False, ts=T0)
    before = {k: b.to_record() for k, b in brackets.items()}
    view = venue.view(LATER, prices={"SOL/USDT:USDT": PriceView(last=D(100))})
    first = reconcile(list(brackets.values()), view, LATER)
    again = reconcile(list(brackets.values()), view, LATER)
    assert [(r.kind, r.reason, r.intents) for r in again] == [(r.kind, r.reason, r.intents) for r in first]
    assert {k: b.to_record() for k, b in brackets.items()} == before  # pure: inputs untouched
    assert set(kinds(first)) >= {RepairKind.LEARNED_ID, RepairKind.POSITION_GONE, RepairKind.ENTRY_FILLED,
                                  RepairKind.REPLACED_LEG, RepairKind.CANCELED_ORPHAN}
    assert any(isinstance(i, CancelEntry) for r in first for i in r.intents)
    counts = summarize(len(brackets), first)
    assert counts["total"] == 4 and counts["matched"] == 3 and counts["updated"] == 4 and counts["repaired"] == 4
    settle_and_check(brackets, first, venue, LATER, prices={"SOL/USDT:USDT": PriceView(last=D(100))})


def test_brackets_of_other_venues_are_left_alone() -> None:
    b = make()
    other = OrderUpdate("okx", SYMBOL, "X1", "b1-en", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D(100), None,
                        D(1), D(1), D(100), OrderStatus.FILLED, False, T0, T0)
    view = SimVenue().view(LATER)
    view = replace(view, venue="okx", recent_orders=(other,))
    assert reconcile([b], view, LATER) == []
