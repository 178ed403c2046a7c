"""The order service's writer: the one task that runs the pure `OrderManager` (persist -> send -> publish).

It drains its inbox (commands, venue reports, answers of venue calls, resolver ticks) in batches and, for
each batch: decides every message, **persists** every decision as one journal batch, **sends** (each
venue call is its own task, scheduled now, whose outcome comes back through the inbox, so the manager
never waits on a venue), **publishes** the events and settles the callers waiting for a venue answer,
then answers the callers. A failed journal write stops the task (crash-only): nothing is published or sent that was not
journaled.

With the store's append log a batch is durable as soon as it is appended, so batches run inline: a command
that finds the writer idle is decided, journaled and sent on its caller's stack (`SingleWriter`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.orders.commands import Decision, Intent, Pending, WaiterKey
from gateway.orders.manager import OrderManager
from gateway.orders.records import OrderJournal, fill_to_row, order_to_row
from gateway.orders.single_writer import SingleWriter, WriterBatch

__all__ = ["OrderWriter", "PublishFn"]

log = structlog.get_logger("gateway.orders")

PublishFn = Callable[[str, str, dict[str, Any]], None]  # (account, kind, data); kind: order, fill, balance, position


class _Batch(WriterBatch):
    __slots__ = ("decisions",)

    def __init__(self) -> None:
        super().__init__()
        self.decisions: list[Decision] = []


class OrderWriter(SingleWriter[_Batch]):
    """The single writer of order state (see the module docstring).

    Args:
        manager: the pure order manager.
        journal: the order store.
        publish: called with `(account, kind, data)` after each batch is persisted; must not block.
        clock: time source; each message is decided at its own `now`.
        max_batch: messages folded into one journal transaction at most.
        send: performs one venue call and returns its outcome (a message for the manager).
    """

    def __init__(self, manager: OrderManager, journal: OrderJournal, publish: PublishFn, clock: Clock,
                 max_batch: int, send: Callable[[Intent], Awaitable[Any]]):
        super().__init__("orders", clock, max_batch=max_batch)
        self.manager = manager
        self._journal = journal
        self._publish = publish
        self._send = send
        self.waiters: dict[WaiterKey, list[asyncio.Future[Any]]] = {}  # callers awaiting a venue answer
        self.calls: set[asyncio.Task[None]] = set()
        self.inline = journal.appends_synchronously

    async def persist(self, decisions: list[Decision]) -> None:
        """Journal `decisions` and wait until they are durable (used once at start, before the task runs)."""
        pending = self._append(decisions)
        if pending is not None:
            await pending

    def _append(self, decisions: Sequence[Decision]) -> Awaitable[None] | None:
        orders: dict[int, Any] = {}
        fills = []
        journal = []
        positions: dict[tuple[str | None, str, str], str] = {}
        for decision in decisions:
            for order in decision.orders:
                orders[id(order)] = order
            for order in decision.unpublished:
                orders[id(order)] = order
            fills.extend(decision.fills)
            journal.extend(decision.journal)
            for strategy, account, symbol, qty in decision.positions:
                positions[(strategy, account, symbol)] = str(qty)  # the last one of the batch
        if not (orders or fills or journal):
            return None
        return self._journal.append([order_to_row(o) for o in orders.values()], [fill_to_row(f) for f in fills],
                                    journal, [(*key, qty) for key, qty in positions.items()])

    def emit(self, decisions: list[Decision]) -> None:
        """Publish the decisions' events and settle the callers their venue answers were for."""
        publish = self._publish
        for decision in decisions:
            for account, kind, data in decision.events:
                try:
                    publish(account, kind, data)
                except Exception:
                    log.exception("orders.publish_failed", kind=kind)
            for key, value in decision.settle:
                for future in self.waiters.pop(key, ()):
                    if not future.done():
                        future.set_result(value)

    async def stop(self, timeout_s: float) -> None:
        """Let in-flight venue calls answer, decide what is queued, then end (all within `timeout_s`)."""
        task = self.task
        try:
            async with asyncio.timeout(timeout_s):
                if self.calls:
                    await asyncio.gather(*self.calls, return_exceptions=True)
                await self._stop_task()
        except TimeoutError:
            log.error("orders.stop_timeout", calls=len(self.calls), inbox=self.inbox.qsize())
        for t in (*self.calls, *([task] if task is not None else [])):
            t.cancel()
        await asyncio.gather(*self.calls, return_exceptions=True)

    def fail_waiters(self, error: Any) -> None:
        for futures in self.waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(error)
        self.waiters.clear()

    # --- one batch (SingleWriter's steps) ----------------------------------------------------------------

    def _new_batch(self) -> _Batch:
        return _Batch()

    def _handle(self, msg: Any, future: asyncio.Future[Any] | None, now: int, out: _Batch) -> None:
        decision = self.manager.handle(msg, self._clock.now_ms())
        out.decisions.append(decision)
        if future is not None:
            reply = decision.reply
            if isinstance(reply, Pending):
                reply = [self._wait(key) for key in reply.keys]
            out.replies.append((future, reply))

    def _persist(self, out: _Batch) -> Awaitable[None] | None:
        return self._append(out.decisions)

    def _publish_batch(self, out: _Batch) -> None:
        self.emit(out.decisions)

    def _act(self, out: _Batch) -> None:
        for decision in out.decisions:
            for intent in decision.intents:
                task = asyncio.create_task(self._call(intent), name=f"orders.{type(intent).__name__}")
                self.calls.add(task)
                task.add_done_callback(self.calls.discard)

    async def _call(self, intent: Intent) -> None:
        self.put(await self._send(intent))

    def _wait(self, key: WaiterKey) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(key, []).append(future)
        return future
