"""The ops HTTP server: `/health` (alive), `/ready` (venues connected, caches warm), `/status` (JSON)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import orjson
from aiohttp import web

from gateway.api.config import HttpSettings

__all__ = ["OpsServer"]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data, default=str), status=status, content_type="application/json")


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
            [web.get("/health", self._on_health), web.get("/ready", self._on_ready), web.get("/status", self._on_status)]
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

    async def _on_health(self, request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def _on_ready(self, request: web.Request) -> web.Response:
        problems = self._ready()
        if problems:
            return _json({"ready": False, "problems": problems}, status=503)
        return _json({"ready": True})

    async def _on_status(self, request: web.Request) -> web.Response:
        return _json(self._status())
