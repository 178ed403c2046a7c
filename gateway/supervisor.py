"""Supervised background loops: named tasks restarted with backoff and jitter, health flags per loop.

A loop that raises is logged with its traceback and restarted after a delay that grows exponentially
(with full jitter) up to a cap; one that crashes `unhealthy_after` times within `window_s` marks its
component unhealthy until it has run cleanly for `window_s`. A loop that returns is finished.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

__all__ = ["Health", "Supervisor"]

log = structlog.get_logger("gateway.supervisor")


@dataclass
class Health:
    """Component name -> reason it is unhealthy. Empty means all healthy."""

    problems: dict[str, str] = field(default_factory=dict)

    def set(self, component: str, problem: str | None) -> None:
        if problem is None:
            self.problems.pop(component, None)
        else:
            self.problems[component] = problem

    @property
    def is_healthy(self) -> bool:
        return not self.problems


class Supervisor:
    def __init__(
        self,
        health: Health,
        *,
        base_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        unhealthy_after: int = 3,
        window_s: float = 60.0,
        rng: random.Random | None = None,
    ):
        self._health = health
        self._base = base_delay_s
        self._cap = max_delay_s
        self._unhealthy_after = unhealthy_after
        self._window = window_s
        self._rng = rng or random.Random()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.restarts: dict[str, int] = {}

    def spawn(self, name: str, loop: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        if name in self._tasks and not self._tasks[name].done():
            raise ValueError(f"a loop named {name!r} is already running")
        task = asyncio.create_task(self._supervise(name, loop), name=name)
        self._tasks[name] = task
        return task

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the `attempt`-th consecutive crash (1-based)."""
        return self._rng.uniform(0, min(self._cap, self._base * 2 ** (attempt - 1)))

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        crashes: list[float] = []
        attempt = 0
        while True:
            started = time.monotonic()
            # Running cleanly for a whole window clears an earlier unhealthy mark.
            recovered = asyncio.get_running_loop().call_later(self._window, self._health.set, name, None)
            try:
                await loop()
                log.info("task.finished", task=name)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                recovered.cancel()
                now = time.monotonic()
                attempt = 1 if now - started > self._window else attempt + 1
                crashes = [t for t in crashes if now - t < self._window] + [now]
                self.restarts[name] = self.restarts.get(name, 0) + 1
                delay = self.delay(attempt)
                log.error("task.crashed", task=name, restart_in_s=round(delay, 3), crashes=len(crashes), exc_info=True)
                if len(crashes) >= self._unhealthy_after:
                    self._health.set(name, f"crashed {len(crashes)} times in {self._window:.0f}s")
                await asyncio.sleep(delay)
            finally:
                recovered.cancel()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Cancel every loop and wait for them to finish, at most `timeout_s`."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                log.error("task.cancel_timeout", task=task.get_name())
        self._tasks.clear()

    def names(self) -> list[str]:
        return [n for n, t in self._tasks.items() if not t.done()]
