"""An emulated fire's record is held until its order's first report (or answer), at most `_FIRE_HOLD_S`:
the bracket store then never writes it while the order journal writes the fired order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.core.enums import OrderStatus
from gateway.orders.brackets import FireLeg, LegMode, LegName, on_order_report, on_trigger
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
    service._hold_fire(bracket, decision)
    assert seen == []  # held: nothing written while the order is being journaled
    service.on_order_event("sim", "order", {"client_order_id": fire.client_order_id, "order_id": "X1",
                                            "status": "pending_new", "filled_qty": "0", "qty": "1"})
    assert [type(m) for m in seen] == [FiredMessage, ReportMessage]
    assert seen[0].decision is decision and not service._held_fires


async def test_a_fire_whose_order_never_reports_is_written_after_the_hold(fired, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    service, bracket, decision, _, seen, arrived = fired
    monkeypatch.setattr(bracket_service, "_FIRE_HOLD_S", 0.05)
    service._hold_fire(bracket, decision)
    await asyncio.wait_for(arrived.wait(), 2)
    assert [type(m) for m in seen] == [FiredMessage] and not service._held_fires
