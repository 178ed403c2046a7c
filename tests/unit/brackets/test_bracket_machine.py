"""The bracket state machine: entry fills arm legs, one-cancels-other, shrink on partial fills, endings."""

from __future__ import annotations

import pytest

from brackets_testkit import T0, D, make, rep, venue_intents
from gateway.core.enums import OrderStatus as S
from gateway.core.enums import OrderType, Side
from gateway.orders.brackets import (
    MAX_LEG_REPLACEMENTS,
    ArmTrigger,
    BracketState,
    CancelEntry,
    CancelLeg,
    DisarmTrigger,
    FireLeg,
    LegMode,
    LegName,
    LegStatus,
    PlaceLeg,
    ResizeLeg,
    on_cancel_request,
    on_entry_update,
    on_leg_update,
    on_order_report,
    on_position,
    on_resume,
    on_trigger,
    rearm_intents,
)

MODES = [LegMode.NATIVE, LegMode.EMULATED]


def fill_entry(b, filled: str, status: S = S.PARTIALLY_FILLED, ts: int = T0 + 10):
    return on_entry_update(b, rep("b1-en", status, filled, oid="E1", qty=str(b.qty), ts=ts), ts)


def active(mode: LegMode, qty: str = "1", side: Side = Side.BUY, **kw):
    b = make(mode=mode, qty=qty, side=side, **kw)
    fill_entry(b, qty, S.FILLED)
    if mode is LegMode.NATIVE:
        for leg in b.legs:
            on_leg_update(b, leg.name, rep(leg.client_order_id, S.NEW, oid=f"O-{leg.name}", qty=qty), T0 + 11)
    return b


@pytest.mark.parametrize("mode", MODES)
def test_partial_entry_fills_size_the_legs_to_the_filled_qty_at_every_step(mode: LegMode) -> None:
    b = make(mode=mode, qty="1")
    assert b.take_profit.armed_qty == 0 and b.state is BracketState.PENDING_ENTRY
    d = fill_entry(b, "0.25")
    assert d.state is BracketState.ACTIVE
    expected = PlaceLeg if mode is LegMode.NATIVE else ArmTrigger
    assert [type(i) for i in d.intents[1:]] == [expected, expected]
    if mode is LegMode.NATIVE:
        assert {i.type for i in d.intents[1:]} == {OrderType.TAKE_PROFIT, OrderType.STOP}
        assert all(i.qty == D("0.25") and i.reduce_only and i.side is Side.SELL for i in d.intents[1:])
    for filled in ("0.5", "0.75", "1"):
        d = fill_entry(b, filled, S.FILLED if filled == "1" else S.PARTIALLY_FILLED)
        assert all(leg.armed_qty == D(filled) for leg in b.legs)
        if mode is LegMode.NATIVE:
            resizes = [i for i in d.intents if isinstance(i, ResizeLeg)]
            assert len(resizes) == 2 and all(i.qty == D(filled) and i.amend_qty == D(filled) for i in resizes)
        else:
            assert venue_intents(d.intents) == []  # the trigger holds the size; nothing to tell the venue
    assert b.take_profit.generation == 1 and b.stop_loss.generation == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("winner", "state"), [(LegName.TP, BracketState.CLOSED_BY_TP),
                                               (LegName.SL, BracketState.CLOSED_BY_SL)])
def test_a_filled_leg_cancels_the_other(mode: LegMode, winner: LegName, state: BracketState) -> None:
    b = active(mode)
    loser = b.leg(LegName.SL if winner is LegName.TP else LegName.TP)
    if mode is LegMode.EMULATED:
        fired = on_trigger(b, winner, T0 + 20)
        assert any(isinstance(i, FireLeg) and i.qty == 1 and i.type is OrderType.MARKET for i in fired.intents)
    d = on_leg_update(b, winner, rep(b.leg(winner).client_order_id, S.FILLED, "1", oid="W", qty="1"), T0 + 30)
    assert d.state is state and b.reason == f"{winner}_filled"
    if mode is LegMode.NATIVE:
        assert [i for i in d.intents if isinstance(i, CancelLeg)][0].client_order_id == loser.client_order_id
        assert loser.status is LegStatus.PENDING_CANCEL
    else:
        assert [i for i in d.intents if isinstance(i, DisarmTrigger)][0].key == ("b1", loser.name)
        assert loser.status is LegStatus.CANCELED
    assert not any(leg.is_live for leg in b.legs)


@pytest.mark.parametrize("mode", MODES)
def test_a_partial_tp_fill_shrinks_the_sl(mode: LegMode) -> None:
    b = active(mode, qty="2")
    if mode is LegMode.EMULATED:
        on_trigger(b, LegName.TP, T0 + 20)
    d = on_leg_update(b, LegName.TP, rep("b1-tp1", S.PARTIALLY_FILLED, "0.5", oid="T", qty="2"), T0 + 30)
    assert d.state is BracketState.PARTIALLY_CLOSED
    assert b.open_qty == D("1.5") and b.stop_loss.armed_qty == D("1.5") and b.take_profit.armed_qty == D("1.5")
    if mode is LegMode.NATIVE:
        (resize,) = [i for i in d.intents if isinstance(i, ResizeLeg)]
        assert resize.leg is LegName.SL and resize.qty == D("1.5") and resize.amend_qty == D("1.5")
        assert resize.replace_client_order_id == "b1-sl2"
    d = on_leg_update(b, LegName.TP, rep("b1-tp1", S.FILLED, "2", oid="T", qty="2"), T0 + 40)
    assert d.state is BracketState.CLOSED_BY_TP


def test_a_partial_sl_fill_shrinks_the_tp_of_a_short() -> None:
    b = active(LegMode.NATIVE, qty="3", side=Side.SELL)
    assert b.take_profit.order_type is OrderType.TAKE_PROFIT and b.exit_side is Side.BUY
    d = on_leg_update(b, LegName.SL, rep("b1-sl1", S.PARTIALLY_FILLED, "1", oid="S", qty="3"), T0 + 30)
    (resize,) = [i for i in d.intents if isinstance(i, ResizeLeg)]
    assert resize.leg is LegName.TP and resize.qty == D(2) and resize.side is Side.BUY


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("qty", "reason"), [("0", "position_closed_externally"),
                                             ("-0.3", "position_flipped_externally")])
def test_position_closed_elsewhere_cancels_legs_and_ends_the_bracket(mode: LegMode, qty: str, reason: str) -> None:
    b = active(mode)
    d = on_position(b, D(qty), T0 + 50, T0 + 50)
    assert d.state is BracketState.CANCELED and b.reason == reason
    assert not any(leg.is_live for leg in b.legs)
    wanted = CancelLeg if mode is LegMode.NATIVE else DisarmTrigger
    assert sum(isinstance(i, wanted) for i in d.intents) == 2


def test_a_stale_or_consistent_position_changes_nothing() -> None:
    b = active(LegMode.NATIVE)
    assert not on_position(b, D(0), T0 + 5, T0 + 60).changed  # older than the entry's fill (T0 + 10)
    assert not on_position(b, D("1"), T0 + 60, T0 + 60).changed
    assert not on_position(b, D("0.5"), T0 + 60, T0 + 60).changed  # smaller, not gone: legs are reduce-only


def test_position_closed_while_entry_still_working_cancels_the_entry_too() -> None:
    b = make()
    fill_entry(b, "0.4")
    d = on_position(b, D(0), T0 + 50, T0 + 50)
    assert any(isinstance(i, CancelEntry) for i in d.intents) and b.entry.status is S.PENDING_CANCEL


def test_cancel_request_before_fill_cancels_the_entry_and_is_idempotent() -> None:
    b = make()
    d = on_cancel_request(b, T0 + 1)
    assert d.state is BracketState.CANCELED and [type(i) for i in venue_intents(d.intents)] == [CancelEntry]
    assert not on_cancel_request(b, T0 + 2).intents
    # the entry's cancel raced a fill: the bracket was told to stop, so no legs are armed for it
    d = fill_entry(b, "0.2", S.CANCELED)
    assert d.state is BracketState.CANCELED and not venue_intents(d.intents) and b.entry.filled_qty == D("0.2")


@pytest.mark.parametrize(("status", "state"), [(S.REJECTED, BracketState.CANCELED),
                                               (S.CANCELED, BracketState.CANCELED),
                                               (S.EXPIRED, BracketState.EXPIRED)])
def test_entry_ending_unfilled_ends_the_bracket(status: S, state: BracketState) -> None:
    b = make()
    d = on_entry_update(b, rep("b1-en", status, reason="no"), T0 + 1)
    assert d.state is state and not venue_intents(d.intents)


def test_a_late_entry_fill_after_an_unrequested_expiry_arms_the_legs() -> None:
    b = make(entry_type=OrderType.MARKET)
    on_entry_update(b, rep("b1-en", S.EXPIRED), T0 + 1)
    d = fill_entry(b, "0.6", S.EXPIRED)
    assert d.state is BracketState.ACTIVE and b.reason == "late_entry_fill"
    assert all(i.qty == D("0.6") for i in venue_intents(d.intents))


def test_a_leg_closing_everything_while_the_entry_works_cancels_the_entry_and_a_late_fill_rearms() -> None:
    b = make(qty="2")
    fill_entry(b, "1")
    d = on_leg_update(b, LegName.TP, rep("b1-tp1", S.FILLED, "1", qty="1"), T0 + 20)
    assert d.state is BracketState.CLOSED_BY_TP
    assert any(isinstance(i, CancelEntry) for i in d.intents)
    d = fill_entry(b, "1.5", S.CANCELED)  # the entry filled more before the cancel landed
    assert d.state is BracketState.PARTIALLY_CLOSED and b.open_qty == D("0.5")
    placed = [i for i in d.intents if isinstance(i, PlaceLeg)]
    assert {(i.leg, i.client_order_id, i.qty) for i in placed} == {(LegName.TP, "b1-tp2", D("0.5")),
                                                                   (LegName.SL, "b1-sl2", D("0.5"))}


def test_a_rejected_leg_needs_attention_and_resume_places_it_again() -> None:
    b = active(LegMode.NATIVE)
    d = on_leg_update(b, LegName.SL, rep("b1-sl1", S.REJECTED, reason="would trigger immediately"), T0 + 20)
    assert d.state is BracketState.NEEDS_ATTENTION and "sl_rejected" in b.reason
    assert b.take_profit.is_live  # the other leg still protects
    d = on_resume(b, T0 + 30)
    assert d.state is BracketState.ACTIVE
    (place,) = [i for i in d.intents if isinstance(i, PlaceLeg)]
    assert place.client_order_id == "b1-sl2" and place.qty == 1


def test_a_leg_dropped_by_the_venue_is_replaced_then_needs_attention() -> None:
    b = active(LegMode.NATIVE)
    for n in range(1, MAX_LEG_REPLACEMENTS + 1):
        d = on_leg_update(b, LegName.SL, rep(f"b1-sl{n}", S.CANCELED, oid=f"S{n}"), T0 + 20 + n)
        (place,) = [i for i in d.intents if isinstance(i, PlaceLeg)]
        assert place.client_order_id == f"b1-sl{n + 1}" and d.reason == "sl_canceled_by_venue"
    d = on_leg_update(b, LegName.SL, rep(f"b1-sl{MAX_LEG_REPLACEMENTS + 1}", S.EXPIRED), T0 + 90)
    assert d.state is BracketState.NEEDS_ATTENTION and not venue_intents(d.intents)


def test_cancel_replace_resize_moves_to_the_next_generation() -> None:
    b = active(LegMode.NATIVE, qty="2")
    on_leg_update(b, LegName.TP, rep("b1-tp1", S.PARTIALLY_FILLED, "0.5", oid="O-tp", qty="2"), T0 + 20)
    assert b.stop_loss.resizing
    # the service chose cancel-replace: the old order's cancel arrives, then the replacement's ack
    d = on_order_report(b, rep("b1-sl1", S.CANCELED, oid="O-sl", qty="2"), T0 + 21)
    assert b.stop_loss.generation == 2 and b.stop_loss.status is LegStatus.PENDING and not venue_intents(d.intents)
    on_order_report(b, rep("b1-sl2", S.NEW, oid="O-sl2", qty="1.5"), T0 + 22)
    sl = b.stop_loss
    assert sl.status is LegStatus.OPEN and sl.order_id == "O-sl2" and sl.armed_qty == D("1.5") and not sl.resizing


def test_a_replacement_ack_before_the_old_cancel_is_adopted() -> None:
    b = active(LegMode.NATIVE, qty="2")
    on_leg_update(b, LegName.TP, rep("b1-tp1", S.PARTIALLY_FILLED, "0.5", oid="O-tp", qty="2"), T0 + 20)
    on_order_report(b, rep("b1-sl2", S.NEW, oid="O-sl2", qty="1.5"), T0 + 21)
    d = on_order_report(b, rep("b1-sl1", S.CANCELED, oid="O-sl", qty="2"), T0 + 22)
    assert b.stop_loss.generation == 2 and b.stop_loss.status is LegStatus.OPEN and not d.intents


def test_late_venue_ids_are_learnt_from_reports() -> None:
    b = make()
    fill_entry(b, "1", S.FILLED)
    assert b.stop_loss.order_id is None
    d = on_leg_update(b, LegName.SL, rep(None, S.NEW, oid="L-77", qty="1"), T0 + 40)
    assert b.stop_loss.order_id == "L-77" and d.changed


@pytest.mark.parametrize(("price", "type_"), [(None, OrderType.MARKET), ("94.5", OrderType.LIMIT)])
def test_a_crossed_emulated_stop_fires_market_or_limit(price: str | None, type_: OrderType) -> None:
    b = active(LegMode.EMULATED, sl=("95", price))
    d = on_trigger(b, LegName.SL, T0 + 20)
    disarm, fire = [i for i in d.intents if isinstance(i, (DisarmTrigger, FireLeg))]
    assert isinstance(disarm, DisarmTrigger) and isinstance(fire, FireLeg)
    assert fire.type is type_ and fire.price == (D(price) if price else None) and fire.reduce_only
    assert fire.client_order_id == "b1-sl1" and fire.side is Side.SELL
    assert not on_trigger(b, LegName.SL, T0 + 21).intents  # a stale trigger changes nothing


def test_rearm_intents_rebuild_the_trigger_index() -> None:
    b = active(LegMode.EMULATED)
    assert {i.key for i in rearm_intents(b)} == {("b1", LegName.TP), ("b1", LegName.SL)}
    on_trigger(b, LegName.TP, T0 + 20)
    assert [i.key for i in rearm_intents(b)] == [("b1", LegName.SL)]


def test_reports_that_change_nothing_are_quiet() -> None:
    b = active(LegMode.NATIVE)
    version = b.version
    d = on_leg_update(b, LegName.TP, rep("b1-tp1", S.NEW, oid="O-tp", qty="1"), T0 + 99)
    assert not d.changed and not d.intents and b.version == version
    assert not on_order_report(b, rep("other-tp1", S.FILLED, "1"), T0 + 99).changed
