"""The parent's state machine (the whole transition table), ids, and the record round trip."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest

from gateway.core.enums import OrderStatus, Side, TimeInForce
from gateway.orders.algo.ids import child_client_order_id, is_valid_algo_id, parse_child_client_order_id
from gateway.orders.algo.model import (
    ALLOWED_ALGO_TRANSITIONS,
    Algo,
    Algorithm,
    AlgoState,
    Child,
    ChildRole,
    InvalidAlgoTransition,
    transition,
)
from gateway.orders.algo.schedule import even_schedule
from gateway.orders.brackets.ids import parse_client_order_id

D = Decimal


def make(state: AlgoState = AlgoState.PENDING) -> Algo:
    return Algo(algo_id="a1", account="sim", venue="sim", symbol="BTC/USDT", side=Side.BUY,
                algorithm=Algorithm.TWAP, qty=D("1"), notional=None, start_ts=0, end_ts=10_000, created_ts=0,
                updated_ts=0, params={"must_complete": True}, schedule=even_schedule(4), profile="even",
                state=state)


@pytest.mark.parametrize(("a", "b"), list(product(AlgoState, AlgoState)), ids=lambda s: s.value)
def test_every_pair_of_the_transition_table(a: AlgoState, b: AlgoState) -> None:
    algo = make(a)
    if (a, b) in ALLOWED_ALGO_TRANSITIONS:
        transition(algo, b, 5, "why")
        assert algo.state is b and algo.updated_ts == 5 and (algo.ended_ts == 5) == b.is_terminal
    else:
        with pytest.raises(InvalidAlgoTransition):
            transition(algo, b, 5)
        assert algo.state is a


def test_terminal_states_have_no_way_out() -> None:
    assert not [pair for pair in ALLOWED_ALGO_TRANSITIONS if pair[0].is_terminal]


def test_child_ids_round_trip_and_never_look_like_bracket_ids() -> None:
    cid = child_client_order_id("a18c2f3e4d5ab12cd", 7)
    assert parse_child_client_order_id(cid) == ("a18c2f3e4d5ab12cd", 7)
    assert parse_client_order_id(cid) is None
    assert parse_child_client_order_id("b1-en") is None and parse_child_client_order_id("x-a0") is None
    longest = child_client_order_id("x" * 24, 9_999_999_999)
    assert len(longest) == 36
    assert is_valid_algo_id("a_1") and not is_valid_algo_id("a-1") and not is_valid_algo_id("x" * 25)
    with pytest.raises(ValueError):
        child_client_order_id("a1", 0)


def test_record_round_trip_and_derived_numbers() -> None:
    algo = make(AlgoState.RUNNING)
    algo.children = [
        Child(1, "a1-a1", ChildRole.MAKER, Side.BUY, D("0.4"), D("100"), TimeInForce.POST_ONLY, 1,
              OrderStatus.FILLED, "o1", D("0.4"), D("100")),
        Child(2, "a1-a2", ChildRole.TAKER, Side.BUY, D("0.2"), D("101"), TimeInForce.IOC, 2,
              OrderStatus.CANCELED, "o2", D("0.1"), D("101")),
    ]
    algo.next_seq = 3
    back = Algo.from_record(algo.to_record())
    assert back.to_record() == algo.to_record()
    assert back.filled_qty == D("0.5") and back.remaining == D("0.5")
    assert back.avg_price == (D("40") + D("10.1")) / D("0.5")
    assert back.maker_rate == D("0.8") and back.progress == D("0.5")
    public = back.to_public()
    assert public["qe_status"] == "PROCESSING" and public["progress"] == D("0.5") and public["live_child"] is None
