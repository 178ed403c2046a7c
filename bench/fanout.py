"""Market-data fan-out: venue ticks -> gateway -> K WebSocket clients, beside a bare websockets relay.

The server (the gateway, or the baseline relay) runs in a child process; the K clients run in this one.
Ticks are trades injected at `--rate` per second into the gateway's venue sink (the path every venue
session uses: market service -> cache -> bus -> per-session queue -> socket). Each carries its emission
time in ns in its `id`, so a client computes tick-to-client latency on arrival. The baseline relay
sends frames of the same shape with `websockets.broadcast`, without parsing, bus or sessions. The
clients use `bench/rawws.py`, a minimal receiver, so that on 2 cores they do not set the latency.

    python -m bench.fanout --rate 5000 --clients 10 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
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
    from gateway.logconfig import configure_logging
    from gateway.venues.sim.config import SimSettings

    configure_logging("warning", "json", stream=sys.stderr, cache=True)  # stdout carries the result only
    settings = Settings(
        venues={"sim": SimSettings(message_rate=1)},
        api=ApiSettings(port=0, rate_limit_per_s=1000, strategies=[
            StrategySettings(name="bench", api_key=BENCH_KEY, accounts=frozenset({"sim"}))]),
        http=HttpSettings(port=0),
        persistence={"data_dir": tempfile.mkdtemp(prefix="bench-fanout-")},
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
                broadcast(clients, orjson.dumps({"stream": STREAM, "data": data}), text=True)

            await _inject(emit, rate, seconds)
            await asyncio.sleep(1.0)

    uvloop.run(main())


async def _clients(port: int, n: int, expected: int, gateway: bool, go: Any, seconds: float) -> dict[str, Any]:
    from bench.rawws import RawClient

    latencies: list[int] = []
    counts = [0] * n
    first: list[float] = []
    last: list[float] = [0.0]
    done = [asyncio.Event() for _ in range(n)]
    replies: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in range(n)]
    marker = b'"id":"'

    def on_frame_for(index: int) -> Any:
        def on_frame(payload: bytes) -> None:
            if not payload.startswith(b'{"stream"'):
                replies[index].put_nowait(payload)
                return
            now = time.time_ns()
            at = payload.find(marker) + len(marker)
            stamp = payload[at : payload.find(b'"', at)]
            if len(stamp) >= 19:  # injected ticks carry their emission time in ns; skip the sim's own trades
                latencies.append(now - int(stamp))
                if not first:
                    first.append(time.perf_counter())
                last[0] = time.perf_counter()
                counts[index] += 1
                if counts[index] >= expected:
                    done[index].set()

        return on_frame

    clients = []
    for index in range(n):
        client = await RawClient.connect("127.0.0.1", port, "/ws", on_frame_for(index))
        if gateway:
            client.send_text(orjson.dumps({"id": 1, "method": "auth", "params": {"api_key": BENCH_KEY}}))
            await asyncio.wait_for(replies[index].get(), 10)
            client.send_text(orjson.dumps({"id": 2, "method": "subscribe", "params": {"streams": [STREAM]}}))
            await asyncio.wait_for(replies[index].get(), 10)
        clients.append(client)
    go.set()
    await asyncio.wait([asyncio.create_task(event.wait()) for event in done], timeout=seconds + 10)
    for client in clients:
        client.close()
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
