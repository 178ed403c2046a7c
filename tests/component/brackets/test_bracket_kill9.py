"""kill -9 of the daemon around brackets, then a restart (real processes, real sockets; the sim keeps its
own durable store, so the exchange survives the gateway).

1. Between the entry's fill and the placing of the legs: after the restart the legs are in place within
   one reconcile interval, and exactly once (counted in the exchange's own store). A test-only pause
   (`brackets.debug_pause_before_legs_ms`) holds the legs back so the kill lands in that window every time
   (the reconcile path); a second case kills right after the entry's fill is pushed, wherever the legs are.
2. With emulated legs armed, the price crosses the stop while the gateway is down: the stop fires before
   the restarted gateway accepts any command. The sim is embedded, so it is down too; the crossing is
   written into the exchange's store before the restart (its last trade and mark price, from which the
   restarted exchange's market continues) — the exchange's own record of where the market went.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from gateway.client import GatewayClient
from tests.conftest import http_get, wait_ready

KEY = "kill9-bracket-key-01"
PERP = "BTC/USDT:USDT"
INTERVAL_S = 1.0
CONFIG = f"""
venues:
  sim: {{kind: sim, seed: 11, message_rate: 20, state_path: "{{state}}"}}
api:
  port: 0
  strategies: [{{name: alpha, api_key: {KEY}, permissions: [read, trade]}}]
http: {{port: 0}}
persistence: {{data_dir: "{{data}}"}}
brackets: {{reconcile_interval_s: {INTERVAL_S}, grace_ms: 500, debug_pause_before_legs_ms: {{pause}}}}
"""

pytestmark = pytest.mark.slow
D = Decimal


def config(tmp_path: Path, pause_ms: int = 0) -> str:
    return (CONFIG.replace("{state}", str(tmp_path / "sim.db")).replace("{data}", str(tmp_path / "data"))
            .replace("{pause}", str(pause_ms)))


def venue_orders(sim_db: Path, prefix: str) -> list[dict]:
    """Every order the exchange holds whose client id starts with `prefix` (its own store, read-only)."""
    conn = sqlite3.connect(f"file:{sim_db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT data FROM orders WHERE account = 'sim'").fetchall()
    finally:
        conn.close()
    orders = [orjson.loads(r[0]) for r in rows]
    return [o for o in orders if (o.get("client_order_id") or "").startswith(prefix)]


def is_open(order: dict) -> bool:
    return order["status"] in ("new", "partially_filled")


async def last_price(client: GatewayClient) -> Decimal:
    return D((await client.call("ticker", {"symbol": PERP}))["last"])


@pytest.mark.parametrize("pause_ms", [30_000, 0], ids=["legs-held-back", "kill-after-fill-push"])
async def test_kill_9_between_entry_fill_and_legs_places_them_once_after_restart(daemon_factory, tmp_path,
                                                                                pause_ms: int) -> None:
    first = daemon_factory(config(tmp_path, pause_ms))
    await first.start()
    await wait_ready(first.http_port, timeout=10)
    async with GatewayClient(f"ws://127.0.0.1:{first.api_port}/ws", api_key=KEY, reconnect=False) as client:
        await client.subscribe(["sim@order"])
        price = await last_price(client)
        params = {"symbol": PERP, "side": "buy", "qty": "0.010", "entry": {"type": "market"}, "mode": "native",
                  "take_profit": {"trigger_price": str((price * D("1.2")).quantize(D("0.1")))},
                  "stop_loss": {"trigger_price": str((price * D("0.8")).quantize(D("0.1")))}, "bracket_id": "kill1"}
        if pause_ms:
            placed = await client.call("bracket.place", params)
            assert placed["state"] == "active" and placed["entry"]["status"] == "filled"
            await first.wait_for_event("bracket.debug_pause", timeout=10)  # the legs are held back now
        else:
            await client.call("bracket.place", params)
            while True:  # kill the moment the entry's fill is pushed
                push = await client.next_push("sim@order", timeout=10)
                if push.data["client_order_id"] == "kill1-en" and push.data["status"] == "filled":
                    break
        first.signal(signal.SIGKILL)
    assert await first.wait(10) == -signal.SIGKILL
    sim_db = tmp_path / "sim.db"
    legs_before = venue_orders(sim_db, "kill1-")
    if pause_ms:
        assert [o["client_order_id"] for o in legs_before] == ["kill1-en"]  # the kill really came before the legs

    second = daemon_factory(config(tmp_path))
    await second.start()
    started = [i for i, line in enumerate(second.lines) if line.get("event") == "gateway.started"][0]
    await wait_ready(second.http_port, timeout=10)
    ready_at = time.monotonic()
    while True:  # within one reconcile interval of being ready, both legs are at the venue
        legs = [o for o in venue_orders(sim_db, "kill1-") if o["reduce_only"] and is_open(o)]
        if len(legs) >= 2 or time.monotonic() - ready_at > INTERVAL_S:
            break
        await http_get(second.http_port, "/health")  # a round trip, not a sleep: the daemon keeps running
    assert sorted(o["type"] for o in legs) == ["stop", "take_profit"], legs
    assert all(D(o["qty"]) == D("0.010") for o in legs)
    repairs = [line for line in second.lines if line.get("event") == "bracket.repair"
               and line.get("bracket_id") == "kill1"]
    if pause_ms:  # placed by the startup reconcile pass, before the gateway took any command
        assert {r["kind"] for r in repairs} == {"replaced_leg"}, repairs
        assert all(second.lines.index(r) < started for r in repairs)

    async with GatewayClient(f"ws://127.0.0.1:{second.api_port}/ws", api_key=KEY) as client:
        got = await client.call("bracket.get", {"bracket_id": "kill1"})
        assert got["state"] == "active" and got["take_profit"]["status"] == got["stop_loss"]["status"] == "open"
        for _ in range(2):  # further passes change nothing
            assert (await client.call("brackets.reconcile", {}))["repaired"] == 0
    every_leg = [o for o in venue_orders(sim_db, "kill1-") if o["reduce_only"]]
    assert len(every_leg) == 2, every_leg  # exactly once: one TP and one SL ever reached the exchange
    assert len([o for o in every_leg if is_open(o)]) == 2


def move_market(sim_db: Path, symbol: str, price: Decimal) -> None:
    """Write into the exchange's store that the market traded at `price` while it was down."""
    conn = sqlite3.connect(sim_db)
    try:
        (value,) = conn.execute("SELECT value FROM meta WHERE key = 'counters'").fetchone()
        counters = orjson.loads(value)
        counters["last_prices"][symbol] = str(price)
        counters["mark_prices"][symbol] = str(price)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'counters'", (orjson.dumps(counters).decode(),))
        conn.commit()
    finally:
        conn.close()


async def test_kill_9_with_emulated_legs_armed_fires_a_crossed_stop_before_any_command(daemon_factory,
                                                                                      tmp_path) -> None:
    first = daemon_factory(config(tmp_path))
    await first.start()
    await wait_ready(first.http_port, timeout=10)
    async with GatewayClient(f"ws://127.0.0.1:{first.api_port}/ws", api_key=KEY, reconnect=False) as client:
        price = await last_price(client)
        stop = (price * D("0.99")).quantize(D("0.1"))
        placed = await client.call("bracket.place", {
            "symbol": PERP, "side": "buy", "qty": "0.010", "entry": {"type": "market"}, "mode": "emulated",
            "take_profit": {"trigger_price": str((price * D("1.2")).quantize(D("0.1")))},
            "stop_loss": {"trigger_price": str(stop)}, "bracket_id": "kill2"})
        assert placed["state"] == "active"
        assert placed["take_profit"]["status"] == placed["stop_loss"]["status"] == "armed"
    first.signal(signal.SIGKILL)
    assert await first.wait(10) == -signal.SIGKILL
    sim_db = tmp_path / "sim.db"
    move_market(sim_db, PERP, (price * D("0.95")).quantize(D("0.1")))  # 4% through the stop

    second = daemon_factory(config(tmp_path))
    await second.start()
    lines = second.lines
    started = next(i for i, line in enumerate(lines) if line.get("event") == "gateway.started")
    fired = [i for i, line in enumerate(lines) if line.get("bracket_id") == "kill2" and (
        line.get("event") == "bracket.fired" or (line.get("event") == "bracket.repair"
                                                 and line.get("kind") == "fired_trigger"))]
    sent = [i for i, line in enumerate(lines) if line.get("event") == "order.transition"
            and line.get("client_order_id") == "kill2-sl1" and line.get("to_status") == "filled"]
    assert fired and fired[0] < started, "the stop did not fire during startup"
    assert sent and sent[0] < started, "the stop's order was not filled before the gateway took commands"
    await wait_ready(second.http_port, timeout=10)
    async with GatewayClient(f"ws://127.0.0.1:{second.api_port}/ws", api_key=KEY) as client:
        got = await client.call("bracket.get", {"bracket_id": "kill2"})  # the first command sees it closed
        assert got["state"] == "closed_by_sl", got
        assert got["take_profit"]["status"] == "canceled" and D(got["stop_loss"]["filled_qty"]) == D("0.010")
        assert await client.call("account.positions", {"symbol": PERP}) == []
    assert [o for o in venue_orders(sim_db, "kill2-") if is_open(o)] == []
