"""Admission: pipelined requests that keep their order where order matters.

A transport may run one connection's requests concurrently, so that a strategy can pipeline orders.
Commands that change state must still reach their single writer in the order they arrived: a cancel
sent right after a place must not overtake it. So the transport runs each request with an admission
signal in its context and, before it starts the next request, waits until this one is admitted — its
command is queued at the writer — or finished. The writer calls `admit()` right after queueing.
Requests that change nothing call `admit()` as soon as they start.

Pure: contextvars only, no event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

__all__ = ["admit", "admission_signal"]

admission_signal: ContextVar[Callable[[], None] | None] = ContextVar("admission_signal", default=None)


def admit() -> None:
    """Tell the transport that the current request is admitted (queued in order); idempotent."""
    signal = admission_signal.get()
    if signal is not None:
        signal()
