"""Binance diff-depth updates applied per second by the local book, beside plain dict updates.

The updates are real dialect output: the sim exchange's synthetic market stepped for ``--updates`` steps,
each step's book change rendered as a Binance ``depthUpdate`` frame (spot U/u, or futures U/u/pu) by
the Binance dialect. Measured, on the same frames, best of ``--repeat`` runs:

- ``book_sync``: `BookSync.on_diff` on pre-parsed diffs (sequence checks + sorted L2 book);
- ``frame_to_book``: the adapter's hot path without the sink: JSON text -> envelope -> `DepthUpdate`
  -> Decimal levels -> `BookSync.on_diff`;
- ``frame_to_book_and_depth_event``: that plus the top-50 `Depth` event pushed per diff;
- baseline ``dict_only``: the same levels set into two plain dicts keyed by price string (no ordering,
  no sequence checks, no Decimal) — the floor any book costs more than.

    python -m bench.binance_book --updates 20000 --market usdm
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from decimal import Decimal

import orjson

from gateway.simserver.binance import render
from gateway.simserver.binance.depth import DepthFeed
from gateway.venues.binance.book import BookDiff, BookSync
from gateway.venues.binance.parse import to_depth, to_levels
from gateway.venues.binance.schemas import (
    DepthUpdate,
    StreamFrame,
    decode_market_message,
    decode_stream_frame,
)
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from gateway.venues.sim.market import SyntheticMarket, build_engine


def make_frames(count: int, futures: bool) -> tuple[tuple[int, list, list], list[str]]:
    symbol = "BTC/USDT:USDT" if futures else "BTC/USDT"
    spec = SimSymbolSettings(symbol=symbol, start_price=Decimal(65000), tick_size=Decimal("0.1"),
                             step_size=Decimal("0.001"), min_qty=Decimal("0.001"))
    settings = SimSettings(symbols=[spec], depth_levels=100, seed=7)
    engine = build_engine("bench", settings)
    market = SyntheticMarket("bench", settings, engine)
    feed = DepthFeed()
    now = 1_700_000_000_000
    market.step(symbol, now)
    feed.update(*engine.depth(symbol, 1_000_000)[:2])
    snapshot = feed.snapshot(5_000)
    frames: list[str] = []
    stream = "btcusdt@depth@100ms"
    while len(frames) < count:
        now += 100
        market.step(symbol, now)
        diff = feed.update(*engine.depth(symbol, 1_000_000)[:2])
        if diff is not None:
            payload = render.depth_event(diff, "BTCUSDT", futures, now)
            frames.append(orjson.dumps({"stream": stream, "data": payload}).decode())
    return snapshot, frames


def _fresh(snapshot: tuple[int, list, list], futures: bool) -> BookSync:
    sync = BookSync(futures)
    sync.on_snapshot(*snapshot)
    return sync


def bench_book_sync(snapshot, diffs: list[BookDiff], futures: bool) -> float:
    sync = _fresh(snapshot, futures)
    on_diff = sync.on_diff
    start = time.perf_counter()
    for diff in diffs:
        on_diff(diff)
    elapsed = time.perf_counter() - start
    assert sync.is_synced and sync.gaps == 0
    return len(diffs) / elapsed


def bench_frames(snapshot, frames: list[str], futures: bool, push_depth: bool) -> float:
    sync = _fresh(snapshot, futures)
    loads = orjson.loads
    pushed = 0
    start = time.perf_counter()
    for raw in frames:
        frame = decode_stream_frame(loads(raw))
        assert isinstance(frame, StreamFrame)
        msg = decode_market_message(frame.data, "depthUpdate")
        assert type(msg) is DepthUpdate
        step = sync.on_diff(BookDiff(msg.U, msg.u, msg.pu, to_levels(msg.b), to_levels(msg.a)))
        if push_depth and step.changed:
            bids, asks = sync.book.top(50)
            to_depth(bids, asks, msg.u, "bench", "BTC/USDT", msg.E, msg.E)
            pushed += 1
    elapsed = time.perf_counter() - start
    assert sync.is_synced and sync.gaps == 0
    return len(frames) / elapsed


def bench_dicts(frames: list[str]) -> float:
    payloads = [orjson.loads(raw)["data"] for raw in frames]
    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    start = time.perf_counter()
    for data in payloads:
        for price, qty in data["b"]:
            if qty == "0" or float(qty) == 0:
                bids.pop(price, None)
            else:
                bids[price] = qty
        for price, qty in data["a"]:
            if qty == "0" or float(qty) == 0:
                asks.pop(price, None)
            else:
                asks[price] = qty
    return len(payloads) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--market", choices=["spot", "usdm"], default="spot")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    futures = args.market == "usdm"
    snapshot, frames = make_frames(args.updates, futures)
    parsed = [DepthUpdate(**{k: v for k, v in orjson.loads(f)["data"].items() if k in DepthUpdate.__slots__})
              for f in frames]
    diffs = [BookDiff(m.U, m.u, m.pu, to_levels(m.b), to_levels(m.a)) for m in parsed]
    levels = sum(len(d.bids) + len(d.asks) for d in diffs)
    best = lambda fn: max(fn() for _ in range(args.repeat))
    result = {
        "bench": "binance_book",
        "market": args.market,
        "updates": len(frames),
        "levels_per_update": round(levels / len(frames), 2),
        "book_levels_per_side": len(snapshot[1]),
        "python": platform.python_version(),
        "updates_per_s": {
            "book_sync": round(best(lambda: bench_book_sync(snapshot, diffs, futures))),
            "frame_to_book": round(best(lambda: bench_frames(snapshot, frames, futures, False))),
            "frame_to_book_and_depth_event": round(best(lambda: bench_frames(snapshot, frames, futures, True))),
        },
        "baseline_updates_per_s": {"dict_only": round(best(lambda: bench_dicts(frames)))},
    }
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
