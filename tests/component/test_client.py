"""The Python client against a real in-process gateway on loopback."""

from __future__ import annotations

import socket

import pytest

from gateway.client import ApiError, GatewayClient
from tests.conftest import LOCAL_KEY


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_client_calls_subscribes_and_maps_errors(gateway_factory) -> None:
    gateway = await gateway_factory()
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        assert (await client.call("ping"))["ts"] > 0
        await client.subscribe(["sim:BTC/USDT@trade"])
        push = await client.next_push("sim:BTC/USDT@trade", timeout=5)
        assert push.data["symbol"] == "BTC/USDT"
        with pytest.raises(ApiError) as caught:
            await client.call("ticker", {"symbol": "NOPE/USDT"})
        assert caught.value.code == "UNKNOWN_SYMBOL"


async def test_bad_key_fails_connect(gateway_factory) -> None:
    gateway = await gateway_factory()
    client = GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key="wrong-key-123", reconnect=False)
    with pytest.raises(ApiError) as caught:
        await client.connect()
    assert caught.value.code == "UNAUTHENTICATED"
    await client.close()


async def test_client_reconnects_and_resubscribes_after_the_gateway_restarts(gateway_factory) -> None:
    from gateway.api.config import ApiSettings, Permission, StrategySettings

    port = free_port()
    api = ApiSettings(port=port, strategies=[StrategySettings(name="local", api_key=LOCAL_KEY,
                                                              permissions=frozenset(Permission))])
    first = await gateway_factory(api=api)
    client = GatewayClient(f"ws://127.0.0.1:{port}/ws", api_key=LOCAL_KEY, max_backoff_s=0.5)
    async with client:
        await client.subscribe(["sim:ETH/USDT@bbo"])
        await client.next_push("sim:ETH/USDT@bbo", timeout=5)
        await first.stop()
        second = await gateway_factory(api=api)
        restarted_ms = second.clock.now_ms()
        push = await client.next_push("sim:ETH/USDT@bbo", timeout=10)
        while push.data["recv_ts"] < restarted_ms:  # skip what was buffered before the restart
            push = await client.next_push("sim:ETH/USDT@bbo", timeout=10)
        assert push.data["symbol"] == "ETH/USDT"
        assert client.reconnects == 1
