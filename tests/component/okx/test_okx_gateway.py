"""End to end: a real in-process gateway with an OKX account pointed at the OKX dialect. A strategy places
and cancels over the gateway's WebSocket, and places a bracket whose legs are native OKX algo orders."""

from __future__ import annotations

from decimal import Decimal

from okx_helpers import SPOT, adapter_settings, dialect_settings

from gateway.client import GatewayClient
from gateway.orders.config import OrdersSettings
from gateway.simserver.okx.server import OkxDialect
from tests.conftest import LOCAL_KEY


async def test_a_strategy_trades_and_brackets_on_okx_through_the_gateway(gateway_factory) -> None:
    async with OkxDialect(dialect_settings()) as dialect:
        gateway = await gateway_factory(
            venues={"ok": adapter_settings(dialect)},
            orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
        )
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["ok@bracket"])
            bid = dialect.engine.bbo(SPOT)[0]
            assert bid is not None
            order = await client.place_order(SPOT, "buy", "limit", qty="0.001", price=str(bid - 200),
                                             client_order_id="e2e1", account="ok")
            assert order.status == "new" and order.order_id
            assert [o.client_order_id for o in await client.open_orders(account="ok")] == ["e2e1"]
            canceled = await client.cancel_order(client_order_id="e2e1", account="ok")
            assert canceled.status == "canceled"

            price = dialect.engine.bbo(SPOT)[0]
            assert price is not None
            placed = await client.call("bracket.place", {
                "account": "ok", "symbol": SPOT, "side": "buy", "qty": "0.002", "entry": {"type": "market"},
                "mode": "native", "bracket_id": "okb1",
                "take_profit": {"trigger_price": str((price * Decimal("1.2")).quantize(Decimal("0.1")))},
                "stop_loss": {"trigger_price": str((price * Decimal("0.8")).quantize(Decimal("0.1")))}})
            got = placed
            for _ in range(100):
                legs = (got["take_profit"]["status"], got["stop_loss"]["status"])
                if got["state"] == "active" and not set(legs) & {"pending", "placing"}:
                    break
                await client.next_push("ok@bracket", timeout=10)  # a leg's status follows its order's push
                got = await client.call("bracket.get", {"bracket_id": "okb1"})
            assert got["state"] == "active", got
            algos = [o for o in await client.open_orders(account="ok") if o.order_id and o.order_id.startswith("algo-")]
            assert sorted(o.client_order_id for o in algos) == ["okb1-sl1", "okb1-tp1"]
            closed = await client.call("bracket.cancel", {"bracket_id": "okb1"})
            assert closed["state"] != "active"
