"""Brackets benchmark: per-tick trigger cost, trigger-to-order-sent latency, reconcile passes.

Pure part. N armed emulated brackets (two legs each) over S symbols. Ticks are a bounded random walk near
the entry price so that most ticks fire nothing; the TriggerIndex and the baseline (a linear scan of every
leg of the ticked symbol, and of every leg) see the same ticks and must fire the same legs. Then:
trigger-to-intent (a tick crossing one stop -> index -> on_trigger -> FireLeg; the pure part only),
and `reconcile` over N native brackets (20,000 open venue orders) at steady state and with 10% of the
venue ids still to learn.

Service part (`service`), through a real in-process gateway on the sim (S perp symbols, market frozen):
N armed emulated brackets in the running `BracketService`; a market event goes in where a venue pushes
it (`VenueEventRouter.on_market`): the cost of a tick that fires nothing (market cache + tick hook +
index), and trigger-to-order-sent for ticks that cross one stop each — to the FireLeg handed to its lane
(`to_runner`), and to the venue adapter's `place_order` call (`to_venue`: lane -> order service ->
journal append -> venue call), with a same-run baseline of the machine's own tail (a computation as long
as the median, timed after each fire) and the CPU steal share while sampling. Then one reconcile pass over N native brackets through the service's
writer (the venue view given, as `fetch_views` would build it; steady state, and 10% ids to learn, which
persists and publishes those brackets).

    python -m bench.brackets --brackets 10000 --symbols 10 --ticks 20000 [--gc-freeze]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from decimal import Decimal
from collections.abc import Callable
from typing import Any

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import OrderUpdate
from gateway.core.ports import Capabilities
from gateway.orders.brackets import (
    Bracket,
    FireLeg,
    LegMode,
    LegName,
    LegSpec,
    OrderReport,
    TriggerIndex,
    TriggerSource,
    VenueView,
    is_crossed,
    new_bracket,
    on_entry_update,
    on_leg_update,
    on_trigger,
    rearm_intents,
    reconcile,
)

T0 = 1_700_000_000_000
WARMUP_FIRES = 50  # fired before the samples (the baseline is calibrated to their median)
MID = Decimal(1000)


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] / 1000  # noqa: E731
    return {"p50_us": round(pick(0.50), 3), "p99_us": round(pick(0.99), 3), "max_us": round(s[-1] / 1000, 3),
            "mean_us": round(statistics.fmean(s) / 1000, 3)}


def build(n: int, symbols: int, mode: LegMode, rng: random.Random, unique: bool = False,
          resting_stops: bool = False) -> list[Bracket]:
    """Return n filled brackets; `unique`: every stop on its own level, take-profits out of reach;
    `resting_stops`: a stop fires a limit order far on the passive side of the entry price, which rests
    at the venue (a market order would trade, and its print would fire the stops below it)."""
    out = []
    for i in range(n):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        near, far = Decimal(rng.randint(20, 200)) / 10, Decimal(rng.randint(20, 200)) / 10  # 0.2%..2% away
        if unique:
            near, far = Decimal(i // symbols + 1) / 100, Decimal(500)
        tp = MID + far if side is Side.BUY else MID - far
        sl = MID - near if side is Side.BUY else MID + near
        d = new_bracket(bracket_id=f"bk{i}", account="sim", venue="sim", symbol=f"S{i % symbols}/USDT:USDT",
                        side=side, qty=Decimal(1), entry_type=OrderType.LIMIT, entry_price=MID,
                        take_profit=LegSpec(tp), stop_loss=LegSpec(sl, _resting(side) if resting_stops else None),
                        mode=mode, trigger_source=TriggerSource.LAST,
                        capabilities=Capabilities(stop_orders=True), now_ms=T0)
        b = d.bracket
        on_entry_update(b, OrderReport(f"bk{i}-en", f"E{i}", OrderStatus.FILLED, Decimal(1), MID, Decimal(1), T0),
                        T0)
        out.append(b)
    return out


def _resting(side: Side) -> Decimal:
    return MID * 2 if side is Side.BUY else MID / 2


def bench_ticks(brackets: list[Bracket], symbols: int, ticks: int, rng: random.Random) -> dict[str, object]:
    index = TriggerIndex()
    per_symbol: dict[str, list[tuple[object, object, Decimal]]] = {}
    for b in brackets:
        for arm in rearm_intents(b):
            index.add(arm.key, venue=arm.venue, symbol=arm.symbol, source=arm.source, exit_side=arm.exit_side,
                      direction=arm.direction, trigger_price=arm.trigger_price)
            per_symbol.setdefault(arm.symbol, []).append((arm.key, arm.direction, arm.trigger_price))
    every_leg = [(sym, *leg) for sym, legs in per_symbol.items() for leg in legs]
    prices = {f"S{k}/USDT:USDT": MID for k in range(symbols)}
    tape = []
    for _ in range(ticks):
        sym = f"S{rng.randrange(symbols)}/USDT:USDT"
        step = Decimal(rng.randint(-10, 10)) / 10
        prices[sym] = min(max(prices[sym] + step, MID - 25), MID + 25)  # a walk that reaches some triggers
        tape.append((sym, prices[sym]))

    idx_ns, fired_idx = [], 0
    quiet_ns = []
    for sym, price in tape:
        t = time.perf_counter_ns()
        fired = index.on_price("sim", sym, TriggerSource.LAST, price)
        dt = time.perf_counter_ns() - t
        idx_ns.append(dt)
        if not fired:
            quiet_ns.append(dt)
        fired_idx += len(fired)

    def scan(legs_by: dict[str, list] | None) -> tuple[list[int], int]:
        alive = {key for _, key, _, _ in every_leg}
        samples, total = [], 0
        for sym, price in tape:
            t = time.perf_counter_ns()
            legs = legs_by[sym] if legs_by is not None else every_leg
            if legs_by is not None:
                hit = [k for k, d, lv in legs if k in alive and is_crossed(d, lv, price)]
            else:
                hit = [k for s, k, d, lv in legs if s == sym and k in alive and is_crossed(d, lv, price)]
            alive.difference_update(hit)
            samples.append(time.perf_counter_ns() - t)
            total += len(hit)
        return samples, total

    sym_ns, fired_sym = scan(per_symbol)
    all_ns, fired_all = scan(None)
    assert fired_idx == fired_sym == fired_all, (fired_idx, fired_sym, fired_all)
    return {"legs": len(every_leg), "ticks": ticks, "fired": fired_idx, "quiet_ticks": len(quiet_ns),
            "index_all_ticks": _percentiles(idx_ns), "index_quiet_ticks": _percentiles(quiet_ns),
            "baseline_scan_symbol_legs": _percentiles(sym_ns), "baseline_scan_all_legs": _percentiles(all_ns)}


def bench_trigger_to_intent(brackets: list[Bracket], samples: int) -> dict[str, object]:
    index = TriggerIndex()
    by_id = {b.bracket_id: b for b in brackets}
    for b in brackets:
        for arm in rearm_intents(b):
            index.add(arm.key, venue=arm.venue, symbol=arm.symbol, source=arm.source, exit_side=arm.exit_side,
                      direction=arm.direction, trigger_price=arm.trigger_price)
    # the stops nearest the price first, so that each tick crosses exactly one stop
    longs = sorted((b for b in brackets if b.side is Side.BUY), key=lambda b: -b.stop_loss.trigger_price)[:samples]
    out, fired_total = [], 0
    for b in longs:
        t = time.perf_counter_ns()
        fired = index.on_price("sim", b.symbol, TriggerSource.LAST, b.stop_loss.trigger_price)
        intents = [on_trigger(by_id[bracket_id], LegName(leg), T0).intents for bracket_id, leg in fired]
        out.append(time.perf_counter_ns() - t)
        fired_total += len(intents)
        assert any(isinstance(i, FireLeg) for i in intents[0])
    return {"samples": len(out), "fired": fired_total, **_percentiles(out)}


def bench_reconcile(n: int, symbols: int, rng: random.Random, unknown_share: float) -> dict[str, object]:
    brackets = build(n, symbols, LegMode.NATIVE, rng)
    open_orders, positions = [], {}
    for i, b in enumerate(brackets):
        for leg in b.legs:
            oid = f"V{b.bracket_id}{leg.name}"
            kind = OrderType.TAKE_PROFIT if leg.name is LegName.TP else OrderType.STOP
            open_orders.append(OrderUpdate("sim", b.symbol, oid, leg.client_order_id, b.exit_side, kind,
                                           TimeInForce.GTC, None, leg.trigger_price, Decimal(1), Decimal(0), None,
                                           OrderStatus.NEW, True, T0, T0))
            if rng.random() >= unknown_share:  # acknowledged with its venue id already
                on_leg_update(b, leg.name, OrderReport(leg.client_order_id, oid, OrderStatus.NEW, qty=Decimal(1)), T0)
        positions[b.symbol] = positions.get(b.symbol, Decimal(0)) + b.side.sign
    for sym in positions:
        positions[sym] = Decimal(1) if positions[sym] == 0 else positions[sym]  # hedged symbols: keep a position
    view = VenueView("sim", tuple(open_orders), (), (), None, {}, T0 + 60_000)
    runs, repairs = [], []
    for _ in range(3):
        t = time.perf_counter_ns()
        repairs = reconcile(brackets, view, T0 + 60_000)
        runs.append(time.perf_counter_ns() - t)
    return {"brackets": n, "open_orders": len(open_orders), "repairs": len(repairs),
            "pass_ms": round(statistics.median(runs) / 1e6, 1)}


def _service_settings(symbols: int, data_dir: str) -> Any:
    from gateway.api.config import ApiSettings, HttpSettings
    from gateway.config import Settings
    from gateway.venues.sim.config import SimSettings, SimSymbolSettings

    specs = [SimSymbolSettings(symbol=f"S{k}/USDT:USDT", start_price=MID, tick_size=Decimal("0.01"),
                               step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal(0))
             for k in range(symbols)]
    return Settings(venues={"sim": SimSettings(message_rate=0.001, symbols=specs)}, api=ApiSettings(port=0),
                    http=HttpSettings(port=0), persistence={"data_dir": data_dir},
                    brackets={"reconcile_interval_s": 3600})  # no background pass over the bench's brackets


async def bench_service(n: int, symbols: int, ticks: int, samples: int, rng: random.Random,
                        gc_freeze: bool = False) -> dict[str, object]:
    import asyncio
    import gc
    import tempfile

    from gateway.app import Gateway
    from gateway.core.events import Trade
    from gateway.orders.brackets.writer import ReconcileViews

    with tempfile.TemporaryDirectory() as data_dir:
        async with Gateway(_service_settings(symbols, data_dir)) as gateway:
            service, router = gateway.brackets, gateway.router
            assert service is not None
            adapter = gateway.venues["sim"]
            sent: list[int] = []
            arrived = asyncio.Event()
            place = adapter.place_order

            async def timed_place(request: Any) -> Any:  # the venue call: "sent"
                sent.append(time.perf_counter_ns())
                arrived.set()
                return await place(request)

            adapter.place_order = timed_place  # type: ignore[method-assign]
            for k in range(symbols):  # a long position for the stops to reduce: the venue accepts every fire
                position = adapter.engine.ledger.position("sim", f"S{k}/USDT:USDT")
                position.qty, position.entry_price = Decimal((samples + WARMUP_FIRES) // symbols + 10), MID
            brackets = build(n, symbols, LegMode.EMULATED, rng, unique=True, resting_stops=True)
            for b in brackets:
                service.book.add(b, "bench")
                for arm in rearm_intents(b):
                    service.book.arm(arm)
            if gc_freeze:
                gc.collect()
                gc.freeze()  # the armed brackets are long-lived: keep the collector from rescanning them
            seq = 0

            def trade(symbol: str, price: Decimal) -> Trade:
                nonlocal seq
                seq += 1
                now = gateway.clock.now_ms()
                return Trade("sim", symbol, f"b{seq}", price, Decimal(1), Side.BUY, now, now)

            quiet = []
            for _ in range(ticks):  # near the entry price: no stop (>= 0.01 away) and no take-profit is reached
                event = trade(f"S{rng.randrange(symbols)}/USDT:USDT", MID + Decimal(rng.randint(-5, 5)) / 1000)
                t = time.perf_counter_ns()
                router.on_market(event)
                quiet.append(time.perf_counter_ns() - t)
            assert not service.runner.busy
            longs = sorted((b for b in brackets if b.side is Side.BUY), key=lambda b: -b.stop_loss.trigger_price)
            async def fire(b: Bracket) -> int:
                arrived.clear()
                before = len(sent)
                t = time.perf_counter_ns()
                router.on_market(trade(b.symbol, b.stop_loss.trigger_price))
                await asyncio.wait_for(arrived.wait(), 5)
                took = sent[before] - t
                await service.runner.idle(5)  # let this fire's aftermath settle: samples do not overlap
                await service._writer.submit(None)
                return took

            warmup = [await fire(b) for b in longs[:WARMUP_FIRES]]  # the highest stops: a tick fires one
            spin = _calibrated_spin(int(statistics.median(warmup)))
            service.fire_samples = to_runner = []
            to_venue, same_work = [], []
            steal_before = _cpu_ticks()
            for b in longs[WARMUP_FIRES:WARMUP_FIRES + samples]:
                to_venue.append(await fire(b))
                await asyncio.sleep(0)
                same_work.append(spin())  # the baseline, sampled in the same moments
            steal = _steal_share(steal_before, _cpu_ticks())
            service.fire_samples = None
            await service.runner.idle(30)
            tick = {"armed_legs": len(service.book.index), "ticks": ticks, **_percentiles(quiet)}
            latency = {"samples": len(to_venue), "to_runner": _percentiles(to_runner), "to_venue": _percentiles(to_venue),
                       "same_work_baseline": _percentiles(same_work), "cpu_steal_share": steal}
            passes = {}
            for share in (0.0, 0.1):
                service.book.brackets.clear()
                view = _native_view(n, symbols, rng, share, service)
                perps = frozenset(adapter.instruments)
                msg = ReconcileViews("sim", ((perps, view),), gateway.settings.brackets.policy(), "bench")
                runs, counts = [], {}
                for _ in range(3):
                    t = time.perf_counter_ns()
                    counts = await service._writer.submit(msg)
                    runs.append(time.perf_counter_ns() - t)
                passes[f"ids_to_learn_{int(share * 100)}pct"] = {"first_pass_ms": round(runs[0] / 1e6, 1),
                                                                 "repeat_pass_ms": round(statistics.median(runs[1:]) / 1e6, 1),
                                                                 "first_counts": counts if share == 0 else None}
            return {"tick_cost_quiet": tick, "trigger_to_sent": latency, "reconcile_through_service": passes}


def _calibrated_spin(target_ns: int) -> Callable[[], int]:
    """The machine's own tail, measured in the same run: return a timer of a fixed pure-Python computation
    that takes about `target_ns` (the trigger-to-venue median), to be timed between the fires. On a quiet
    machine its p99 stays near its p50; what a busy host or a hypervisor takes (CPU steal) shows in its
    tail as in the gateway's."""

    def spin(n: int) -> int:
        total = 0
        for i in range(n):
            total += i * i
        return total

    n, took = 1_000, 0
    while took < target_ns // 4:
        n *= 2
        t = time.perf_counter_ns()
        spin(n)
        took = time.perf_counter_ns() - t
    n = max(1, n * target_ns // max(took, 1))

    def timed() -> int:
        t = time.perf_counter_ns()
        spin(n)
        return time.perf_counter_ns() - t

    return timed


def _cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) CPU time of the machine since boot, in clock ticks (`/proc/stat`; None off Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def _steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of CPU time the hypervisor gave other guests between two `_cpu_ticks` readings."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)


def _native_view(n: int, symbols: int, rng: random.Random, unknown_share: float, service: Any) -> VenueView:
    """Put N native brackets (legs placed) in the service and return the venue view that matches them."""
    brackets = build(n, symbols, LegMode.NATIVE, rng)
    open_orders = []
    for b in brackets:
        for leg in b.legs:
            oid = f"V{b.bracket_id}{leg.name}"
            kind = OrderType.TAKE_PROFIT if leg.name is LegName.TP else OrderType.STOP
            open_orders.append(OrderUpdate("sim", b.symbol, oid, leg.client_order_id, b.exit_side, kind,
                                           TimeInForce.GTC, None, leg.trigger_price, Decimal(1), Decimal(0), None,
                                           OrderStatus.NEW, True, T0, T0))
            if rng.random() >= unknown_share:
                on_leg_update(b, leg.name, OrderReport(leg.client_order_id, oid, OrderStatus.NEW, qty=Decimal(1)), T0)
        service.book.add(b, "bench")
    return VenueView("sim", tuple(open_orders), (), (), None, {}, T0 + 60_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brackets", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--ticks", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fires", type=int, default=1000, help="trigger-to-sent samples through the service")
    parser.add_argument("--no-service", action="store_true", help="the pure part only")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after arming: the collector no longer rescans the long-lived brackets")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    emulated = build(args.brackets, args.symbols, LegMode.EMULATED, rng)
    ticks = bench_ticks(emulated, args.symbols, args.ticks, rng)
    trigger = bench_trigger_to_intent(build(args.brackets, args.symbols, LegMode.EMULATED, rng, unique=True), 1000)
    steady = bench_reconcile(args.brackets, args.symbols, rng, unknown_share=0.0)
    learning = bench_reconcile(args.brackets, args.symbols, rng, unknown_share=0.1)
    p99 = ticks["index_quiet_ticks"]["p99_us"]
    service = None
    if not args.no_service:
        import asyncio

        import uvloop

        from gateway.logconfig import configure_logging

        configure_logging("warning", "json", stream=sys.stderr, cache=True)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        service = asyncio.run(bench_service(args.brackets, args.symbols, args.ticks, args.fires, rng,
                                          gc_freeze=args.gc_freeze))
    result = {
        "bench": "brackets", "python": sys.version.split()[0], "brackets": args.brackets, "symbols": args.symbols,
        "ticks": ticks, "trigger_to_intent": trigger,
        "reconcile_steady": steady, "reconcile_learning_10pct_ids": learning,
        "service": service, "gc_freeze": args.gc_freeze,
        "targets": _targets(p99, steady, learning, service),
        "speedup_p99_vs_symbol_scan": round(ticks["baseline_scan_symbol_legs"]["p99_us"] / max(p99, 1e-3), 1),
    }
    print(json.dumps(result, indent=2))
    return 0


def _targets(p99: float, steady: dict, learning: dict, service: dict | None) -> dict[str, bool]:
    targets = {"tick_p99_us_lt_50": p99 < 50,
               "reconcile_pass_lt_1s": max(steady["pass_ms"], learning["pass_ms"]) < 1000}  # type: ignore[operator]
    if service is not None:
        targets["service_tick_p99_us_lt_50"] = service["tick_cost_quiet"]["p99_us"] < 50
        targets["trigger_to_venue_p99_lt_1ms"] = service["trigger_to_sent"]["to_venue"]["p99_us"] < 1000
        targets["trigger_to_venue_p50_lt_1ms"] = service["trigger_to_sent"]["to_venue"]["p50_us"] < 1000
        targets["service_reconcile_pass_lt_1s"] = max(
            p["first_pass_ms"] for p in service["reconcile_through_service"].values()) < 1000
    return targets


if __name__ == "__main__":
    raise SystemExit(main())
