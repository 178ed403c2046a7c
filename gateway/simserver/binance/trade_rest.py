"""The Binance dialect's signed REST endpoints: trading (`trading.OPS`) and the futures listenKey.

Every trading request is SIGNED (fact sheet §1.1): ``X-MBX-APIKEY``, then the HMAC (or Ed25519) signature
over the raw query string concatenated with the raw form body, then the timestamp window (§1.2): -2015,
-1022, -1021 as Binance answers them. Parameters may come in the query string and / or the form body;
the query string wins. ``/fapi/v1/listenKey`` needs the API key only (§4.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from gateway.simserver.binance.account import (
    futures_account,
    futures_balance,
    leverage,
    margin_type,
    position_risk_v2,
    position_risk_v3,
    spot_account,
)
from gateway.simserver.binance.batch import place_batch
from gateway.simserver.binance.limits import check_signed
from gateway.simserver.binance.margin import position_margin
from gateway.simserver.binance.rest import EXTRA_HEADERS, ApiError, Endpoint
from gateway.simserver.binance.trading import (
    Params,
    account_trades,
    all_algo_orders,
    all_orders,
    amend,
    cancel,
    cancel_algo,
    cancel_all,
    cancel_all_algo,
    cancel_batch,
    open_algo_orders,
    open_orders,
    place,
    place_algo,
    query,
    query_algo,
)

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["OPS", "ORDER_WRITES", "trading_endpoints"]

# (market, HTTP method, path) -> (weight, operation) (weights: fact sheet §2, §4).
OPS: dict[tuple[str, str, str], tuple[int, Callable[..., Any]]] = {
    ("spot", "POST", "/api/v3/order"): (1, place),
    ("spot", "DELETE", "/api/v3/order"): (1, cancel),
    ("spot", "GET", "/api/v3/order"): (4, query),
    ("spot", "GET", "/api/v3/openOrders"): (6, open_orders),
    ("spot", "DELETE", "/api/v3/openOrders"): (1, cancel_all),
    ("spot", "GET", "/api/v3/allOrders"): (20, all_orders),
    ("spot", "GET", "/api/v3/myTrades"): (20, account_trades),
    ("spot", "GET", "/api/v3/account"): (20, spot_account),
    ("usdm", "POST", "/fapi/v1/order"): (0, place),
    ("usdm", "PUT", "/fapi/v1/order"): (0, amend),
    ("usdm", "DELETE", "/fapi/v1/order"): (1, cancel),
    ("usdm", "GET", "/fapi/v1/order"): (1, query),
    ("usdm", "GET", "/fapi/v1/openOrders"): (1, open_orders),
    ("usdm", "DELETE", "/fapi/v1/allOpenOrders"): (1, cancel_all),
    ("usdm", "POST", "/fapi/v1/batchOrders"): (5, place_batch),  # counts its orders itself
    ("usdm", "DELETE", "/fapi/v1/batchOrders"): (1, cancel_batch),
    ("usdm", "POST", "/fapi/v1/positionMargin"): (1, position_margin),
    ("usdm", "GET", "/fapi/v1/allOrders"): (5, all_orders),
    ("usdm", "GET", "/fapi/v1/userTrades"): (5, account_trades),
    ("usdm", "POST", "/fapi/v1/algoOrder"): (0, place_algo),
    ("usdm", "DELETE", "/fapi/v1/algoOrder"): (1, cancel_algo),
    ("usdm", "GET", "/fapi/v1/algoOrder"): (1, query_algo),
    ("usdm", "GET", "/fapi/v1/openAlgoOrders"): (1, open_algo_orders),
    ("usdm", "DELETE", "/fapi/v1/algoOpenOrders"): (1, cancel_all_algo),
    ("usdm", "GET", "/fapi/v1/allAlgoOrders"): (5, all_algo_orders),
    ("usdm", "POST", "/fapi/v1/leverage"): (1, leverage),
    ("usdm", "POST", "/fapi/v1/marginType"): (1, margin_type),
    ("usdm", "GET", "/fapi/v2/balance"): (5, futures_balance),
    ("usdm", "GET", "/fapi/v3/balance"): (5, futures_balance),
    ("usdm", "GET", "/fapi/v2/positionRisk"): (5, position_risk_v2),
    ("usdm", "GET", "/fapi/v3/positionRisk"): (5, position_risk_v3),
    ("usdm", "GET", "/fapi/v2/account"): (5, futures_account),
    ("usdm", "GET", "/fapi/v3/account"): (5, futures_account),
}

# The calls that count against the account's ORDERS limits (fact sheet §2, §4: new orders and amends).
ORDER_WRITES = frozenset({("spot", "POST", "/api/v3/order"), ("usdm", "POST", "/fapi/v1/order"),
                          ("usdm", "PUT", "/fapi/v1/order"), ("usdm", "POST", "/fapi/v1/algoOrder")})


async def signed_params(d: BinanceDialect, request: web.Request) -> Params:
    """Return the request's parameters once its signature and timestamp passed. Raises `ApiError`."""
    body = (await request.read()).decode()
    raw_query = request.rel_url.raw_query_string
    check = check_signed(raw_query, body, request.headers.get("X-MBX-APIKEY"), d.keys, d.now_ms())
    if check.code:
        raise ApiError(401 if check.code == -2015 else 400, check.code, check.msg)
    params = dict(parse_qsl(body, keep_blank_values=True))
    params.update(parse_qsl(raw_query, keep_blank_values=True))  # the query string wins (§1.1)
    return params


def _api_key(d: BinanceDialect, request: web.Request) -> str:
    key = request.headers.get("X-MBX-APIKEY")
    if key is None or key not in d.keys:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return key


def _handler(path: str) -> Callable[..., Any]:
    async def handle(d: BinanceDialect, market: str, request: web.Request) -> Any:
        if path == "/fapi/v1/listenKey":
            return d.user_hub.listen_key(request.method, _api_key(d, request))
        entry = OPS.get((market, request.method, path))
        if entry is None:
            raise ApiError(405, -1000, f"{request.method} is not supported on {path}.")
        params = await signed_params(d, request)
        if (market, request.method, path) in ORDER_WRITES:
            request[EXTRA_HEADERS] = d.count_orders(market, 1)  # raises -1015 over the limit
        return await entry[1](d, market, params)

    return handle


def _weight(market: str, path: str) -> Callable[[web.Request], int]:
    def weight(request: web.Request) -> int:
        entry = OPS.get((market, request.method, path))
        if entry is None:
            return 1
        if path in ("/api/v3/openOrders", "/fapi/v1/openOrders") and "symbol" not in request.query:
            return 80 if market == "spot" else 40
        return entry[0]

    return weight


def trading_endpoints() -> dict[str, Endpoint]:
    """Return path -> endpoint of every trading path (each dispatches on the HTTP method)."""
    paths = {(market, path) for market, _, path in OPS} | {("usdm", "/fapi/v1/listenKey")}
    return {path: Endpoint(market, _weight(market, path), _handler(path)) for market, path in sorted(paths)}
