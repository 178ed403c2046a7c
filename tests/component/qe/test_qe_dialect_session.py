"""Over real sockets on loopback: the QE session against the QE dialect of the sim exchange.

Must-holds: a TWAP parent completes with child fills summing to its quantity; a dropped socket, an
expired listen key and duplicated pushes lose no update and count none twice.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from qe_helpers import Recorder, engine_filled, running

from gateway.core.algo_ports import ParentSpec
from gateway.core.clock import SystemClock
from gateway.core.errors import ErrorCode, GatewayError
from gateway.orders.algo.remote import RemoteAlgoBackend

QTY = Decimal("0.06")


def _spec(qty: Decimal = QTY, duration_s: int = 2, cid: str | None = None) -> ParentSpec:
    return ParentSpec(api_key_id="ak-binance-1", exchange="Binance", market_type="SPOT", symbol="BTCUSDT",
                      side="buy", algorithm="TWAP", duration_s=duration_s, qty=qty, client_order_id=cid)


def _assert_exact(recorder: Recorder, parent_id: str, qty: Decimal, dialect) -> None:
    fills = [f for f in recorder.fills() if f.parent_id == parent_id]
    assert len({f.fill_id for f in fills}) == len(fills), "a fill was counted twice"
    assert all(f.qty > 0 for f in fills)
    assert sum((f.qty for f in fills), Decimal(0)) == qty == engine_filled(dialect, parent_id)
    by_order: dict[str, Decimal] = {}
    for f in fills:
        by_order[f.order_id] = by_order.get(f.order_id, Decimal(0)) + f.qty
        assert by_order[f.order_id] == f.cum_qty  # each fill continues its child's cumulative quantity


async def test_twap_through_the_algo_backend_completes_with_fills_summing_to_its_quantity() -> None:
    async with running() as (dialect, adapter, recorder):
        backend = RemoteAlgoBackend({"qe": adapter}, recorder.publish, SystemClock())
        algo = await backend.place("s1", "qe", {"symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP",
                                                "qty": "0.06", "execution_duration_s": 2, "client_order_id": "twap-1"})
        assert algo["state"] == "pending" and algo["client_order_id"] == "twap-1"
        parent_id = algo["algo_id"]

        def completed() -> bool:
            return any(d["type"] == "algo" and d["algo_id"] == parent_id and d["qe_status"] == "COMPLETED"
                       for d in recorder.published)

        await asyncio.wait_for(_until(recorder, completed), 15)
        fills = [d["fill"] for d in recorder.published if d["type"] == "fill" and d["algo_id"] == parent_id]
        assert sum((f["qty"] for f in fills), Decimal(0)) == QTY == engine_filled(dialect, parent_id)
        assert len(fills) >= 2  # really sliced
        final = await backend.get("qe", None, "twap-1")
        assert final["state"] == "completed" and final["filled_qty"] == QTY and final["symbol"] == "BTC/USDT"
        rest_fills = await backend.fills("qe", parent_id)
        assert sum((f["filled_qty"] for f in rest_fills), Decimal(0)) == QTY
        again = await backend.place("s1", "qe", {"symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP",
                                                 "qty": "0.06", "execution_duration_s": 2, "client_order_id": "twap-1"})
        assert again["algo_id"] == parent_id  # idempotent on client_order_id
        with pytest.raises(GatewayError) as refused:
            await backend.place("s1", "qe", {"symbol": "BTC/USDT", "side": "sell", "algorithm": "TWAP",
                                             "qty": "0.06", "execution_duration_s": 2, "client_order_id": "twap-1"})
        assert refused.value.code is ErrorCode.DUPLICATE_CLIENT_ID
        assert len(dialect.book.masters) == 1


async def _until(recorder: Recorder, predicate) -> None:
    await recorder.wait_for(predicate)


async def test_dropped_socket_and_duplicated_pushes_lose_nothing_and_count_nothing_twice() -> None:
    async with running() as (dialect, adapter, recorder):
        parent = await adapter.create_parent(_spec(duration_s=3))
        await recorder.wait_for(lambda: len(recorder.fills()) >= 1)
        dialect.duplicate_next(20)
        assert dialect.drop_sockets() == 1
        connections = adapter.stream.connections
        await recorder.wait_for(lambda: adapter.stream.connections > connections)
        await recorder.wait_for(lambda: (p := recorder.parent(parent.parent_id)) is not None
                                and p.status == "COMPLETED")
        _assert_exact(recorder, parent.parent_id, QTY, dialect)
        assert adapter.tracker.duplicates > 0  # duplicated pushes arrived and were dropped by messageId


async def test_expired_listen_key_gets_a_fresh_key_and_loses_nothing() -> None:
    async with running() as (dialect, adapter, recorder):
        parent = await adapter.create_parent(_spec(duration_s=3))
        await recorder.wait_for(lambda: len(recorder.fills()) >= 1)
        keys = adapter.stream.keys_created
        assert await dialect.expire_listen_keys() == 1
        await recorder.wait_for(lambda: adapter.stream.keys_created > keys and adapter.stream.is_open)
        await recorder.wait_for(lambda: (p := recorder.parent(parent.parent_id)) is not None
                                and p.status == "COMPLETED")
        _assert_exact(recorder, parent.parent_id, QTY, dialect)
        assert adapter.stream.error_frames >= 1


async def test_listen_key_is_recreated_before_it_expires() -> None:
    async with running({"listen_key_ttl_s": 3.0}, listen_key_renew_before_s=2.5) as (dialect, adapter, recorder):
        first_expiry = adapter.stream.key_expire_ms
        await recorder.wait_for(lambda: adapter.stream.keys_created >= 2 and adapter.stream.is_open)
        assert dialect.now_ms() < first_expiry  # renewed ahead of time, not after a failure
        assert len(dialect.listen_keys) >= 2


async def test_garbage_frames_are_counted_logged_and_caught_up() -> None:
    async with running() as (dialect, adapter, recorder):
        parent = await adapter.create_parent(_spec(duration_s=2))
        catchups = adapter.stream.catchups
        for ws in list(dialect.sockets):
            await ws.send_str("{not json")
            await ws.send_str('{"type": "master_data", "messageId": "x1", "data": {"masterOrderId": "m", '
                              '"cumFilledQty": [1]}}')
        await recorder.wait_for(lambda: adapter.stream.bad_frames == 2 and adapter.stream.catchups > catchups)
        await recorder.wait_for(lambda: (p := recorder.parent(parent.parent_id)) is not None
                                and p.status == "COMPLETED")
        _assert_exact(recorder, parent.parent_id, QTY, dialect)
