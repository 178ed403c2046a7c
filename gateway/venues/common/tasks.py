"""`SessionTasks`: the background tasks of one venue session, named, watched and cancelled together.

A venue session runs its streams and upkeep as tasks it owns (no unowned `create_task`). A task that dies
of an exception is logged once, with its name, and reported to the session (which then tells the daemon
it is reconnecting); stopping cancels every task and waits for all of them to finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["SessionTasks"]


class SessionTasks:
    """The tasks of one session.

    Args:
        log: the session's bound logger.
        event: the log event of a failed task (e.g. ``okx.task_failed``).
        on_failed: called with the task's name when one dies of an exception.
    """

    def __init__(self, log: Any, event: str, on_failed: Callable[[str], None]):
        self._log = log
        self._event = event
        self._on_failed = on_failed
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Start `coro` as the named task `name`."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._done)
        self._tasks.append(task)

    async def cancel_all(self) -> None:
        """Cancel every task and wait until all have finished."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._log.error(self._event, task=task.get_name(), exc_info=task.exception())
            self._on_failed(task.get_name())
