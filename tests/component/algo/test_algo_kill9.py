"""kill -9 of the daemon in the middle of a TWAP, then a restart: the parent resumes its schedule and
completes without over-filling (real processes, real sockets; the sim keeps its own durable store, so
the exchange's record of every child order survives the gateway and is the oracle here).

The daemon is `gateway run`, with fast algo ticks for the test.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from gateway.client import GatewayClient
from tests.conftest import DaemonProcess, wait_ready

KEY = "kill9-algo-key-0001"
CONFIG = f"""
venues:
  sim: {{kind: sim, seed: 7, message_rate: 20, state_path: "{{state}}"}}
api:
  port: 0
  strategies: [{{name: alpha, api_key: {KEY}, permissions: [read, trade]}}]
http: {{port: 0}}
persistence: {{data_dir: "{{data}}"}}
orders: {{unknown_backoff_base_ms: 50, unknown_backoff_max_ms: 500}}
algos: {{tick_ms: 50, slice_ms: 500, min_duration_s: 0, overtime_ms: 5000}}
"""
QTY = Decimal("0.02")

pytestmark = pytest.mark.slow
D = Decimal


class AlgoDaemon(DaemonProcess):
    """`gateway run`; ready for `algo.*` once the engine logged `algos.ready` (before `gateway.started`)."""

    async def start(self, timeout: float = 15.0) -> None:
        await super().start(timeout)
        await self.wait_for_event("algos.ready", timeout)


def venue_children(sim_db: Path, algo_id: str) -> list[dict]:
    """Every order the exchange holds for the parent's children (its own store, read-only)."""
    conn = sqlite3.connect(f"file:{sim_db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT data FROM orders WHERE account = 'sim'").fetchall()
    finally:
        conn.close()
    orders = [orjson.loads(r[0]) for r in rows]
    return [o for o in orders if (o.get("client_order_id") or "").startswith(algo_id + "-a")]


def seq(order: dict) -> int:
    return int(order["client_order_id"].rsplit("-a", 1)[1])


@pytest.mark.parametrize("enable_make", [False, True], ids=["taker", "maker"])
async def test_kill_9_mid_twap_resumes_the_schedule_without_over_filling(tmp_path, enable_make: bool) -> None:
    config_text = CONFIG.replace("{state}", str(tmp_path / "sim.db")).replace("{data}", str(tmp_path / "data"))
    config = tmp_path / "gateway.yaml"
    config.write_text(config_text)
    sim_db = tmp_path / "sim.db"
    first = AlgoDaemon(config)
    second = AlgoDaemon(config)
    try:
        await first.start()
        await wait_ready(first.http_port, timeout=10)
        async with GatewayClient(f"ws://127.0.0.1:{first.api_port}/ws", api_key=KEY, reconnect=False) as client:
            algo = await client.call("algo.place", {
                "symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP", "qty": str(QTY),
                "execution_duration_s": 8, "enable_make": enable_make, "client_order_id": "k9"})
            aid = algo["algo_id"]
            deadline = time.monotonic() + 10
            while True:  # kill in the middle: once a quarter is done
                got = await client.call("algo.get", {"algo_id": aid})
                if D(got["progress"]) >= D("0.25") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert D("0.25") <= D(got["progress"]) < 1, (got["state"], got["reason"], got["children"], got["live_child"])
            first.signal(signal.SIGKILL)
        assert await first.wait(10) == -signal.SIGKILL
        before = venue_children(sim_db, aid)
        filled_before = sum(D(o["filled_qty"]) for o in before)
        assert D(0) < filled_before < QTY

        await second.start()
        await wait_ready(second.http_port, timeout=10)
        async with GatewayClient(f"ws://127.0.0.1:{second.api_port}/ws", api_key=KEY) as client:
            deadline = time.monotonic() + 20
            while True:
                got = await client.call("algo.get", {"client_order_id": "k9"})
                if got["state"] not in ("pending", "running") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert got["state"] == "completed", got
            assert D(got["filled_qty"]) == QTY
            fills = await client.call("algo.fills", {"algo_id": aid})
            assert sum(D(f["qty"]) for f in fills) == QTY
            assert not [o for o in await client.call("orders.open", {}) if o["client_order_id"].startswith(aid)]
            again = await client.call("algo.place", {
                "symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP", "qty": str(QTY),
                "execution_duration_s": 8, "enable_make": enable_make, "client_order_id": "k9"})
            assert again["algo_id"] == aid and again["state"] == "completed"  # idempotent across restarts

        children = venue_children(sim_db, aid)
        assert sum(D(o["filled_qty"]) for o in children) == QTY  # the exchange's truth: never over-filled
        ids = [o["client_order_id"] for o in children]
        assert len(ids) == len(set(ids))  # no child id was ever sent twice
        later = [o for o in children if o["client_order_id"] not in {b["client_order_id"] for b in before}]
        assert later and min(seq(o) for o in later) > max(seq(o) for o in before)  # the schedule went on
        assert not [line for line in second.lines if line.get("event") == "algo.placed"]  # resumed, not re-placed
    finally:
        await first.kill()
        await second.kill()
