"""A pure simulation harness for the algo engine: a venue that fills children by a policy, driven tick by tick."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from gateway.core.enums import MarketType, OrderStatus, TimeInForce
from gateway.core.instruments import quantize
from gateway.orders.algo.engine import (
    CancelChild,
    ChildReport,
    MarketSnapshot,
    PlaceChild,
    SizeRules,
    Tuning,
    advance,
    on_child_report,
)
from gateway.orders.algo.model import Algo
from gateway.orders.algo.schedule import even_schedule, slice_count
from gateway.orders.algo.validation import validate_request

D = Decimal
T0 = 1_700_000_000_000
RULES = SizeRules(tick=D("0.01"), step=D("0.001"), min_qty=D("0.001"), min_notional=D("0"))
MARKET = MarketSnapshot(bid=D("100.00"), ask=D("100.10"), last=D("100.05"))
TUNING = Tuning(reprice_ms=500, overtime_ms=2_000, max_rejects=5)


def new_algo(*, duration_ms: int = 10_000, slice_ms: int = 1_000, **params: Any) -> Algo:
    raw = {"algorithm": "TWAP", "side": "buy", "execution_duration_s": duration_ms // 1000, **params}
    if "qty" not in raw and "notional" not in raw:
        raw["qty"] = D("1")
    request = validate_request(raw, account="sim", symbol="X/USDT", market_type=MarketType.SPOT, now_ms=T0,
                               min_duration_s=0)
    target = request.qty if request.qty is not None else request.notional
    assert target is not None
    minimum = RULES.min_qty if request.qty is not None else RULES.min_qty * MARKET.ask  # type: ignore[operator]
    n = slice_count(request.duration_ms, slice_ms, 500, target, minimum)
    schedule = () if request.algorithm.value == "POV" else even_schedule(n)
    return Algo(algo_id="a1", account="sim", venue="sim", symbol="X/USDT", side=request.side,
                algorithm=request.algorithm, qty=request.qty, notional=request.notional, start_ts=request.start_ms,
                end_ts=request.end_ms, created_ts=T0, updated_ts=T0, params=request.to_record(), schedule=schedule,
                profile="even")


Fill = Callable[[PlaceChild, int], Decimal]  # fraction of the child filled now (0..1)


@dataclass
class Venue:
    """Children rest here; `taker` decides how much of an IOC fills, `maker` how much of a resting child per tick."""

    taker: Fill = lambda child, now: D(1)
    maker: Fill = lambda child, now: D(1)
    resting: dict[str, tuple[PlaceChild, Decimal]] = field(default_factory=dict)
    reports: list[ChildReport] = field(default_factory=list)
    placed: list[PlaceChild] = field(default_factory=list)

    def _fill(self, child: PlaceChild, already: Decimal, fraction: Decimal) -> Decimal:
        return min(child.qty, already + quantize(child.qty * fraction, RULES.step, ROUND_FLOOR))

    def on_intent(self, intent: PlaceChild | CancelChild, now: int) -> None:
        if isinstance(intent, PlaceChild):
            self.placed.append(intent)
            if intent.tif is TimeInForce.IOC:
                filled = self._fill(intent, D(0), self.taker(intent, now))
                status = OrderStatus.FILLED if filled == intent.qty else OrderStatus.EXPIRED
                self._report(intent, status, filled)
            else:
                self.resting[intent.client_order_id] = (intent, D(0))
                self._report(intent, OrderStatus.NEW, D(0))
        else:
            rest = self.resting.pop(intent.client_order_id, None)
            if rest is not None:
                self._report(rest[0], OrderStatus.CANCELED, rest[1])

    def match(self, now: int) -> None:
        for cid, (child, filled) in list(self.resting.items()):
            more = self._fill(child, filled, self.maker(child, now))
            if more == child.qty:
                del self.resting[cid]
                self._report(child, OrderStatus.FILLED, more)
            elif more > filled:
                self.resting[cid] = (child, more)
                self._report(child, OrderStatus.PARTIALLY_FILLED, more)

    def _report(self, child: PlaceChild, status: OrderStatus, filled: Decimal) -> None:
        self.reports.append(ChildReport(child.client_order_id, status, filled, child.price if filled else None))


def run(algo: Algo, venue: Venue, *, tick_ms: int = 100, market: MarketSnapshot = MARKET,
        check: Callable[[Algo, int], None] | None = None, limit_ms: int = 60_000) -> list[tuple[int, Decimal]]:
    """Drive the parent until it ends (or `limit_ms` passed); return (now, done) after every tick."""
    samples = []
    now = algo.created_ts
    while not algo.is_terminal and now <= algo.created_ts + limit_ms:
        venue.match(now)
        for _ in range(10):  # reports and answers let the parent act again at once, as the writer does
            while venue.reports:
                on_child_report(algo, venue.reports.pop(0), now)
            step = advance(algo, now, market, RULES, TUNING)
            for intent in step.intents:
                venue.on_intent(intent, now)
            if not step.intents and not venue.reports:
                break
        if check is not None:
            check(algo, now)
        samples.append((now, algo.done))
        now += tick_ms
    return samples
