"""Grouped placements (an entry with its TP/SL children in one venue request) in the pure order manager."""

from __future__ import annotations

import dataclasses

from orders_testkit import INSTRUMENT, T0, VENUE, D, manager, update

from gateway.core.enums import OrderStatus as S
from gateway.core.enums import OrderType, Side
from gateway.core.errors import ErrorCode, GatewayError, VenueRejected, VenueTimeout
from gateway.core.ports import Capabilities
from gateway.orders.commands import GroupOutcome, Pending, PlaceGroup, PlaceParams, SendGroup
from gateway.orders.manager import OrderManager

CAPS = Capabilities(stop_orders=True, reduce_only=True, grouped_tpsl=True)
KEYS = ("b1-en", "b1-tp1", "b1-sl1")


def group(entry_qty: str = "1", tp_trigger: str = "110", sl_trigger: str = "90") -> PlaceGroup:
    entry = PlaceParams("BTC/USDT", Side.BUY, OrderType.LIMIT, D(entry_qty), D("100"), client_order_id="b1-en")
    tp = PlaceParams("BTC/USDT", Side.SELL, OrderType.TAKE_PROFIT, D(entry_qty), None, D(tp_trigger),
                     reduce_only=True, client_order_id="b1-tp1")
    sl = PlaceParams("BTC/USDT", Side.SELL, OrderType.STOP, D(entry_qty), None, D(sl_trigger), reduce_only=True,
                     client_order_id="b1-sl1")
    return PlaceGroup("s1", VENUE, entry, (tp, sl), INSTRUMENT, CAPS)


def placed(m: OrderManager) -> SendGroup:
    d = m.handle(group(), T0)
    (intent,) = d.intents
    assert isinstance(intent, SendGroup)
    return intent


def test_a_group_records_every_order_and_sends_one_request() -> None:
    m = manager()
    d = m.handle(group(), T0)
    assert d.reply == Pending(tuple(("place", VENUE, k) for k in KEYS))
    (intent,) = d.intents
    assert isinstance(intent, SendGroup) and intent.keys == KEYS
    assert [(r.client_order_id, r.type, r.reduce_only) for r in intent.requests] == [
        ("b1-en", OrderType.LIMIT, False), ("b1-tp1", OrderType.TAKE_PROFIT, True), ("b1-sl1", OrderType.STOP, True)]
    assert [m.get(VENUE, k).status for k in KEYS] == [S.PENDING_NEW] * 3  # type: ignore[union-attr]
    journal = [(e.client_order_id, e.kind, e.data.get("group")) for e in d.journal]
    assert journal == [("b1-en", "intent.place", None), ("b1-tp1", "intent.place", "b1-en"),
                       ("b1-sl1", "intent.place", "b1-en")]


def test_the_venues_answer_settles_each_order() -> None:
    m = manager()
    intent = placed(m)
    answers = tuple(dataclasses.replace(update(k, S.NEW, f"o{i}"), client_order_id=k) for i, k in enumerate(KEYS))
    d = m.handle(GroupOutcome(VENUE, intent.keys, answers), T0 + 1)
    settled = {key[2]: value for key, value in d.settle}
    assert set(settled) == set(KEYS) and all(v["status"] == S.NEW for v in settled.values())
    assert m.get(VENUE, order_id="o2").client_order_id == "b1-sl1"  # type: ignore[union-attr]


def test_a_refused_group_rejects_every_order_and_a_lost_answer_makes_each_unknown() -> None:
    m = manager()
    intent = placed(m)
    refusal = VenueRejected("no margin", venue=VENUE, venue_code="21701", venue_message="not enough margin")
    d = m.handle(GroupOutcome(VENUE, intent.keys, (), refusal), T0 + 1)
    assert [m.get(VENUE, k).status for k in KEYS] == [S.REJECTED] * 3  # type: ignore[union-attr]
    assert all(isinstance(v, GatewayError) for _, v in d.settle)

    m = manager()
    intent = placed(m)
    m.handle(GroupOutcome(VENUE, intent.keys, (), VenueTimeout("no answer", venue=VENUE)), T0 + 1)
    assert [m.get(VENUE, k).status for k in KEYS] == [S.UNKNOWN] * 3  # type: ignore[union-attr]


def test_an_answer_missing_one_order_leaves_that_one_unknown() -> None:
    m = manager()
    intent = placed(m)
    entry_only = (dataclasses.replace(update("b1-en", S.NEW, "o1"), client_order_id="b1-en"), None, None)
    m.handle(GroupOutcome(VENUE, intent.keys, entry_only), T0 + 1)  # type: ignore[arg-type]
    assert [m.get(VENUE, k).status for k in KEYS] == [S.NEW, S.UNKNOWN, S.UNKNOWN]  # type: ignore[union-attr]


def test_a_bad_child_refuses_the_group_before_anything_is_recorded() -> None:
    m = manager()
    bad = group()
    bad = dataclasses.replace(bad, children=(dataclasses.replace(bad.children[0], qty=D("0.0001")), bad.children[1]))
    d = m.handle(bad, T0)
    assert isinstance(d.reply, GatewayError) and not d.intents and not d.orders
    assert all(m.get(VENUE, k) is None for k in KEYS)


def test_the_same_group_again_answers_its_orders_and_sends_nothing() -> None:
    m = manager()
    intent = placed(m)
    answers = tuple(dataclasses.replace(update(k, S.NEW, f"o{i}"), client_order_id=k) for i, k in enumerate(KEYS))
    m.handle(GroupOutcome(VENUE, intent.keys, answers), T0 + 1)
    d = m.handle(group(), T0 + 2)
    assert not d.intents and d.reply == Pending(tuple(("place", VENUE, k) for k in KEYS))
    assert {key[2] for key, _ in d.settle} == set(KEYS)  # answered at once from what they are
    other = group()
    other = dataclasses.replace(other, entry=dataclasses.replace(other.entry, side=Side.SELL))
    d = m.handle(other, T0 + 3)
    assert isinstance(d.reply, GatewayError) and d.reply.code is ErrorCode.DUPLICATE_CLIENT_ID
