"""The Binance dialect's WebSocket API methods: spot ``/ws-api/v3`` and USD-M ``/ws-fapi/v1`` (fact sheet §3.2,
§5), and session authentication (§1.5).

`call` answers one request's ``method`` and ``params`` on a connection (`userhub` owns the connections,
the envelopes and the event delivery). Signed methods are authenticated one of two ways:
- per request: ``apiKey``, ``timestamp``, ``signature`` over the sorted params (§1.4), any key type;
- after ``session.logon`` (Ed25519 keys only, §1.5): the connection is bound to that key, and a request
  without ``apiKey`` / ``signature`` is that key's; ``timestamp`` is still required and checked. A request
  that carries its own signature is checked on its own (it may use another key). ``session.logout`` unbinds
  (the socket stays open, the logon-based user-data subscription ends); ``session.status`` tells.

Spot order methods (``order.place``, ``order.cancel``, ``order.status``, ``openOrders.status``,
``openOrders.cancelAll``, ``allOrders``, ``myTrades``, ``account.status``) and ws-fapi ones (`WS_FAPI`) run
the same operations as REST (`trading`, `account`). Spot user data: ``userDataStream.subscribe.signature``
(any key) or ``userDataStream.subscribe`` (the logged-on key).

The answer to ``session.logon`` with an HMAC key (-4056 "HMAC_SHA256 API key is not supported.") is
**unverified** (the fact sheet states only that Ed25519 is required).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.simserver.binance.account import (
    futures_account,
    futures_balance,
    position_risk_v2,
    position_risk_v3,
    spot_account,
)
from gateway.simserver.binance.limits import check_timestamp, check_ws_signed, is_ed25519_key
from gateway.simserver.binance.market_rest import book_ticker_rows, price_ticker_rows
from gateway.simserver.binance.render import depth_snapshot
from gateway.simserver.binance.rest import ApiError
from gateway.simserver.binance.trading import (
    account_trades,
    all_orders,
    amend,
    cancel,
    cancel_algo,
    cancel_all,
    open_orders,
    place,
    place_algo,
    query,
)

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect
    from gateway.simserver.binance.userhub import UserHub, WsConnection

__all__ = ["ORDER_WRITES", "SPOT_WS_API", "WS_FAPI", "call"]

Operation = Callable[..., Any]
# ws-fapi's signed methods (fact sheet §5) -> the REST operation answering them.
WS_FAPI: dict[str, Operation] = {
    "order.place": place, "order.cancel": cancel, "order.modify": amend, "order.status": query,
    "algoOrder.place": place_algo, "algoOrder.cancel": cancel_algo,
    "account.balance": futures_balance, "v2/account.balance": futures_balance,
    "account.position": position_risk_v2, "v2/account.position": position_risk_v3,
    "account.status": futures_account, "v2/account.status": futures_account}
# The spot WebSocket API's signed trading and account methods (fact sheet §5, last paragraph).
SPOT_WS_API: dict[str, Operation] = {
    "order.place": place, "order.cancel": cancel, "order.status": query, "openOrders.status": open_orders,
    "openOrders.cancelAll": cancel_all, "allOrders": all_orders, "myTrades": account_trades,
    "account.status": spot_account}
# The methods counted against the account's ORDERS limits, per market.
ORDER_WRITES = {"spot": frozenset({"order.place"}),
                "usdm": frozenset({"order.place", "order.modify", "algoOrder.place"})}
_USDM_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_LISTEN_KEY_VERBS = {"userDataStream.start": "POST", "userDataStream.ping": "PUT", "userDataStream.stop": "DELETE"}


def _rejected(code: int, msg: str) -> ApiError:
    return ApiError(401 if code in (-2015, -2014) else 400, code, msg)


def _authenticate(hub: UserHub, conn: WsConnection, params: dict[str, Any]) -> str:
    """Return the API key a signed request acts for (see the module docstring). Raises `ApiError`."""
    d = hub.dialect
    if "signature" in params or conn.logon_key is None:
        check = check_ws_signed(params, d.keys, d.now_ms())
        if check.code:
            raise _rejected(check.code, check.msg)
        return str(params["apiKey"])
    if "apiKey" in params and params["apiKey"] != conn.logon_key:
        raise _rejected(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    check = check_timestamp(params, d.now_ms())
    if check.code:
        raise _rejected(check.code, check.msg)
    return conn.logon_key


def _session(hub: UserHub, conn: WsConnection, method: str, params: dict[str, Any]) -> Any:
    d = hub.dialect
    if method == "session.logon":
        check = check_ws_signed(params, d.keys, d.now_ms())
        if check.code:
            raise _rejected(check.code, check.msg)
        if not is_ed25519_key(d.keys[str(params["apiKey"])]):
            raise ApiError(400, -4056, "HMAC_SHA256 API key is not supported.")
        conn.logon_key = str(params["apiKey"])
        conn.logon_since = d.now_ms()
    elif method == "session.logout":
        hub.end_logon_subscription(conn)
        conn.logon_key = None
        conn.logon_since = None
    elif method != "session.status":
        raise ApiError(400, -1102, f"Unknown method {method}.")
    return {"apiKey": conn.logon_key, "authorizedSince": conn.logon_since, "connectedSince": conn.connected_since,
            "returnRateLimits": True, "serverTime": d.now_ms(),
            "userDataStream": (conn.logon_key in conn.subscriptions.values()) if conn.kind == "spot" else None}


async def call(hub: UserHub, conn: WsConnection, method: str, params: dict[str, Any]) -> Any:
    """Answer one WebSocket API request on `conn` (spot | usdm); return its ``result``. Raises `ApiError`."""
    d = hub.dialect
    if method == "ping":
        return {}
    if method == "time":
        return {"serverTime": d.now_ms()}
    if method.startswith("session."):
        return _session(hub, conn, method, params)
    if conn.kind == "usdm" and method in _LISTEN_KEY_VERBS:  # ws-fapi listenKey management: apiKey only
        api_key = params.get("apiKey") or conn.logon_key
        if api_key not in d.keys:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return hub.listen_key(_LISTEN_KEY_VERBS[method], str(api_key))
    if conn.kind == "spot" and method == "userDataStream.unsubscribe":
        hub.unsubscribe(conn, params.get("subscriptionId"))
        return {}
    if conn.kind == "usdm" and method in ("depth", "ticker.price", "ticker.book"):  # public (§5)
        return _market(d, method, params)
    if conn.kind == "spot" and method == "userDataStream.subscribe":
        if conn.logon_key is None:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return {"subscriptionId": hub.subscribe(conn, conn.logon_key)}
    api_key = _authenticate(hub, conn, params)
    if conn.kind == "spot" and method == "userDataStream.subscribe.signature":
        return {"subscriptionId": hub.subscribe(conn, api_key)}
    op = (WS_FAPI if conn.kind == "usdm" else SPOT_WS_API).get(method)
    if op is None:
        raise ApiError(400, -1102, f"Unknown method {method}.")
    values = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()}
    if method in ORDER_WRITES[conn.kind]:
        d.count_orders(conn.kind, 1)  # -1015 over the account's ORDERS limits
    return await op(d, conn.kind, values)  # order.place applies the ack faults itself (`trading.place`)


def _market(d: BinanceDialect, method: str, params: dict[str, Any]) -> Any:
    wanted = params.get("symbol")
    if method == "ticker.price":
        return price_ticker_rows(d, "usdm", str(wanted) if wanted else None)
    if method == "ticker.book":
        return book_ticker_rows(d, "usdm", str(wanted) if wanted else None)
    if not wanted:
        raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    symbol = d.symbol_of("usdm", str(wanted))
    limit = params.get("limit", 500)
    if limit not in _USDM_DEPTH_LIMITS:
        raise ApiError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is "
                                   "'5, 10, 20, 50, 100, 500, 1000'.")
    last_id, bids, asks = d.feeds[symbol].snapshot(int(limit))
    return depth_snapshot(last_id, bids, asks, True, d.now_ms())
