"""The QE dialect's REST routes: the envelope, signature checks, and the V2 / public endpoints.

Every route is served at its path and under ``/strategy-api`` (fact sheet §1: unverified which paths
need the prefix). Signed routes check (fact sheet §3): the ``X-MBX-APIKEY`` header names a known key
(401); ``timestamp`` is within ``recvWindow`` (default the dialect's, at most 60000) of the server
clock (400); ``signature`` is the HMAC of the query fields (minus ``signature``) merged with the JSON
body's top-level fields (401). V2 writes read their fields from the JSON body; the SDK's V1-style
writes (fields in the query, empty body) are read too.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.simserver.qe import render
from gateway.simserver.qe.masters import DialectError
from gateway.venues.qe.auth import HmacSigner, verify

if TYPE_CHECKING:
    from gateway.simserver.qe.server import QeDialect

__all__ = ["build_app"]

Handler = Callable[["QeDialect", web.Request, dict[str, Any]], Awaitable[Any]]
_MO = "/user/trading/v2/master-orders"


def build_app(dialect: QeDialect) -> web.Application:
    """Return the aiohttp application of `dialect` (REST and the user WebSocket)."""
    app = web.Application()
    routes: list[tuple[str, str, Handler, bool]] = [
        ("GET", "/ping", _ping, False),
        ("GET", "/timestamp", _timestamp, False),
        ("GET", "/pub/trading-pairs", _trading_pairs, False),
        ("GET", "/pub/v2/trading-pairs", _trading_pairs, False),
        ("GET", "/user/exchange/v2/exchange-apis", _exchange_apis, True),
        ("GET", "/user/exchange-apis", _exchange_apis, True),
        ("POST", "/user/trading/v2/listen-key", _listen_key, True),
        ("POST", "/user/trading/listen-key", _listen_key, True),
        ("POST", _MO, _create, True),
        ("GET", _MO, _list, True),
        ("PUT", _MO + "/batch-cancel", _batch_cancel, True),
        ("GET", _MO + "/by-client-order-id/{cid}", _get_by_client, True),
        ("GET", _MO + "/{id}", _get, True),
        ("PUT", _MO + "/{id}/{action:cancel|pause|resume|update}", _action, True),
        ("GET", "/user/trading/v2/order-fills", _fills, True),
    ]
    for prefix in ("", "/strategy-api"):
        for method, path, handler, signed in routes:
            app.router.add_route(method, prefix + path, _endpoint(dialect, handler, signed))
    for path in ("/api/ws/v2", "/api/ws"):
        app.router.add_get(path, dialect.handle_ws)
    return app


def _endpoint(dialect: QeDialect, handler: Handler, signed: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        dialect.requests += 1
        try:
            fields = await _fields(dialect, request, signed)
            payload = await handler(dialect, request, fields)
        except DialectError as exc:
            return _answer(dialect, exc.code, exc.reason, exc.message)
        return _answer(dialect, 200, "", payload)

    return endpoint


async def _fields(dialect: QeDialect, request: web.Request, signed: bool) -> dict[str, Any]:
    query = {k: v for k, v in request.query.items()}
    body: dict[str, Any] = {}
    raw = await request.read()
    if raw.strip():
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise DialectError(400, "the body is not JSON") from None
        if not isinstance(decoded, dict):
            raise DialectError(400, "the body is not a JSON object")
        body = decoded
    if signed:
        secret = dialect.keys.get(request.headers.get("X-MBX-APIKEY", ""))
        if secret is None:
            raise DialectError(401, "invalid API key", "UNAUTHORIZED")
        signature = query.pop("signature", None)
        timestamp = query.get("timestamp", "")
        if not signature or not timestamp.isdigit():
            raise DialectError(400, "timestamp and signature are required")
        window = int(query["recvWindow"]) if query.get("recvWindow", "").isdigit() else dialect.settings.recv_window_ms
        if window > 60_000 or abs(dialect.now_ms() - int(timestamp)) > window:
            raise DialectError(400, "timestamp is outside recvWindow", "INVALID_TIMESTAMP")
        if not verify(HmacSigner(secret), query, body, signature):
            raise DialectError(401, "signature mismatch", "UNAUTHORIZED")
    return {**query, **body}


def _answer(dialect: QeDialect, code: int, reason: str, message: Any) -> web.Response:
    envelope = {"code": code, "reason": reason, "message": message, "traceId": uuid.uuid4().hex,
                "serverTime": dialect.now_ms()}
    status = code if dialect.settings.error_http_status == "mirror" and code != 200 else 200
    return web.Response(status=status, body=orjson.dumps(envelope), content_type="application/json")


def _page(fields: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    try:
        page = int(fields.get("page") or 1)
        size = int(fields.get("pageSize") or 10)
    except ValueError:
        raise DialectError(400, "page and pageSize must be integers") from None
    if page < 1 or not 1 <= size <= 100:
        raise DialectError(400, "page must be >= 1 and pageSize within 1..100")
    return {"items": items[(page - 1) * size: page * size], "total": len(items), "page": page, "pageSize": size}


# --- handlers ---------------------------------------------------------------------------------------------


async def _ping(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    return {}


async def _timestamp(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    return {"serverTimeMilli": dialect.now_ms()}


async def _trading_pairs(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    pairs = [render.trading_pair(i, "Binance", n) for n, i in enumerate(dialect.engine.instruments.values(), 1)]
    wanted = str(fields.get("marketType") or "").upper().replace("FUTURES", "PERP")
    pairs = [p for p in pairs if (not wanted or p["marketType"] == wanted)
             and str(fields.get("exchange") or p["exchange"]).lower() == p["exchange"].lower()]
    return _page(fields, pairs)


async def _exchange_apis(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    items = [{"apiKeyId": a.api_key_id, "id": a.api_key_id, "createdAt": "2025-01-01T00:00:00Z",
              "accountName": a.account_name, "exchange": a.exchange, "apiKey": "abcd****wxyz", "status": "正常",
              "isValid": True, "isTradingEnabled": True, "isDefault": a.is_default, "isPm": False}
             for a in dialect.book.accounts.values()
             if str(fields.get("exchange") or a.exchange).lower() == a.exchange.lower()]
    return _page(fields, items)


async def _listen_key(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    key, expire_ms = dialect.create_listen_key()
    return {"listenKey": key, "expireAt": str(expire_ms // 1000), "success": True, "message": "ok"}


async def _create(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    fields = {k: v for k, v in fields.items() if k not in ("timestamp", "recvWindow")}
    now = dialect.now_ms()
    master, pushes = dialect.book.create(fields, now)
    dialect.apply(pushes + dialect.book.tick(now), [])
    return {"masterOrderId": master.algo.algo_id, "status": "NEW", "clientOrderId": master.algo.client_order_id or "",
            "success": True, "message": "created"}


async def _list(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    status = str(fields.get("status") or "").upper()
    masters = sorted(dialect.book.masters.values(), key=lambda m: m.algo.created_ts, reverse=True)
    if status == "NEW":
        masters = [m for m in masters if not m.algo.is_terminal]
    elif status == "COMPLETED":
        masters = [m for m in masters if m.algo.is_terminal]
    elif status:
        raise DialectError(400, "status filter must be NEW or COMPLETED")
    for key, attr in (("symbol", None), ("masterOrderId", None), ("algorithm", None)):
        if fields.get(key):
            masters = [m for m in masters if _record(m)[key] == fields[key]]
    return _page(fields, [_record(m) for m in masters])


async def _get(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    return _record(dialect.book.get(request.match_info["id"]))


async def _get_by_client(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    return _record(dialect.book.by_client_order_id(request.match_info["cid"]))


async def _action(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    action = request.match_info["action"]
    body = {k: v for k, v in fields.items() if k not in ("timestamp", "recvWindow", "masterOrderId")}
    dialect.apply(dialect.book.action(request.match_info["id"], action, body, dialect.now_ms()), [])
    return {"success": True, "message": f"{action} accepted"}


async def _batch_cancel(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    ids = fields.get("masterOrderIds")
    if not isinstance(ids, list) or not ids:
        raise DialectError(400, "masterOrderIds must be a non-empty list")
    failed, done = [], 0
    for master_id in ids:
        try:
            dialect.apply(dialect.book.action(str(master_id), "cancel", {"reason": fields.get("reason")},
                                              dialect.now_ms()), [])
            done += 1
        except DialectError as exc:
            failed.append({"masterOrderId": master_id, "reason": exc.message})
    return {"successCount": done, "failedOrders": failed}


async def _fills(dialect: QeDialect, request: web.Request, fields: dict[str, Any]) -> Any:
    masters = list(dialect.book.masters.values())
    if fields.get("masterOrderId"):
        masters = [dialect.book.get(str(fields["masterOrderId"]))]
    records = [r for m in masters for r in m.children.values()]
    if fields.get("orderId"):
        records = [r for r in records if r["orderId"] == fields["orderId"]]
    records.sort(key=lambda r: (r["createdAt"], int(r["orderId"])))
    return _page(fields, records)


def _record(master: Any) -> dict[str, Any]:
    return render.master(master.algo, master.instrument, master.api_key_id, master.exchange)
