"""Order requests as Binance parameters, client-id rules, and the dialect's user-event renderer. Pure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, OrderRejected
from gateway.core.ports import OrderRequest
from gateway.venues.binance.trading import CLIENT_ID_ALPHABET, algo_id_of, check_client_id, place_call


def _req(type_: OrderType, tif: TimeInForce = TimeInForce.GTC, reduce_only: bool = False) -> OrderRequest:
    price = Decimal("65000.10") if type_.has_limit_price else None
    trigger = Decimal("64000.0") if type_.is_conditional else None
    return OrderRequest("X", Side.SELL, type_, Decimal("0.00100"), "gw-1", price, trigger, tif, reduce_only)


@pytest.mark.parametrize(("market", "type_", "tif", "path", "expected"), [
    ("spot", OrderType.LIMIT, TimeInForce.GTC, "/api/v3/order",
     {"type": "LIMIT", "timeInForce": "GTC", "price": "65000.10", "quantity": "0.00100"}),
    ("spot", OrderType.LIMIT, TimeInForce.POST_ONLY, "/api/v3/order", {"type": "LIMIT_MAKER"}),
    ("spot", OrderType.LIMIT, TimeInForce.FOK, "/api/v3/order", {"timeInForce": "FOK"}),
    ("spot", OrderType.MARKET, TimeInForce.GTC, "/api/v3/order", {"type": "MARKET"}),
    ("spot", OrderType.STOP_LIMIT, TimeInForce.GTC, "/api/v3/order",
     {"type": "STOP_LOSS_LIMIT", "stopPrice": "64000.0"}),
    ("usdm", OrderType.LIMIT, TimeInForce.POST_ONLY, "/fapi/v1/order", {"type": "LIMIT", "timeInForce": "GTX"}),
    ("usdm", OrderType.LIMIT, TimeInForce.IOC, "/fapi/v1/order", {"timeInForce": "IOC"}),
    ("usdm", OrderType.MARKET, TimeInForce.GTC, "/fapi/v1/order", {"type": "MARKET"}),
    ("usdm", OrderType.STOP, TimeInForce.GTC, "/fapi/v1/algoOrder",
     {"algoType": "CONDITIONAL", "type": "STOP_MARKET", "triggerPrice": "64000.0", "clientAlgoId": "gw-1"}),
    ("usdm", OrderType.TAKE_PROFIT_LIMIT, TimeInForce.GTC, "/fapi/v1/algoOrder",
     {"type": "TAKE_PROFIT", "price": "65000.10", "timeInForce": "GTC"}),
])
def test_place_call(market: str, type_: OrderType, tif: TimeInForce, path: str, expected: dict[str, str]) -> None:
    call = place_call(_req(type_, tif), "BTCUSDT", market)
    params = {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in call.params}
    assert call.path == path and call.method == "POST" and params["side"] == "SELL"
    assert expected.items() <= params.items()
    assert ("timeInForce" in params) == (type_.has_limit_price and params.get("type") != "LIMIT_MAKER")
    assert call.algo == (path == "/fapi/v1/algoOrder")


def test_reduce_only_is_futures_only() -> None:
    params = dict(place_call(_req(OrderType.LIMIT, reduce_only=True), "BTCUSDT", "usdm").params)
    assert params["reduceOnly"] == "true"
    with pytest.raises(OrderRejected) as caught:
        place_call(_req(OrderType.LIMIT, reduce_only=True), "BTCUSDT", "spot")
    assert caught.value.code is ErrorCode.NOT_SUPPORTED


@pytest.mark.parametrize(("market", "client_id", "ok"), [
    ("spot", "gw-1_A", True), ("spot", "a" * 36, True), ("spot", "a" * 37, False), ("spot", "gw:1", False),
    ("usdm", "gw:1/x.y", True), ("usdm", "gw 1", False), ("usdm", "", False),
])
def test_client_order_id_rules(market: str, client_id: str, ok: bool) -> None:
    if ok:
        check_client_id(client_id, CLIENT_ID_ALPHABET[market], 36)
    else:
        with pytest.raises(OrderRejected):
            check_client_id(client_id, CLIENT_ID_ALPHABET[market], 36)


def test_algo_ids() -> None:
    assert algo_id_of("algo-42") == "42" and algo_id_of("42") is None and algo_id_of(None) is None
