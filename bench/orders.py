"""Order round trip: strategy -> gateway (order manager + SQLite journal) -> sim -> strategy.

The gateway runs in a child process with its journal on a real file; the strategy client runs here.
Measured: one-at-a-time `order.place` round trips (p50/p99), then sustained placements per second with
a window of concurrent requests. Baseline in the same run: the sim matching engine called directly.

    python -m bench.orders --samples 2000 --orders 10000 --window 64
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

import orjson

BENCH_KEY = "bench-key-0123456789"


def _serve(ready: Any, stop: Any, data_dir: str, journal_log: bool = True) -> None:
    import uvloop

    from gateway.api.config import ApiSettings, HttpSettings, Permission, StrategySettings
    from gateway.app import Gateway
    from gateway.config import Settings
    from gateway.logconfig import configure_logging
    from gateway.venues.sim.config import SimSettings

    configure_logging("warning", "json", stream=sys.stderr, cache=True)
    settings = Settings(
        venues={"sim": SimSettings(message_rate=20, balances={"USDT": Decimal(10_000_000), "BTC": Decimal(100)})},
        api=ApiSettings(port=0, rate_limit_per_s=100_000, strategies=[
            StrategySettings(name="bench", api_key=BENCH_KEY, permissions=frozenset(Permission))]),
        http=HttpSettings(port=0),
        persistence={"data_dir": data_dir},
        orders={"journal_log": journal_log},
    )

    async def main() -> None:
        async with Gateway(settings) as gateway:
            ready.send(gateway.api.port)
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    uvloop.run(main())


class _Client:
    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[dict]] = {}
        self.next_id = 0
        self.raw: Any = None

    def on_frame(self, payload: bytes) -> None:
        if payload.startswith(b'{"stream"'):
            return
        message = orjson.loads(payload)
        future = self.waiting.pop(message.get("id"), None)
        if future is not None:
            future.set_result(message)

    async def call(self, method: str, params: dict[str, Any]) -> dict:
        self.next_id += 1
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self.raw.send_text(orjson.dumps({"id": self.next_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, 30)


async def _drive(port: int, samples: int, orders: int, window: int) -> dict[str, Any]:
    from bench.rawws import RawClient

    client = _Client()
    client.raw = await RawClient.connect("127.0.0.1", port, "/ws", client.on_frame)
    assert "result" in await client.call("auth", {"api_key": BENCH_KEY})
    bid = Decimal((await client.call("bbo", {"symbol": "BTC/USDT"}))["result"]["bid"])
    price = str((bid * Decimal("0.5")).quantize(Decimal("0.01")))
    params = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "qty": "0.0002", "price": price}

    rtts: list[float] = []
    for _ in range(samples):
        start = time.perf_counter()
        answer = await client.call("order.place", params)
        rtts.append(time.perf_counter() - start)
        assert answer.get("result", {}).get("status") == "new", answer
    rtts.sort()

    done = 0
    failures = 0

    async def worker(count: int) -> None:
        nonlocal done, failures
        for _ in range(count):
            answer = await client.call("order.place", params)
            if "result" in answer:
                done += 1
            else:
                failures += 1

    start = time.perf_counter()
    per = orders // window
    await asyncio.gather(*(worker(per) for _ in range(window)))
    elapsed = time.perf_counter() - start
    client.raw.close()

    def pct(p: float) -> float:
        return round(rtts[min(len(rtts) - 1, int(len(rtts) * p))] * 1000, 3)

    return {
        "round_trip_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0), "samples": samples},
        "sustained": {"orders": done, "failures": failures, "window": window, "seconds": round(elapsed, 3),
                      "orders_per_s": round(done / elapsed, 1)},
    }


def _engine_baseline(orders: int) -> dict[str, Any]:
    from gateway.core.enums import OrderType, Side, TimeInForce
    from gateway.venues.sim.config import SimSettings
    from gateway.venues.sim.market import build_engine

    settings = SimSettings(balances={"USDT": Decimal(10_000_000), "BTC": Decimal(100)})
    engine = build_engine("sim", settings)
    engine.open_account("sim", dict(settings.balances))
    price, qty = Decimal("30000.00"), Decimal("0.0001")
    times: list[float] = []
    start = time.perf_counter()
    for i in range(orders):
        t = time.perf_counter()
        engine.place("sim", "BTC/USDT", Side.BUY, OrderType.LIMIT, qty, 1_700_000_000_000 + i, price=price,
                     tif=TimeInForce.GTC, client_order_id=f"b{i}")
        times.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    times.sort()
    return {"orders_per_s": round(orders / elapsed, 1),
            "place_us": {"p50": round(times[len(times) // 2] * 1e6, 2), "p99": round(times[int(len(times) * 0.99)] * 1e6, 2)}}


def main(argv: list[str] | None = None) -> int:
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--no-journal-log", action="store_true",
                        help="journal each batch with a SQLite commit before the send (orders.journal_log: false)")
    args = parser.parse_args(argv)

    baseline = _engine_baseline(args.orders)
    ctx = mp.get_context("spawn")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = ctx.Process(target=_serve, args=(ready_send, stop, data_dir, not args.no_journal_log), daemon=True)
        proc.start()
        try:
            if not ready_recv.poll(30):
                raise RuntimeError("gateway did not start")
            gateway = uvloop.run(_drive(ready_recv.recv(), args.samples, args.orders, args.window))
        finally:
            stop.set()
            proc.join(15)
            if proc.is_alive():
                proc.kill()
    result = {
        "bench": "orders",
        "gateway_with_journal": gateway,
        "journal_log": not args.no_journal_log,
        "baseline_sim_engine_direct": baseline,
        "targets": {"round_trip_p50_ms_below": 1.0, "orders_per_s_at_least": 2000},
        "python": sys.version.split()[0],
    }
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
