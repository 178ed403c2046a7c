"""Order requests as Binance parameters (fact sheet §2 spot POST /api/v3/order, §4 futures order and algo
order), and the client-order-id rules. Pure.

Prices and quantities go out as the Decimal strings the order manager quantized (`auth.encode_value`
renders a Decimal without exponent), so what is sent is exactly on the tick and step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from gateway.core.enums import OrderType, TimeInForce
from gateway.core.errors import ErrorCode, OrderRejected
from gateway.core.ports import OrderRequest
from gateway.venues.binance.enums import SIDE, SPOT_TYPES, USDM_ALGO_TYPES

__all__ = [
    "ALGO_PREFIX",
    "CLIENT_ID_ALPHABET",
    "CLIENT_ID_MAX_LEN",
    "OrderCall",
    "algo_id_of",
    "amend_params",
    "call_weight",
    "check_client_id",
    "is_public",
    "order_count",
    "order_ref",
    "place_call",
]

CLIENT_ID_MAX_LEN = 36
# Regex character-class bodies. usdm: ^[\.A-Z\:/a-z0-9_-]{1,36}$ (fact sheet §4); spot's is unverified
# (commonly cited ^[a-zA-Z0-9-_]{1,36}$): a setting overrides it.
CLIENT_ID_ALPHABET = {"spot": "A-Za-z0-9_-", "usdm": r".A-Z:/a-z0-9_-"}
ALGO_PREFIX = "algo-"  # the gateway's order id of a futures algo (conditional) order: "algo-<algoId>"


@dataclass(frozen=True, slots=True)
class OrderCall:
    """One REST call: method, path, parameters in the order they are sent, and the request weight."""

    method: str
    path: str
    params: list[tuple[str, object]]
    weight: int = 1
    algo: bool = False  # a futures algo (conditional) order


def check_client_id(client_order_id: str, alphabet: str, max_len: int) -> None:
    """Raise `OrderRejected` (INVALID_PARAMS) unless `client_order_id` matches ``[alphabet]{1,max_len}``."""
    if not re.fullmatch(f"[{alphabet}]{{1,{max_len}}}", client_order_id):
        raise OrderRejected(f"client_order_id {client_order_id!r} breaks Binance's rule [{alphabet}]{{1,{max_len}}}",
                            code=ErrorCode.INVALID_PARAMS, details={"field": "client_order_id"})


def algo_id_of(order_id: str | None) -> str | None:
    """Return the algoId of a gateway order id naming an algo order, else None."""
    if order_id is not None and order_id.startswith(ALGO_PREFIX):
        return order_id[len(ALGO_PREFIX):]
    return None


def order_ref(order_id: str | None, client_order_id: str | None) -> list[tuple[str, object]]:
    """Return ``orderId`` (preferred: fastest) or ``origClientOrderId``. Raises ValueError with neither."""
    if order_id is not None:
        return [("orderId", order_id)]
    if client_order_id is not None:
        return [("origClientOrderId", client_order_id)]
    raise ValueError("an order id or a client order id is required")


def place_call(request: OrderRequest, native: str, market: str, *, working_type: str = "CONTRACT_PRICE",
               price_protect: bool = False) -> OrderCall:
    """Return the call placing `request` on `market` (spot | usdm); see `enums` for the type mapping.

    Raises:
        OrderRejected: NOT_SUPPORTED (reduce-only on spot; post-only without a limit price).
    """
    r = request
    params: list[tuple[str, object]] = [("symbol", native), ("side", SIDE[r.side])]
    post_only = r.tif is TimeInForce.POST_ONLY
    if post_only and not r.type.has_limit_price:
        raise OrderRejected("post_only needs a limit price", code=ErrorCode.NOT_SUPPORTED)
    if market == "spot":
        if r.reduce_only:
            raise OrderRejected("reduce_only is for futures", code=ErrorCode.NOT_SUPPORTED)
        kind = "LIMIT_MAKER" if post_only and r.type is OrderType.LIMIT else SPOT_TYPES[r.type]
        params.append(("type", kind))
        if r.type.has_limit_price and kind != "LIMIT_MAKER":
            params.append(("timeInForce", _tif(r.tif)))
        params.append(("quantity", r.qty))
        if r.type.has_limit_price:
            params.append(("price", r.price))
        if r.type.is_conditional:
            params.append(("stopPrice", r.trigger_price))
        params += [("newClientOrderId", r.client_order_id), ("newOrderRespType", "RESULT")]
        return OrderCall("POST", "/api/v3/order", params, weight=1)
    if r.type.is_conditional:
        params += [("algoType", "CONDITIONAL"), ("type", USDM_ALGO_TYPES[r.type])]
        if r.type.has_limit_price:
            params.append(("timeInForce", "GTX" if post_only else _tif(r.tif)))
        params += [("quantity", r.qty)]
        if r.type.has_limit_price:
            params.append(("price", r.price))
        params += [("triggerPrice", r.trigger_price), ("workingType", working_type)]
        if price_protect:
            params.append(("priceProtect", "TRUE"))
        if r.reduce_only:
            params.append(("reduceOnly", "true"))
        params += [("clientAlgoId", r.client_order_id), ("newOrderRespType", "RESULT")]
        return OrderCall("POST", "/fapi/v1/algoOrder", params, weight=0, algo=True)
    params.append(("type", "LIMIT" if r.type is OrderType.LIMIT else "MARKET"))
    if r.type is OrderType.LIMIT:
        params.append(("timeInForce", "GTX" if post_only else _tif(r.tif)))
    params.append(("quantity", r.qty))
    if r.type is OrderType.LIMIT:
        params.append(("price", r.price))
    if r.reduce_only:
        params.append(("reduceOnly", "true"))
    params += [("newClientOrderId", r.client_order_id), ("newOrderRespType", "RESULT")]
    return OrderCall("POST", "/fapi/v1/order", params, weight=0)


def amend_params(native: str, side: str, order_id: str | None, client_order_id: str | None, qty: Decimal,
                 price: Decimal) -> list[tuple[str, object]]:
    """Return the ``PUT /fapi/v1/order`` params: both quantity and price are required (fact sheet §4)."""
    return [("symbol", native), *order_ref(order_id, client_order_id), ("side", side), ("quantity", qty),
            ("price", price)]


_PUBLIC_PATHS = ("/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/trades",
                    "/api/v3/aggTrades", "/api/v3/klines", "/api/v3/uiKlines", "/api/v3/avgPrice",
                    "/api/v3/ticker", "/fapi/v1/ping", "/fapi/v1/time", "/fapi/v1/exchangeInfo",
                    "/fapi/v1/depth", "/fapi/v1/trades", "/fapi/v1/historicalTrades", "/fapi/v1/aggTrades",
                    "/fapi/v1/klines", "/fapi/v1/continuousKlines", "/fapi/v1/indexPriceKlines",
                    "/fapi/v1/markPriceKlines", "/fapi/v1/premiumIndex", "/fapi/v1/fundingRate",
                    "/fapi/v1/fundingInfo", "/fapi/v1/ticker", "/fapi/v2/ticker")
_WEIGHTS: dict[tuple[str, str, str], int] = {  # (market, method, path) -> weight (fact sheet §2, §4); others: 1
    ("spot", "GET", "/api/v3/order"): 4, ("spot", "GET", "/api/v3/allOrders"): 20,
    ("spot", "GET", "/api/v3/myTrades"): 20, ("spot", "GET", "/api/v3/account"): 20,
    ("usdm", "GET", "/fapi/v1/allOrders"): 5, ("usdm", "GET", "/fapi/v1/userTrades"): 5,
    ("usdm", "GET", "/fapi/v2/positionRisk"): 5, ("usdm", "GET", "/fapi/v3/positionRisk"): 5,
    ("usdm", "GET", "/fapi/v2/balance"): 5, ("usdm", "GET", "/fapi/v3/balance"): 5,
    ("usdm", "GET", "/fapi/v2/account"): 5, ("usdm", "GET", "/fapi/v3/account"): 5,
    ("usdm", "POST", "/fapi/v1/order"): 0, ("usdm", "PUT", "/fapi/v1/order"): 0,
    ("usdm", "POST", "/fapi/v1/algoOrder"): 0,
}


_ORDER_WRITES = frozenset({("spot", "POST", "/api/v3/order"), ("usdm", "POST", "/fapi/v1/order"),
                           ("usdm", "PUT", "/fapi/v1/order"), ("usdm", "POST", "/fapi/v1/algoOrder")})


def order_count(market: str, method: str, path: str) -> int:
    """Return how many units of the account's ORDERS limits a call spends (new orders and amends: 1)."""
    return 1 if (market, method.upper(), path) in _ORDER_WRITES else 0


def call_weight(market: str, method: str, path: str) -> int:
    """Return the request weight of a trading call (1 when the table has none)."""
    return _WEIGHTS.get((market, method, path), 1)


def is_public(path: str) -> bool:
    """Return True for a market-data path (sent unsigned)."""
    return path.startswith(_PUBLIC_PATHS)


def _tif(tif: TimeInForce) -> str:
    return {TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}.get(tif, "GTC")
