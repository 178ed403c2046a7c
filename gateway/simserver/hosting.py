"""What every dialect server does the same way: serve its aiohttp app on a port, step its market, stop.

`start_app` binds (port 0: any free port) and returns the runner and the port actually bound;
`run_market` steps a synthetic market at `rate` steps per second, catching up at most a quarter second's
steps per turn when the loop was busy, and never lets one failed step end the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

__all__ = ["DialectHost", "run_market", "start_app"]


async def start_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on `host:port`; return the runner (the caller cleans it up) and the bound port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    return runner, (sockets[0].getsockname()[1] if sockets else port)


async def run_market(rate: float, step: Callable[[int], Any], log: Any) -> None:
    """Call `step(count)` so that `rate` steps happen per second, until cancelled."""
    loop = asyncio.get_running_loop()
    start, done = loop.time(), 0
    while True:
        due = min(int((loop.time() - start) * rate) - done, max(1, int(rate / 4)))
        if due > 0:
            try:
                step(due)
            except Exception:
                log.exception("dialect.step_failed")
            done = int((loop.time() - start) * rate)
        await asyncio.sleep(max(0.005, start + (done + 1) / rate - loop.time()))  # pacing, not synchronization


class DialectHost:
    """Base of a dialect server: where it listens, its runner and background task, and the shutdown they
    share (stop the task, close the dialect's own sockets, stop serving). The subclass's constructor sets
    `host`, `port`, `_runner = None` and `_task = None`."""

    host: str
    port: int
    _runner: web.AppRunner | None
    _task: asyncio.Task[None] | None

    async def _serve(self, app: web.Application, background: Coroutine[Any, Any, None] | None, name: str) -> None:
        """Serve `app` (binding `port`), then run `background` (the market) as a task, if given."""
        self._runner, self.port = await start_app(app, self.host, self.port)
        if background is not None:
            self._task = asyncio.create_task(background, name=name)

    async def _close_sockets(self) -> None:
        """Close the dialect's open WebSocket connections (default: none to close)."""

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        await self._close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"
