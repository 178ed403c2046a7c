"""The shell of a single-writer task: one inbox, batches folded in arrival order, persist -> act -> publish.

The bracket service and the algo engine each own state that only one task may change. Both drain an
inbox in batches and, per batch: fold every message (a pure state machine decides), **persist** what
changed in one transaction, **act** (hand the intents to whoever talks to venues: their tasks are
scheduled first), **publish** the changes, then **answer** the callers. A failed write stops the task (crash-only): nothing is published,
answered as done or sent that was not persisted.

`SingleWriter` is that loop; a subclass supplies the four steps (`_handle`, `_persist`, `_publish_batch`,
`_act`) and its own batch type (`WriterBatch` plus what it collects).

Inline batches: a writer whose `_persist` is synchronous (it returns None once the batch is durable: the
order store's append log) sets `inline`. Then a `submit` that finds the writer idle (no batch being
processed, nothing queued) processes its message at once, on the caller's stack, as a batch of one: the
same steps in the same order as the task would take them on its next turn, without the wait for it;
only the publication (and the answers) follow one turn of the loop later, behind the venue calls. This
is what takes a bracket's fired stop from the tick to the venue call without a detour through the inbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Generic, TypeVar

import structlog

from gateway.core.admission import admit
from gateway.core.clock import Clock
from gateway.core.errors import ErrorCode, GatewayError, VenueUnavailable

__all__ = ["Reply", "SingleWriter", "WriterBatch"]

log = structlog.get_logger("gateway.orders.writer")

MAX_BATCH = 1024
_STOP = object()
Reply = tuple[asyncio.Future[Any] | None, Any]  # a callable reply is called when it is sent (after `_settle`)


class WriterBatch:
    """What one batch collects; subclasses add their own fields (`__slots__` keep batches cheap)."""

    __slots__ = ("replies",)

    def __init__(self) -> None:
        self.replies: list[Reply] = []


B = TypeVar("B", bound=WriterBatch)


class SingleWriter(Generic[B]):
    """The one task that changes a service's state (see the module docstring).

    Args:
        name: the service, for task names, log events (`<name>.writer_died`, ...) and errors.
        clock: time source; each batch is folded at one `now`.
        max_batch: messages folded into one batch (one transaction) at most.
    """

    def __init__(self, name: str, clock: Clock, *, max_batch: int = MAX_BATCH):
        self.name = name
        self._clock = clock
        self._max_batch = max_batch
        self.inbox: asyncio.Queue[tuple[Any, asyncio.Future[Any] | None]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None
        self.inline = False  # set by a subclass whose `_persist` is synchronous (see the module docstring)
        self._busy = False  # a batch is being processed (its persist may be awaited)

    # --- the four steps ----------------------------------------------------------------------------------

    def _new_batch(self) -> B:
        raise NotImplementedError

    def _handle(self, msg: Any, future: asyncio.Future[Any] | None, now: int, out: B) -> None:
        """Fold one message into `out`. A GatewayError raised here answers the caller and nothing else."""
        raise NotImplementedError

    def _settle(self, out: B, now: int) -> None:
        """After every message of the batch is folded, before it is persisted (default: nothing)."""

    def _persist(self, out: B) -> Awaitable[None] | None:
        """Make the batch durable: return None once it is, or an awaitable that makes it so."""
        raise NotImplementedError

    def _publish_batch(self, out: B) -> None:
        raise NotImplementedError

    def _act(self, out: B) -> None:
        raise NotImplementedError

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"{self.name}.writer")
        self.task.add_done_callback(self._on_task_done)

    async def _stop_task(self) -> None:
        """Fold what is queued, then end the task (the caller bounds the wait)."""
        task, self.task = self.task, None
        if task is None or task.done():
            return
        self.inbox.put_nowait((_STOP, None))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            raise

    def put(self, msg: Any) -> None:
        """Queue a message that needs no answer (reports, answers, ticks). Never blocks."""
        self.inbox.put_nowait((msg, None))

    async def submit(self, msg: Any) -> Any:
        """Queue a message and wait for its answer (a barrier when `msg` is None).

        Raises:
            GatewayError: the answer was an error, or the writer is not running.
        """
        reply = await self.submit_nowait(msg)
        if isinstance(reply, GatewayError):
            raise reply
        return reply

    def submit_nowait(self, msg: Any) -> asyncio.Future[Any]:
        """Hand over a message now; return the future of its answer (a GatewayError is an answer here).

        An inline writer that is idle has decided, persisted and acted on it when this returns.

        Raises:
            GatewayError: the writer is not running.
        """
        if self.task is None or self.task.done() or self.failed is not None:
            raise VenueUnavailable(f"the {self.name} writer is not running", venue=self.name)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.inline and not self._busy and self.inbox.empty():
            self._process_inline((msg, future))  # nothing is ahead of it: decided now, in arrival order
        else:
            self.inbox.put_nowait((msg, future))
        admit()  # queued in arrival order: the caller's transport may start its next request
        return future

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.failed = task.exception()
            log.error(f"{self.name}.writer_died", error=repr(task.exception()))
        if self.failed is not None:  # what is still queued will never be folded: say so to its callers
            failure = GatewayError(f"{self.name} store write failed", code=ErrorCode.INTERNAL)
            while not self.inbox.empty():
                _, future = self.inbox.get_nowait()
                if future is not None and not future.done():
                    future.set_result(failure)

    # --- the loop ----------------------------------------------------------------------------------------

    async def _run(self) -> None:
        inbox, max_batch = self.inbox, self._max_batch
        while True:
            batch = [await inbox.get()]
            while len(batch) < max_batch and not inbox.empty():
                batch.append(inbox.get_nowait())
            stop = next((i for i, item in enumerate(batch) if item[0] is _STOP), None)
            if batch[:stop]:
                await self._process(batch[:stop])
            if stop is not None:
                return

    async def _process(self, batch: list[tuple[Any, asyncio.Future[Any] | None]]) -> None:
        self._busy = True
        try:
            out = self._fold(batch)
            pending = self._persist_or_fail(out)
            if pending is not None:
                try:
                    await pending
                except Exception as exc:
                    self._fail(out, exc)
                    raise  # crash-only: nothing is published or sent that was not persisted
            self._finish(out)
        finally:
            self._busy = False

    def _process_inline(self, item: tuple[Any, asyncio.Future[Any] | None]) -> None:
        self._busy = True
        try:
            out = self._fold([item])
            try:
                pending = self._persist_or_fail(out)
            except Exception:
                assert self.task is not None
                self.task.cancel()  # the writer is dead (`failed` says why); its inbox is empty
                return
            if pending is not None:  # a subclass that set `inline` must persist synchronously
                raise RuntimeError(f"{self.name}: an inline batch was not persisted synchronously")
            self._act_or_log(out)
            # The venue calls just scheduled run before the publication: it follows through the ready
            # queue, so every batch is still published in order (the writer task wakes behind it).
            asyncio.get_running_loop().call_soon(self._publish_and_answer, out)
        finally:
            self._busy = False

    def _fold(self, batch: list[tuple[Any, asyncio.Future[Any] | None]]) -> B:
        out = self._new_batch()
        now = self._clock.now_ms()
        for msg, future in batch:
            try:
                self._handle(msg, future, now, out)
            except GatewayError as exc:
                if future is not None:
                    out.replies.append((future, exc))
            except Exception as exc:  # a bug: answer the caller, keep serving the others
                log.exception(f"{self.name}.handle_failed", message=type(msg).__name__)
                if future is not None:
                    out.replies.append((future, GatewayError("internal error", code=ErrorCode.INTERNAL)))  # logged
        self._settle(out, now)
        return out

    def _persist_or_fail(self, out: B) -> Awaitable[None] | None:
        try:
            return self._persist(out)
        except Exception as exc:
            self._fail(out, exc)
            raise

    def _fail(self, out: B, exc: Exception) -> None:
        log.exception(f"{self.name}.persist_failed", exc_info=exc)
        self.failed = exc
        failure = GatewayError(f"{self.name} store write failed", code=ErrorCode.INTERNAL)
        for future, _ in out.replies:
            if future is not None and not future.done():
                future.set_result(failure)

    def _finish(self, out: B) -> None:
        self._act_or_log(out)  # first: the venue calls are scheduled ahead of whatever the publication wakes
        self._publish_and_answer(out)

    def _act_or_log(self, out: B) -> None:
        try:
            self._act(out)
        except Exception:  # a bug: the batch is persisted, so it is still published and answered
            log.exception(f"{self.name}.act_failed")

    def _publish_and_answer(self, out: B) -> None:
        self._publish_batch(out)
        for future, reply in out.replies:
            if future is not None and not future.done():
                future.set_result(reply() if callable(reply) else reply)
