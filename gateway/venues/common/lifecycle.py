"""`HttpSessionLifecycle`: entering, keeping up and leaving a venue session that talks HTTP through aiohttp.

Entering opens the session's aiohttp `ClientSession` (or uses the one it was given) and runs its
`_start`; a start that fails is undone (`_stop`) before the error propagates, so a session never leaks
sockets or tasks. Leaving runs `_stop` and reports the connection CLOSED. `_upkeep` is the session's
background loop that re-syncs the server clock and refreshes the instruments, each on its own period.
"""

from __future__ import annotations

import asyncio
from typing import Any, Self

import aiohttp

from gateway.core.enums import ConnectionState
from gateway.core.errors import GatewayError

__all__ = ["HttpSessionLifecycle"]


class HttpSessionLifecycle:
    """Mixin for a venue adapter. The adapter provides `name`, `kind` (the prefix of its log events),
    `settings` (with `time_sync_interval_s` and `instruments_refresh_s`), `_state`, `_session`,
    `_given_session`, `_sink`, `_log`, `_tasks` (its `SessionTasks`), `_set_state()`, `_start()`,
    `_sync_time()` and `_refresh_instruments()`. `_stop` (cancel the tasks, close an owned HTTP session),
    `_spawn` and `_on_task_failed` (a dead background task: RECONNECTING) are shared."""

    name: str
    kind: str
    settings: Any
    _state: ConnectionState
    _session: aiohttp.ClientSession | None
    _given_session: aiohttp.ClientSession | None
    _sink: Any
    _log: Any
    _tasks: Any

    async def _start(self) -> None:
        raise NotImplementedError

    def _set_state(self, state: ConnectionState, reason: str | None) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        await self._tasks.cancel_all()
        if self._session is not None and self._given_session is None:
            await self._session.close()
        self._session = None
        self._state = ConnectionState.CLOSED

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.spawn(coro, name)

    def _on_task_failed(self, name: str) -> None:
        if self._state is not ConnectionState.CLOSED:
            self._set_state(ConnectionState.RECONNECTING, f"{name} failed")

    async def _sync_time(self) -> None:
        raise NotImplementedError

    async def _refresh_instruments(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._state = ConnectionState.CONNECTING
        self._session = self._given_session or aiohttp.ClientSession()
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop()
        self._sink.on_connection(self.name, ConnectionState.CLOSED)
        self._log.info(f"{self.kind}.stopped")

    async def _upkeep(self) -> None:
        """Re-sync the server clock and refresh the instruments, each on its period; a failure waits a period."""
        s = self.settings
        loop = asyncio.get_running_loop()
        next_sync = loop.time() + s.time_sync_interval_s
        next_info = loop.time() + s.instruments_refresh_s
        while True:
            await asyncio.sleep(max(0.0, min(next_sync, next_info) - loop.time()))  # scheduling, not sync
            now = loop.time()
            try:
                if now >= next_sync:
                    next_sync = now + s.time_sync_interval_s
                    await self._sync_time()
                if now >= next_info:
                    next_info = now + s.instruments_refresh_s
                    await self._refresh_instruments()
            except GatewayError as exc:
                self._log.warning(f"{self.kind}.upkeep_failed", error=exc.message)
