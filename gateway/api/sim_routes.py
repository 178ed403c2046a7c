"""Sim admin endpoints on the ops HTTP server, behind the admin key (`X-Admin-Key`), as `admin.py`'s.

    POST /admin/sim/symbols                  {symbol, base?, quote?, native?, venue?, start_price?, tick_size?,
                                              step_size?, min_qty?, min_notional?, volatility?} -> instrument
    GET  /admin/sim/users                    the users created at run time (no keys)
    POST /admin/sim/users                    {user, name?, venue?, permissions?} -> the user with its api_key
    GET  /admin/sim/users/{account}/balances {asset: {free, locked}}
    POST /admin/sim/users/{account}/deposit  {asset, amount} -> {account, asset, free, locked}
    POST /admin/sim/users/{account}/withdraw {asset, amount} -> the same; 409 INSUFFICIENT_BALANCE beyond
                                              the free balance (nothing changes)

`{account}` is a user or any sim venue (its account). Amounts are decimal strings (numbers are accepted).
What they do is `gateway.sim_admin.SimAdmin`'s. Without `http.admin_key` they answer 403; a wrong key 401.
Errors are `{"error": {"code", "message", "details"}}`, never a traceback.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiohttp import web
from pydantic import SecretStr

from gateway.api.admin import ADMIN_KEY_HEADER
from gateway.core.errors import ErrorCode, GatewayError
from gateway.sim_admin import SimAdmin, SimAdminError

__all__ = ["sim_admin_routes"]

log = structlog.get_logger("gateway.api.admin")

Handler = Callable[[web.Request, SimAdmin], Awaitable[web.StreamResponse]]
_STATUS = {ErrorCode.UNKNOWN_VENUE: 404, ErrorCode.UNKNOWN_SYMBOL: 400, ErrorCode.INSUFFICIENT_BALANCE: 409,
           ErrorCode.NOT_SUPPORTED: 409, ErrorCode.VENUE_UNAVAILABLE: 503}
_SYMBOL_FIELDS = frozenset({"symbol", "base", "quote", "native", "venue", "start_price", "tick_size", "step_size",
                            "min_qty", "min_notional", "volatility"})
_USER_FIELDS = frozenset({"user", "name", "venue", "permissions"})
_TRANSFER_FIELDS = frozenset({"asset", "amount"})
_MAX_BODY = 64 * 1024


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data, default=str), status=status, content_type="application/json")


def _error(code: ErrorCode, message: str, status: int, details: dict[str, Any] | None = None) -> web.Response:
    return _json({"error": {"code": code, "message": message, "details": details or {}}}, status)


def sim_admin_routes(admin_key: SecretStr | None, sim: Callable[[], SimAdmin | None]) -> list[web.RouteDef]:
    """Build the sim admin routes. `sim` returns the gateway's `SimAdmin` once it runs (None before: 503)."""

    def guarded(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def checked(request: web.Request) -> web.StreamResponse:
            if admin_key is None:
                return _error(ErrorCode.FORBIDDEN, "admin endpoints are off: set http.admin_key", 403)
            given = request.headers.get(ADMIN_KEY_HEADER, "")
            if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), admin_key.get_secret_value().encode()):
                log.warning("admin.denied", path=request.path, remote=request.remote)
                return _error(ErrorCode.UNAUTHENTICATED, f"a valid {ADMIN_KEY_HEADER} header is required", 401)
            admin = sim()
            if admin is None:
                return _error(ErrorCode.VENUE_UNAVAILABLE, "the gateway is not running yet", 503)
            try:
                return await handler(request, admin)
            except GatewayError as exc:
                return _error(exc.code, exc.message, _STATUS.get(exc.code, 400), exc.details)
            except RuntimeError as exc:  # the gateway stopped meanwhile
                return _error(ErrorCode.VENUE_UNAVAILABLE, str(exc), 503)

        return checked

    async def register_symbol(request: web.Request, admin: SimAdmin) -> web.Response:
        body = await _body(request, _SYMBOL_FIELDS, required=("symbol",))
        fields = {k: v for k, v in body.items() if k not in ("symbol", "base", "quote", "venue", "native")}
        instrument = admin.register_symbol(
            _text(body, "symbol"), _text(body, "base"), _text(body, "quote"), venue=_text(body, "venue"),
            native=_text(body, "native"), **fields,
        )
        log.warning("admin.sim_symbol", symbol=instrument.symbol, venue=instrument.venue)
        return _json(instrument.to_public())

    async def list_users(request: web.Request, admin: SimAdmin) -> web.Response:
        return _json({"users": [u.to_public() for u in admin.users()]})

    async def create_user(request: web.Request, admin: SimAdmin) -> web.Response:
        body = await _body(request, _USER_FIELDS, required=("user",))
        permissions = body.get("permissions")
        if permissions is not None and (not isinstance(permissions, list)
                                        or not all(isinstance(p, str) for p in permissions)):
            raise SimAdminError("permissions: a list of read, trade, raw")
        user = await admin.create_user(_text(body, "user") or "", _text(body, "name"), venue=_text(body, "venue"),
                                       permissions=permissions)
        log.warning("admin.sim_user", user=user.user, exchange=user.exchange)  # never the key
        return _json(user.to_public(with_key=True), 201)

    async def balances(request: web.Request, admin: SimAdmin) -> web.Response:
        account = request.match_info["account"]
        return _json({"account": account, "balances": admin.balances(account)})

    async def deposit(request: web.Request, admin: SimAdmin) -> web.Response:
        body = await _body(request, _TRANSFER_FIELDS, required=("asset", "amount"))
        result = await admin.deposit(request.match_info["account"], body["asset"], body["amount"])
        log.warning("admin.sim_deposit", account=result["account"], asset=result["asset"], amount=str(body["amount"]))
        return _json(result)

    async def withdraw(request: web.Request, admin: SimAdmin) -> web.Response:
        body = await _body(request, _TRANSFER_FIELDS, required=("asset", "amount"))
        result = await admin.withdraw(request.match_info["account"], body["asset"], body["amount"])
        log.warning("admin.sim_withdraw", account=result["account"], asset=result["asset"], amount=str(body["amount"]))
        return _json(result)

    return [
        web.post("/admin/sim/symbols", guarded(register_symbol)),
        web.get("/admin/sim/users", guarded(list_users)),
        web.post("/admin/sim/users", guarded(create_user)),
        web.get("/admin/sim/users/{account}/balances", guarded(balances)),
        web.post("/admin/sim/users/{account}/deposit", guarded(deposit)),
        web.post("/admin/sim/users/{account}/withdraw", guarded(withdraw)),
    ]


async def _body(request: web.Request, allowed: frozenset[str], required: tuple[str, ...]) -> dict[str, Any]:
    # A JSON object with only `allowed` keys and every `required` one.
    if request.content_length is not None and request.content_length > _MAX_BODY:
        raise SimAdminError("the body is too large", code=ErrorCode.INVALID_REQUEST)
    raw = await request.content.read(_MAX_BODY + 1)
    if len(raw) > _MAX_BODY:
        raise SimAdminError("the body is too large", code=ErrorCode.INVALID_REQUEST)
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise SimAdminError("the body must be a JSON object", code=ErrorCode.INVALID_JSON) from None
    if not isinstance(body, dict):
        raise SimAdminError("the body must be a JSON object", code=ErrorCode.INVALID_REQUEST)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise SimAdminError(f"unknown fields {unknown}; known: {', '.join(sorted(allowed))}")
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise SimAdminError(f"missing fields {missing}")
    return body


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SimAdminError(f"{name} must be a string", details={"field": name})
    return value
