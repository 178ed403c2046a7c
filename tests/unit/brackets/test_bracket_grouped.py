"""Native brackets on a venue with grouped TP/SL orders (Lighter's OTOCO): the entry and both legs go out as
one request; the venue sizes the legs to the entry's execution and cancels one when the other fills."""

from __future__ import annotations

from decimal import Decimal

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import OrderUpdate
from gateway.core.ports import Capabilities
from gateway.orders.brackets import (
    Bracket,
    BracketState,
    CancelLeg,
    LegMode,
    LegSpec,
    LegStatus,
    PlaceLeg,
    ReconcilePolicy,
    ResizeLeg,
    TriggerSource,
    VenueView,
    new_bracket,
    on_order_report,
    reconcile,
)
from gateway.orders.brackets.intents import PlaceGrouped
from tests.unit.brackets.brackets_testkit import SYMBOL, T0, VENUE, rep, venue_intents

D = Decimal
GROUPED = Capabilities(stop_orders=True, reduce_only=True, grouped_tpsl=True)


def placed(qty: str = "2", caps: Capabilities = GROUPED) -> tuple[Bracket, PlaceGrouped | None]:
    decision = new_bracket(bracket_id="g1", account=VENUE, venue=VENUE, symbol=SYMBOL, side=Side.BUY, qty=D(qty),
                           entry_type=OrderType.LIMIT, entry_price=D(100), take_profit=LegSpec(D(110)),
                           stop_loss=LegSpec(D(95)), mode=LegMode.NATIVE, trigger_source=TriggerSource.LAST,
                           capabilities=caps, now_ms=T0)
    grouped = [i for i in decision.intents if isinstance(i, PlaceGrouped)]
    return decision.bracket, grouped[0] if grouped else None


def test_the_entry_and_both_legs_are_one_request_with_fresh_leg_ids() -> None:
    b, intent = placed()
    assert intent is not None and b.grouped and b.state is BracketState.PENDING_ENTRY
    assert (intent.entry.client_order_id, intent.entry.qty) == ("g1-en", D(2))
    tp, sl = intent.take_profit, intent.stop_loss
    assert (tp.client_order_id, tp.type, tp.trigger_price, tp.side, tp.qty) == ("g1-tp1", OrderType.TAKE_PROFIT,
                                                                              D(110), Side.SELL, D(2))
    assert (sl.client_order_id, sl.type, sl.trigger_price) == ("g1-sl1", OrderType.STOP, D(95))
    assert [leg.status for leg in b.legs] == [LegStatus.PENDING, LegStatus.PENDING]
    assert Bracket.from_record(b.to_record()).grouped  # persisted


def test_without_grouped_orders_the_entry_goes_alone() -> None:
    b, intent = placed(caps=Capabilities(stop_orders=True, reduce_only=True))
    assert intent is None and not b.grouped


def test_legs_wait_through_the_entry_and_are_never_resized_by_the_gateway() -> None:
    b, _ = placed()
    for cid in ("g1-tp1", "g1-sl1"):
        d = on_order_report(b, rep(cid, OrderStatus.NEW, oid=f"V-{cid}"), T0 + 1)
        assert not venue_intents(d.intents)  # pending entry: a grouped leg is not canceled as unneeded
    d = on_order_report(b, rep("g1-en", OrderStatus.PARTIALLY_FILLED, "0.5", oid="V-en"), T0 + 2)
    assert b.state is BracketState.ACTIVE
    assert not [i for i in d.intents if isinstance(i, ResizeLeg | PlaceLeg | CancelLeg)]  # the venue sizes them
    assert [leg.armed_qty for leg in b.legs] == [D("0.5"), D("0.5")]
    on_order_report(b, rep("g1-en", OrderStatus.FILLED, "2", oid="V-en"), T0 + 3)
    assert [leg.armed_qty for leg in b.legs] == [D(2), D(2)]


def test_a_take_profit_fill_closes_it_and_the_stop_is_canceled() -> None:
    b, _ = placed()
    on_order_report(b, rep("g1-en", OrderStatus.FILLED, "2", oid="V-en"), T0 + 1)
    d = on_order_report(b, rep("g1-tp1", OrderStatus.FILLED, "2", oid="V-tp"), T0 + 2)
    assert b.state is BracketState.CLOSED_BY_TP
    assert [(type(i), i.client_order_id) for i in venue_intents(d.intents)] == [(CancelLeg, "g1-sl1")]


def test_an_entry_canceled_with_nothing_filled_cancels_the_legs() -> None:
    b, _ = placed()
    d = on_order_report(b, rep("g1-en", OrderStatus.CANCELED, oid="V-en"), T0 + 1)
    assert b.state is BracketState.CANCELED
    assert sorted(i.client_order_id for i in venue_intents(d.intents)) == ["g1-sl1", "g1-tp1"]


def test_reconciliation_learns_the_leg_indexes_late_and_never_drops_legs_waiting_on_the_entry() -> None:
    b, _ = placed()
    policy = ReconcilePolicy(grace_ms=1_000)
    later = T0 + 60_000  # long past the grace: still, a child off the lists while the entry rests is no loss
    assert not reconcile([b], VenueView(VENUE, (), (), (), {}, {}, later), later, policy)
    def shown(cid: str, oid: str, type_: OrderType, side: Side, trigger: Decimal | None) -> OrderUpdate:
        return OrderUpdate(VENUE, SYMBOL, oid, cid, side, type_, TimeInForce.GTC, D(100) if trigger is None else None,
                           trigger, D(2), D(0), None, OrderStatus.NEW, side is Side.SELL, T0, T0)

    view = VenueView(VENUE, (shown("g1-en", "11", OrderType.LIMIT, Side.BUY, None),
                             shown("g1-tp1", "12", OrderType.TAKE_PROFIT, Side.SELL, D(110)),
                             shown("g1-sl1", "13", OrderType.STOP, Side.SELL, D(95))), (), (), {}, {}, later)
    repairs = reconcile([b], view, later, policy)
    assert sum(r.learned_id for r in repairs) == 3 and not any(r.has_venue_work for r in repairs)
    learned = repairs[-1].bracket
    assert learned is not None and (learned.entry.order_id, learned.take_profit.order_id,
                                    learned.stop_loss.order_id) == ("11", "12", "13")
