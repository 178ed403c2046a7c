"""End to end: a real in-process `gateway.app.Gateway` with a Binance venue pointed at the dialect. A strategy
places and cancels over the gateway's WebSocket and sees its fills on ``bn@fill``, including a fill that
happened while the listenKey had expired (found by the reconciliation after the reconnect)."""

from __future__ import annotations

from decimal import Decimal

from dialect_helpers import PERP, adapter_settings, dialect_settings

from gateway.client import GatewayClient
from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.orders.config import OrdersSettings
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.sim.market import HOUSE
from tests.conftest import LOCAL_KEY


async def test_a_strategy_trades_on_binance_through_the_gateway(gateway_factory) -> None:
    async with BinanceDialect(dialect_settings(message_rate=20)) as dialect:
        settings = adapter_settings(dialect, "usdm")
        gateway = await gateway_factory(
            venues={"bn": settings},
            orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
        )
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["bn@fill", "bn@order"])
            bid = dialect.engine.bbo(PERP)[0]
            assert bid is not None
            order = await client.place_order(PERP, "buy", "limit", qty="0.001", price=str(bid - 200),
                                             client_order_id="e2e-1", account="bn")
            assert order.status == "new" and order.order_id
            assert [o.client_order_id for o in await client.open_orders(account="bn")] == ["e2e-1"]
            canceled = await client.cancel_order(client_order_id="e2e-1", account="bn")
            assert canceled.status == "canceled"

            market = await client.place_order(PERP, "buy", "market", qty="0.002", account="bn")
            assert market.status == "filled"  # its fill may come over the stream just after the REST answer
            push = await client.next_push("bn@fill", timeout=10)
            assert push.data["order_id"] == market.order_id and Decimal(push.data["qty"]) == Decimal("0.002")
            assert (await client.get_order(order_id=market.order_id, account="bn")).filled_qty == Decimal("0.002")

            # A fill while the listenKey is expired never comes over the stream: the reconciliation after
            # the key rotation (RECONNECTING -> OPEN) finds it, and the strategy gets it on bn@fill.
            best = dialect.engine.bbo(PERP)[0]
            assert best is not None
            resting = await client.place_order(PERP, "buy", "limit", qty="0.001", price=str(best + Decimal("0.1")),
                                               client_order_id="e2e-gap", account="bn")
            dialect.expire_listen_key()
            now = dialect.now_ms()  # a house seller sweeps every bid down to ours (the market keeps moving)
            dialect.after_engine_call(dialect.engine.place(HOUSE, PERP, Side.SELL, OrderType.LIMIT, Decimal(50), now,
                                                           price=resting.price, tif=TimeInForce.IOC), now)
            while True:
                push = await client.next_push("bn@fill", timeout=15)
                if push.data["order_id"] == resting.order_id:
                    break
            filled = await client.get_order(client_order_id="e2e-gap", account="bn")
            assert filled.status == "filled"
