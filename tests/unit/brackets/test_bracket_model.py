"""The bracket record: the state table walked completely, client ids, public shape, persistence records."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal

import pytest

from brackets_testkit import SYMBOL, T0, D, make, rep
from gateway.core.enums import OrderStatus, OrderType, Side
from gateway.core.ports import Capabilities
from gateway.orders.brackets import (
    ALLOWED_BRACKET_TRANSITIONS,
    Bracket,
    BracketState,
    InvalidBracket,
    InvalidBracketTransition,
    LegMode,
    LegName,
    LegSpec,
    TriggerSource,
    entry_client_order_id,
    leg_client_order_id,
    new_bracket,
    on_entry_update,
    parse_client_order_id,
    resolve_mode,
    transition,
)

ALL_PAIRS = [(a, b) for a, b in itertools.product(BracketState, BracketState) if a is not b]


@pytest.mark.parametrize(("current", "to"), ALL_PAIRS, ids=lambda s: s.value)
def test_transition_table_walked_completely(current: BracketState, to: BracketState) -> None:
    b = make()
    b.state = current
    if (current, to) in ALLOWED_BRACKET_TRANSITIONS:
        assert transition(b, to, T0 + 1, "why") is current
        assert b.state is to and b.updated_ts == T0 + 1 and b.reason == "why"
    else:
        with pytest.raises(InvalidBracketTransition):
            transition(b, to, T0 + 1, "why")
        assert b.state is current and b.updated_ts == T0


def test_table_has_no_self_loops_and_every_state_is_reachable() -> None:
    assert all(a is not b for a, b in ALLOWED_BRACKET_TRANSITIONS)
    reachable = {BracketState.PENDING_ENTRY}
    frontier = [BracketState.PENDING_ENTRY]
    while frontier:
        s = frontier.pop()
        for a, b in ALLOWED_BRACKET_TRANSITIONS:
            if a is s and b not in reachable:
                reachable.add(b)
                frontier.append(b)
    assert reachable == set(BracketState)


def test_ending_records_the_state_it_ended_from() -> None:
    b = make()
    transition(b, BracketState.ACTIVE, T0)
    transition(b, BracketState.CANCELED, T0)
    assert b.ended_from is BracketState.ACTIVE
    transition(b, BracketState.CLOSED_BY_TP, T0)  # race row: terminal -> terminal keeps the origin
    assert b.ended_from is BracketState.ACTIVE


def test_client_order_ids_fit_36_chars_of_the_venue_alphabet_and_parse_back() -> None:
    longest = "B" * 24
    ids = [entry_client_order_id(longest), leg_client_order_id(longest, LegName.TP, 999_999_999),
           leg_client_order_id(longest, LegName.SL, 1)]
    for cid in ids:
        assert len(cid) <= 36 and re.fullmatch(r"[A-Za-z0-9_-]+", cid)
    assert parse_client_order_id(ids[1]).generation == 999_999_999
    assert parse_client_order_id(ids[2]).role == "sl"
    assert parse_client_order_id(ids[0]).role == "en"
    for foreign in (None, "", "abc", "b1-tp0", "b1-tp", "b1-xx1", "b-1-tp1x", "a" * 25 + "-tp1", "b1-tp١"):
        assert parse_client_order_id(foreign) is None
    with pytest.raises(ValueError):
        leg_client_order_id("b1", LegName.TP, 0)


def test_generations_give_distinct_ids() -> None:
    assert len({leg_client_order_id("b1", LegName.SL, g) for g in range(1, 50)}) == 49


def test_public_shape_matches_the_api_and_keeps_decimals() -> None:
    b = make(mode=LegMode.NATIVE)
    on_entry_update(b, rep("b1-en", OrderStatus.PARTIALLY_FILLED, "0.4", oid="E1", qty="1"), T0 + 5)
    pub = b.to_public()
    api_fields = {"bracket_id", "account", "symbol", "side", "qty", "state", "mode", "trigger_source", "entry",
                  "take_profit", "stop_loss", "filled_qty", "reason", "created_ts", "updated_ts"}
    assert api_fields <= set(pub)
    assert pub["state"] == "active" and pub["filled_qty"] == D("0.4") and isinstance(pub["qty"], Decimal)
    assert pub["entry"]["client_order_id"] == "b1-en" and pub["entry"]["order_id"] == "E1"
    assert {"trigger_price", "price", "order"} <= set(pub["take_profit"])
    order = pub["stop_loss"]["order"]
    assert order["type"] == "stop" and order["side"] == "sell" and order["reduce_only"] is True
    assert order["qty"] == D("0.4") and order["trigger_price"] == D(95)


def test_record_roundtrips_through_json() -> None:
    b = make(mode=LegMode.EMULATED, tp=("110", "109.5"))
    on_entry_update(b, rep("b1-en", OrderStatus.FILLED, "1", oid="E1", qty="1", ts=T0 + 3), T0 + 5)
    record = json.loads(json.dumps(b.to_record()))
    again = Bracket.from_record(record)
    assert again.to_record() == b.to_record()
    assert again.fingerprint() == b.fingerprint()
    assert again.take_profit.price == D("109.5") and again.stop_loss.armed_qty == D(1)
    with pytest.raises(ValueError):
        Bracket.from_record({**record, "schema": 99})


def test_auto_mode_resolves_from_capabilities() -> None:
    native, plain = Capabilities(stop_orders=True), Capabilities(stop_orders=False)
    assert resolve_mode(LegMode.AUTO, native, TriggerSource.LAST) is LegMode.NATIVE
    assert resolve_mode(LegMode.AUTO, native, TriggerSource.MARK) is LegMode.NATIVE
    assert resolve_mode(LegMode.AUTO, native, TriggerSource.BBO) is LegMode.EMULATED
    assert resolve_mode(LegMode.AUTO, plain, TriggerSource.LAST) is LegMode.EMULATED
    assert resolve_mode(LegMode.EMULATED, native, TriggerSource.LAST) is LegMode.EMULATED


@pytest.mark.parametrize(("side", "tp", "sl", "price", "ok"), [
    (Side.BUY, "110", "95", "100", True),
    (Side.BUY, "95", "110", "100", False),  # legs swapped
    (Side.BUY, "110", "101", "100", False),  # stop above the entry
    (Side.SELL, "90", "105", "100", True),
    (Side.SELL, "105", "90", "100", False),
])
def test_placement_validates_the_sides_of_the_legs(side: Side, tp: str, sl: str, price: str, ok: bool) -> None:
    def place() -> None:
        new_bracket(bracket_id="b1", account="sim", venue="sim", symbol=SYMBOL, side=side, qty=D(1),
                    entry_type=OrderType.LIMIT, entry_price=D(price), take_profit=LegSpec(D(tp)),
                    stop_loss=LegSpec(D(sl)), mode=LegMode.AUTO, trigger_source=TriggerSource.LAST,
                    capabilities=Capabilities(), now_ms=T0)
    if ok:
        place()
    else:
        with pytest.raises(InvalidBracket):
            place()


@pytest.mark.parametrize("bad", [{"bracket_id": "has-dash"}, {"qty": D(0)}, {"entry_price": None},
                                 {"entry_type": OrderType.STOP}])
def test_placement_refuses_bad_requests(bad: dict) -> None:
    args = dict(bracket_id="b1", account="sim", venue="sim", symbol=SYMBOL, side=Side.BUY, qty=D(1),
                entry_type=OrderType.LIMIT, entry_price=D(100), take_profit=LegSpec(D(110)),
                stop_loss=LegSpec(D(95)), mode=LegMode.AUTO, trigger_source=TriggerSource.LAST,
                capabilities=Capabilities(), now_ms=T0)
    with pytest.raises(InvalidBracket):
        new_bracket(**{**args, **bad})


def test_placement_asks_for_the_entry_and_publishes() -> None:
    d = new_bracket(bracket_id="b7", account="sim", venue="sim", symbol=SYMBOL, side=Side.BUY, qty=D(2),
                    entry_type=OrderType.MARKET, entry_price=None, take_profit=LegSpec(D(110)),
                    stop_loss=LegSpec(D(95)), mode=LegMode.AUTO, trigger_source=TriggerSource.LAST,
                    capabilities=Capabilities(), now_ms=T0)
    assert d.changed and d.state is BracketState.PENDING_ENTRY and d.bracket.mode is LegMode.EMULATED
    publish, place = d.intents
    assert publish.reason == "placed"
    assert place.client_order_id == "b7-en" and place.qty == D(2) and place.type is OrderType.MARKET
    assert place.reduce_only is False
