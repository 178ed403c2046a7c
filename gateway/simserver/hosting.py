"""What every dialect server does the same way: serve its aiohttp app on a port, and step its market.

`start_app` binds (port 0: any free port) and returns the runner and the port actually bound;
`run_market` steps a synthetic market at `rate` steps per second, catching up at most a quarter second's
steps per turn when the loop was busy, and never lets one failed step end the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["run_market", "start_app"]


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
