"""The bracket service's writer: the one task that changes brackets (persist -> run intents -> publish).

It drains its inbox in batches. Per batch it folds every message through the pure machine (or applies
a reconciliation's repairs), **persists** each bracket that changed in one SQLite transaction,
**publishes** each change on `<account>@bracket` with its reason, answers the callers, then **runs** the
intents: triggers are armed and disarmed at once, venue intents go to the runner's per-bracket lanes.
A failed write stops the task (crash-only): nothing is published or sent that was not persisted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import OrderStatus, OrderType, Side
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, OrderRejected, VenueUnavailable
from gateway.core.ports import Capabilities
from gateway.orders.brackets.book import BracketBook
from gateway.orders.brackets.intents import ArmTrigger, Decision, DisarmTrigger, Intent, Publish
from gateway.orders.brackets.machine import OrderReport, on_cancel_request, on_order_report, on_position
from gateway.orders.brackets.model import Bracket, LegMode, TriggerSource
from gateway.orders.brackets.placement import LegSpec, new_bracket
from gateway.orders.brackets.reconcile import ReconcilePolicy, Repair, reconcile, summarize
from gateway.orders.brackets.runner import Answer
from gateway.orders.brackets.venue_view import VenueView
from gateway.orders.single_writer import SingleWriter, WriterBatch
from gateway.persistence.brackets import BracketRow, BracketStore

__all__ = ["BracketWriter", "CancelCommand", "FiredMessage", "PlaceCommand", "PlaceSpec", "PositionCheck",
           "ReconcileViews", "ReportMessage", "duplicate_bracket"]

log = structlog.get_logger("gateway.brackets")

PublishFn = Callable[[str, dict[str, Any]], None]  # (account, data) -> <account>@bracket


@dataclass(frozen=True, slots=True)
class PlaceSpec:
    """A validated, quantized `bracket.place` request."""

    bracket_id: str
    account: str
    symbol: str
    side: Side
    qty: Decimal
    entry_type: OrderType
    entry_price: Decimal | None
    take_profit: LegSpec
    stop_loss: LegSpec
    mode: LegMode
    trigger_source: TriggerSource
    capabilities: Capabilities

    def same_as(self, b: Bracket) -> bool:
        return (b.account, b.symbol, b.side, b.qty) == (self.account, self.symbol, self.side, self.qty)


@dataclass(frozen=True, slots=True)
class PlaceCommand:
    spec: PlaceSpec
    strategy: str | None


@dataclass(frozen=True, slots=True)
class CancelCommand:
    bracket_id: str
    account: str


@dataclass(frozen=True, slots=True)
class ReportMessage:
    bracket_id: str
    report: OrderReport


@dataclass(frozen=True, slots=True)
class FiredMessage:
    decision: Decision
    public: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PositionCheck:
    account: str
    symbol: str


@dataclass(frozen=True, slots=True)
class ReconcileViews:
    venue: str
    views: tuple[tuple[frozenset[str], VenueView], ...]
    policy: ReconcilePolicy
    why: str


class _Batch(WriterBatch):
    __slots__ = ("changed", "intents", "meta", "pushes")

    def __init__(self) -> None:
        super().__init__()
        self.changed: dict[str, Bracket] = {}
        self.pushes: list[tuple[str, dict[str, Any]]] = []
        self.intents: list[Intent] = []
        self.meta: dict[str, Any] = {}


class BracketWriter(SingleWriter[_Batch]):
    """The single writer of bracket state (see the module docstring).

    Args:
        book: the in-memory brackets and trigger index.
        store: the bracket store.
        publish: called with `(account, data)` after each batch is persisted; must not block.
        clock: time source.
        run_venue_intents: hands venue intents to the runner (set before the task starts).
    """

    def __init__(self, book: BracketBook, store: BracketStore, publish: PublishFn, clock: Clock):
        super().__init__("brackets", clock)
        self.book = book
        self._store = store
        self._publish = publish
        self.run_venue_intents: Callable[[list[Intent]], None] = lambda intents: None
        self.waiters: dict[str, list[asyncio.Future[Any]]] = {}  # bracket.place callers awaiting the entry
        self.positions: dict[tuple[str, str], tuple[Decimal, int]] = {}  # latest venue position reports
        self.fill_ts: dict[str, int] = {}  # client order id -> venue time of its latest fill

    async def stop(self, timeout_s: float) -> None:
        """Fold what is queued, then end the task (at most `timeout_s`)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._stop_task()
        except TimeoutError:
            log.error("brackets.stop_timeout")
        for futures in self.waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(VenueUnavailable("bracket service stopped", venue="brackets"))
        self.waiters.clear()

    def to_report(self, order: Mapping[str, Any]) -> OrderReport:
        """Turn the order service's public order into an `OrderReport` (ts: the venue time of its last fill)."""
        cid = order.get("client_order_id")
        ts = self.fill_ts.get(cid) if cid else None
        avg, qty = order.get("avg_price"), order.get("qty")
        return OrderReport(cid, order.get("order_id"), OrderStatus(order["status"]), Decimal(order["filled_qty"]),
                           None if avg is None else Decimal(avg), None if qty is None else Decimal(qty),
                           ts if ts is not None else int(order.get("updated_ts") or 0), order.get("reason"))

    # --- one batch (SingleWriter's steps) -------------------------------------------------------------------

    def _new_batch(self) -> _Batch:
        return _Batch()

    async def _persist(self, out: _Batch) -> None:
        await self._store.write([self._row(b) for b in out.changed.values()], out.meta)

    def _publish_batch(self, out: _Batch) -> None:
        for account, data in out.pushes:
            try:
                self._publish(account, data)
            except Exception:
                log.exception("brackets.publish_failed")

    def _act(self, out: _Batch) -> None:
        self._run_intents(out.intents)

    def _handle(self, msg: Any, future: asyncio.Future[Any] | None, now: int, out: _Batch) -> None:
        if msg is None:  # a barrier
            out.replies.append((future, None))  # type: ignore[arg-type]
        elif isinstance(msg, ReportMessage):
            bracket = self.book.get(msg.bracket_id)
            if bracket is not None:
                self._apply(on_order_report(bracket, msg.report, now), out)
        elif isinstance(msg, Answer):
            self._on_answer_msg(msg, now, out)
        elif isinstance(msg, FiredMessage):  # already mutated, and its order already sent, on the tick path
            self._apply(msg.decision, out, public=msg.public, run=False)
        elif isinstance(msg, PositionCheck):
            qty, ts = self.positions.get((msg.account, msg.symbol), (Decimal(0), 0))
            for bracket in self.book.live_on(msg.account, msg.symbol):
                self._apply(on_position(bracket, qty, ts, now), out)
        elif isinstance(msg, PlaceCommand):
            self._on_place(msg, future, now, out)
        elif isinstance(msg, CancelCommand):
            bracket = self.book.get(msg.bracket_id)
            if bracket is None or bracket.account != msg.account:
                raise LookupFailed(f"bracket {msg.bracket_id!r} not found", code=ErrorCode.ORDER_NOT_FOUND)
            self._apply(on_cancel_request(bracket, now), out)
            out.replies.append((future, bracket.to_public()))  # type: ignore[arg-type]
        elif isinstance(msg, ReconcileViews):
            self._on_reconcile(msg, future, now, out)

    def _on_place(self, msg: PlaceCommand, future: asyncio.Future[Any] | None, now: int, out: _Batch) -> None:
        spec = msg.spec
        existing = self.book.get(spec.bracket_id)
        if existing is not None:
            if not spec.same_as(existing):
                raise duplicate_bracket(spec.bracket_id)
            if spec.bracket_id in self.waiters and future is not None:
                self.waiters[spec.bracket_id].append(future)  # the first request's entry is still in flight
            else:
                out.replies.append((future, existing.to_public()))  # type: ignore[arg-type]
            return
        decision = new_bracket(bracket_id=spec.bracket_id, account=spec.account, venue=spec.account,
                               symbol=spec.symbol, side=spec.side, qty=spec.qty, entry_type=spec.entry_type,
                               entry_price=spec.entry_price, take_profit=spec.take_profit, stop_loss=spec.stop_loss,
                               mode=spec.mode, trigger_source=spec.trigger_source, capabilities=spec.capabilities,
                               now_ms=now)
        self.book.add(decision.bracket, msg.strategy)
        if future is not None:
            self.waiters[spec.bracket_id] = [future]
        log.info("bracket.placed", bracket_id=spec.bracket_id, account=spec.account, symbol=spec.symbol,
                 side=spec.side.value, qty=str(spec.qty), mode=decision.bracket.mode.value, strategy=msg.strategy)
        self._apply(decision, out)

    def _on_answer_msg(self, msg: Answer, now: int, out: _Batch) -> None:
        bracket = self.book.get(msg.bracket_id)
        if bracket is None:
            return
        if msg.report is not None:
            self._apply(on_order_report(bracket, msg.report, now), out)
        if not msg.entry:
            return
        reply: Any = bracket.to_public()
        if msg.error is not None and msg.report is not None:  # the entry was refused: the bracket ended
            msg.error.details["bracket"] = reply
            reply = msg.error
        for future in self.waiters.pop(msg.bracket_id, ()):
            out.replies.append((future, reply))

    def _on_reconcile(self, msg: ReconcileViews, future: asyncio.Future[Any] | None, now: int, out: _Batch) -> None:
        held = self.book.of_venue(msg.venue)
        repairs: list[Repair] = []
        for symbols, view in msg.views:
            repairs += reconcile([b for b in held if b.symbol in symbols], view, now, msg.policy)
        for repair in repairs:
            self._apply_repair(msg.venue, repair, msg.why, out)
        out.meta["watched_ts"] = now  # the triggers were being watched until now
        out.replies.append((future, summarize(sum(1 for b in held if not b.is_terminal), repairs)))  # type: ignore[arg-type]

    def _apply_repair(self, venue: str, repair: Repair, why: str, out: _Batch) -> None:
        log.info("bracket.repair", bracket_id=repair.bracket_id, kind=repair.kind.value, reason=repair.reason,
                 venue=venue, why=why)
        b = repair.bracket
        if b is not None:
            self.book.put(b)  # the repaired copy becomes the record
            out.changed[b.bracket_id] = b
            data = {**b.to_public(), "change_reason": repair.reason, "repair": repair.kind.value}
            out.pushes.append((b.account, data))
        else:
            out.pushes.append((venue, {"bracket_id": repair.bracket_id, "account": venue, "state": None,
                                       "change_reason": repair.reason, "repair": repair.kind.value}))
        out.intents.extend(i for i in repair.intents if not isinstance(i, Publish))

    def _apply(self, decision: Decision, out: _Batch, public: dict[str, Any] | None = None,
               run: bool = True) -> None:
        b = decision.bracket
        current = self.book.get(b.bracket_id)
        if current is not None and current is not b:
            b = current  # a repair replaced the record since (its copy includes this change)
        if decision.changed:
            self.book.put(b)
            out.changed[b.bracket_id] = b
            reason = decision.reason
            out.pushes.append((b.account, {**(public or b.to_public()), "change_reason": reason, "repair": None}))
            if decision.state is not decision.previous:
                log.info("bracket.transition", bracket_id=b.bracket_id, from_=decision.previous.value,
                         to=decision.state.value, reason=reason)
            if b.is_terminal:
                for cid in (b.entry.client_order_id, b.take_profit.client_order_id, b.stop_loss.client_order_id):
                    self.fill_ts.pop(cid or "", None)
        if run:
            out.intents.extend(i for i in decision.intents if not isinstance(i, Publish))

    def _run_intents(self, intents: list[Intent]) -> None:
        venue: list[Intent] = []
        for intent in intents:
            if isinstance(intent, ArmTrigger):
                self.book.arm(intent)
            elif isinstance(intent, DisarmTrigger):
                self.book.disarm(intent.key)
            else:
                venue.append(intent)
        self.run_venue_intents(venue)

    # --- helpers ------------------------------------------------------------------------------------------

    def _row(self, b: Bracket) -> BracketRow:
        return (b.bracket_id, b.account, self.book.strategy.get(b.bracket_id), b.symbol, b.state.value,
                not b.is_terminal, b.version, b.created_ts, b.updated_ts, b.to_record())


def duplicate_bracket(bracket_id: str) -> GatewayError:
    """Return the DUPLICATE_CLIENT_ID error of a bracket id used by another bracket."""
    return OrderRejected(f"bracket_id {bracket_id!r} is used by another bracket",
                         code=ErrorCode.DUPLICATE_CLIENT_ID, details={"bracket_id": bracket_id})
