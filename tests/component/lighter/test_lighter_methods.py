"""The ``lighter.*`` strategy methods over the gateway's WebSocket, against the Lighter fake: the market
cache and worst price, order status open then closed with fill_status / filled_ratio, closed orders and
fills paged by cursor, close_position through the order manager, NOT_SUPPORTED on another venue kind."""

from __future__ import annotations

import asyncio
from decimal import ROUND_CEILING, Decimal

import pytest
from lighter_helpers import ETH, adapter_settings, fake_settings

from gateway.client import ApiError, GatewayClient
from gateway.orders.config import OrdersSettings
from gateway.simserver.lighter.server import LighterFake
from gateway.venues.sim.config import SimSettings
from tests.conftest import LOCAL_KEY

_ORDERS = OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20)


async def _start(gateway_factory, fake: LighterFake, **venues):
    gateway = await gateway_factory(venues={"lx": adapter_settings(fake), **venues}, orders=_ORDERS)
    assert "lighter.price_cache" in gateway.api.methods  # registered by the composition root
    return gateway


async def _until_status(client: GatewayClient, cid: str, status: str) -> None:
    async with asyncio.timeout(10):
        while (await client.get_order(client_order_id=cid, account="lx")).status != status:
            await client.next_push("lx@order", timeout=10)


async def test_lighter_reads_over_the_strategy_websocket(gateway_factory) -> None:
    async with LighterFake(fake_settings(message_rate=0)) as fake:
        gateway = await _start(gateway_factory, fake, sim=SimSettings(message_rate=1))
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["lx@order"])
            bid, _, ask, _ = fake.engine.bbo(ETH)
            cache = (await client.call("lighter.refresh_cache", {"account": "lx", "symbol": ETH}))["cache"]
            assert Decimal(cache["best_bid"]) == bid and Decimal(cache["best_ask"]) == ask and not cache["stale"]
            cached = await client.call("lighter.price_cache", {"account": "lx", "symbol": ETH})
            assert Decimal(cached["cache"]["best_ask"]) == ask
            worst = await client.call("lighter.worst_price", {"account": "lx", "symbol": ETH, "side": "buy",
                                                              "max_slippage": "0.01"})
            assert Decimal(worst["worst_price"]) == (ask * Decimal("1.01")).quantize(Decimal("0.01"), ROUND_CEILING)

            # order status: open first (with its fill figures), then closed once canceled
            await client.place_order(ETH, "buy", "limit", qty="0.01", price=str(bid - 50), client_order_id="ls-1",
                                     account="lx")
            await _until_status(client, "ls-1", "new")
            status = await client.call("lighter.order_status", {"account": "lx", "symbol": ETH,
                                                                "client_order_id": "ls-1"})
            assert (status["status"], status["source"], status["fill_status"], status["filled_ratio"]) == (
                "open", "open", "none", 0.0)
            assert status["order"]["client_order_id"] == "ls-1" and int(status["order"]["order_id"]) >= 2**48
            await client.cancel_order(client_order_id="ls-1", account="lx")
            await _until_status(client, "ls-1", "canceled")
            status = await client.call("lighter.order_status", {"account": "lx", "symbol": ETH,
                                                                "order_id": status["order"]["order_id"]})
            assert (status["status"], status["source"]) == ("canceled", "closed")

            for i in range(3):  # three filled market orders: closed orders and fills to page through
                await client.place_order(ETH, "buy", "market", qty="0.01", client_order_id=f"ls-m{i}", account="lx")
                await _until_status(client, f"ls-m{i}", "filled")
            filled = await client.call("lighter.order_status", {"account": "lx", "symbol": ETH,
                                                                "client_order_id": "ls-m0", "include_fills": True})
            assert (filled["fill_status"], filled["filled_ratio"], filled["source"]) == ("filled", 1.0, "closed")
            assert [Decimal(f["qty"]) for f in filled["fills"]] == [Decimal("0.01")]

            pages, cursor, seen = 0, None, []
            while True:
                page = await client.call("lighter.orders_closed", {"account": "lx", "symbol": ETH, "limit": 2,
                                                                   "cursor": cursor})
                pages += 1
                seen += [o["client_order_id"] for o in page["orders"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert pages == 2 and sorted(seen) == ["ls-1", "ls-m0", "ls-m1", "ls-m2"]
            sells = await client.call("lighter.orders_closed", {"account": "lx", "side": "sell"})
            assert sells["orders"] == [] and sells["next_cursor"] is None

            first = await client.call("lighter.fills", {"account": "lx", "symbol": ETH, "limit": 2})
            rest = await client.call("lighter.fills", {"account": "lx", "symbol": ETH, "limit": 2,
                                                       "cursor": first["next_cursor"]})
            ids = [f["trade_id"] for f in first["fills"] + rest["fills"]]
            assert len(first["fills"]) == 2 and rest["next_cursor"] is None and len(set(ids)) == len(ids) == 3
            assert {f["client_order_id"] for f in first["fills"] + rest["fills"]} == {"ls-m0", "ls-m1", "ls-m2"}

            with pytest.raises(ApiError) as refused:
                await client.call("lighter.price_cache", {"account": "sim", "symbol": "BTC/USDT"})
            assert refused.value.code == "NOT_SUPPORTED"
            with pytest.raises(ApiError) as bad:
                await client.call("lighter.order_status", {"account": "lx", "symbol": ETH})
            assert bad.value.code == "INVALID_PARAMS"


async def test_close_position_is_a_reduce_only_market_order_through_the_order_manager(gateway_factory) -> None:
    async with LighterFake(fake_settings(message_rate=0)) as fake:
        gateway = await _start(gateway_factory, fake)
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["lx@order"])
            await client.place_order(ETH, "buy", "market", qty="0.03", client_order_id="cp-open", account="lx")
            await _until_status(client, "cp-open", "filled")
            closed = await client.call("lighter.close_position", {"account": "lx", "symbol": ETH,
                                                                  "client_order_id": "cp-close"})
            order = closed["order"]
            assert (order["client_order_id"], order["side"], order["type"], order["reduce_only"]) == (
                "cp-close", "sell", "market", True)
            assert Decimal(order["qty"]) == Decimal("0.03")
            await _until_status(client, "cp-close", "filled")  # tracked by the order manager as its own order
            tracked = gateway.orders.manager.get("lx", client_order_id="cp-close")
            assert tracked is not None and not tracked.external and tracked.strategy == "local"
            positions = await client.call("account.positions", {"account": "lx", "symbol": ETH})
            assert all(Decimal(p["qty"]) == 0 for p in positions)
            again = await client.call("lighter.close_position", {"account": "lx", "symbol": ETH})
            assert again == {"account": "lx", "symbol": ETH, "order": None, "reason": "no position"}
