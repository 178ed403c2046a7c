"""Running the bracket machine's venue intents through the order service, one lane per bracket.

Every entry and leg order goes through `OrderService` (the single writer of order state): placements
with the intent's deterministic client order id (so a replay is idempotent), cancels, and amends. The
intents of one bracket run strictly in order in its own lane (a cancel or shrink lands before the
placement or growth that follows it); lanes of different brackets run concurrently. Each answer is handed
back (`feed`) as an `Answer`, which the bracket service folds into the machine on its own task.

Semantics from the core (`intents.py`): a later `ResizeLeg` for the same leg supersedes an earlier one
still queued; "already gone" on a cancel is fine; a resize of an order that has finished is dropped.

A fired emulated leg (`FireLeg`) whose lane is idle is started in `submit` itself, on the tick's stack:
the order service decides and journals it and schedules its venue call before `submit` returns (its
lane then only waits for the answer). Nothing else the tick does comes before the order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.enums import OrderStatus, TimeInForce
from gateway.core.errors import ErrorCode, GatewayError
from gateway.core.ports import VenueAdapter
from gateway.orders.brackets.intents import (
    VENUE_INTENTS,
    CancelEntry,
    CancelLeg,
    FireLeg,
    Intent,
    PlaceEntry,
    PlaceGrouped,
    PlaceLeg,
    ResizeLeg,
)
from gateway.orders.brackets.machine import OrderReport
from gateway.orders.commands import PlaceParams
from gateway.orders.service import OrderService

__all__ = ["Answer", "IntentRunner", "UNKNOWN_OUTCOME"]

_Started = tuple[PlaceParams, "Awaitable[dict[str, Any]] | Exception"]  # a placement under way, or why not

log = structlog.get_logger("gateway.brackets")

# Errors after which a leg order may or may not exist at the venue, or may still be placed later: never
# folded as a rejection (a leg refused because the venue is down is re-placed by reconciliation instead).
UNKNOWN_OUTCOME = frozenset({ErrorCode.TIMEOUT, ErrorCode.VENUE_UNAVAILABLE, ErrorCode.INTERNAL})
# For the entry, VENUE_UNAVAILABLE raised by the order service means it was never sent: a definite refusal.
_ENTRY_UNKNOWN = frozenset({ErrorCode.TIMEOUT, ErrorCode.INTERNAL})


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one venue intent, for the bracket service to fold (`report`) or to answer with."""

    bracket_id: str
    report: OrderReport | None
    error: GatewayError | None = None
    entry: bool = False  # the answer to the entry's placement: settles the `bracket.place` caller


class IntentRunner:
    """Per-bracket lanes that run venue intents through the order service.

    Args:
        orders: the order service.
        venues: venue sessions by name (capabilities: amend or cancel-replace).
        feed: called with every `Answer` (must not block).
        to_report: turns the order service's public order dict into an `OrderReport`.
        strategy_of: the strategy a bracket's orders are placed as.
        venue_reduce_only: whether a symbol's orders may carry the venue's reduce-only flag (perps).
        pause_before_legs_ms: TEST ONLY: pause before each native leg placement (logs `bracket.debug_pause`).
    """

    def __init__(self, orders: OrderService, venues: Mapping[str, VenueAdapter], feed: Callable[[Answer], None],
                 to_report: Callable[[dict[str, Any]], OrderReport], strategy_of: Callable[[str], str | None],
                 venue_reduce_only: Callable[[str, str], bool], *, pause_before_legs_ms: int = 0):
        self._orders = orders
        self._venues = venues
        self._feed = feed
        self._to_report = to_report
        self._strategy_of = strategy_of
        self._reduce_only = venue_reduce_only
        self._pause_ms = pause_before_legs_ms
        self._lanes: dict[str, deque[Intent]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_fire_sent: Callable[[FireLeg, int], None] | None = None  # (intent, perf_counter_ns) for benches

    @property
    def busy(self) -> int:
        """Return how many brackets have intents queued or running."""
        return len(self._lanes)

    def submit(self, intents: Iterable[Intent]) -> None:
        """Queue the venue intents among `intents` on their brackets' lanes (others are ignored); start a
        fired leg's order at once when its lane is idle."""
        for intent in intents:
            if not isinstance(intent, VENUE_INTENTS):
                continue
            lane = self._lanes.get(intent.bracket_id)
            if lane is None:
                lane = self._lanes[intent.bracket_id] = deque()
                first = self._start_fire(intent) if isinstance(intent, FireLeg) else None  # never raises
                task = asyncio.create_task(self._drain(intent.bracket_id, lane, first), name="brackets.lane")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                if first is not None:
                    continue
            elif isinstance(intent, ResizeLeg):  # a later resize of the same leg supersedes a queued one
                for queued in [q for q in lane if isinstance(q, ResizeLeg) and q.leg is intent.leg]:
                    lane.remove(queued)
            lane.append(intent)

    async def idle(self, timeout_s: float) -> bool:
        """Wait until no lane has work (or `timeout_s` passed). Return whether all lanes are idle."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def close(self, timeout_s: float) -> None:
        """Let running intents finish (at most `timeout_s`), then cancel what is left."""
        if not await self.idle(timeout_s):
            log.error("brackets.stop_timeout", lanes=len(self._lanes))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._lanes.clear()

    async def _drain(self, bracket_id: str, lane: deque[Intent], first: _Started | None = None) -> None:
        try:
            if first is not None:
                try:
                    await self._settle_place(bracket_id, *first)
                except Exception:  # a bug: log it, keep the lane going
                    log.exception("brackets.intent_failed", bracket_id=bracket_id, intent="FireLeg")
            while lane:
                intent = lane.popleft()
                try:
                    await self._run(intent)
                except Exception:  # a bug: log it, keep the lane (and the other intents) going
                    log.exception("brackets.intent_failed", bracket_id=bracket_id, intent=type(intent).__name__)
        finally:
            if self._lanes.get(bracket_id) is lane:
                del self._lanes[bracket_id]

    async def _run(self, intent: Intent) -> None:
        strategy = self._strategy_of(intent.bracket_id)
        if isinstance(intent, FireLeg):
            await self._settle_place(intent.bracket_id, *self._start_fire(intent))
        elif isinstance(intent, PlaceLeg):
            if self._pause_ms:
                log.warning("bracket.debug_pause", bracket_id=intent.bracket_id, leg=intent.leg.value,
                            client_order_id=intent.client_order_id, pause_ms=self._pause_ms)
                await asyncio.sleep(self._pause_ms / 1000)
            params = PlaceParams(intent.symbol, intent.side, intent.type, intent.qty, intent.price,
                                 intent.trigger_price, TimeInForce.GTC, self._flag(intent), intent.client_order_id)
            await self._place(strategy, intent.bracket_id, intent.account, params)
        elif isinstance(intent, PlaceEntry):
            params = PlaceParams(intent.symbol, intent.side, intent.type, intent.qty, intent.price, None, intent.tif,
                                 False, intent.client_order_id)
            try:
                order = await self._orders.place(strategy, intent.account, params)
            except GatewayError as exc:
                report = self._refusal(intent.client_order_id, exc, _ENTRY_UNKNOWN)
                self._feed(Answer(intent.bracket_id, report, exc, entry=True))
            else:
                self._feed(Answer(intent.bracket_id, self._to_report(order), entry=True))
        elif isinstance(intent, PlaceGrouped):
            await self._place_grouped(strategy, intent)
        elif isinstance(intent, CancelLeg | CancelEntry):
            await self._cancel(strategy, intent.bracket_id, intent.account, intent.order_id, intent.client_order_id)
        elif isinstance(intent, ResizeLeg):
            await self._resize(strategy, intent)

    def _flag(self, intent: PlaceLeg | FireLeg | ResizeLeg) -> bool:
        return intent.reduce_only and self._reduce_only(intent.venue, intent.symbol)

    def _start_fire(self, intent: FireLeg) -> _Started:
        # Runs on the tick's stack: whatever goes wrong is raised where the lane awaits the placement.
        params = PlaceParams(intent.symbol, intent.side, intent.type, intent.qty, intent.price, None,
                             TimeInForce.GTC, False, intent.client_order_id)
        try:
            if self.on_fire_sent is not None:
                self.on_fire_sent(intent, time.perf_counter_ns())
            params = dataclasses.replace(params, reduce_only=self._flag(intent))
            strategy = self._strategy_of(intent.bracket_id)
        except Exception as exc:
            return params, exc
        return params, self._start_place(strategy, intent.account, params)

    def _start_place(self, strategy: str | None, account: str, params: PlaceParams
                     ) -> Awaitable[dict[str, Any]] | Exception:
        # A leg's client id carries a generation that is persisted before it is used and never re-sent
        # (brackets.ids): it is fresh, so the order service skips its journal lookup for an older order.
        try:
            return self._orders.start_place(strategy, account, params)
        except Exception as exc:  # a refusal (or a bug): raised where the placement is awaited
            return exc

    async def _place(self, strategy: str | None, bracket_id: str, account: str, params: PlaceParams) -> None:
        await self._settle_place(bracket_id, params, self._start_place(strategy, account, params))

    async def _settle_place(self, bracket_id: str, params: PlaceParams,
                            started: Awaitable[dict[str, Any]] | Exception) -> None:
        try:
            if isinstance(started, Exception):
                raise started
            order = await started
        except GatewayError as exc:
            report = self._refusal(params.client_order_id, exc)
            log.warning("bracket.leg_not_placed", bracket_id=bracket_id, client_order_id=params.client_order_id,
                        code=exc.code.value, error=exc.message, definite=report is not None)
            if report is not None:
                self._feed(Answer(bracket_id, report, exc))
            return  # an unknown outcome: the order service resolves it and its report comes through the tap
        self._feed(Answer(bracket_id, self._to_report(order)))

    async def _place_grouped(self, strategy: str | None, intent: PlaceGrouped) -> None:
        """The entry and both legs in one venue request; each answer is folded like its own placement's."""
        e, legs = intent.entry, (intent.take_profit, intent.stop_loss)
        entry = PlaceParams(e.symbol, e.side, e.type, e.qty, e.price, None, e.tif, False, e.client_order_id)
        children = [PlaceParams(leg.symbol, leg.side, leg.type, leg.qty, leg.price, leg.trigger_price,
                                TimeInForce.GTC, True, leg.client_order_id) for leg in legs]
        try:
            orders = await self._orders.place_group(strategy, e.account, entry, children)
        except GatewayError as exc:
            self._feed(Answer(e.bracket_id, self._refusal(e.client_order_id, exc, _ENTRY_UNKNOWN), exc, entry=True))
            for leg in legs:
                report = self._refusal(leg.client_order_id, exc)
                if report is not None:
                    self._feed(Answer(e.bracket_id, report, exc))
            log.warning("bracket.group_not_placed", bracket_id=e.bracket_id, code=exc.code.value, error=exc.message)
            return
        self._feed(Answer(e.bracket_id, self._to_report(orders[0]), entry=True))
        for order in orders[1:]:
            self._feed(Answer(e.bracket_id, self._to_report(order)))

    async def _cancel(self, strategy: str | None, bracket_id: str, account: str, order_id: str | None,
                      client_order_id: str | None) -> None:
        try:
            order = await self._orders.cancel(strategy, account, order_id, client_order_id)
        except GatewayError as exc:
            if exc.code is ErrorCode.ORDER_NOT_FOUND and client_order_id:
                # The order service never placed it: it was never sent, so it is as good as canceled.
                self._feed(Answer(bracket_id, OrderReport(client_order_id, order_id, OrderStatus.CANCELED,
                                                          reason="never sent")))
            else:  # already finished at the venue, or a lost answer: the order's own report decides
                log.info("bracket.cancel_not_done", bracket_id=bracket_id, client_order_id=client_order_id,
                         code=exc.code.value, error=exc.message)
            return
        self._feed(Answer(bracket_id, self._to_report(order)))

    async def _resize(self, strategy: str | None, intent: ResizeLeg) -> None:
        adapter = self._venues[intent.venue]
        if adapter.capabilities.amend:
            try:
                order = await self._orders.modify(strategy, intent.account, intent.order_id, intent.client_order_id,
                                                  qty=intent.amend_qty)
            except GatewayError as exc:
                # Finished meanwhile (its report settles the leg), not acknowledged yet, or refused: the
                # periodic reconcile pass re-sends a resize the venue never applied (after the grace).
                log.info("bracket.resize_not_done", bracket_id=intent.bracket_id, leg=intent.leg.value,
                         code=exc.code.value, error=exc.message)
                return
            self._feed(Answer(intent.bracket_id, self._to_report(order)))
            return
        # cancel-replace: cancel the current order, then place the next generation for what is left
        try:
            canceled = await self._orders.cancel(strategy, intent.account, intent.order_id, intent.client_order_id)
        except GatewayError as exc:
            log.info("bracket.resize_not_done", bracket_id=intent.bracket_id, leg=intent.leg.value,
                     code=exc.code.value, error=exc.message)
            return
        self._feed(Answer(intent.bracket_id, self._to_report(canceled)))
        if canceled["status"] != OrderStatus.CANCELED or intent.qty <= 0:
            return  # it filled (or is still canceling): the machine re-sizes from the reports
        params = PlaceParams(intent.symbol, intent.side, intent.type, intent.qty, intent.price, intent.trigger_price,
                             TimeInForce.GTC, self._flag(intent), intent.replace_client_order_id)
        await self._place(strategy, intent.bracket_id, intent.account, params)

    @staticmethod
    def _refusal(client_order_id: str | None, exc: GatewayError,
                 unknown: frozenset[ErrorCode] = UNKNOWN_OUTCOME) -> OrderReport | None:
        """Return the REJECTED report of a definite refusal, or None when the outcome is unknown."""
        if exc.code in unknown:
            return None
        return OrderReport(client_order_id, None, OrderStatus.REJECTED, Decimal(0),
                           reason=f"{exc.code.value}: {exc.message}")
