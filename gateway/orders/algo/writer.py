"""The local algo engine's writer: the one task that changes parents (persist -> run intents -> publish).

It drains its inbox in batches. Per batch it folds every message through the pure engine (commands,
child reports, answers of child calls, ticks), lets every touched parent decide again (`engine.advance`),
**persists** each parent that changed in one SQLite transaction, **publishes** each change on
`<account>@algo`, answers the callers, then **runs** the intents (child placements and cancels, through
the order service, each its own task whose answer comes back through the inbox). A failed write stops
the task (crash-only): nothing is published or sent that was not persisted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, OrderRejected
from gateway.orders.algo.engine import (
    ChildReport,
    Intent,
    MarketSnapshot,
    SizeRules,
    Step,
    Tuning,
    advance,
    cancel,
    on_cancel_failed,
    on_child_refused,
    on_child_report,
    on_market_volume,
    pause,
    resume,
)
from gateway.orders.algo.model import Algo
from gateway.orders.single_writer import SingleWriter, WriterBatch
from gateway.persistence.algos import AlgoRow, AlgoStore

__all__ = ["AlgoWriter", "CallAnswer", "Command", "PlaceCommand", "PublishFn", "ReportMessage", "TickMessage",
           "duplicate_algo"]

log = structlog.get_logger("gateway.algos")

PublishFn = Callable[[str, dict[str, Any]], None]  # (account, data) -> <account>@algo


@dataclass(frozen=True, slots=True)
class PlaceCommand:
    algo: Algo
    rules: SizeRules
    same: Callable[[Algo], bool]  # whether an existing parent with the same client_order_id is this request


@dataclass(frozen=True, slots=True)
class Command:
    """cancel | pause | resume of one parent."""

    action: str
    account: str
    algo_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReportMessage:
    algo_id: str
    report: ChildReport


@dataclass(frozen=True, slots=True)
class CallAnswer:
    """The answer of a child call: the child as the order service knows it, or why it was refused."""

    algo_id: str
    client_order_id: str
    kind: str  # place | cancel
    report: ChildReport | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TickMessage:
    snapshots: dict[tuple[str, str], MarketSnapshot] = field(default_factory=dict)
    volumes: dict[tuple[str, str], tuple[Decimal, Decimal]] = field(default_factory=dict)
    reports: tuple[tuple[str, ChildReport], ...] = ()


class _Batch(WriterBatch):
    __slots__ = ("changed", "intents", "reasons", "touched")

    def __init__(self) -> None:
        super().__init__()
        self.changed: dict[str, Algo] = {}
        self.reasons: dict[str, list[str]] = {}
        self.touched: set[str] = set()
        self.intents: list[Intent] = []


class AlgoWriter(SingleWriter[_Batch]):
    """The single writer of parent state (see the module docstring).

    Args:
        store: the algo store.
        publish: called with `(account, data)` after each batch is persisted; must not block.
        clock: time source.
        tuning: the engine's knobs.
        run_intent: runs one child call (set by the service); its answer comes back via `put`.
    """

    def __init__(self, store: AlgoStore, publish: PublishFn, clock: Clock, tuning: Tuning,
                 run_intent: Callable[[Intent], Awaitable[None]]):
        super().__init__("algos", clock)
        self._store = store
        self._publish = publish
        self._tuning = tuning
        self._run_intent = run_intent
        self.algos: dict[str, Algo] = {}
        self.rules: dict[str, SizeRules] = {}
        self.by_client_id: dict[tuple[str, str], str] = {}
        self.snapshots: dict[tuple[str, str], MarketSnapshot] = {}
        self.calls: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------------------

    def add(self, algo: Algo, rules: SizeRules) -> None:
        """Hold a parent (loaded at startup, before the task runs)."""
        self.algos[algo.algo_id] = algo
        self.rules[algo.algo_id] = rules
        if algo.client_order_id:
            self.by_client_id[(algo.account, algo.client_order_id)] = algo.algo_id

    async def stop(self, timeout_s: float) -> None:
        """Fold what is queued, let in-flight child calls answer, then end the task (at most `timeout_s`)."""
        task = self.task
        try:
            async with asyncio.timeout(timeout_s):
                if self.calls:
                    await asyncio.gather(*self.calls, return_exceptions=True)
                await self._stop_task()
        except TimeoutError:
            log.error("algos.stop_timeout", calls=len(self.calls))
        for t in (*self.calls, *([task] if task is not None else [])):
            t.cancel()
        await asyncio.gather(*self.calls, return_exceptions=True)

    # --- one batch (SingleWriter's steps) --------------------------------------------------------------------

    def _new_batch(self) -> _Batch:
        return _Batch()

    def _settle(self, out: _Batch, now: int) -> None:
        for algo_id in out.touched:  # a report or a command may let the parent act at once
            algo = self.algos.get(algo_id)
            if algo is not None:
                self._apply(algo, self._advance(algo, now), out)
        for algo in out.changed.values():
            algo.version += 1

    async def _persist(self, out: _Batch) -> None:
        await self._store.write([self._row(a) for a in out.changed.values()])

    def _publish_batch(self, out: _Batch) -> None:
        for algo in out.changed.values():
            reasons = out.reasons.get(algo.algo_id, [])
            data = {"type": "algo", **algo.to_public(), "change_reason": ",".join(dict.fromkeys(reasons))}
            try:
                self._publish(algo.account, data)
            except Exception:
                log.exception("algos.publish_failed")

    def _act(self, out: _Batch) -> None:
        for intent in out.intents:
            task = asyncio.create_task(self._run_intent(intent), name=f"algos.{type(intent).__name__}")
            self.calls.add(task)
            task.add_done_callback(self.calls.discard)

    def _handle(self, msg: Any, future: asyncio.Future[Any] | None, now: int, out: _Batch) -> None:
        if msg is None:  # a barrier
            out.replies.append((future, None))  # type: ignore[arg-type]
        elif isinstance(msg, TickMessage):
            self._on_tick(msg, now, out)
        elif isinstance(msg, ReportMessage):
            algo = self.algos.get(msg.algo_id)
            if algo is not None:
                self._apply(algo, on_child_report(algo, msg.report, now), out)
                out.touched.add(algo.algo_id)
        elif isinstance(msg, CallAnswer):
            self._on_answer(msg, now, out)
        elif isinstance(msg, PlaceCommand):
            self._on_place(msg, future, now, out)
        elif isinstance(msg, Command):
            algo = self.algos.get(msg.algo_id)
            if algo is None or algo.account != msg.account:
                raise LookupFailed(f"algo {msg.algo_id!r} not found", code=ErrorCode.ORDER_NOT_FOUND,
                                   details={"algo_id": msg.algo_id})
            if msg.action == "cancel":
                step = cancel(algo, now, msg.reason or "canceled by request")
            elif msg.action == "pause":
                if algo.is_terminal:
                    raise OrderRejected(f"algo {algo.algo_id} is {algo.state}: nothing to pause",
                                        code=ErrorCode.INVALID_PARAMS, details={"state": algo.state.value})
                step = pause(algo, now)
            else:
                if algo.is_terminal:
                    raise OrderRejected(f"algo {algo.algo_id} is {algo.state}: nothing to resume",
                                        code=ErrorCode.INVALID_PARAMS, details={"state": algo.state.value})
                step = resume(algo, now)
            self._apply(algo, step, out)
            out.touched.add(algo.algo_id)
            out.replies.append((future, algo.to_public))  # type: ignore[arg-type]  # after the advance

    def _on_place(self, msg: PlaceCommand, future: asyncio.Future[Any] | None, now: int, out: _Batch) -> None:
        algo = msg.algo
        if algo.client_order_id:
            existing = self.algos.get(self.by_client_id.get((algo.account, algo.client_order_id), ""))
            if existing is not None:
                if not msg.same(existing):
                    raise duplicate_algo(algo.client_order_id)
                out.replies.append((future, existing.to_public()))  # type: ignore[arg-type]
                return
        self.add(algo, msg.rules)
        log.info("algo.placed", algo_id=algo.algo_id, account=algo.account, symbol=algo.symbol,
                 side=algo.side.value, algorithm=algo.algorithm.value, qty=str(algo.qty), notional=str(algo.notional),
                 slices=len(algo.schedule), schedule=algo.profile, strategy=algo.strategy)
        step = Step()
        step.note("placed")
        self._apply(algo, step, out)
        out.touched.add(algo.algo_id)
        out.replies.append((future, algo.to_public))  # type: ignore[arg-type]

    def _on_answer(self, msg: CallAnswer, now: int, out: _Batch) -> None:
        algo = self.algos.get(msg.algo_id)
        if algo is None:
            return
        if msg.report is not None:
            self._apply(algo, on_child_report(algo, msg.report, now), out)
        elif msg.kind == "place":
            self._apply(algo, on_child_refused(algo, msg.client_order_id, msg.error or "refused", now), out)
        else:
            self._apply(algo, on_cancel_failed(algo, msg.client_order_id, msg.error or "refused", now), out)
        out.touched.add(algo.algo_id)

    def _on_tick(self, msg: TickMessage, now: int, out: _Batch) -> None:
        self.snapshots.update(msg.snapshots)
        for algo_id, report in msg.reports:
            algo = self.algos.get(algo_id)
            if algo is not None:
                self._apply(algo, on_child_report(algo, report, now), out)
        for algo in list(self.algos.values()):
            if algo.is_terminal:
                continue
            volume = msg.volumes.get((algo.venue, algo.symbol))
            if volume is not None and on_market_volume(algo, *volume):
                out.changed[algo.algo_id] = algo  # POV's denominator survives a restart
            out.touched.add(algo.algo_id)

    def _advance(self, algo: Algo, now: int) -> Step:
        snapshot = self.snapshots.get((algo.venue, algo.symbol))
        return advance(algo, now, snapshot, self.rules[algo.algo_id], self._tuning)

    def _apply(self, algo: Algo, step: Step, out: _Batch) -> None:
        if step.changed:
            out.changed[algo.algo_id] = algo
            out.reasons.setdefault(algo.algo_id, []).extend(step.reasons)
            for reason in step.reasons:
                if reason in ("started", "paused", "resumed", "canceled", "completed", "expired", "failed"):
                    log.info("algo.transition", algo_id=algo.algo_id, to=algo.state.value, reason=algo.reason,
                             filled_qty=str(algo.filled_qty))
        out.intents.extend(step.intents)

    def _row(self, a: Algo) -> AlgoRow:
        return (a.algo_id, a.account, a.client_order_id, a.strategy, a.symbol, a.algorithm.value, a.state.value,
                not a.is_terminal, a.version, a.created_ts, a.updated_ts, a.to_record())

    def prune(self, before_ms: int) -> None:
        """Forget parents that ended before `before_ms` (the store still has them)."""
        for algo_id, algo in list(self.algos.items()):
            if algo.is_terminal and (algo.ended_ts or algo.updated_ts) < before_ms and not algo.live_children():
                del self.algos[algo_id]
                self.rules.pop(algo_id, None)
                if algo.client_order_id:
                    self.by_client_id.pop((algo.account, algo.client_order_id), None)


def duplicate_algo(client_order_id: str) -> GatewayError:
    """Return the DUPLICATE_CLIENT_ID error of a client order id used by another parent."""
    return OrderRejected(f"client_order_id {client_order_id!r} is used by another algo order",
                         code=ErrorCode.DUPLICATE_CLIENT_ID, details={"client_order_id": client_order_id})
