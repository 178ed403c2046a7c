"""The ops HTTP server: `/health` (alive), `/ready` (venues connected, caches warm), `/status` (JSON), and
`/`, the status dashboard: one self-contained page (`static/dashboard.html`: HTML, CSS and a little JS, no
external assets) that polls `/status`."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any, Self

import orjson
from aiohttp import web

from gateway.api.config import HttpSettings

__all__ = ["OpsServer", "dashboard_html"]


# The page loads nothing from anywhere: its own inline style and script, and /status from this server.
_DASHBOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; "
                               "script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data, default=str), status=status, content_type="application/json")


@cache
def dashboard_html() -> bytes:
    """Return the dashboard page (package data, read once)."""
    return files("gateway.api").joinpath("static/dashboard.html").read_bytes()


class OpsServer:
    """Serve health endpoints. `ready` returns the reasons the gateway is not ready (empty: ready)."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        ready: Callable[[], list[str]],
        status: Callable[[], dict[str, Any]],
        extra_routes: list[web.RouteDef] | None = None,
    ):
        self._settings = settings
        self._ready = ready
        self._status = status
        self._app = web.Application()
        self._app.add_routes(
            [web.get("/", self._on_dashboard), web.get("/health", self._on_health), web.get("/ready", self._on_ready),
             web.get("/status", self._on_status)]
            + (extra_routes or [])
        )
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        self.port: int = settings.port

    async def __aenter__(self) -> Self:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port, reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells the real port when 0 was asked for
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()

    async def _on_dashboard(self, request: web.Request) -> web.Response:
        return web.Response(body=dashboard_html(), content_type="text/html", charset="utf-8",
                            headers=_DASHBOARD_HEADERS)

    async def _on_health(self, request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def _on_ready(self, request: web.Request) -> web.Response:
        problems = self._ready()
        if problems:
            return _json({"ready": False, "problems": problems}, status=503)
        return _json({"ready": True})

    async def _on_status(self, request: web.Request) -> web.Response:
        return _json(self._status())
