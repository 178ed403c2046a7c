"""End to end: a real in-process gateway with a Lighter venue pointed at the fake. A strategy places a
limit order and a market order over the gateway's WebSocket, sees the market order filled, and sees an
order the sequencer rejects after acceptance end ``rejected`` with Lighter's reason; a native bracket is
one grouped tx whose legs the gateway tracks as its own orders to closed_by_tp."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from lighter_helpers import ETH, adapter_settings, fake_settings

from gateway.client import GatewayClient
from gateway.core.enums import OrderType, Side
from gateway.orders.config import OrdersSettings
from gateway.simserver.lighter.server import LighterFake
from tests.conftest import LOCAL_KEY


async def test_a_strategy_trades_on_lighter_through_the_gateway(gateway_factory) -> None:
    async with LighterFake(fake_settings(message_rate=20)) as fake:
        gateway = await gateway_factory(
            venues={"lx": adapter_settings(fake)},
            orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
        )
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["lx@order", "lx@fill"])
            market = await client.place_order(ETH, "buy", "market", qty="0.01", client_order_id="e2e-m", account="lx")
            assert market.status in ("pending_new", "filled")
            async with asyncio.timeout(10):
                while (await client.get_order(client_order_id="e2e-m", account="lx")).status != "filled":
                    await client.next_push("lx@order", timeout=10)
            filled = await client.get_order(client_order_id="e2e-m", account="lx")
            assert filled.filled_qty == Decimal("0.01") and filled.order_id and int(filled.order_id) >= 2**48

            bid = fake.engine.bbo(ETH)[0]
            fake.faults.reject_after_accept = 1
            pending = await client.place_order(ETH, "buy", "limit", qty="0.01", price=str(bid - 30),
                                               client_order_id="e2e-rj", account="lx")
            assert pending.status == "pending_new"
            async with asyncio.timeout(10):
                while (order := await client.get_order(client_order_id="e2e-rj", account="lx")).status != "rejected":
                    await client.next_push("lx@order", timeout=10)
            assert order.reason == "canceled-margin-not-allowed"


async def test_a_native_bracket_places_lighter_stop_and_take_profit_legs(gateway_factory) -> None:
    """The gateway's bracket service, mode native: the TP / SL legs are Lighter take-profit / stop-loss
    orders (reduce-only, with triggers) sized to the entry's fill."""
    async with LighterFake(fake_settings(message_rate=0)) as fake:
        gateway = await gateway_factory(
            venues={"lx": adapter_settings(fake)},
            orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
        )
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["lx@bracket"])
            bid, _, ask, _ = fake.engine.bbo(ETH)
            placed = await client.call("bracket.place", {
                "account": "lx", "symbol": ETH, "side": "buy", "qty": "0.02", "entry": {"type": "market"},
                "take_profit": {"trigger_price": str(ask + 40)}, "stop_loss": {"trigger_price": str(bid - 40)},
                "mode": "native", "bracket_id": "lxb1"})
            assert placed["mode"] == "native"
            async with asyncio.timeout(10):
                while True:
                    legs = {o.client_order_index: o for o in fake.ledger.orders.values() if o.reduce_only}
                    if len(legs) == 2:
                        break
                    await client.next_push("lx@bracket", timeout=10)
            kinds = sorted((o.type_code, o.is_ask, o.size()) for o in legs.values())
            assert kinds == [(2, True, Decimal("0.02")), (4, True, Decimal("0.02"))]  # stop-loss, take-profit


async def test_a_native_bracket_on_lighter_is_one_grouped_tx_that_closes_by_take_profit(gateway_factory) -> None:
    """`bracket.place` mode native on a Lighter account: the entry and both legs go as ONE grouped tx
    through the order manager; the legs get their real indexes (learnt from the venue by client order
    index), the take-profit fires, the venue cancels the stop-loss and the bracket ends closed_by_tp."""
    async with LighterFake(fake_settings(message_rate=0)) as fake:
        gateway = await gateway_factory(
            venues={"lx": adapter_settings(fake)},
            orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
        )
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["lx@bracket"])
            bid, _, ask, _ = fake.engine.bbo(ETH)
            await client.call("bracket.place", {
                "account": "lx", "symbol": ETH, "side": "buy", "qty": "0.05", "entry": {"type": "market"},
                "take_profit": {"trigger_price": str(ask + 5)}, "stop_loss": {"trigger_price": str(bid - 60)},
                "mode": "native", "bracket_id": "lxg1"})

            async def until(predicate) -> dict:
                async with asyncio.timeout(10):
                    while not predicate(bracket := await client.call("bracket.get", {"bracket_id": "lxg1"})):
                        await client.next_push("lx@bracket", timeout=10)
                    return bracket

            def legs_known(b: dict) -> bool:
                return all((b[leg]["order"] or {}).get("order_id") for leg in ("take_profit", "stop_loss"))

            bracket = await until(lambda b: b["state"] == "active" and b["entry"]["order_id"] and legs_known(b))
            assert fake.accepted == 1  # ONE tx: the entry and both legs
            orders = fake.ledger.orders
            assert len(orders) == 3 and len({o.nonce for o in orders.values()}) == 1
            tp_index = int(bracket["take_profit"]["order"]["order_id"])
            sl_index = int(bracket["stop_loss"]["order"]["order_id"])
            assert orders[tp_index].parent == orders[sl_index].parent == int(bracket["entry"]["order_id"])
            assert bracket["take_profit"]["order"]["client_order_id"] == "lxg1-tp1"
            assert bracket["stop_loss"]["order"]["client_order_id"] == "lxg1-sl1"
            manager = gateway.orders.manager
            assert not any(o.external for o in manager.open_orders("lx"))  # the legs are the gateway's own

            from gateway.venues.sim.market import HOUSE

            now = fake.now_ms()  # a house buyer lifts the book through the take-profit's trigger
            fake._after_engine(fake.engine.place(HOUSE, ETH, Side.BUY, OrderType.MARKET, Decimal(400), now), now)
            closed = await until(lambda b: b["state"] == "closed_by_tp")
            assert closed["stop_loss"]["status"] == "canceled" and orders[sl_index].status == "canceled-oco"
            assert Decimal(closed["closed_qty"]) == Decimal("0.05")
