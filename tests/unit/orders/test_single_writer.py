"""The single-writer shell: batches in arrival order, inline batches when idle, and what a failure leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from gateway.core.clock import SystemClock
from gateway.core.errors import ErrorCode, GatewayError
from gateway.orders.single_writer import SingleWriter, WriterBatch


class _Batch(WriterBatch):
    __slots__ = ("msgs",)

    def __init__(self) -> None:
        super().__init__()
        self.msgs: list[Any] = []


class Recorder(SingleWriter[_Batch]):
    """Folds strings; records the steps in order. `gate`: persist waits for it (an awaited store)."""

    def __init__(self, *, inline: bool = False, max_batch: int = 1024) -> None:
        super().__init__("rec", SystemClock(), max_batch=max_batch)
        self.inline = inline
        self.steps: list[str] = []
        self.fail_persist = False
        self.fail_act = False
        self.gate: asyncio.Event | None = None
        self.persisting = asyncio.Event()

    def _new_batch(self) -> _Batch:
        return _Batch()

    def _handle(self, msg: Any, future: asyncio.Future[Any] | None, now: int, out: _Batch) -> None:
        out.msgs.append(msg)
        out.replies.append((future, f"done {msg}"))

    def _persist(self, out: _Batch) -> Awaitable[None] | None:
        self.steps.append(f"persist {out.msgs}")
        self.persisting.set()
        if self.fail_persist:
            raise OSError("disk full")
        return self.gate.wait() if self.gate is not None else None  # type: ignore[return-value]

    def _publish_batch(self, out: _Batch) -> None:
        self.steps.append(f"publish {out.msgs}")

    def _act(self, out: _Batch) -> None:
        self.steps.append(f"act {out.msgs}")
        if self.fail_act:
            raise RuntimeError("a bug")


async def test_an_idle_inline_writer_persists_and_acts_on_the_callers_stack_and_publishes_a_turn_later() -> None:
    writer = Recorder(inline=True)
    writer.start()
    answer = writer.submit_nowait("a")
    assert writer.steps == ["persist ['a']", "act ['a']"]  # before submit_nowait returned
    assert await answer == "done a"
    assert writer.steps[-1] == "publish ['a']"
    await writer._stop_task()


async def test_what_is_queued_goes_through_the_task_in_arrival_order() -> None:
    writer = Recorder(inline=True)
    writer.start()
    writer.put("queued")  # the inbox is not empty: the next submit may not jump ahead of it
    assert await writer.submit("b") == "done b"
    assert writer.steps == ["persist ['queued', 'b']", "act ['queued', 'b']", "publish ['queued', 'b']"]
    await writer._stop_task()


async def test_a_failing_act_still_publishes_and_answers_a_persisted_batch() -> None:
    for inline in (False, True):
        writer = Recorder(inline=inline)
        writer.fail_act = True
        writer.start()
        assert await asyncio.wait_for(writer.submit("a"), 2) == "done a"
        assert writer.steps[-1] == "publish ['a']" and writer.failed is None
        await writer._stop_task()


async def test_a_failed_inline_persist_answers_the_caller_and_stops_the_writer() -> None:
    writer = Recorder(inline=True)
    writer.start()
    writer.fail_persist = True
    result = await asyncio.wait_for(writer.submit_nowait("a"), 2)
    assert isinstance(result, GatewayError) and result.code is ErrorCode.INTERNAL
    assert writer.failed is not None and writer.steps == ["persist ['a']"]  # never acted on, never published
    with pytest.raises(GatewayError):
        writer.submit_nowait("late")


async def test_when_the_writer_dies_every_queued_caller_hears_of_it() -> None:
    writer = Recorder(max_batch=1)
    writer.gate = asyncio.Event()
    writer.start()
    first = writer.submit_nowait("a")
    await asyncio.wait_for(writer.persisting.wait(), 2)  # the task holds "a" in persist
    second, third = writer.submit_nowait("b"), writer.submit_nowait("c")
    writer.fail_persist = True
    writer.gate.set()
    assert await asyncio.wait_for(first, 2) == "done a"
    for future in (second, third):  # "b" in the failing batch, "c" still queued behind it
        result = await asyncio.wait_for(future, 2)
        assert isinstance(result, GatewayError) and result.code is ErrorCode.INTERNAL
    assert writer.failed is not None
