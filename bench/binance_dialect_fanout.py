"""Market data from the Binance dialect through the Binance adapter to a strategy client, beside a baseline.

Two phases in one run, on the same dialect (sim engine, Binance streams on loopback), driven the same way
(`BinanceDialect.step` as fast as the loop allows, for `--seconds`):

- **baseline**: a minimal WebSocket client (`bench/rawws.py`) reads the dialect's combined streams
  directly (aggTrade, bookTicker, diff depth of one perpetual): what the dialect emits per second;
- **gateway**: an in-process gateway with a Binance usdm venue on those streams (combined streams,
  local book with U/u/pu checks, market cache, bus, per-session queue) and the same minimal client on
  the strategy WebSocket, subscribed to the symbol's trade, bbo and depth streams.

It prints JSON: messages/s the client received in each phase, the dialect's messages/s during the gateway
phase (what the adapter had to take in), and the ratio. The gateway publishes depth as a top-20 snapshot
per change and may conflate a slow consumer's market data, so its count is per *change*, not per frame
of the venue.

    python -m bench.binance_dialect_fanout --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

import orjson

from bench.rawws import RawClient

KEY, SECRET, STRATEGY_KEY = "bench-key", "bench-secret", "bench-strategy-key-0123"
PERP = "BTC/USDT:USDT"


async def _drive(dialect: Any, seconds: float, steps_per_tick: int) -> int:
    # Step the market as fast as the loop allows, yielding after each batch so the sockets keep moving.
    end = time.perf_counter() + seconds
    steps = 0
    while time.perf_counter() < end:
        dialect.step(steps_per_tick)
        steps += steps_per_tick
        await asyncio.sleep(0)
    return steps


def _sent(dialect: Any) -> int:
    return sum(hub.sent for hub in dialect.hubs.values())


async def _baseline(dialect: Any, seconds: float, steps_per_tick: int) -> dict[str, Any]:
    received = 0

    def on_frame(_: bytes) -> None:
        nonlocal received
        received += 1

    public = await RawClient.connect(dialect.host, dialect.port, "/public/stream?streams=btcusdt@depth@100ms/"
                                     "btcusdt@bookTicker", on_frame)
    market = await RawClient.connect(dialect.host, dialect.port, "/market/stream?streams=btcusdt@aggTrade", on_frame)
    sent_before = _sent(dialect)
    start = time.perf_counter()
    steps = await _drive(dialect, seconds, steps_per_tick)
    elapsed = time.perf_counter() - start
    public.close()
    market.close()
    return {"client_msgs_per_s": round(received / elapsed), "dialect_msgs_per_s": round(
        (_sent(dialect) - sent_before) / elapsed), "steps_per_s": round(steps / elapsed)}


async def _through_gateway(dialect: Any, seconds: float, steps_per_tick: int) -> dict[str, Any]:
    from gateway.api.config import ApiSettings, HttpSettings, Permission, StrategySettings
    from gateway.app import Gateway
    from gateway.config import Settings
    from gateway.venues.binance.config import BinanceSettings

    venue = BinanceSettings(market="usdm", symbols=[PERP], urls=dialect.urls("usdm"), api_key=KEY,
                            api_secret=SECRET, user_stream=False)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(venues={"bn": venue}, http=HttpSettings(port=0), persistence={"data_dir": data_dir},
                            api=ApiSettings(port=0, strategies=[StrategySettings(
                                name="bench", api_key=STRATEGY_KEY, permissions=frozenset(Permission))]))
        gateway = Gateway(settings)
        await gateway.start()
        try:
            counts: dict[str, int] = {}
            subscribed = asyncio.get_running_loop().create_future()

            def on_frame(raw: bytes) -> None:
                if not subscribed.done():
                    subscribed.set_result(raw)
                    return
                stream = orjson.loads(raw).get("stream", "?")
                counts[stream] = counts.get(stream, 0) + 1

            client = await RawClient.connect("127.0.0.1", gateway.api.port, "/ws", on_frame)
            client.send_text(orjson.dumps({"id": 1, "method": "auth", "params": {"api_key": STRATEGY_KEY}}))
            await asyncio.wait_for(subscribed, 10)
            subscribed = asyncio.get_running_loop().create_future()
            client.send_text(orjson.dumps({"id": 2, "method": "subscribe", "params": {"streams": [
                f"bn:{PERP}@trade", f"bn:{PERP}@bbo", f"bn:{PERP}@depth"]}}))
            await asyncio.wait_for(subscribed, 10)
            sent_before = _sent(dialect)
            start = time.perf_counter()
            steps = await _drive(dialect, seconds, steps_per_tick)
            elapsed = time.perf_counter() - start
            client.close()
            book = gateway.venues["bn"].book(PERP)
            return {"client_msgs_per_s": round(sum(counts.values()) / elapsed),
                    "by_stream_per_s": {k.rsplit("@", 1)[-1]: round(v / elapsed) for k, v in sorted(counts.items())},
                    "dialect_msgs_per_s": round((_sent(dialect) - sent_before) / elapsed),
                    "steps_per_s": round(steps / elapsed),
                    "book_snapshots": book.snapshots if book is not None else None}
        finally:
            await gateway.stop()


async def run(seconds: float, steps_per_tick: int) -> dict[str, Any]:
    from gateway.logconfig import configure_logging
    from gateway.simserver.binance.server import BinanceDialect, DialectSettings
    from gateway.venues.sim.config import SimSettings, SimSymbolSettings

    configure_logging("warning", "console", stream=sys.stderr, cache=True)
    sim = SimSettings(symbols=[SimSymbolSettings(symbol=PERP, start_price=Decimal(65000), tick_size=Decimal("0.1"),
                                                 step_size=Decimal("0.001"), min_qty=Decimal("0.001"))])
    settings = DialectSettings(sim=sim, message_rate=0, api_keys={KEY: SECRET}, prewarm_steps=30, usdm_ping_s=None)
    async with BinanceDialect(settings) as dialect:
        baseline = await _baseline(dialect, seconds, steps_per_tick)
        gateway = await _through_gateway(dialect, seconds, steps_per_tick)
    return {"bench": "binance_dialect_fanout", "seconds": seconds, "steps_per_tick": steps_per_tick,
            "baseline_dialect_direct": baseline, "through_gateway": gateway,
            "ratio_client_msgs_gateway_vs_baseline": round(gateway["client_msgs_per_s"]
                                                           / max(1, baseline["client_msgs_per_s"]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--steps-per-tick", type=int, default=5, help="market steps per loop turn")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.seconds, args.steps_per_tick))
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
