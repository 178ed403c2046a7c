"""The REST API for strategies: its endpoints, their parameters, params parsing and the OpenAPI document.
Pure.

One table (`ENDPOINTS`) says what each route takes; the server parses every request against it (an
unknown or duplicated parameter is refused), and the OpenAPI document is built from it, so the document
and the behaviour cannot drift apart (tests/component/api/test_rest_api.py checks both against the router).

Parameters come from the query string and, for POST and DELETE, also from a JSON object body or a form
body (`application/x-www-form-urlencoded`). Values arrive as strings (query, form) or JSON scalars.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.core.errors import ErrorCode, RequestError
from gateway.core.events import KLINE_INTERVALS

__all__ = ["ENDPOINTS", "PREFIX", "Endpoint", "Param", "openapi_document", "parse_params"]

PREFIX = "/api/v1"
MAX_TEXT = 64
MAX_INTEGER = 2**53  # larger integers are no time or count the gateway knows


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # string | integer | decimal | enum
    description: str
    required: bool = False
    values: tuple[str, ...] = ()  # enum values
    case_insensitive: bool = True  # enum: BUY, buy and Buy are the same
    minimum: int | None = None
    maximum: int | None = None
    default: int | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    operation: str  # the server's handler name; also the OpenAPI operationId
    summary: str
    params: tuple[Param, ...] = ()
    auth: bool = True  # needs X-API-KEY
    permission: str | None = "read"
    returns: str = "object"  # object | array (for the document)
    tags: tuple[str, ...] = field(default=("market",))

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _symbol(required: bool) -> Param:
    return Param("symbol", "string", "native symbol (BTCUSDT, BTCUSDT_PERP) or unified symbol (BTC/USDT)",
                 required=required)


VENUE = Param("venue", "string", "venue name; the default venue when left out")
ACCOUNT = Param("account", "string", "account (a venue name); the default account when left out")
ORDER_ID = Param("orderId", "string", "the venue's order id")
CLIENT_ID = Param("origClientOrderId", "string", "the client order id")
START = Param("startTime", "integer", "from this time on (epoch ms)", minimum=0)


def _limit(default: int, maximum: int) -> Param:
    return Param("limit", "integer", f"how many (1-{maximum}, default {default})", minimum=1, maximum=maximum,
                 default=default)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", f"{PREFIX}/ping", "ping", "Test connectivity", auth=False, permission=None,
             tags=("general",)),
    Endpoint("GET", f"{PREFIX}/time", "time", "Server time", auth=False, permission=None, tags=("general",)),
    Endpoint("GET", f"{PREFIX}/openapi.json", "openapi", "This document", auth=False, permission=None,
             tags=("general",)),
    Endpoint("GET", f"{PREFIX}/ticker/price", "ticker_price",
             "Latest price of a symbol (every symbol of the venue when none is given)",
             (_symbol(False), VENUE), returns="object|array"),
    Endpoint("GET", f"{PREFIX}/ticker/24hr", "ticker_24hr",
             "24-hour statistics of a symbol (every symbol of the venue when none is given)",
             (_symbol(False), VENUE), returns="object|array"),
    Endpoint("GET", f"{PREFIX}/depth", "depth", "Order book", (_symbol(True), _limit(100, 500), VENUE)),
    Endpoint("GET", f"{PREFIX}/trades", "trades", "Recent trades", (_symbol(True), _limit(500, 1000), VENUE),
             returns="array"),
    Endpoint("GET", f"{PREFIX}/klines", "klines", "Candles, oldest first",
             (_symbol(True),
              Param("interval", "enum", "candle interval", required=True, values=tuple(KLINE_INTERVALS),
                    case_insensitive=False),
              START, Param("endTime", "integer", "up to this open time (epoch ms)", minimum=0),
              _limit(500, 1000), VENUE), returns="array"),
    Endpoint("POST", f"{PREFIX}/order", "place_order", "Place an order (through the order manager)",
             (_symbol(True),
              Param("side", "enum", "BUY or SELL", required=True, values=("BUY", "SELL")),
              Param("type", "enum", "LIMIT, MARKET or LIMIT_MAKER (post-only limit)", required=True,
                    values=("LIMIT", "MARKET", "LIMIT_MAKER")),
              Param("quantity", "decimal", "size in base units (a decimal string)", required=True),
              Param("price", "decimal", "limit price (a decimal string); LIMIT and LIMIT_MAKER only"),
              Param("timeInForce", "enum", "GTC (default), IOC or FOK", values=("GTC", "IOC", "FOK")),
              Param("newClientOrderId", "string", "your id for the order; the same id again returns the "
                    "first order and places nothing"),
              ACCOUNT), permission="trade", tags=("trade",)),
    Endpoint("DELETE", f"{PREFIX}/order", "cancel_order", "Cancel an order (orderId or origClientOrderId)",
             (_symbol(False), ORDER_ID, CLIENT_ID, ACCOUNT), permission="trade", tags=("trade",)),
    Endpoint("GET", f"{PREFIX}/order", "get_order", "Query an order (orderId or origClientOrderId)",
             (_symbol(False), ORDER_ID, CLIENT_ID, ACCOUNT), tags=("trade",)),
    Endpoint("GET", f"{PREFIX}/openOrders", "open_orders", "Open orders, oldest first", (_symbol(False), ACCOUNT),
             returns="array", tags=("trade",)),
    Endpoint("GET", f"{PREFIX}/allOrders", "all_orders", "Orders, open and closed, oldest first",
             (_symbol(False), START, _limit(500, 5000), ACCOUNT), returns="array", tags=("trade",)),
    Endpoint("GET", f"{PREFIX}/account", "account", "Balances of the account", (ACCOUNT,), tags=("account",)),
    Endpoint("GET", f"{PREFIX}/myTrades", "my_trades", "The account's fills, oldest first",
             (_symbol(False), ORDER_ID, START, _limit(500, 5000), ACCOUNT), returns="array", tags=("account",)),
)


# --- params -------------------------------------------------------------------------------------------


def _invalid(message: str, name: str | None = None) -> RequestError:
    return RequestError(message, code=ErrorCode.INVALID_PARAMS, details={"field": name} if name else {})


def _coerce(param: Param, value: Any) -> Any:
    name = param.name
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise _invalid(f"{name} must be a {'number' if param.kind in ('integer', 'decimal') else 'string'}", name)
    if param.kind == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            text = value.strip()
            if not text.isdigit() or len(text) > 19:
                raise _invalid(f"{name} must be an integer", name)
            value = int(text)
        if not isinstance(value, int):
            raise _invalid(f"{name} must be an integer", name)
        if param.minimum is not None and value < param.minimum:
            raise _invalid(f"{name} must be >= {param.minimum}", name)
        maximum = param.maximum if param.maximum is not None else MAX_INTEGER
        if value > maximum:
            raise _invalid(f"{name} must be <= {maximum}", name)
        return value
    if param.kind == "decimal":
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except (InvalidOperation, ValueError):
            raise _invalid(f"{name} must be a decimal string", name) from None
        if not number.is_finite() or len(str(value)) > MAX_TEXT:
            raise _invalid(f"{name} must be a finite decimal string", name)
        return number
    if isinstance(value, float):
        raise _invalid(f"{name} must be a string", name)
    text = str(value)
    if not text or len(text) > MAX_TEXT:
        raise _invalid(f"{name} must be 1-{MAX_TEXT} characters", name)
    if param.kind == "enum":
        wanted = text.upper() if param.case_insensitive else text
        if wanted not in param.values:
            raise _invalid(f"{name} must be one of {', '.join(param.values)}", name)
        return wanted
    return text


def parse_params(endpoint: Endpoint, items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Validate a request's parameters (query and body items) against the endpoint; return them typed.

    Absent optional parameters get their default (limits) or are left out.

    Raises:
        RequestError: INVALID_PARAMS for an unknown parameter, one given twice with different values,
            a missing required one, or a value of the wrong type or out of range. Values are never echoed.
    """
    seen: dict[str, Any] = {}
    for name, value in items:
        param = endpoint.param(name)
        if param is None:
            shown = name if len(name) <= MAX_TEXT else name[:MAX_TEXT] + "..."
            accepted = ", ".join(p.name for p in endpoint.params) or "none"
            raise _invalid(f"unknown parameter {shown!r}; {endpoint.method} {endpoint.path} takes: {accepted}")
        typed = _coerce(param, value)
        if name in seen and seen[name] != typed:
            raise _invalid(f"{name} is given twice with different values", name)
        seen[name] = typed
    for param in endpoint.params:
        if param.name not in seen:
            if param.required:
                raise _invalid(f"{param.name} is required", param.name)
            if param.default is not None:
                seen[param.name] = param.default
    return seen


# --- the OpenAPI document -----------------------------------------------------------------------------


def _schema(param: Param) -> dict[str, Any]:
    if param.kind == "integer":
        schema: dict[str, Any] = {"type": "integer", "format": "int64"}
        if param.minimum is not None:
            schema["minimum"] = param.minimum
        schema["maximum"] = param.maximum if param.maximum is not None else MAX_INTEGER
        if param.default is not None:
            schema["default"] = param.default
        return schema
    if param.kind == "decimal":
        return {"type": "string", "format": "decimal", "example": "0.01"}
    if param.kind == "enum":
        return {"type": "string", "enum": list(param.values)}
    return {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}


_ERROR = {"$ref": "#/components/responses/Error"}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation,
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        "parameters": [
            {"name": p.name, "in": "query", "required": p.required, "description": p.description,
             "schema": _schema(p)}
            for p in endpoint.params
        ],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _result(endpoint)}}},
                      "400": _ERROR},
    }
    if endpoint.auth:
        operation["security"] = [{"ApiKey": []}]
        operation["responses"]["401"] = _ERROR
        operation["responses"]["403"] = _ERROR
        operation["x-permission"] = endpoint.permission
    else:
        operation["security"] = []
    if endpoint.method in ("POST", "DELETE") and endpoint.params:
        body = {
            "type": "object",
            "additionalProperties": False,
            "properties": {p.name: _schema(p) for p in endpoint.params},
            "required": [p.name for p in endpoint.params if p.required],
        }
        if not body["required"]:
            del body["required"]
        operation["requestBody"] = {
            "required": False,
            "description": "the same parameters as a JSON object or a form, instead of (or beside) the query",
            "content": {"application/json": {"schema": body}, "application/x-www-form-urlencoded": {"schema": body}},
        }
    return operation


def _result(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.returns == "array":
        return {"type": "array", "items": {"type": "object"}}
    if endpoint.returns == "object|array":
        return {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}
    return {"type": "object"}


def openapi_document(endpoints: Iterable[Endpoint] = ENDPOINTS) -> dict[str, Any]:
    """Build the OpenAPI 3 document of the REST API."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "gateway REST API for strategies",
            "version": "1",
            "description": "Binance-like REST over the gateway's market cache and order manager (docs/rest-api.md). "
                           "Decimals are strings; times are epoch milliseconds.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "msg"],
                    "properties": {
                        "code": {"type": "string", "description": "an error code of docs/strategy-api.md"},
                        "msg": {"type": "string"},
                    },
                }
            },
            "responses": {
                "Error": {"description": "an error", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
        },
    }
