"""The REST API for strategies, served on the ops HTTP server (`OpsServer(extra_routes=RestApi(...).routes())`).

Each request: authenticate `X-API-KEY` (the strategy keys of the WebSocket) -> parse the params against
the endpoint (`spec.py`) -> run the strategy API's methods (`MethodCaller`: same permissions, same
account scope, same market cache and order service as the WebSocket) -> the Binance-like shape
(`convert.py`). Every failure is `{"code": <error code>, "msg": ...}` with the HTTP status of its code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiohttp import web

from gateway.api.config import Permission
from gateway.api.dispatch import MethodCaller, http_status
from gateway.api.methods import ApiServices, MethodTable
from gateway.api.protocol import encode_json
from gateway.api.rest import convert
from gateway.api.rest.spec import ENDPOINTS, PREFIX, Endpoint, openapi_document, parse_params
from gateway.api.session import Principal
from gateway.core.errors import AccessError, ErrorCode, GatewayError, LookupFailed, RequestError
from gateway.core.events import KLINE_INTERVALS

__all__ = ["RestApi"]

log = structlog.get_logger("gateway.api.rest")

Operation = Callable[["_Call"], Awaitable[Any]]


def _error(code: ErrorCode | str, message: str, status: int | None = None) -> web.Response:
    return web.Response(body=orjson.dumps({"code": str(code), "msg": message}), status=status or http_status(code),
                        content_type="application/json")


class _Call:
    """One REST request: who asks, with which params."""

    def __init__(self, api: RestApi, principal: Principal | None, params: dict[str, Any], remote: str):
        self.api = api
        self.principal = principal
        self.params = params
        self.remote = remote

    async def run(self, method: str, params: dict[str, Any]) -> Any:
        assert self.principal is not None
        return await self.api.caller.call(self.principal, method, params, self.remote)

    def venue(self, name: str = "venue") -> str:
        return self.api.services.directory.venue(self.params.get(name)).name

    def native(self, venue: str, symbol: str) -> str:
        return self.api.services.directory.instrument(venue, symbol).native

    def symbols(self, venue: str) -> list[str]:
        symbol = self.params.get("symbol")
        if symbol is not None:
            return [self.api.services.directory.instrument(venue, symbol).symbol]
        return list(self.api.services.directory.venue(venue).instruments)

    def account(self) -> str:
        """The account a request means: its `account` param, else the key's only account, else the default."""
        name = self.params.get("account")
        scope = self.principal.accounts if self.principal is not None else None
        if not name and scope is not None and len(scope) == 1:
            (name,) = scope
        return self.api.services.directory.venue(name).name

    def account_params(self) -> dict[str, Any]:
        return {"account": self.params["account"]} if "account" in self.params else {}


class RestApi:
    """The `/api/v1` routes.

    Args:
        services: the strategy API's services (the WebSocket's own `ApiServices`).
        methods: the strategy API's method table (the WebSocket's own).
    """

    def __init__(self, services: ApiServices, methods: MethodTable):
        self.services = services
        self.caller = MethodCaller(methods, services, "rest")
        self.document = openapi_document(ENDPOINTS)
        self._document_body = orjson.dumps(self.document)

    def routes(self) -> list[web.RouteDef]:
        """The routes to add to the ops HTTP server: every endpoint, then a JSON fallback for `/api/v1/*`."""
        routes = [web.route(e.method, e.path, self._handler(e)) for e in ENDPOINTS]
        routes.append(web.route("*", PREFIX + "/{tail:.*}", self._on_unknown))
        return routes

    def _handler(self, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.Response]]:
        operation = _OPERATIONS[endpoint.operation]

        async def handle(request: web.Request) -> web.Response:
            try:
                principal = self._authenticate(request) if endpoint.auth else None
                items: list[tuple[str, Any]] = list(request.query.items())
                if request.method in ("POST", "DELETE"):
                    items += await _body_items(request)
                params = parse_params(endpoint, items)
                result = await operation(_Call(self, principal, params, request.remote or ""))
            except GatewayError as exc:
                return _error(exc.code, exc.message)
            except web.HTTPException as exc:  # e.g. 413: the body is larger than the server takes
                return _error(ErrorCode.INVALID_REQUEST, exc.reason, exc.status)
            except (OSError, TimeoutError):
                return _error(ErrorCode.VENUE_UNAVAILABLE, "the venue did not answer")
            except Exception:
                log.exception("rest.request_failed", path=endpoint.path, method=endpoint.method)
                return _error(ErrorCode.INTERNAL, "internal error")
            if isinstance(result, web.Response):
                return result
            return web.Response(body=encode_json(result), content_type="application/json")

        return handle

    def _authenticate(self, request: web.Request) -> Principal:
        key = request.headers.get("X-API-KEY")
        if not key:
            raise AccessError("the X-API-KEY header is required", code=ErrorCode.UNAUTHENTICATED)
        principal = self.services.keys.authenticate(key)
        if principal is None:
            log.warning("rest.auth_failed", remote=request.remote, path=request.path)
            raise AccessError("invalid X-API-KEY", code=ErrorCode.UNAUTHENTICATED)
        return principal

    async def _on_unknown(self, request: web.Request) -> web.Response:
        allowed = sorted(e.method for e in ENDPOINTS if e.path == request.path)
        if allowed:
            return _error(ErrorCode.INVALID_REQUEST, f"{request.method} is not allowed here; use {', '.join(allowed)}",
                          405)
        return _error(ErrorCode.UNKNOWN_METHOD, f"no such endpoint; see {PREFIX}/openapi.json", 404)


async def _body_items(request: web.Request) -> list[tuple[str, Any]]:
    body = await request.read()
    if not body.strip():
        return []
    kind = request.content_type
    if kind == "application/x-www-form-urlencoded":
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError):
            raise RequestError("the form body cannot be decoded", code=ErrorCode.INVALID_REQUEST) from None
        return [(name, value) for name, value in form.items()]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("the body must be a JSON object or a form (application/x-www-form-urlencoded)",
                           code=ErrorCode.INVALID_JSON) from None
    if not isinstance(data, dict):
        raise RequestError("the JSON body must be an object", code=ErrorCode.INVALID_REQUEST)
    return list(data.items())


# --- operations -----------------------------------------------------------------------------------------


async def _ping(call: _Call) -> Any:
    return {}


async def _time(call: _Call) -> Any:
    return {"serverTime": call.api.services.clock.now_ms()}


async def _openapi(call: _Call) -> Any:
    return web.Response(body=call.api._document_body, content_type="application/json")


async def _ticker_price(call: _Call) -> Any:
    venue = call.venue()
    views = []
    for symbol in call.symbols(venue):
        ticker = await call.run("ticker", {"venue": venue, "symbol": symbol})
        views.append(convert.price_view(ticker, call.native(venue, symbol)))
    return views[0] if "symbol" in call.params else views


async def _ticker_24hr(call: _Call) -> Any:
    venue = call.venue()
    views = []
    for symbol in call.symbols(venue):
        ticker = await call.run("ticker", {"venue": venue, "symbol": symbol})
        bbo = await call.run("bbo", {"venue": venue, "symbol": symbol})
        views.append(convert.ticker_24hr_view(ticker, bbo, call.native(venue, symbol)))
    return views[0] if "symbol" in call.params else views


async def _depth(call: _Call) -> Any:
    p = call.params
    return convert.depth_view(await call.run("depth", {"venue": call.venue(), "symbol": p["symbol"],
                                                        "limit": p["limit"]}))


async def _trades(call: _Call) -> Any:
    p = call.params
    trades = await call.run("trades", {"venue": call.venue(), "symbol": p["symbol"], "limit": p["limit"]})
    return [convert.trade_view(t) for t in trades]


async def _klines(call: _Call) -> Any:
    p = call.params
    query = {"venue": call.venue(), "symbol": p["symbol"], "interval": p["interval"], "limit": p["limit"]}
    if "startTime" in p:
        query["start"] = p["startTime"]
    if "endTime" in p:
        query["end"] = p["endTime"]
    klines = await call.run("klines", query)
    return [convert.kline_row(k, KLINE_INTERVALS[p["interval"]]) for k in klines]


async def _place_order(call: _Call) -> Any:
    order = await call.run("order.place", convert.place_params(call.params, call.params.get("account")))
    view = convert.order_view(order, call.native(order["venue"], order["symbol"]))
    return {**view, "transactTime": order["updated_ts"]}


async def _find_order(call: _Call) -> dict[str, Any]:
    p = call.params
    if "orderId" not in p and "origClientOrderId" not in p:
        raise RequestError("orderId or origClientOrderId is required", code=ErrorCode.INVALID_PARAMS)
    query = call.account_params()
    if "orderId" in p:
        query["order_id"] = p["orderId"]
    if "origClientOrderId" in p:
        query["client_order_id"] = p["origClientOrderId"]
    order = await call.run("order.get", query)
    if "symbol" in p and call.api.services.directory.instrument(order["venue"], p["symbol"]).symbol != order["symbol"]:
        raise LookupFailed("order not found for this symbol", code=ErrorCode.ORDER_NOT_FOUND)
    return order


async def _cancel_order(call: _Call) -> Any:
    order = await _find_order(call)
    canceled = await call.run("order.cancel", {**call.account_params(), "order_id": order["order_id"],
                                               "client_order_id": order["client_order_id"]})
    return convert.order_view(canceled, call.native(canceled["venue"], canceled["symbol"]))


async def _get_order(call: _Call) -> Any:
    order = await _find_order(call)
    return convert.order_view(order, call.native(order["venue"], order["symbol"]))


def _list_query(call: _Call) -> dict[str, Any]:
    query = call.account_params()
    p = call.params
    if "symbol" in p:
        query["symbol"] = p["symbol"]
    if "startTime" in p:
        query["since"] = p["startTime"]
    if "limit" in p:
        query["limit"] = p["limit"]
    return query


async def _open_orders(call: _Call) -> Any:
    orders = await call.run("orders.open", _list_query(call))
    return [convert.order_view(o, call.native(o["venue"], o["symbol"])) for o in orders]


async def _all_orders(call: _Call) -> Any:
    orders = await call.run("orders.history", _list_query(call))
    return [convert.order_view(o, call.native(o["venue"], o["symbol"])) for o in orders]


async def _account(call: _Call) -> Any:
    balances = await call.run("account.balances", call.account_params())
    account = call.account()
    assert call.principal is not None
    return convert.account_view(account, balances, call.principal.has_permission(Permission.TRADE),
                                call.api.services.clock.now_ms())


async def _my_trades(call: _Call) -> Any:
    query = _list_query(call)
    if "orderId" in call.params:
        query["order_id"] = call.params["orderId"]
    fills = await call.run("fills", query)
    return [convert.fill_view(f, call.native(f["venue"], f["symbol"])) for f in fills]


_OPERATIONS: dict[str, Operation] = {
    "ping": _ping,
    "time": _time,
    "openapi": _openapi,
    "ticker_price": _ticker_price,
    "ticker_24hr": _ticker_24hr,
    "depth": _depth,
    "trades": _trades,
    "klines": _klines,
    "place_order": _place_order,
    "cancel_order": _cancel_order,
    "get_order": _get_order,
    "open_orders": _open_orders,
    "all_orders": _all_orders,
    "account": _account,
    "my_trades": _my_trades,
}