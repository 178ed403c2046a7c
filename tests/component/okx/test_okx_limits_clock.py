"""Rate limits and clock skew against the OKX dialect over real sockets.

- A 50011 answer to an order placement is "outcome unknown" (the fact sheet maps it so): through the gateway
  the order becomes `unknown` and resolves, by a query, to the venue's true state, once, never re-sent.
- A 50011 answer to a read is retried after the budget's pause; the caller sees the answer.
- A server clock moved past the 30 s window answers 50102: the client re-syncs its offset and the next
  signed call passes (REST and the WebSocket login both use the new offset).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from okx_helpers import SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.client import GatewayClient
from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState
from gateway.orders.config import OrdersSettings
from gateway.simserver.okx.server import OkxDialect
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.okx.adapter import OkxAdapter
from tests.conftest import LOCAL_KEY


@pytest.mark.parametrize("over_ws", [False, True])
async def test_a_rate_limited_placement_resolves_to_the_true_state_once(gateway_factory, over_ws: bool) -> None:
    async with OkxDialect(dialect_settings()) as d:
        gateway = await gateway_factory(
            venues={"ok": adapter_settings(d, orders_over_ws=over_ws)},
            orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20,
                                  unknown_reject_after_ms=300))
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["ok@order"])
            bid = d.engine.bbo(SPOT)[0]
            assert bid is not None
            d.rate_limit_next(1)
            order = await client.place_order(SPOT, "buy", "limit", qty="0.001", price=str(bid - 300),
                                             client_order_id="rl1", account="ok")
            assert order.status == "unknown"  # 50011 on a write: not a refusal, not a retry
            while True:
                push = await client.next_push("ok@order", timeout=10)
                assert push is not None
                if push.data["client_order_id"] == "rl1" and push.data["status"] not in ("pending_new", "unknown"):
                    break
            # the dialect answered 50011 before executing: nothing exists there, and the gateway says so
            assert push.data["status"] == "rejected", push.data
            assert d.engine.order("user", None, "rl1") is None
            assert d.faults.rate_limited == 0  # the one fault was spent on the placement, nothing was re-sent
            again = await client.place_order(SPOT, "buy", "limit", qty="0.001", price=str(bid - 300),
                                             client_order_id="rl2", account="ok")
            assert again.status == "new"
            assert [o.client_order_id for o in d.engine.open_orders("user")] == ["rl2"]


async def _adapter(d: OkxDialect) -> tuple[OkxAdapter, RecordingSink]:
    sink = RecordingSink()
    clock = SystemClock()
    adapter = OkxAdapter("ok", adapter_settings(d), clock, budgets=HostBudgets(clock))
    adapter.bind(sink)
    return adapter, sink


async def test_a_rate_limited_read_is_retried() -> None:
    async with OkxDialect(dialect_settings()) as d:
        adapter, sink = await _adapter(d)
        async with adapter:
            await sink.wait_for(lambda: adapter.state is ConnectionState.OPEN)
            assert adapter.rest is not None
            before = adapter.rest.rate_limited
            d.rate_limit_next(2)
            balances = await adapter.balances()
            assert any(b.asset == "USDT" and b.free > 0 for b in balances)
            assert adapter.rest.rate_limited == before + 2 and d.faults.rate_limited == 0


async def test_clock_skew_is_resynced_and_the_next_signed_call_passes() -> None:
    async with OkxDialect(dialect_settings()) as d:
        adapter, sink = await _adapter(d)
        async with adapter:
            await sink.wait_for(lambda: adapter.state is ConnectionState.OPEN)
            assert adapter.rest is not None and adapter.user is not None
            offset_before = adapter.offset.offset_ms
            d.shift_clock(120_000)  # the server is now two minutes ahead: our stamps are "expired"
            balances = await adapter.balances()  # 50102 -> re-sync -> the same call signed again passes
            assert any(b.asset == "USDT" for b in balances)
            assert adapter.rest.time_resyncs == 1
            assert abs(adapter.offset.offset_ms - offset_before - 120_000) < 5_000
            bid = d.engine.bbo(SPOT)[0]
            assert bid is not None
            # the next signed calls pass at once, without another re-sync
            assert await adapter.open_orders() == []
            assert adapter.rest.time_resyncs == 1
            # and a WebSocket login after a drop signs with the new offset too
            logins = adapter.user.private.connection.connections
            d.drop_connections("private")
            await sink.wait_for(lambda: adapter.user.private.connection.connections > logins  # type: ignore[union-attr]
                                and adapter.user.private.logged_in and adapter.state is ConnectionState.OPEN)
            assert Decimal(0) < bid
