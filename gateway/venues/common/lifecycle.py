"""`HttpSessionLifecycle`: entering and leaving a venue session that talks HTTP through aiohttp.

Entering opens the session's aiohttp `ClientSession` (or uses the one it was given) and runs its
`_start`; a start that fails is undone (`_stop`) before the error propagates, so a session never leaks
sockets or tasks. Leaving runs `_stop` and reports the connection CLOSED.
"""

from __future__ import annotations

from typing import Any, Self

import aiohttp

from gateway.core.enums import ConnectionState

__all__ = ["HttpSessionLifecycle"]


class HttpSessionLifecycle:
    """Mixin for a venue adapter. The adapter provides `name`, `_state`, `_session`, `_given_session`,
    `_sink`, `_log`, `_start()` and `_stop()`, and names its stop event in `_stopped_event`."""

    name: str
    _state: ConnectionState
    _session: aiohttp.ClientSession | None
    _given_session: aiohttp.ClientSession | None
    _sink: Any
    _log: Any
    _stopped_event: str

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
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
        self._log.info(self._stopped_event)
