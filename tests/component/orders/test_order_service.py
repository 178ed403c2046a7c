"""The order service over a real SQLite file and the scriptable fake venue."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from gateway.core.enums import MarginType
from gateway.core.errors import ErrorCode, GatewayError
from gateway.core.events import Balance, Position
from gateway.core.ports import Capabilities
from gateway.orders.config import RiskLimits
from gateway.persistence.store import OrderStore
from orders_fake_venue import FakeVenue

BUY = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "qty": "1", "price": "100"}


def params(**kw: object) -> dict[str, object]:
    return {**BUY, **kw}


async def test_place_and_cancel_round_trip(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run() as service:
        assert service.is_ready
        order = await service.place("s1", "fake", params(client_order_id="c1", price="100.019"))
        assert order["status"] == "new" and order["order_id"] == "V1" and order["price"] == Decimal("100.01")
        assert venue.orders["c1"].price == Decimal("100.01")
        assert [o["client_order_id"] for o in await service.open_orders("fake")] == ["c1"]
        canceled = await service.cancel("s1", "fake", client_order_id="c1")
        assert canceled["status"] == "canceled"
        assert harness.published.statuses("c1") == ["pending_new", "new", "pending_cancel", "canceled"]
        assert await service.open_orders("fake") == []
        stored = await service.get("fake", order_id="V1")
        assert stored["status"] == "canceled"
        kinds = [e[1] for e in await harness.store.journal("fake", "c1")]
        assert kinds == ["intent.place", "transition", "transition", "intent.cancel", "transition"]


async def test_fills_flow_into_order_fills_and_history(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run() as service:
        await service.place("s1", None, params(client_order_id="c1", qty="2"))  # default account
        venue.fill("c1", "0.5", price="100", trade_id="T1")
        venue.fill("c1", "0.5", price="100", trade_id="T1")  # replayed by the venue
        venue.fill("c1", "1.5", price="99", trade_id="T2")
        await harness.published.wait_for("order", client_order_id="c1", status="filled")
        order = await service.get("fake", client_order_id="c1")
        assert order["filled_qty"] == Decimal("2") and order["avg_price"] == Decimal("99.25")
        fills = await service.fills("fake", symbol="BTCUSDT")
        assert [(f["trade_id"], f["qty"]) for f in fills] == [("T1", Decimal("0.5")), ("T2", Decimal("1.5"))]
        assert [f["trade_id"] for f in await service.fills("fake", order_id="V1")] == ["T1", "T2"]
        assert len([e for e in harness.published.events if e[1] == "fill"]) == 2
        history = await service.history("fake", since=0)
        assert [o["status"] for o in history] == ["filled"]


async def test_modify_without_amend_cancels_and_replaces(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run() as service:
        await service.place("s1", "fake", params(client_order_id="c1", qty="2"))
        venue.fill("c1", "0.5")
        await harness.published.wait_for("order", client_order_id="c1", status="partially_filled")
        result = await service.modify("s1", "fake", client_order_id="c1", qty=Decimal("3"), price=Decimal("101"))
        assert result["modified_by"] == "cancel_replace" and result["replaces"] == "c1"
        assert result["client_order_id"] != "c1" and result["status"] == "new"
        assert result["qty"] == Decimal("2.5") and result["price"] == Decimal("101")  # 3 total, 0.5 filled
        assert venue.orders["c1"].status == "canceled"
        assert [o["client_order_id"] for o in await service.open_orders("fake")] == [result["client_order_id"]]


async def test_modify_with_amend(harness) -> None:  # type: ignore[no-untyped-def]
    harness.venue.capabilities = Capabilities(amend=True)
    async with harness.run() as service:
        await service.place("s1", "fake", params(client_order_id="c1"))
        result = await service.modify("s1", "fake", client_order_id="c1", qty=Decimal("1.5"))
        assert result["modified_by"] == "amend" and result["qty"] == Decimal("1.5")
        assert harness.venue.orders["c1"].qty == Decimal("1.5")
        assert (await service.get("fake", client_order_id="c1"))["qty"] == Decimal("1.5")


async def test_lost_ack_goes_unknown_then_resolves_to_the_venue_state(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    venue.drop_acks = 1
    venue.query_errors = 2  # the first queries fail too: still nothing decided without evidence
    async with harness.run() as service:
        order = await service.place("s1", "fake", params(client_order_id="c1"))
        assert order["status"] == "unknown"  # an answer, not an error
        resolved = await harness.published.wait_for("order", client_order_id="c1", status="new")
        assert resolved["order_id"] == "V1"
        assert venue.placements["c1"] == 1 and venue.calls.count("place:c1") == 1
        assert venue.calls.count("get:c1") >= 3
        again = await service.place("s1", "fake", params(client_order_id="c1"))  # still never re-sent
        assert again["status"] == "new" and venue.calls.count("place:c1") == 1
    async with harness.run(start=False):
        row = await harness.store.get_order("fake", "c1")
        assert row[16] == "new"


async def test_lost_request_is_rejected_only_after_the_venue_had_time(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    venue.lose_places = 1
    async with harness.run() as service:
        order = await service.place("s1", "fake", params(client_order_id="c1"))
        assert order["status"] == "unknown"
        rejected = await harness.published.wait_for("order", client_order_id="c1", status="rejected")
        assert rejected["reason"] == "the venue has no such order"
        assert rejected["updated_ts"] - order["created_ts"] >= 150  # unknown_reject_after_ms
        assert "c1" not in venue.orders and venue.calls.count("place:c1") == 1


async def test_fill_before_the_ack(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    venue.hold_acks = asyncio.Event()
    async with harness.run() as service:
        placing = asyncio.create_task(service.place("s1", "fake", params(client_order_id="c1")))
        assert await asyncio.wait_for(venue.accepted.get(), 2) == "c1"
        venue.fill("c1", "0.4")
        await harness.published.wait_for("fill", client_order_id="c1")
        assert (await service.get("fake", client_order_id="c1"))["status"] == "partially_filled"
        assert not placing.done()  # the caller waits for the placement's own answer
        venue.hold_acks.set()  # the stale NEW ack arrives now: it answers the caller and changes nothing
        order = await asyncio.wait_for(placing, 2)
        assert order["status"] == "partially_filled" and order["order_id"] == "V1"
        assert (await service.get("fake", client_order_id="c1"))["status"] == "partially_filled"


async def test_cancel_ack_before_a_late_fill(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run() as service:
        await service.place("s1", "fake", params(client_order_id="c1"))
        await service.cancel("s1", "fake", client_order_id="c1")
        venue.fill("c1", "0.3", trade_id="late")  # matched before the cancel, reported after its ack
        await harness.published.wait_for("fill", trade_id="late")
        order = await service.get("fake", client_order_id="c1")
        assert order["status"] == "canceled" and order["filled_qty"] == Decimal("0.3")


async def test_same_client_id_twice_places_once(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run() as service:
        first, second = await asyncio.gather(
            service.place("s1", "fake", params(client_order_id="c1")),
            service.place("s1", "fake", params(client_order_id="c1")),
        )
        assert first == second and venue.placements["c1"] == 1
        assert (await harness.store.counts())["orders"] == 1


async def test_restart_reloads_reconciles_and_reports_external_orders(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    venue.hold_acks = asyncio.Event()
    async with harness.run(stop_timeout_s=0.2) as service:
        venue.hold_acks.set()
        await service.place("s1", "fake", params(client_order_id="a", qty="1"))
        await service.place("s1", "fake", params(client_order_id="b"))
        venue.hold_acks.clear()  # the next placement is accepted, then we "crash" before its answer
        crash = asyncio.create_task(service.place("s1", "fake", params(client_order_id="c")))
        assert await asyncio.wait_for(venue.accepted.get(), 2) == "a"
        assert await asyncio.wait_for(venue.accepted.get(), 2) == "b"
        assert await asyncio.wait_for(venue.accepted.get(), 2) == "c"
    with pytest.raises(GatewayError):
        crash.result()
    # While we were down:
    venue.hold_acks = None
    venue.fill("a", "0.4", trade_id="T1", push=False)
    venue.fill("a", "0.6", trade_id="T2", push=False)
    venue.cancel_out_of_band("b", push=False)
    venue.add_external("web-1")
    async with harness.run() as service:
        assert service.is_ready
        a = await service.get("fake", client_order_id="a")
        assert a["status"] == "filled" and a["filled_qty"] == Decimal("1")
        assert (await service.get("fake", client_order_id="b"))["status"] == "canceled"
        assert (await service.get("fake", client_order_id="c"))["status"] == "new"  # pending_new -> unknown -> new
        assert harness.published.statuses("c") == ["unknown", "new"]
        external = await service.get("fake", client_order_id="web-1")
        assert external["status"] == "new"
        assert service.manager.get("fake", "web-1").external
        assert {o["client_order_id"] for o in await service.open_orders("fake")} == {"c", "web-1"}
        canceled = await service.cancel_all("s1", "fake")
        assert [o["client_order_id"] for o in canceled] == ["c"]  # never the external one
        assert venue.orders["web-1"].status == "new"
        with pytest.raises(GatewayError) as info:
            await service.cancel("s1", "fake", client_order_id="web-1")
        assert info.value.code is ErrorCode.NOT_SUPPORTED
        again = await service.place("s1", "fake", params(client_order_id="a"))  # idempotent across restarts
        assert again["status"] == "filled" and venue.placements["a"] == 1
        assert [f["trade_id"] for f in await service.fills("fake")] == ["T1", "T2"]
    async with harness.run() as service:  # a third start folds nothing twice
        assert (await service.get("fake", client_order_id="a"))["filled_qty"] == Decimal("1")
        assert not [e for e in harness.published.events if e[1] == "fill"]


REFUSALS = [
    (params(qty="0.0001"), ErrorCode.PRECISION),
    (params(qty="0.01"), ErrorCode.MIN_NOTIONAL),
    (params(qty="-1"), ErrorCode.INVALID_PARAMS),
    (params(side="up"), ErrorCode.INVALID_PARAMS),
    (params(price=None), ErrorCode.INVALID_PARAMS),
    (params(client_order_id="bad id!"), ErrorCode.INVALID_PARAMS),
    (params(symbol="DOGE/USDT"), ErrorCode.UNKNOWN_SYMBOL),
    (params(type="stop", price=None, trigger_price="90"), ErrorCode.NOT_SUPPORTED),
    (params(reduce_only=True), ErrorCode.NOT_SUPPORTED),
    (params(qty="20"), ErrorCode.RISK_LIMIT),
]


async def test_every_refusal_answers_its_code_and_changes_nothing(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run(risk={"s1": RiskLimits(max_order_notional=Decimal("1000"))}) as service:
        before = await harness.store.counts()
        for bad, code in REFUSALS:
            with pytest.raises(GatewayError) as info:
                await service.place("s1", "fake", bad)
            assert info.value.code is code, bad
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "nowhere", params())
        assert info.value.code is ErrorCode.UNKNOWN_VENUE
        for call in (service.cancel("s1", "fake", client_order_id="nope"), service.get("fake", order_id="nope")):
            with pytest.raises(GatewayError) as info:
                await call
            assert info.value.code is ErrorCode.ORDER_NOT_FOUND
        await service.engage_kill_switch(cancel_open=False)
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", params())
        assert info.value.code is ErrorCode.RISK_LIMIT and info.value.message == "kill switch engaged"
        after = await harness.store.counts()
        assert after["orders"] == before["orders"] == 0 and after["fills"] == 0
        assert after["journal"] == before["journal"] + 1  # only the kill switch itself
        assert not [c for c in venue.calls if c.startswith("place")]
        assert not [e for e in harness.published.events if e[1] == "order"]


async def test_venue_rejection_is_venue_rejected_and_recorded(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    venue.reject_places = 1
    async with harness.run() as service:
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", params(client_order_id="c1"))
        assert info.value.code is ErrorCode.VENUE_REJECTED and info.value.details["venue_code"] == -2010
        assert (await service.get("fake", client_order_id="c1"))["status"] == "rejected"


async def test_kill_switch_cancels_open_orders(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run() as service:
        await service.place("s1", "fake", params(client_order_id="c1"))
        await service.place("s2", "fake", params(client_order_id="c2"))
        canceled = await service.engage_kill_switch(cancel_open=True)
        assert sorted(o["client_order_id"] for o in canceled) == ["c1", "c2"]
        assert all(o["status"] == "canceled" for o in canceled) and service.kill_switch_engaged
        await service.release_kill_switch()
        assert (await service.place("s1", "fake", params(client_order_id="c3")))["status"] == "new"


async def test_lost_cancel_answer_resolves_by_query(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    venue.drop_cancel_acks = 1
    async with harness.run() as service:
        await service.place("s1", "fake", params(client_order_id="c1"))
        answer = await service.cancel("s1", "fake", client_order_id="c1")
        assert answer["status"] == "pending_cancel"
        await harness.published.wait_for("order", client_order_id="c1", status="canceled")


async def test_not_ready_and_venue_down_refuse_commands(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run(start=False) as service:
        assert not service.is_ready
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", params())
        assert info.value.code is ErrorCode.VENUE_UNAVAILABLE
        await service.start()
        venue._state = "reconnecting"  # type: ignore[assignment]
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", params())
        assert info.value.code is ErrorCode.VENUE_UNAVAILABLE


async def test_balances_and_positions_pass_through(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run():
        venue.push(Balance("fake", "USDT", Decimal("10"), Decimal("1"), 5))
        venue.push(Position("fake", "BTC/USDT", Decimal("-1"), Decimal("100"), Decimal("101"), Decimal("-1"), 5,
                            MarginType.CROSS, 6))
        assert [(a, k) for a, k, _ in harness.published.events] == [("fake", "balance"), ("fake", "position")]
        assert harness.published.events[0][2]["free"] == Decimal("10")


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    # Yield to the loop until the condition holds; bounded by the caller's wait_for.
    while not predicate():
        await asyncio.sleep(0)


async def test_a_venue_that_fails_reconciliation_is_retried(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    calls = 0
    real = venue.open_orders

    async def flaky(symbol=None):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise GatewayError("down", code=ErrorCode.VENUE_UNAVAILABLE)
        return await real(symbol)

    venue.open_orders = flaky  # type: ignore[method-assign]
    async with harness.run() as service:
        assert service.is_ready
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", params())
        assert info.value.code is ErrorCode.VENUE_UNAVAILABLE
        await asyncio.wait_for(_until(lambda: "fake" in service._reconciled), 3)
        assert (await service.place("s1", "fake", params()))["status"] == "new"


async def test_only_a_client_id_not_promised_fresh_is_looked_up_in_the_journal(harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lookups: list[str | None] = []
    real_get = OrderStore.get_order

    async def counting_get(self, account, client_order_id=None, order_id=None):  # type: ignore[no-untyped-def]
        lookups.append(client_order_id)
        return await real_get(self, account, client_order_id, order_id)

    monkeypatch.setattr(OrderStore, "get_order", counting_get)
    async with harness.run() as service:
        await service.place("s1", "fake", params(client_order_id="leg-1"), fresh_client_id=True)
        assert lookups == []  # the bracket path: no journal round trip before the venue call
        await service.place("s1", "fake", params(client_order_id="user-1"))
        assert lookups == ["user-1"]  # may predate the in-memory window: looked up once
        again = await service.place("s1", "fake", params(client_order_id="user-1"))
        assert again["client_order_id"] == "user-1" and lookups == ["user-1"]  # in memory now


async def test_the_position_limit_still_counts_fills_from_before_a_restart(harness, venue: FakeVenue) -> None:  # type: ignore[no-untyped-def]
    limits = {"s1": RiskLimits(max_position=Decimal("1.5"))}
    async with harness.run(risk=limits) as service:
        await service.place("s1", "fake", params(client_order_id="c1", qty="1"))
        venue.fill("c1", "1", price="100", trade_id="T1")
        await harness.published.wait_for("order", client_order_id="c1", status="filled")
    async with harness.run(risk=limits) as service:  # a new process: the book is rebuilt from the journal
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", params(client_order_id="c2", qty="1"))  # 1 + 1 > 1.5
        assert info.value.code is ErrorCode.RISK_LIMIT and "max_position" in info.value.message
        sell = await service.place("s1", "fake", params(client_order_id="c3", side="sell", qty="1"))
        assert sell["status"] == "new"  # reducing the position is within the limit


async def test_positions_are_stored_with_their_fills_and_summed_from_fills_only_once_for_an_old_database(
        harness, venue: FakeVenue, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    limits = {"s1": RiskLimits(max_position=Decimal("1.5"))}
    async with harness.run(risk=limits) as service:
        await service.place("s1", "fake", params(client_order_id="c1", qty="1"))
        venue.fill("c1", "0.4", price="100", trade_id="T1")
        venue.fill("c1", "0.6", price="100", trade_id="T2")
        await harness.published.wait_for("order", client_order_id="c1", status="filled")
    async with OrderStore.open(harness.db) as store:
        assert await store.risk_positions() == [("s1", "fake", "BTC/USDT", "1.0")]
        await store._conn.execute("UPDATE risk_positions_state SET built = 0")  # as migrated from before them
        await store._conn.execute("DELETE FROM risk_positions")
        await store._conn.commit()
    with capture_logs() as logs:
        async with harness.run(risk=limits) as service:
            with pytest.raises(GatewayError):
                await service.place("s1", "fake", params(client_order_id="c2", qty="1"))  # 1 + 1 > 1.5
    assert [(e["fills"], e["positions"]) for e in logs if e["event"] == "orders.positions_built"] == [(2, 1)]

    async def no_summing(self: OrderStore) -> list[object]:
        raise AssertionError("positions summed from every fill again")

    monkeypatch.setattr(OrderStore, "filled_positions", no_summing)
    async with harness.run(risk=limits) as service:  # built: read, not summed
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", params(client_order_id="c3", qty="1"))
        assert info.value.code is ErrorCode.RISK_LIMIT and "max_position" in info.value.message
