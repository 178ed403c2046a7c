"""An emulated fire's record is held until its order's first report (or answer), at most `_FIRE_HOLD_S`:
nothing done for the fire (its log line, the bracket writer's batch) runs before its order reaches the
venue."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from gateway.core.enums import OrderStatus, Side
from gateway.core.events import Trade
from gateway.orders.brackets import FireLeg, LegMode, LegName, on_order_report, on_trigger, rearm_intents
from gateway.orders.brackets import service as bracket_service
from gateway.orders.brackets.writer import FiredMessage, ReportMessage
from tests.component.brackets.kit import gateway_overrides
from tests.unit.brackets.brackets_testkit import make, rep


@pytest.fixture
async def fired(gateway_factory) -> Any:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(**gateway_overrides())
    service = gateway.brackets
    bracket = make("hold1", mode=LegMode.EMULATED)
    on_order_report(bracket, rep("hold1-en", OrderStatus.FILLED, "1", oid="E1"), 1)
    service.book.add(bracket, "local")
    decision = on_trigger(bracket, LegName.SL, 2)
    (fire,) = [i for i in decision.intents if isinstance(i, FireLeg)]
    seen: list[Any] = []
    arrived = asyncio.Event()

    def record(msg: Any) -> None:
        seen.append(msg)
        arrived.set()

    service._writer.put = record  # what the service hands its writer, in order
    return service, bracket, decision, fire, seen, arrived


async def test_the_fire_goes_to_the_writer_just_before_its_orders_first_report(fired) -> None:  # type: ignore[no-untyped-def]
    service, bracket, decision, fire, seen, _ = fired
    service._hold_fire(bracket, LegName.SL, decision)
    assert seen == []  # held: nothing written while the order is being journaled and sent
    service.on_order_event("sim", "order", {"client_order_id": fire.client_order_id, "order_id": "X1",
                                            "status": "pending_new", "filled_qty": "0", "qty": "1"})
    assert [type(m) for m in seen] == [FiredMessage, ReportMessage]
    assert seen[0].decision is decision and not service._held_fires


async def test_a_fire_whose_order_never_reports_is_written_after_the_hold(fired, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    service, bracket, decision, _, seen, arrived = fired
    monkeypatch.setattr(bracket_service, "_FIRE_HOLD_S", 0.05)
    service._hold_fire(bracket, LegName.SL, decision)
    await asyncio.wait_for(arrived.wait(), 2)
    assert [type(m) for m in seen] == [FiredMessage] and not service._held_fires


async def test_a_fired_order_reaches_the_venue_before_the_fire_is_recorded(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gateway = await gateway_factory(**gateway_overrides())
    service, adapter = gateway.brackets, gateway.venues["sim"]
    bracket = make("order1", mode=LegMode.EMULATED)
    on_order_report(bracket, rep("order1-en", OrderStatus.FILLED, "1", oid="E1"), 1)
    service.book.add(bracket, "local")
    for arm in rearm_intents(bracket):
        service.book.arm(arm)
    steps: list[str] = []
    place, handle = adapter.place_order, service._writer._handle

    async def placed(request: Any) -> Any:
        steps.append(f"venue {request.client_order_id}")
        return await place(request)

    def handled(msg: Any, *args: Any) -> None:
        steps.append(type(msg).__name__)
        handle(msg, *args)

    adapter.place_order = placed
    service._writer._handle = handled
    now = gateway.clock.now_ms()
    gateway.router.on_market(Trade("sim", bracket.symbol, "t1", bracket.stop_loss.trigger_price, Decimal(1),
                                   Side.SELL, now, now))
    # Started on the tick's stack: decided and journaled before the tick handler returned.
    order = gateway.orders.manager.get("sim", bracket.stop_loss.client_order_id)
    assert order is not None and order.status.value == "pending_new" and gateway.orders.journal_lag >= 1
    await asyncio.wait_for(service.runner.idle(5), 5)
    await service._writer.submit(None)
    fired = next(i for i, step in enumerate(steps) if step == "FiredMessage")
    assert steps.index(f"venue {bracket.stop_loss.client_order_id}") < fired, steps
