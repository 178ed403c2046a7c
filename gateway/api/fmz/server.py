"""The FMZ bridge's HTTP server: `POST http://host:port/<path>` (default 127.0.0.1:6666); an async
context manager.

Each request: decode the body -> authenticate the key pair (constant time) -> accept its nonce (strictly
increasing per key) -> route the path to an account -> run the method -> `{"data", "raw"}`. Every
failure is `{"error": "<CODE>: <message>"}` with the HTTP status of its code (`api/dispatch.py`);
nothing a client sends produces a traceback, and keys never reach a log line or an answer.
"""

from __future__ import annotations

from typing import Any, Self

import orjson
import structlog
from aiohttp import web

from gateway.api.dispatch import MethodCaller, http_status
from gateway.api.fmz.auth import FmzKeys
from gateway.api.fmz.config import FmzSettings
from gateway.api.fmz.methods import HANDLERS, FmzCall
from gateway.api.fmz.protocol import decode_request, resolve_method
from gateway.api.methods import ApiServices, MethodTable
from gateway.api.protocol import encode_json
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, VenueUnavailable

__all__ = ["FmzServer"]

log = structlog.get_logger("gateway.api.fmz")


def _error(code: ErrorCode | str, message: str, status: int | None = None) -> web.Response:
    body = orjson.dumps({"error": f"{code}: {message}"})
    return web.Response(body=body, status=status or http_status(code), content_type="application/json")


class FmzServer:
    """Serve the FMZ general protocol on its own port.

    Args:
        settings: the `fmz` settings slice (address, credentials).
        services: the strategy API's services (the same directory, market cache and keys).
        methods: the strategy API's method table; every FMZ method runs through it.
    """

    def __init__(self, settings: FmzSettings, services: ApiServices, methods: MethodTable):
        self._settings = settings
        principals = {}
        for credential in settings.credentials:
            principal = services.keys.principal(credential.strategy)
            if principal is None:
                raise ValueError(f"FMZ credential names unknown strategy {credential.strategy!r}")
            principals[credential.strategy] = principal
        self._keys = FmzKeys(settings.credentials, principals)
        self._caller = MethodCaller(methods, services, "fmz")
        self._app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[self._guard])
        self._app.router.add_route("*", "/{path:.*}", self._on_request)
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        self.port: int = settings.port

    async def __aenter__(self) -> Self:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port, reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells the real port when 0 was asked for
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("fmz.listening", host=self._settings.host, port=self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(ErrorCode.INVALID_REQUEST,
                          f"the body is larger than {self._settings.max_body_bytes} bytes", 413)
        except web.HTTPException as exc:
            return _error(ErrorCode.INVALID_REQUEST, exc.reason, exc.status)
        except Exception:
            log.exception("fmz.request_failed", path=request.path)
            return _error(ErrorCode.INTERNAL, "internal error")

    async def _on_request(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return _error(ErrorCode.INVALID_REQUEST, f"{request.method} is not supported: the FMZ general "
                          "protocol sends POST /<path> with a JSON body", 405)
        remote = request.remote or ""
        try:
            body = await request.read()
            fmz = decode_request(body)
            key = self._keys.authenticate(fmz.access_key, fmz.secret_key)
        except GatewayError as exc:
            if exc.code is ErrorCode.UNAUTHENTICATED:
                log.warning("fmz.auth_failed", remote=remote, path=request.path)
            return _error(exc.code, exc.message)
        try:
            self._keys.use_nonce(key, fmz.nonce)
            path = request.path.rstrip("/") or "/"
            account = key.paths.get(path)
            if account is None:
                raise LookupFailed(f"unknown path {path!r}: this key serves {', '.join(sorted(key.paths))}",
                                   code=ErrorCode.UNKNOWN_VENUE)
            method = resolve_method(fmz.method)
            call = FmzCall(self._caller, key.principal, account, fmz.method, fmz.params,
                           request.headers.get("Http-Method"), remote)
            try:
                data, raw = await HANDLERS[method](call)
            except (OSError, TimeoutError) as exc:  # a venue call that failed below the adapter's own mapping
                raise VenueUnavailable(f"{account} did not answer", venue=account) from exc
        except GatewayError as exc:
            log.info("fmz.refused", strategy=key.principal.strategy, method=fmz.method[:64], code=exc.code)
            return _error(exc.code, exc.message)
        return web.Response(body=encode_json({"data": data, "raw": raw}), content_type="application/json")
