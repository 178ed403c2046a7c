import itertools
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import GatewayError
from gateway.orders.model import Order
from gateway.orders.transitions import ALLOWED, InvalidTransition, is_allowed, transition

ALL_PAIRS = list(itertools.product(OrderStatus, OrderStatus))


def make(status: OrderStatus) -> Order:
    return Order(venue="v", account="v", symbol="BTC/USDT", client_order_id="c1", side=Side.BUY,
                 type=OrderType.LIMIT, tif=TimeInForce.GTC, qty=Decimal(1), price=Decimal(100),
                 trigger_price=None, reduce_only=False, status=status, created_ts=1, updated_ts=1, sent_at=1)


@pytest.mark.parametrize(("current", "to"), sorted(ALLOWED))
def test_every_allowed_pair_succeeds(current: OrderStatus, to: OrderStatus) -> None:
    order = make(current)
    assert transition(order, to, 5) is current
    assert order.status is to
    assert order.updated_ts == 5


@pytest.mark.parametrize(("current", "to"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_every_other_pair_raises_and_changes_nothing(current: OrderStatus, to: OrderStatus) -> None:
    order = make(current)
    with pytest.raises(InvalidTransition):
        transition(order, to, 5)
    assert order.status is current
    assert order.updated_ts == 1


def test_table_shape() -> None:
    assert not any(a is b for a, b in ALLOWED), "no self transitions"
    # A terminal order never becomes live again; only a late fill can complete it.
    for current, to in ALLOWED:
        if current.is_terminal:
            assert to is OrderStatus.FILLED and current in (OrderStatus.CANCELED, OrderStatus.EXPIRED)
    assert is_allowed(OrderStatus.PENDING_NEW, OrderStatus.FILLED)  # fill before ack
    assert not is_allowed(OrderStatus.CANCELED, OrderStatus.PARTIALLY_FILLED)
    assert not is_allowed(OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL)


def test_invalid_transition_is_a_gateway_error_and_an_assertion() -> None:
    assert issubclass(InvalidTransition, GatewayError)
    assert issubclass(InvalidTransition, AssertionError)


def test_transition_logs_one_line_with_latency_on_the_ack() -> None:
    order = make(OrderStatus.PENDING_NEW)
    with capture_logs() as logs:
        transition(order, OrderStatus.NEW, 8)
        transition(order, OrderStatus.PARTIALLY_FILLED, 9)
    assert [e["event"] for e in logs] == ["order.transition", "order.transition"]
    assert logs[0]["from_status"] == "pending_new" and logs[0]["to_status"] == "new"
    assert logs[0]["latency_ms"] == 7
    assert logs[0]["client_order_id"] == "c1" and logs[0]["venue"] == "v" and logs[0]["symbol"] == "BTC/USDT"
    assert "latency_ms" not in logs[1]
