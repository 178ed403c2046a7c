"""After a restart, the session maps Lighter's client order indexes back to the gateway's ids: asking by
client order id re-derives the index (a stable hash), and `remember_client_order_ids` teaches the map the
ids of every order the gateway still tracks, so open orders are reported as the gateway's, not external."""

from __future__ import annotations

from decimal import Decimal

from lighter_helpers import ETH, RecordingSink, adapter_settings, fake_settings

from gateway.client import GatewayClient
from gateway.core.clock import SystemClock
from gateway.core.enums import OrderType, Side
from gateway.core.ports import OrderRequest
from gateway.simserver.lighter.server import LighterFake
from gateway.venues.lighter.adapter import LighterAdapter
from gateway.venues.lighter.scaling import client_order_index_of
from tests.conftest import LOCAL_KEY


async def test_a_new_session_reports_the_gateway_ids_it_is_taught() -> None:
    async with LighterFake(fake_settings(message_rate=0)) as fake:
        settings = adapter_settings(fake, market_stream=False, account_stream=False)
        bid = fake.engine.bbo(ETH)[0]
        async with LighterAdapter("lx", settings, SystemClock()) as first:
            for cid in ("rs-1", "rs-2"):
                await first.place_order(OrderRequest(ETH, Side.BUY, OrderType.LIMIT, Decimal("0.01"), cid,
                                                     price=bid - 30))
            await fake.drain()

        async with LighterAdapter("lx", settings, SystemClock()) as second:  # the gateway restarted
            second.bind(RecordingSink())
            unknown = {u.client_order_id for u in await second.open_orders(ETH)}
            assert unknown == {str(client_order_index_of("rs-1")), str(client_order_index_of("rs-2"))}
            found = await second.get_order(ETH, client_order_id="rs-1")  # asking by id re-derives the index
            assert found is not None and found.client_order_id == "rs-1"
            second.remember_client_order_ids(["rs-2"])
            assert {u.client_order_id for u in await second.open_orders(ETH)} == {"rs-1", "rs-2"}


async def test_after_a_gateway_restart_its_open_lighter_orders_are_still_its_own(gateway_factory, tmp_path) -> None:
    async with LighterFake(fake_settings(message_rate=0)) as fake:
        bid = fake.engine.bbo(ETH)[0]
        data = {"data_dir": str(tmp_path / "gw")}
        first = await gateway_factory(venues={"lx": adapter_settings(fake)}, persistence=data)
        async with GatewayClient(f"ws://127.0.0.1:{first.api.port}/ws", api_key=LOCAL_KEY) as client:
            placed = await client.place_order(ETH, "buy", "limit", qty="0.01", price=str(bid - 30),
                                              client_order_id="keep-1", account="lx")
            assert placed.order_id is None  # accepted, not executed: its index is not known yet
        await first.stop()  # down before the venue assigned the index
        await fake.drain()
        second = await gateway_factory(venues={"lx": adapter_settings(fake)}, persistence=data)
        async with GatewayClient(f"ws://127.0.0.1:{second.api.port}/ws", api_key=LOCAL_KEY) as client:
            (order,) = await client.open_orders(account="lx")
            assert order.client_order_id == "keep-1"  # reconciled as the gateway's order, not an external one
            assert order.order_id and order.order_id != str(client_order_index_of("keep-1"))
            assert not [o for o in second.orders.manager.open_orders("lx") if o.external]
