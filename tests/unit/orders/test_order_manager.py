import dataclasses

import pytest
from structlog.testing import capture_logs

from gateway.core.enums import OrderStatus as S
from gateway.core.enums import Side
from gateway.core.errors import ErrorCode, GatewayError, VenueRejected, VenueTimeout
from gateway.orders.commands import (
    AmendOutcome,
    CancelAll,
    CancelOrder,
    CancelOutcome,
    ModifyOrder,
    Pending,
    PlaceOutcome,
    QueryOutcome,
    Reconciled,
    SendCancel,
    SendPlace,
    SendQuery,
    Tick,
)
from gateway.orders.manager import OrderManager
from gateway.orders.model import Order
from orders_testkit import INSTRUMENT, T0, VENUE, D, fill, manager, place_cmd, update


def placed(m: OrderManager, coid: str = "c1", qty: str = "1", ack: bool = True) -> Order:
    m.handle(place_cmd(coid, qty=qty), T0)
    if ack:
        m.handle(PlaceOutcome(VENUE, coid, update(coid, S.NEW, f"o-{coid}", qty=qty)), T0 + 1)
    order = m.get(VENUE, coid)
    assert order is not None
    return order


def settled(decision, what: str, coid: str = "c1"):  # type: ignore[no-untyped-def]
    values = [v for k, v in decision.settle if k == (what, VENUE, coid)]
    assert len(values) == 1, decision.settle
    return values[0]


def test_place_journals_the_intent_publishes_and_asks_to_send() -> None:
    m = manager()
    d = m.handle(place_cmd("c1", qty="1.2345", price="100.019"), T0)
    assert d.reply == Pending((("place", VENUE, "c1"),))
    assert [e.kind for e in d.journal] == ["intent.place"]
    (intent,) = d.intents
    assert isinstance(intent, SendPlace)
    assert (intent.request.qty, intent.request.price, intent.request.client_order_id) == (D("1.234"), D("100.01"), "c1")
    assert [(a, k, e["status"]) for a, k, e in d.events] == [(VENUE, "order", S.PENDING_NEW)]
    assert d.orders == [m.get(VENUE, "c1")]


def test_ack_settles_the_place_with_the_order() -> None:
    m = manager()
    m.handle(place_cmd("c1"), T0)
    d = m.handle(PlaceOutcome(VENUE, "c1", update("c1", S.NEW, "o1")), T0 + 3)
    result = settled(d, "place")
    assert result["status"] == S.NEW and result["order_id"] == "o1"
    assert m.get(VENUE, order_id="o1") is m.get(VENUE, "c1")
    assert [e.kind for e in d.journal] == ["transition"]


def test_generated_client_id_when_absent() -> None:
    m = manager()
    d = m.handle(place_cmd(None), T0)
    coid = d.intents[0].request.client_order_id
    assert coid.startswith("gw") and m.get(VENUE, coid) is not None


def test_same_client_id_twice_returns_the_first_order_and_sends_once() -> None:
    m = manager()
    first = m.handle(place_cmd("c1"), T0)
    again = m.handle(place_cmd("c1"), T0)  # still pending: waits for the same answer
    assert again.reply == first.reply and not again.intents and not again.journal and not again.orders
    m.handle(PlaceOutcome(VENUE, "c1", update("c1", S.NEW, "o1")), T0)
    later = m.handle(place_cmd("c1", qty="5"), T0)  # qty differs: still the same order (amends change qty)
    assert later.reply["client_order_id"] == "c1" and later.reply["qty"] == D("1") and not later.intents
    other = m.handle(place_cmd("c1", side=Side.SELL), T0)
    assert isinstance(other.reply, GatewayError) and other.reply.code is ErrorCode.DUPLICATE_CLIENT_ID


def test_fill_before_ack() -> None:
    m = manager()
    m.handle(place_cmd("c1", qty="1"), T0)
    d = m.handle(fill("c1", "t1", "0.4", price="100"), T0 + 1)
    order = m.get(VENUE, "c1")
    assert order.status is S.PARTIALLY_FILLED and order.filled_qty == D("0.4")
    assert not d.settle  # the caller is answered by the placement's own answer
    assert [k for _, k, _ in d.events] == ["fill", "order"]
    late_ack = m.handle(PlaceOutcome(VENUE, "c1", update("c1", S.NEW, "o1")), T0 + 2)
    assert order.status is S.PARTIALLY_FILLED and order.order_id == "o1"  # the stale NEW is not applied
    assert settled(late_ack, "place")["status"] == S.PARTIALLY_FILLED  # with the fill folded in
    m.handle(fill("c1", "t2", "0.6", price="101"), T0 + 3)
    assert order.status is S.FILLED and order.filled_qty == D("1")
    assert order.avg_price == D("100.6")


def test_whole_fill_before_ack_goes_straight_to_filled() -> None:
    m = manager()
    m.handle(place_cmd("c1"), T0)
    m.handle(fill("c1", "t1", "1", order_id=None), T0)
    m.handle(PlaceOutcome(VENUE, "c1", update("c1", S.NEW, "o1")), T0)
    order = m.get(VENUE, "c1")
    assert order.status is S.FILLED and order.order_id == "o1"


def test_a_venue_reporting_filled_before_its_fills_shows_its_figures_until_the_fills_come() -> None:
    # Binance answers a market order FILLED (executedQty, avgPrice); its trades come on the stream after.
    m = manager()
    m.handle(place_cmd("c1", qty="2"), T0)
    answer = dataclasses.replace(update("c1", S.FILLED, "o1", qty="2", filled="2"), avg_price=D("100.5"))
    d = m.handle(PlaceOutcome(VENUE, "c1", answer), T0 + 1)
    public = settled(d, "place")
    assert public["status"] == S.FILLED and public["filled_qty"] == D("2")  # not "filled, 0 filled"
    order = m.get(VENUE, "c1")
    assert order.filled_qty == 0 and order.remaining_qty == 0  # our own fills: none yet
    with capture_logs() as logs:
        m.handle(fill("c1", "t1", "1.5", price="100"), T0 + 2)
        m.handle(fill("c1", "t2", "0.5", price="102"), T0 + 3)
    assert not [e for e in logs if e["event"] == "order.late_fill"]  # fills the venue had reported
    public = order.to_public()
    assert (public["filled_qty"], public["avg_price"], order.filled_qty) == (D("2"), D("100.5"), D("2"))
    assert m.risk.position(order.strategy, VENUE, "BTC/USDT") == D("2")  # positions count fills, once


def order_events(decision) -> list[tuple[object, object]]:  # type: ignore[no-untyped-def]
    return [(e["status"], e["filled_qty"]) for _, kind, e in decision.events if kind == "order"]


def test_a_report_confirming_fills_we_have_is_stored_not_published_again() -> None:
    # The sim and Lighter push the trade, then the order's report with the same cumulative figures.
    m = manager()
    placed(m, "c1", qty="1")
    filled = m.handle(fill("c1", "t1", "1", order_id="o-c1"), T0 + 2)
    assert order_events(filled) == [(S.FILLED, D("1"))]
    report = m.handle(update("c1", S.FILLED, "o-c1", filled="1"), T0 + 3)
    order = m.get(VENUE, "c1")
    assert order_events(report) == [] and report.unpublished == [order]  # the venue's figures are kept
    assert order.venue_filled_qty == D("1")
    again = m.handle(update("c1", S.FILLED, "o-c1", filled="1"), T0 + 4)  # the same report again
    assert not again.orders and not again.unpublished


def test_a_fill_the_venue_reported_first_is_not_published_again() -> None:
    # Binance: the report (cumulative figures, FILLED) comes first, its trades after.
    m = manager()
    placed(m, "c1", qty="2")
    report = m.handle(update("c1", S.PARTIALLY_FILLED, "o-c1", qty="2", filled="1.5"), T0 + 2)
    assert order_events(report) == [(S.PARTIALLY_FILLED, D("1.5"))]
    first = m.handle(fill("c1", "t1", "1.5", order_id="o-c1"), T0 + 3)
    assert order_events(first) == [] and [k for _, k, _ in first.events] == ["fill"]
    last = m.handle(fill("c1", "t2", "0.5", order_id="o-c1"), T0 + 4)  # ahead of the venue: filled
    assert order_events(last) == [(S.FILLED, D("2"))]


def test_cancel_ack_before_late_fill_counts_the_fill_and_keeps_canceled() -> None:
    m = manager()
    order = placed(m, qty="1")
    d = m.handle(CancelOrder("s1", VENUE, client_order_id="c1"), T0)
    assert isinstance(d.intents[0], SendCancel) and order.status is S.PENDING_CANCEL
    d = m.handle(CancelOutcome(VENUE, "c1", update("c1", S.CANCELED, "o-c1")), T0)
    assert settled(d, "cancel")["status"] == S.CANCELED
    with capture_logs() as logs:
        d = m.handle(fill("c1", "t1", "0.3", order_id="o-c1"), T0)
    assert order.status is S.CANCELED and order.filled_qty == D("0.3")
    assert len(d.fills) == 1 and d.orders == [order]
    assert any(e["event"] == "order.late_fill" for e in logs)
    m.handle(fill("c1", "t2", "0.7", order_id="o-c1"), T0)  # the rest: the cancel lost the race after all
    assert order.status is S.FILLED and order.filled_qty == D("1")


def test_fill_raced_our_cancel() -> None:
    m = manager()
    order = placed(m)
    m.handle(CancelOrder("s1", VENUE, order_id="o-c1"), T0)
    m.handle(update("c1", S.PARTIALLY_FILLED, "o-c1"), T0)  # a live report while cancel pending: ignored
    assert order.status is S.PENDING_CANCEL
    d = m.handle(fill("c1", "t1", "1", order_id="o-c1"), T0)
    assert order.status is S.FILLED
    assert settled(d, "cancel")["status"] == S.FILLED
    d = m.handle(CancelOutcome(VENUE, "c1", error=VenueRejected("unknown order", venue=VENUE)), T0)
    assert order.status is S.FILLED and settled(d, "cancel")["status"] == S.FILLED


def test_duplicated_fill_is_counted_once() -> None:
    m = manager()
    order = placed(m, qty="2")
    m.handle(fill("c1", "t1", "1"), T0)
    d = m.handle(fill("c1", "t1", "1"), T0)
    assert not d.fills and not d.events and not d.orders
    assert order.filled_qty == D("1") and order.status is S.PARTIALLY_FILLED
    m.handle(fill("c1", "t1", "1", order_id=None), T0)  # replayed without ids
    assert order.filled_qty == D("1")


def test_overfill_is_kept_and_logged() -> None:
    m = manager()
    order = placed(m, qty="1")
    m.handle(fill("c1", "t1", "0.8"), T0)
    with capture_logs() as logs:
        m.handle(fill("c1", "t2", "0.5"), T0)
    assert order.filled_qty == D("1.3") and order.status is S.FILLED
    assert [e for e in logs if e["event"] == "order.overfill"]


def test_external_order_is_visible_never_adopted_or_canceled() -> None:
    m = manager()
    d = m.handle(update("theirs", S.NEW, "o77", qty="3", filled="1"), T0)
    order = m.get(VENUE, "theirs")
    assert order.external and order.strategy is None and order.filled_qty == D("1")
    assert d.events[0][2]["status"] == S.NEW and d.journal[0].kind == "external"
    d = m.handle(CancelOrder("s1", VENUE, client_order_id="theirs"), T0)
    assert d.reply.code is ErrorCode.NOT_SUPPORTED and not d.intents
    d = m.handle(CancelAll(None, VENUE), T0)
    assert d.reply == Pending(()) and not d.intents
    assert m.handle(fill("theirs", "t9", "1", order_id="o77"), T0).fills  # recorded, mirrored by reports
    nameless = m.handle(update(None, S.NEW, "o78"), T0)
    assert m.get(VENUE, order_id="o78").client_order_id is None and nameless.orders


def test_unmatched_fill_is_recorded_and_journaled() -> None:
    m = manager()
    d = m.handle(fill("nobody", "t1", "1", order_id="o5"), T0)
    assert len(d.fills) == 1 and d.journal[0].kind == "fill.unmatched"


def test_lost_ack_goes_unknown_and_is_resolved_by_query() -> None:
    m = manager()
    m.handle(place_cmd("c1"), T0)
    d = m.handle(PlaceOutcome(VENUE, "c1", error=VenueTimeout("no answer", venue=VENUE)), T0 + 10)
    order = m.get(VENUE, "c1")
    assert order.status is S.UNKNOWN
    assert settled(d, "place")["status"] == S.UNKNOWN  # answered with the order, not an error
    assert not m.handle(Tick(), T0 + 50).intents  # first query after the base backoff (100 ms)
    d = m.handle(Tick(), T0 + 110)
    (query,) = d.intents
    assert isinstance(query, SendQuery) and query.client_order_id == "c1" and query.asked_at == T0 + 110
    assert not m.handle(Tick(), T0 + 5000).intents  # one query in flight at a time
    m.handle(QueryOutcome(VENUE, "c1", T0 + 110, update("c1", S.PARTIALLY_FILLED, "o1", filled="0.5")), T0 + 120)
    assert order.status is S.PARTIALLY_FILLED and order.order_id == "o1"
    assert not m.in_doubt()


def test_unknown_becomes_rejected_only_on_venue_evidence() -> None:
    m = manager(unknown_reject_after_ms=5_000)
    m.handle(place_cmd("c1"), T0)
    m.handle(PlaceOutcome(VENUE, "c1", error=VenueTimeout("x", venue=VENUE)), T0)
    order = m.get(VENUE, "c1")
    now = T0
    asked = []
    for _ in range(30):  # many failed queries: retries alone never decide anything
        now += 1_000
        for intent in m.handle(Tick(), now).intents:
            asked.append(now)
            m.handle(QueryOutcome(VENUE, "c1", now, error=VenueTimeout("x", venue=VENUE)), now)
    assert order.status is S.UNKNOWN
    gaps = [b - a for a, b in zip(asked, asked[1:])]
    assert gaps[:4] == [1000, 1000, 1000, 1000] and len(asked) >= 20  # backoff capped at 1 s
    # "no such order", but asked too soon after the send: not evidence yet
    fresh = manager(unknown_reject_after_ms=5_000)
    fresh.handle(place_cmd("c2"), T0)
    fresh.handle(PlaceOutcome(VENUE, "c2", error=VenueTimeout("x", venue=VENUE)), T0)
    fresh.handle(QueryOutcome(VENUE, "c2", T0 + 4_999, None), T0 + 6_000)
    assert fresh.get(VENUE, "c2").status is S.UNKNOWN
    d = fresh.handle(QueryOutcome(VENUE, "c2", T0 + 5_000, None), T0 + 6_000)
    assert fresh.get(VENUE, "c2").status is S.REJECTED and d.journal[-1].data["to"] == S.REJECTED


def test_backoff_doubles_up_to_the_cap() -> None:
    m = manager(unknown_backoff_base_ms=100, unknown_backoff_max_ms=1_000)
    m.handle(place_cmd("c1"), T0)
    m.handle(PlaceOutcome(VENUE, "c1", error=VenueTimeout("x", venue=VENUE)), T0)
    times = []
    for now in range(T0, T0 + 5_000, 10):
        for intent in m.handle(Tick(), now).intents:
            times.append(now - T0)
            m.handle(QueryOutcome(VENUE, "c1", now, error=VenueTimeout("x", venue=VENUE)), now)
    assert times[:6] == [100, 200, 400, 800, 1600, 2600]


def test_venue_rejection_answers_venue_rejected_and_records_the_order() -> None:
    m = manager()
    m.handle(place_cmd("c1"), T0)
    error = VenueRejected("insufficient balance", venue=VENUE, venue_code=-2010, venue_message="balance")
    d = m.handle(PlaceOutcome(VENUE, "c1", error=error), T0)
    result = settled(d, "place")
    assert isinstance(result, VenueRejected) and result.details["venue_code"] == -2010
    assert result.details["order"]["status"] == S.REJECTED
    assert m.get(VENUE, "c1").status is S.REJECTED and m.get(VENUE, "c1").reason == "balance"


def test_lost_cancel_answer_stays_pending_cancel_and_resends_when_the_order_is_live() -> None:
    m = manager()
    order = placed(m)
    m.handle(CancelOrder("s1", VENUE, client_order_id="c1"), T0)
    d = m.handle(CancelOutcome(VENUE, "c1", error=VenueTimeout("x", venue=VENUE)), T0)
    assert order.status is S.PENDING_CANCEL and settled(d, "cancel")["status"] == S.PENDING_CANCEL
    (query,) = m.handle(Tick(), T0 + 1_000).intents
    d = m.handle(QueryOutcome(VENUE, "c1", T0 + 1_000, update("c1", S.NEW, "o-c1")), T0 + 1_001)
    assert order.status is S.PENDING_CANCEL and [type(i) for i in d.intents] == [SendCancel]
    m.handle(CancelOutcome(VENUE, "c1", update("c1", S.CANCELED, "o-c1")), T0 + 1_002)
    assert order.status is S.CANCELED and not m.in_doubt()


def test_refused_cancel_restores_the_live_status() -> None:
    m = manager()
    order = placed(m, qty="2")
    m.handle(fill("c1", "t1", "1"), T0)
    m.handle(CancelOrder("s1", VENUE, client_order_id="c1"), T0)
    d = m.handle(CancelOutcome(VENUE, "c1", error=VenueRejected("nope", venue=VENUE)), T0)
    assert isinstance(settled(d, "cancel"), VenueRejected)
    assert order.status is S.PARTIALLY_FILLED


def test_cancel_before_the_ack_is_sent_once_the_placement_is_answered() -> None:
    m = manager()
    m.handle(place_cmd("c1"), T0)
    d = m.handle(CancelOrder("s1", VENUE, client_order_id="c1"), T0)
    assert not d.intents and d.reply == Pending((("cancel", VENUE, "c1"),))
    d = m.handle(PlaceOutcome(VENUE, "c1", update("c1", S.NEW, "o1")), T0)
    assert [type(i) for i in d.intents] == [SendCancel]
    assert m.get(VENUE, "c1").status is S.PENDING_CANCEL
    # placement of another order rejected while its cancel waits: the cancel is answered with the order
    m.handle(place_cmd("c2"), T0)
    m.handle(CancelOrder("s1", VENUE, client_order_id="c2"), T0)
    d = m.handle(PlaceOutcome(VENUE, "c2", error=VenueRejected("no", venue=VENUE)), T0)
    assert settled(d, "cancel", "c2")["status"] == S.REJECTED and not d.intents


def test_cancel_of_an_unknown_order_by_client_id() -> None:
    m = manager()
    m.handle(place_cmd("c1"), T0)
    m.handle(PlaceOutcome(VENUE, "c1", error=VenueTimeout("x", venue=VENUE)), T0)
    d = m.handle(CancelOrder("s1", VENUE, client_order_id="c1"), T0)
    assert d.intents[0].client_order_id == "c1" and m.get(VENUE, "c1").status is S.PENDING_CANCEL
    m.handle(CancelOutcome(VENUE, "c1", error=VenueRejected("unknown order", venue=VENUE)), T0)
    assert m.get(VENUE, "c1").status is S.UNKNOWN and m.in_doubt()


def test_a_cancel_naming_two_different_orders_is_refused_and_cancels_neither() -> None:
    m = manager()
    keep, target = placed(m, "keep"), placed(m, "target")
    d = m.handle(CancelOrder("s1", VENUE, order_id=target.order_id, client_order_id="keep"), T0 + 2)
    assert isinstance(d.reply, GatewayError) and d.reply.code is ErrorCode.INVALID_PARAMS and not d.intents
    assert keep.status is S.NEW and target.status is S.NEW
    m.handle(place_cmd("pending"), T0 + 3)  # no venue id yet: a different order's id is still a mismatch
    d = m.handle(CancelOrder("s1", VENUE, order_id=target.order_id, client_order_id="pending"), T0 + 4)
    assert isinstance(d.reply, GatewayError) and d.reply.code is ErrorCode.INVALID_PARAMS
    d = m.handle(CancelOrder("s1", VENUE, order_id=keep.order_id, client_order_id="keep"), T0 + 5)  # agreeing
    assert [type(i) for i in d.intents] == [SendCancel]


def test_stale_and_unknown_reports() -> None:
    m = manager()
    order = placed(m, qty="2")
    m.handle(fill("c1", "t1", "1"), T0)
    m.handle(update("c1", S.NEW, "o-c1"), T0)  # older than what we know
    assert order.status is S.PARTIALLY_FILLED
    m.handle(update("c1", S.CANCELED, "o-c1"), T0)  # canceled out of band
    assert order.status is S.CANCELED
    m.handle(update("c1", S.NEW, "o-c1"), T0)
    assert order.status is S.CANCELED


def test_amend_round_trip() -> None:
    m = manager()
    order = placed(m, qty="1")
    d = m.handle(ModifyOrder("s1", VENUE, INSTRUMENT, client_order_id="c1", qty=D("2.0005"), price=D("99.999")), T0)
    (intent,) = d.intents
    assert (intent.qty, intent.price) == (D("2.000"), D("99.99"))
    again = m.handle(ModifyOrder("s1", VENUE, INSTRUMENT, client_order_id="c1", qty=D("3")), T0)
    assert again.reply.code is ErrorCode.INVALID_PARAMS  # one amend at a time
    d = m.handle(AmendOutcome(VENUE, "c1", update("c1", S.NEW, "o-c1", qty="2", price="99.99")), T0)
    assert settled(d, "amend")["qty"] == D("2") and order.price == D("99.99")


def test_restore_turns_in_flight_placements_unknown() -> None:
    m = manager()
    orders = []
    for coid, status in [("a", S.PENDING_NEW), ("b", S.NEW), ("c", S.PENDING_CANCEL), ("d", S.FILLED)]:
        orders.append(Order(venue=VENUE, account=VENUE, symbol="BTC/USDT", client_order_id=coid, side=Side.BUY,
                            type=place_cmd().params.type, tif=place_cmd().params.tif, qty=D("1"), price=D("1"),
                            trigger_price=None, reduce_only=False, status=status, created_ts=T0, updated_ts=T0,
                            sent_at=T0))
    d = m.restore(orders, [(VENUE, "t1")], T0 + 10)
    assert m.get(VENUE, "a").status is S.UNKNOWN and d.orders == [orders[0]]
    assert {o.client_order_id for o in m.in_doubt()} == {"a", "c"}
    assert not m.handle(fill("b", "t1", "1"), T0).fills  # seen before the restart
    assert [o.client_order_id for o in m.open_orders(VENUE)] == ["a", "b", "c"]


def test_reconciliation_folds_fills_finds_externals_and_queries_the_unaccounted() -> None:
    m = manager()
    a = placed(m, "a", qty="1")
    b = placed(m, "b", qty="1")
    d = m.handle(Reconciled(VENUE, open_orders=(update("x", S.NEW, "o-x"),),
                            orders=(update("a", S.FILLED, "o-a", filled="1"),),
                            fills=(fill("a", "t1", "1", order_id="o-a"),)), T0 + 5)
    assert a.status is S.FILLED and a.filled_qty == D("1")
    assert m.get(VENUE, "x").external
    assert b in m.in_doubt()  # neither open nor reported: ask the venue
    (query,) = m.handle(Tick(), T0 + 5).intents
    assert query.client_order_id == "b"
    assert d.journal[-1].kind == "reconciled"


def test_closed_orders_leave_memory_after_retention() -> None:
    m = manager(closed_order_retention_ms=60_000)
    order = placed(m)
    m.handle(update("c1", S.CANCELED, "o-c1"), T0 + 10)
    m.handle(Tick(), T0 + 30_000)
    assert m.get(VENUE, "c1") is order
    m.handle(Tick(), T0 + 60_011)
    assert m.get(VENUE, "c1") is None and m.get(VENUE, order_id="o-c1") is None


@pytest.mark.parametrize("bad", [CancelOrder("s1", VENUE), CancelOrder("s1", VENUE, client_order_id="nope")])
def test_cancel_refusals(bad: CancelOrder) -> None:
    d = manager().handle(bad, T0)
    assert d.reply.code in (ErrorCode.INVALID_PARAMS, ErrorCode.ORDER_NOT_FOUND) and not d.journal
