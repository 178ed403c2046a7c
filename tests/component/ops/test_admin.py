"""Admin endpoints and the ops CLI against a real in-process gateway over HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import SecretStr

from gateway.__main__ import main
from gateway.api.admin import admin_routes
from gateway.api.config import HttpSettings
from gateway.api.http_server import OpsServer
from gateway.client import ApiError, GatewayClient
from tests.conftest import LOCAL_KEY

ADMIN_KEY = "admin-key-for-tests"


@pytest.fixture
async def gw(gateway_factory):
    gateway = await gateway_factory()
    routes = admin_routes(SecretStr(ADMIN_KEY), lambda: gateway.orders, gateway.venues)
    async with OpsServer(HttpSettings(port=0), ready=lambda: [], status=gateway.status, extra_routes=routes) as ops:
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            yield gateway, client, f"http://127.0.0.1:{ops.port}"


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = await asyncio.to_thread(main, list(argv))
    assert code == 0
    return capsys.readouterr().out


async def test_orders_cancel_all_and_kill_switch_through_the_cli(gw, capsys) -> None:
    gateway, client, url = gw
    bid = (await client.call("bbo", {"symbol": "BTC/USDT"}))["bid"]
    for i in range(3):
        await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(int(float(bid)) - 1000 - i))

    listed = await cli(capsys, "orders", "--url", url, "--admin-key", ADMIN_KEY)
    assert listed.splitlines()[0].split()[:3] == ["ACCOUNT", "SYMBOL", "SIDE"] and listed.count("BTC/USDT") == 3
    as_json = json.loads(await cli(capsys, "orders", "--url", url, "--admin-key", ADMIN_KEY, "--json"))
    assert len(as_json["orders"]) == 3 and as_json["kill_switch"] is False

    assert "canceled 3 order(s)" in await cli(capsys, "cancel-all", "--url", url, "--admin-key", ADMIN_KEY)
    assert await client.open_orders() == []

    assert "kill switch engaged" in await cli(capsys, "kill-switch", "on", "--url", url, "--admin-key", ADMIN_KEY)
    with pytest.raises(ApiError) as caught:
        await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(int(float(bid)) - 1000))
    assert caught.value.code == "RISK_LIMIT"
    assert "released" in await cli(capsys, "kill-switch", "off", "--url", url, "--admin-key", ADMIN_KEY)
    order = await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(int(float(bid)) - 1000))
    assert order.status == "new"

    status = await cli(capsys, "status", "--url", url)
    assert "ready: True" in status and "sim" in status and "local" in status
    assert "open orders: 1   live brackets: 0" in status


async def test_admin_endpoints_need_the_key(gw, capsys) -> None:
    _, client, url = gw
    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(main, ["cancel-all", "--url", url, "--admin-key", "wrong-key"])
    assert "401" in str(refused.value)
    with pytest.raises(SystemExit) as missing:
        await asyncio.to_thread(main, ["orders", "--url", url])
    assert "401" in str(missing.value)


async def test_admin_endpoints_are_off_without_a_configured_key(gateway_factory) -> None:
    import aiohttp

    gateway = await gateway_factory()
    routes = admin_routes(None, lambda: gateway.orders, gateway.venues)
    async with OpsServer(HttpSettings(port=0), ready=lambda: [], status=gateway.status, extra_routes=routes) as ops:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{ops.port}/admin/cancel-all",
                                 headers={"X-Admin-Key": "anything"}) as response:
                assert response.status == 403
                assert (await response.json())["error"]["code"] == "FORBIDDEN"


async def test_sim_reset_wipes_the_exchange_and_reconciles(gw) -> None:
    import aiohttp

    gateway, client, url = gw
    await client.place_order("BTC/USDT", "buy", "market", qty="0.01")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/admin/venues/sim/reset", headers={"X-Admin-Key": ADMIN_KEY}) as response:
            assert response.status == 200
            assert await response.json() == {"venue": "sim", "reset": True, "reconciled": True}
        async with http.post(f"{url}/admin/venues/nope/reset", headers={"X-Admin-Key": ADMIN_KEY}) as response:
            assert response.status == 404
    balances = {b["asset"]: b["free"] for b in await client.call("account.balances")}
    assert balances["BTC"] == "1"


async def test_brackets_through_the_cli(gateway_factory, capsys) -> None:
    from decimal import Decimal

    from tests.component.brackets.kit import PERP, bracket_params, gateway_overrides

    gateway = await gateway_factory(**gateway_overrides())
    routes = admin_routes(SecretStr(ADMIN_KEY), lambda: gateway.orders, gateway.venues,
                          brackets=lambda: gateway.brackets)
    async with OpsServer(HttpSettings(port=0), ready=lambda: [], status=gateway.status, extra_routes=routes) as ops:
        url = f"http://127.0.0.1:{ops.port}"
        args = ("--url", url, "--admin-key", ADMIN_KEY)
        assert "no live brackets" in await cli(capsys, "brackets", *args)
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            bbo = await client.call("bbo", {"symbol": PERP})
            bid, ask = Decimal(bbo["bid"]), Decimal(bbo["ask"])
            resting = await client.call("bracket.place", bracket_params(
                "buy", "0.010", {"type": "limit", "price": str(bid - 500)}, ask + 200, bid - 900, mode="emulated"))
            filled = await client.call("bracket.place", bracket_params(
                "buy", "0.010", {"type": "market"}, ask + 200, bid - 200, mode="emulated"))

            listed = json.loads(await cli(capsys, "brackets", *args, "--json"))["brackets"]
            by_id = {b["bracket_id"]: b for b in listed}
            assert by_id.keys() == {resting["bracket_id"], filled["bracket_id"]}
            assert by_id[resting["bracket_id"]]["state"] == "pending_entry"
            assert by_id[resting["bracket_id"]]["protection"] == "no_position"
            active = by_id[filled["bracket_id"]]
            assert active["state"] == "active" and active["protection"] == "protected"
            assert active["take_profit"]["status"] == "armed" and active["stop_loss"]["status"] == "armed"
            assert active["open_qty"] == "0.010"

            table = await cli(capsys, "brackets", *args)
            header, *rows = table.splitlines()
            assert header.split()[:6] == ["ACCOUNT", "SYMBOL", "SIDE", "QTY", "STATE", "PROTECTION"]
            assert len(rows) == 2 and all(PERP in row for row in rows)
            assert any("active" in row and "protected" in row and "armed" in row for row in rows)

            await client.call("bracket.cancel", {"bracket_id": resting["bracket_id"]})
            listed = json.loads(await cli(capsys, "brackets", *args, "--json", "--account", "sim"))["brackets"]
            assert [b["bracket_id"] for b in listed] == [filled["bracket_id"]]

        with pytest.raises(SystemExit) as refused:
            await asyncio.to_thread(main, ["brackets", "--url", url, "--admin-key", "wrong-key"])
        assert "401" in str(refused.value)
        with pytest.raises(SystemExit) as unknown:
            await asyncio.to_thread(main, ["brackets", *args, "--account", "nope"])
        assert "404" in str(unknown.value)
