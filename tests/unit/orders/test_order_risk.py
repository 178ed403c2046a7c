import pytest
from pydantic import ValidationError

from gateway.core.enums import OrderStatus, Side
from gateway.core.errors import ErrorCode, GatewayError
from gateway.orders.config import OrdersSettings, RiskLimits
from gateway.orders.risk import KILL_SWITCH_MESSAGE
from gateway.orders.commands import SetKillSwitch
from orders_testkit import T0, D, fill, manager, place_cmd, update


def refused(decision) -> GatewayError:  # type: ignore[no-untyped-def]
    assert isinstance(decision.reply, GatewayError), decision.reply
    assert not decision.intents and not decision.orders and not decision.journal
    return decision.reply


def test_limits_model_is_strict_and_frozen() -> None:
    with pytest.raises(ValidationError):
        RiskLimits(max_orders=3)  # type: ignore[call-arg]
    limits = RiskLimits(max_order_notional="1000")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        limits.max_open_orders = 3  # type: ignore[misc]
    settings = OrdersSettings(risk={"s1": limits})
    assert settings.limits_for("s1") is limits
    assert settings.limits_for("other") == RiskLimits()
    with pytest.raises(ValidationError):
        OrdersSettings(unknown_backoff_base_ms=10, unknown_backoff_max_ms=5)


def test_max_order_notional() -> None:
    m = manager(risk={"s1": RiskLimits(max_order_notional=D("150"))})
    err = refused(m.handle(place_cmd(qty="2", price="100"), T0))
    assert err.code is ErrorCode.RISK_LIMIT and err.details["limit"] == "max_order_notional"
    assert m.get("v", "c1") is None
    assert m.handle(place_cmd(qty="1.5", price="100"), T0).intents
    # another strategy has no limits
    assert m.handle(place_cmd("c2", qty="10", strategy="s2"), T0).intents


def test_max_open_orders_frees_up_when_an_order_closes() -> None:
    m = manager(risk={"s1": RiskLimits(max_open_orders=2)})
    assert m.handle(place_cmd("c1"), T0).intents
    assert m.handle(place_cmd("c2"), T0).intents
    assert refused(m.handle(place_cmd("c3"), T0)).details["limit"] == "max_open_orders"
    m.handle(update("c1", OrderStatus.CANCELED), T0)
    assert m.handle(place_cmd("c3"), T0).intents


def test_max_orders_per_second_is_a_sliding_window() -> None:
    m = manager(risk={"s1": RiskLimits(max_orders_per_s=2)})
    assert m.handle(place_cmd("c1"), T0).intents
    assert m.handle(place_cmd("c2"), T0 + 500).intents
    assert refused(m.handle(place_cmd("c3"), T0 + 999)).details["limit"] == "max_orders_per_s"
    assert m.handle(place_cmd("c3"), T0 + 1000).intents  # c1 left the window


def test_max_position_counts_fills_and_open_orders_on_the_same_side() -> None:
    m = manager(risk={"s1": RiskLimits(max_position=D("3"))})
    m.handle(place_cmd("c1", qty="2"), T0)
    m.handle(fill("c1", "t1", "2"), T0)  # position +2, c1 filled
    m.handle(place_cmd("c2", qty="1"), T0)  # open buy 1 -> worst case 3
    assert refused(m.handle(place_cmd("c3", qty="0.5"), T0)).details["limit"] == "max_position"
    assert m.handle(place_cmd("c4", qty="5", side=Side.SELL), T0).intents  # reducing: |2 - 5| = 3


def test_kill_switch_refuses_every_new_order_and_can_be_released() -> None:
    m = manager()
    d = m.handle(SetKillSwitch(True), T0)
    assert d.journal[0].kind == "kill_switch"
    err = refused(m.handle(place_cmd("c1"), T0))
    assert err.code is ErrorCode.RISK_LIMIT and err.message == KILL_SWITCH_MESSAGE
    m.handle(SetKillSwitch(False), T0)
    assert m.handle(place_cmd("c1"), T0).intents


def test_kill_switch_with_cancel_open_cancels_our_orders_but_not_external_ones() -> None:
    m = manager()
    m.handle(place_cmd("c1"), T0)
    m.handle(update("c1", OrderStatus.NEW, "o1"), T0)
    m.handle(place_cmd("c2"), T0)  # still pending_new: cancel deferred until answered
    m.handle(update("ext", OrderStatus.NEW, "o9"), T0)  # external
    d = m.handle(SetKillSwitch(True, cancel_open=True), T0)
    assert [i.client_order_id for i in d.intents] == ["c1"]
    assert {k[2] for k in d.reply.keys} == {"c1", "c2"}
    assert m.get("v", "c1").status is OrderStatus.PENDING_CANCEL
    assert m.get("v", "ext").status is OrderStatus.NEW
