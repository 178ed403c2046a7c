"""The shell of a single-writer task: one inbox, batches folded in arrival order, persist -> publish -> act.

The bracket service and the algo engine each own state that only one task may change. Both drain an
inbox in batches and, per batch: fold every message (a pure state machine decides), **persist** what
changed in one transaction, **publish** the changes, **answer** the callers, then **act** (hand the
intents to whoever talks to venues). A failed write stops the task (crash-only): nothing is published,
answered as done or sent that was not persisted.

`SingleWriter` is that loop; a subclass supplies the four steps (`_handle`, `_persist`, `_publish_batch`,
`_act`) and its own batch type (`WriterBatch` plus what it collects).
"""

from __future__ import annotations

import asyncio
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

    # --- the four steps ----------------------------------------------------------------------------------

    def _new_batch(self) -> B:
        raise NotImplementedError

    def _handle(self, msg: Any, future: asyncio.Future[Any] | None, now: int, out: B) -> None:
        """Fold one message into `out`. A GatewayError raised here answers the caller and nothing else."""
        raise NotImplementedError

    def _settle(self, out: B, now: int) -> None:
        """After every message of the batch is folded, before it is persisted (default: nothing)."""

    async def _persist(self, out: B) -> None:
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
        if self.task is None or self.task.done():
            raise VenueUnavailable(f"the {self.name} writer is not running", venue=self.name)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait((msg, future))
        admit()  # queued in arrival order: the caller's transport may start its next request
        reply = await future
        if isinstance(reply, GatewayError):
            raise reply
        return reply

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.failed = task.exception()
            log.error(f"{self.name}.writer_died", error=repr(task.exception()))

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
                    out.replies.append((future, GatewayError(f"internal error: {exc!r}", code=ErrorCode.INTERNAL)))
        self._settle(out, now)
        try:
            await self._persist(out)
        except Exception as exc:
            log.exception(f"{self.name}.persist_failed")
            self.failed = exc
            failure = GatewayError(f"{self.name} store write failed", code=ErrorCode.INTERNAL)
            for future, _ in out.replies:
                if future is not None and not future.done():
                    future.set_result(failure)
            raise  # crash-only: nothing is published or sent that was not persisted
        self._publish_batch(out)
        for future, reply in out.replies:
            if future is not None and not future.done():
                future.set_result(reply() if callable(reply) else reply)
        self._act(out)
