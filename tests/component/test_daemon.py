"""The daemon as a real process: start on the sim, serve a strategy, stop on SIGTERM, keep secrets."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import http_get, wait_ready

SECRET_KEY = "s3cret-strategy-key-9f8e7d"
CONFIG = f"""
venues:
  sim: {{kind: sim, seed: 7, message_rate: 50}}
api:
  port: 0
  strategies:
    - {{name: alpha, api_key: {SECRET_KEY}, permissions: [read, trade], accounts: [sim]}}
http: {{port: 0}}
persistence: {{data_dir: DATA_DIR}}
shutdown_timeout_s: 5
"""

pytestmark = pytest.mark.slow


async def request(ws, id_: int, method: str, params: dict | None = None) -> dict:
    await ws.send(orjson.dumps({"id": id_, "method": method, "params": params or {}}).decode())
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if message.get("id") == id_:
            return message


async def test_daemon_serves_a_strategy_and_stops_cleanly_on_sigterm(daemon_factory, tmp_path) -> None:
    daemon = daemon_factory(CONFIG.replace("DATA_DIR", str(tmp_path / "data")))
    await daemon.start()
    took = await wait_ready(daemon.http_port, timeout=5.0)
    assert took < 5.0

    status, health = await http_get(daemon.http_port, "/health")
    assert status == 200 and health == {"status": "alive"}

    url = f"ws://127.0.0.1:{daemon.api_port}/ws"
    async with connect(url) as ws, connect(url) as idle:
        auth = await request(ws, 1, "auth", {"api_key": SECRET_KEY})
        assert auth["result"]["strategy"] == "alpha"
        wrong = await request(idle, 1, "auth", {"api_key": SECRET_KEY[:-1] + "X"})
        assert wrong["error"]["code"] == "UNAUTHENTICATED"
        streams = ["sim:BTC/USDT@trade", "sim:BTC/USDT@bbo", "sim:BTC/USDT@depth"]
        sub = await request(ws, 2, "subscribe", {"streams": streams})
        assert sorted(sub["result"]["streams"]) == sorted(streams)
        seen: dict[str, int] = {}
        while min((seen.get(s, 0) for s in streams), default=0) < 3:
            push = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            if "stream" in push:
                seen[push["stream"]] = seen.get(push["stream"], 0) + 1
                assert isinstance(push["data"].get("ts"), int)

        status, body = await http_get(daemon.http_port, "/status")
        assert status == 200
        assert body["venues"][0]["name"] == "sim" and body["venues"][0]["state"] == "open"
        assert len(body["strategies"]) == 2

        daemon.signal()
        for client in (ws, idle):
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(client.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert await daemon.wait(timeout=6.0) == 0
    events = [line["event"] for line in daemon.lines]
    assert "gateway.stopped" in events
    for line in daemon.lines:
        assert {"ts", "level", "event", "logger"} <= line.keys()
    assert SECRET_KEY not in daemon.output()
    assert SECRET_KEY[:-1] not in daemon.output()


async def test_daemon_refuses_a_bad_config_naming_the_key(daemon_factory) -> None:
    daemon = daemon_factory("venues:\n  sim: {kind: sim, message_rat: 5}\n")
    with pytest.raises(AssertionError):
        await daemon.start(timeout=10)
    assert await daemon.wait(timeout=10) == 2
    assert "venues.sim.message_rat" in daemon.output()
