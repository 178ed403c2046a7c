"""Market-data fan-out: venue ticks -> gateway -> K WebSocket clients, beside a bare websockets relay.

The server (the gateway, or the baseline relay) runs in a child process; the K clients run in this one.
Ticks are trades injected at `--rate` per second into the gateway's venue sink (the path every venue
session uses: market service -> cache -> bus -> per-session queue -> socket). Each carries its emission
time in ns in its `id`, so a client computes tick-to-client latency on arrival. The baseline relay
sends frames of the same shape with `websockets.broadcast`, without parsing, bus or sessions.

    python -m bench.fanout --rate 5000 --clients 10 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from decimal import Decimal
from typing import Any

import orjson

BENCH_KEY = "bench-key-0123456789"
STREAM = "sim:BTC/USDT@trade"


async def _inject(emit: Any, rate: int, seconds: float) -> int:
    """Call `emit(i)` `rate` times per second for `seconds`, in 1 ms batches. Returns the count."""
    start = time.perf_counter()
    sent = 0
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            emit(sent)
            sent += 1
        await asyncio.sleep(0.001)
    return sent


def _serve_gateway(ready: Any, go: Any, rate: int, seconds: float) -> None:
    import uvloop

    from gateway.api.config import ApiSettings, HttpSettings, StrategySettings
    from gateway.app import Gateway
    from gateway.config import Settings
    from gateway.core.enums import Side
    from gateway.core.events import Trade
    from gateway.venues.sim.config import SimSettings

    settings = Settings(
        venues={"sim": SimSettings(message_rate=1)},
        api=ApiSettings(port=0, rate_limit_per_s=1000, strategies=[
            StrategySettings(name="bench", api_key=BENCH_KEY, accounts=frozenset({"sim"}))]),
        http=HttpSettings(port=0),
    )
    price, qty = Decimal("65000.10"), Decimal("0.01000")

    async def main() -> None:
        async with Gateway(settings) as gateway:
            ready.send(gateway.api.port)
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            router = gateway.router

            def emit(i: int) -> None:
                now = time.time_ns()
                router.on_market(Trade("sim", "BTC/USDT", str(now), price, qty, Side.BUY, now // 1_000_000,
                                       now // 1_000_000))

            await _inject(emit, rate, seconds)
            await asyncio.sleep(1.0)  # let the queues drain before shutdown

    uvloop.run(main())


def _serve_relay(ready: Any, go: Any, rate: int, seconds: float) -> None:
    import uvloop
    from websockets.asyncio.server import broadcast, serve

    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            ready.send(server.sockets[0].getsockname()[1])
            await asyncio.get_running_loop().run_in_executor(None, go.wait)

            def emit(i: int) -> None:
                now = time.time_ns()
                data = {"venue": "sim", "symbol": "BTC/USDT", "id": str(now), "price": "65000.10",
                        "qty": "0.01000", "side": "buy", "ts": now // 1_000_000, "recv_ts": now // 1_000_000}
                broadcast(clients, orjson.dumps({"stream": STREAM, "data": data}))

            await _inject(emit, rate, seconds)
            await asyncio.sleep(1.0)

    uvloop.run(main())


async def _clients(port: int, n: int, expected: int, gateway: bool, go: Any, seconds: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    latencies: list[int] = []
    counts = [0] * n
    first: list[float] = []
    last: list[float] = [0.0]

    async def one(index: int, ws: Any) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if "stream" not in message:
                continue
            now = time.time_ns()
            latencies.append(now - int(message["data"]["id"]))
            if not first:
                first.append(time.perf_counter())
            last[0] = time.perf_counter()
            counts[index] += 1
            if counts[index] >= expected:
                return

    sockets = []
    for _ in range(n):
        ws = await connect(f"ws://127.0.0.1:{port}/ws", compression=None, max_queue=None)
        if gateway:
            await ws.send(orjson.dumps({"id": 1, "method": "auth", "params": {"api_key": BENCH_KEY}}).decode())
            await ws.recv()
            await ws.send(orjson.dumps({"id": 2, "method": "subscribe", "params": {"streams": [STREAM]}}).decode())
            while "id" not in orjson.loads(await ws.recv()):
                pass
        sockets.append(ws)
    go.set()
    tasks = [asyncio.create_task(one(i, ws)) for i, ws in enumerate(sockets)]
    await asyncio.wait(tasks, timeout=seconds + 10)
    for task in tasks:
        task.cancel()
    for ws in sockets:
        await ws.close()
    elapsed = (last[0] - first[0]) if first else float("nan")
    delivered = sum(counts)
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] / 1e6, 3) if latencies else float("nan")

    return {
        "delivered": delivered,
        "expected": expected * n,
        "delivered_per_s": round(delivered / elapsed, 1) if elapsed else None,
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0),
                       "mean": round(statistics.fmean(latencies) / 1e6, 3) if latencies else None},
    }


def _measure(kind: str, rate: int, clients: int, seconds: float) -> dict[str, Any]:
    import uvloop

    ctx = mp.get_context("spawn")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    go = ctx.Event()
    target = _serve_gateway if kind == "gateway" else _serve_relay
    proc = ctx.Process(target=target, args=(ready_send, go, rate, seconds), daemon=True)
    proc.start()
    try:
        if not ready_recv.poll(30):
            raise RuntimeError(f"{kind} server did not start")
        port = ready_recv.recv()
        return uvloop.run(_clients(port, clients, int(rate * seconds), kind == "gateway", go, seconds))
    finally:
        proc.join(seconds + 15)
        if proc.is_alive():
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="ticks per second into the server")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    relay = _measure("relay", args.rate, args.clients, args.seconds)
    gateway = _measure("gateway", args.rate, args.clients, args.seconds)
    ratio = None
    if relay["delivered_per_s"] and gateway["delivered_per_s"]:
        ratio = round(gateway["delivered_per_s"] / relay["delivered_per_s"], 3)
    result = {
        "bench": "fanout",
        "rate_per_s": args.rate,
        "clients": args.clients,
        "seconds": args.seconds,
        "gateway": gateway,
        "baseline_relay": relay,
        "throughput_ratio": ratio,
        "targets": {"p99_ms_below": 2.0, "throughput_ratio_at_least": 0.5},
        "python": sys.version.split()[0],
    }
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
