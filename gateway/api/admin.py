"""Ops endpoints that act, on the ops HTTP server, behind the admin key (`X-Admin-Key`).

    GET    /admin/orders?account=&symbol=        open orders of every strategy
    GET    /admin/brackets?account=&symbol=      live brackets: state, entry, legs and their protection
    POST   /admin/cancel-all?account=&symbol=    cancel every open order (every strategy; not external ones)
    POST   /admin/kill-switch?cancel_open=true   refuse every new order (RISK_LIMIT); optionally cancel all
    DELETE /admin/kill-switch                    release it
    POST   /admin/venues/{venue}/reset           reset a sim venue's exchange state, then reconcile it

Without `http.admin_key` configured these endpoints answer 403: nothing can act on the gateway by
accident. Keys are compared in constant time and never logged. Answers are JSON; errors carry the API
error code.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import structlog
from aiohttp import web
from pydantic import SecretStr

from gateway.core.errors import ErrorCode, GatewayError
from gateway.core.ports import VenueAdapter
from gateway.ops import live_brackets
from gateway.orders.service import OrderService

__all__ = ["ADMIN_KEY_HEADER", "admin_routes"]

log = structlog.get_logger("gateway.api.admin")

ADMIN_KEY_HEADER = "X-Admin-Key"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATUS = {ErrorCode.UNKNOWN_VENUE: 404, ErrorCode.UNKNOWN_SYMBOL: 404, ErrorCode.ORDER_NOT_FOUND: 404,
           ErrorCode.VENUE_UNAVAILABLE: 503, ErrorCode.TIMEOUT: 504, ErrorCode.INVALID_PARAMS: 400}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data, default=str), status=status, content_type="application/json")


def _error(code: ErrorCode, message: str, status: int) -> web.Response:
    return _json({"error": {"code": code, "message": message}}, status)


def admin_routes(
    admin_key: SecretStr | None,
    orders: Callable[[], OrderService | None],
    venues: Mapping[str, VenueAdapter],
    reconcile: Callable[[str], Awaitable[bool]] | None = None,
    brackets: Callable[[], Any] | None = None,
) -> list[web.RouteDef]:
    """Build the admin routes. `orders` returns the order service once it runs (None before);
    `reconcile(venue)` brings the gateway's view in line after a reset (default: the order service's);
    `brackets` returns the bracket service once it runs (`/admin/brackets` answers 503 before)."""

    def guarded(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            if admin_key is None:
                return _error(ErrorCode.FORBIDDEN, "admin endpoints are off: set http.admin_key", 403)
            given = request.headers.get(ADMIN_KEY_HEADER, "")
            if not hmac.compare_digest(given.encode(), admin_key.get_secret_value().encode()):
                log.warning("admin.denied", path=request.path, remote=request.remote)
                return _error(ErrorCode.UNAUTHENTICATED, f"a valid {ADMIN_KEY_HEADER} header is required", 401)
            service = orders()
            if service is None:
                return _error(ErrorCode.VENUE_UNAVAILABLE, "the order service is not running yet", 503)
            try:
                return await handler(request)
            except GatewayError as exc:
                return _json({"error": {"code": exc.code, "message": exc.message, "details": exc.details}},
                             _STATUS.get(exc.code, 400))

        return checked

    def service() -> OrderService:
        found = orders()
        assert found is not None  # guarded() checked
        return found

    async def open_orders(request: web.Request) -> web.Response:
        account, symbol = request.query.get("account"), request.query.get("symbol")
        names = [account] if account else list(venues)
        result = []
        for name in names:
            result.extend(await service().open_orders(name, symbol))
        return _json({"orders": result, "kill_switch": service().kill_switch_engaged})

    async def open_brackets(request: web.Request) -> web.Response:
        account, symbol = request.query.get("account"), request.query.get("symbol")
        if account and account not in venues:
            return _error(ErrorCode.UNKNOWN_VENUE, f"unknown account {account!r}", 404)
        service = brackets() if brackets is not None else None
        if service is None:
            return _error(ErrorCode.VENUE_UNAVAILABLE, "the bracket service is not running yet", 503)
        found = [b for b in live_brackets(service, account or None) if not symbol or b["symbol"] == symbol]
        return _json({"brackets": found})

    async def cancel_all(request: web.Request) -> web.Response:
        account, symbol = request.query.get("account"), request.query.get("symbol")
        names = [account] if account else list(venues)
        canceled = []
        for name in names:
            canceled.extend(await service().cancel_all(None, name, symbol))
        log.warning("admin.cancel_all", accounts=names, symbol=symbol, canceled=len(canceled))
        return _json({"canceled": canceled})

    async def engage(request: web.Request) -> web.Response:
        cancel_open = request.query.get("cancel_open", "false").lower() in {"1", "true", "yes"}
        canceled = await service().engage_kill_switch(cancel_open)
        log.warning("admin.kill_switch", engaged=True, cancel_open=cancel_open, canceled=len(canceled))
        return _json({"kill_switch": True, "canceled": canceled})

    async def release(request: web.Request) -> web.Response:
        await service().release_kill_switch()
        log.warning("admin.kill_switch", engaged=False)
        return _json({"kill_switch": False})

    async def reset_venue(request: web.Request) -> web.Response:
        name = request.match_info["venue"]
        adapter = venues.get(name)
        reset = getattr(adapter, "reset", None)
        if adapter is None or reset is None:
            return _error(ErrorCode.UNKNOWN_VENUE, f"{name!r} is not a venue that can be reset", 404)
        log.warning("venue.reset", venue=name)
        await reset()
        # A sim exchange shared by several accounts (sim users) resets them all: reconcile each.
        exchange = getattr(adapter, "exchange", None)
        names = [n for n in exchange.accounts() if n in venues] if exchange is not None else [name]
        reconciled = [await (reconcile or service().reconcile)(n) for n in names or [name]]
        return _json({"venue": name, "reset": True, "reconciled": all(reconciled)})

    return [
        web.get("/admin/orders", guarded(open_orders)),
        web.get("/admin/brackets", guarded(open_brackets)),
        web.post("/admin/cancel-all", guarded(cancel_all)),
        web.post("/admin/kill-switch", guarded(engage)),
        web.delete("/admin/kill-switch", guarded(release)),
        web.post("/admin/venues/{venue}/reset", guarded(reset_venue)),
    ]
