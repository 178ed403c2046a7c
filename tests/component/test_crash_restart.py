"""kill -9 of the daemon during a burst of orders, then a restart: nothing acknowledged is lost, nothing
is placed twice (a real process, real sockets, the sim keeping its own durable store)."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from decimal import Decimal

import pytest

from gateway.client import ApiError, ConnectionLost, GatewayClient
from tests.conftest import wait_ready

KEY = "crash-test-key-0001"
CONFIG = f"""
venues:
  sim: {{kind: sim, seed: 5, message_rate: 20, latency_ms: 15, answer_latency_ms: 15, state_path: "{{state}}"}}
api:
  port: 0
  rate_limit_per_s: 5000
  strategies: [{{name: alpha, api_key: {KEY}, permissions: [read, trade]}}]
http: {{port: 0}}
persistence: {{data_dir: "{{data}}"}}
orders: {{unknown_backoff_base_ms: 50, unknown_backoff_max_ms: 500, unknown_reject_after_ms: 2000}}
"""
WORKERS = 8
KILL_AFTER_ACKS = 40
SETTLED = {"new", "partially_filled", "filled", "canceled", "rejected", "expired"}

pytestmark = pytest.mark.slow


async def test_kill_9_during_a_burst_loses_no_acknowledged_order_and_duplicates_none(daemon_factory, tmp_path) -> None:
    config = CONFIG.replace("{state}", str(tmp_path / "sim.db")).replace("{data}", str(tmp_path / "data"))
    first = daemon_factory(config)
    await first.start()
    await wait_ready(first.http_port)

    acked: dict[str, dict] = {}
    in_flight: set[str] = set()
    enough = asyncio.Event()
    client = GatewayClient(f"ws://127.0.0.1:{first.api_port}/ws", api_key=KEY, reconnect=False)
    await client.connect()
    bid = Decimal((await client.call("bbo", {"symbol": "BTC/USDT"}))["bid"])
    price = str((bid * Decimal("0.5")).quantize(Decimal("0.01")))

    async def worker(w: int) -> None:
        rng = random.Random(w)
        for n in range(1000):
            await asyncio.sleep(rng.uniform(0, 0.03))  # load shaping: spread the workers over the venue's latency
            cid = f"w{w}-{n}"
            in_flight.add(cid)
            try:
                order = await client.call("order.place", {"symbol": "BTC/USDT", "side": "buy", "type": "limit",
                                                          "qty": "0.0002", "price": price, "client_order_id": cid})
            except (ConnectionLost, TimeoutError):
                return
            in_flight.discard(cid)
            acked[cid] = order
            if len(acked) >= KILL_AFTER_ACKS:
                enough.set()

    workers = [asyncio.create_task(worker(w)) for w in range(WORKERS)]
    await asyncio.wait_for(enough.wait(), 20)
    first.signal(signal.SIGKILL)
    await asyncio.wait_for(asyncio.gather(*workers), 20)
    assert await first.wait(10) == -signal.SIGKILL
    await client.close()
    assert len(acked) >= KILL_AFTER_ACKS and in_flight  # the kill really cut a burst in the middle

    second = daemon_factory(config)
    await second.start()
    await wait_ready(second.http_port, timeout=10)
    async with GatewayClient(f"ws://127.0.0.1:{second.api_port}/ws", api_key=KEY) as after:
        for cid, order in acked.items():  # every acknowledged order is there, with its true status
            found = await after.call("order.get", {"client_order_id": cid})
            assert found["order_id"] == order["order_id"]
            assert found["status"] == "new"
        deadline = time.monotonic() + 10
        outcomes: dict[str, str] = {}
        for cid in in_flight:  # what was in flight is resolved from the venue's evidence, never guessed
            while True:
                try:
                    status = (await after.call("order.get", {"client_order_id": cid}))["status"]
                except ApiError as exc:
                    assert exc.code == "ORDER_NOT_FOUND"  # never journaled, so never sent
                    status = "never_sent"
                if status in SETTLED or status == "never_sent" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            outcomes[cid] = status
        assert set(outcomes.values()) <= SETTLED | {"never_sent"}, outcomes

        open_orders = await after.call("orders.open", {"limit": 5000})
        assert not [o for o in open_orders if o.get("external")]  # the venue holds nothing we did not place
        client_ids = [o["client_order_id"] for o in open_orders]
        assert len(client_ids) == len(set(client_ids))
        expected = set(acked) | {cid for cid, status in outcomes.items() if status == "new"}
        assert set(client_ids) == expected
