"""The REST API for strategies over real HTTP on loopback, against an in-process gateway with the sim.

The seed's example flow (../shared/reference/simulated-exchange-api-guide.md): account, a limit buy with a
client order id, query, cancel — with the seed's own request shapes (`X-API-KEY`, a JSON body).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.api.rest.spec import ENDPOINTS, PREFIX
from tests.component.frontdoors.helpers import READER_KEY, front_door_overrides, serve_front_doors
from tests.conftest import LOCAL_KEY

ORDER_KEYS = {"symbol", "orderId", "clientOrderId", "price", "origQty", "executedQty", "cummulativeQuoteQty",
              "avgPrice", "status", "timeInForce", "type", "side", "time", "updateTime", "account"}


@pytest.fixture
async def doors(gateway_factory):
    gateway = await gateway_factory(**front_door_overrides())
    async with serve_front_doors(gateway) as front:
        yield front


def assert_error(status: int, body: dict, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"code", "msg"} and body["code"] == code, body
    assert isinstance(body["msg"], str) and "Traceback" not in body["msg"]


async def far_bid(doors) -> str:
    _, book = await doors.rest("GET", "/api/v1/depth", params={"symbol": "BTCUSDT", "limit": "5"})
    return str((Decimal(book["bids"][0][0]) * Decimal("0.5")).quantize(Decimal("0.01")))


async def test_the_seed_example_flow(doors) -> None:
    headers = {"X-API-KEY": LOCAL_KEY}
    status, account = await doors.rest("GET", "/api/v1/account", key=None, headers=headers)
    assert status == 200
    balances = {b["asset"]: b for b in account["balances"]}
    assert Decimal(balances["USDT"]["free"]) == Decimal(100_000) and balances["USDT"]["locked"] == "0"
    assert account["canTrade"] is True and account["account"] == "sim"

    order_data = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "20000",
                  "newClientOrderId": "my_order_id_123"}
    status, order = await doors.rest("POST", "/api/v1/order", key=None, headers=headers, json=order_data)
    assert status == 200, order
    assert set(order) == ORDER_KEYS | {"transactTime"}
    assert order["symbol"] == "BTCUSDT" and order["clientOrderId"] == "my_order_id_123"
    assert order["status"] == "NEW" and order["side"] == "BUY" and order["type"] == "LIMIT"
    assert Decimal(order["price"]) == 20000 and Decimal(order["origQty"]) == Decimal("0.01")
    assert order["executedQty"] == "0" and order["timeInForce"] == "GTC"

    status, again = await doors.rest("POST", "/api/v1/order", json=order_data)  # idempotent by client id
    assert status == 200 and again["orderId"] == order["orderId"]

    status, found = await doors.rest("GET", "/api/v1/order",
                                     params={"symbol": "BTCUSDT", "origClientOrderId": "my_order_id_123"})
    assert status == 200 and found["orderId"] == order["orderId"] and found["status"] == "NEW"
    status, found = await doors.rest("GET", "/api/v1/order", params={"symbol": "BTCUSDT",
                                                                     "orderId": order["orderId"]})
    assert status == 200 and found["clientOrderId"] == "my_order_id_123"

    status, open_orders = await doors.rest("GET", "/api/v1/openOrders", params={"symbol": "BTCUSDT"})
    assert [o["orderId"] for o in open_orders] == [order["orderId"]]
    _, account = await doors.rest("GET", "/api/v1/account")
    usdt = next(b for b in account["balances"] if b["asset"] == "USDT")
    assert Decimal(usdt["locked"]) > 200  # 0.01 x 20000 (+ fee) held

    # The seed's cancel: DELETE with the params in the query string.
    status, canceled = await doors.rest("DELETE", f"/api/v1/order?symbol=BTCUSDT&orderId={order['orderId']}")
    assert status == 200 and canceled["status"] == "CANCELED" and canceled["orderId"] == order["orderId"]
    status, open_orders = await doors.rest("GET", "/api/v1/openOrders")
    assert open_orders == []
    status, orders = await doors.rest("GET", "/api/v1/allOrders", params={"symbol": "BTCUSDT"})
    assert [(o["orderId"], o["status"]) for o in orders] == [(order["orderId"], "CANCELED")]


async def test_the_seed_strategy_reads(doors) -> None:
    status, ticker = await doors.rest("GET", "/api/v1/ticker/price?symbol=BTCUSDT")
    assert status == 200 and set(ticker) == {"symbol", "price"} and Decimal(ticker["price"]) > 0
    status, book = await doors.rest("GET", "/api/v1/depth?symbol=BTCUSDT&limit=10")
    assert status == 200 and set(book) == {"lastUpdateId", "bids", "asks"}
    assert len(book["bids"]) == 10 and all(isinstance(p, str) and isinstance(q, str) for p, q in book["bids"])
    assert Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])


async def test_market_data_endpoints(doors) -> None:
    status, tickers = await doors.rest("GET", "/api/v1/ticker/price")
    assert status == 200 and {t["symbol"] for t in tickers} == {"BTCUSDT", "ETHUSDT", "BTCUSDT_PERP"}
    status, day = await doors.rest("GET", "/api/v1/ticker/24hr", params={"symbol": "ETH/USDT"})
    assert status == 200 and day["symbol"] == "ETHUSDT"
    assert Decimal(day["bidPrice"]) < Decimal(day["askPrice"]) and Decimal(day["volume"]) >= 0
    status, trades = await doors.rest("GET", "/api/v1/trades", params={"symbol": "BTCUSDT", "limit": "5"})
    assert status == 200 and 0 < len(trades) <= 5
    assert set(trades[0]) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker"}
    status, klines = await doors.rest("GET", "/api/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m",
                                                                       "limit": "3"})
    assert status == 200 and 0 < len(klines) <= 3
    assert all(len(k) == 7 and k[6] == k[0] + 59_999 for k in klines)
    status, ping = await doors.rest("GET", "/api/v1/ping", key=None)
    assert status == 200 and ping == {}
    status, now = await doors.rest("GET", "/api/v1/time", key=None)
    assert status == 200 and now["serverTime"] > 0


async def test_market_order_and_my_trades_with_a_form_body(doors) -> None:
    status, order = await doors.rest("POST", "/api/v1/order", data={"symbol": "ETHUSDT", "side": "sell",
                                                                    "type": "market", "quantity": "0.1"})
    assert status == 200, order
    assert order["status"] == "FILLED" and Decimal(order["executedQty"]) == Decimal("0.1")
    assert Decimal(order["cummulativeQuoteQty"]) > 0
    status, fills = await doors.rest("GET", "/api/v1/myTrades", params={"symbol": "ETHUSDT",
                                                                        "orderId": order["orderId"]})
    assert status == 200 and fills
    assert {f["orderId"] for f in fills} == {order["orderId"]}
    assert sum(Decimal(f["qty"]) for f in fills) == Decimal("0.1") and fills[0]["isBuyer"] is False


async def test_post_params_in_the_query_string(doors) -> None:
    price = await far_bid(doors)
    status, order = await doors.rest("POST", "/api/v1/order", params={
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.001", "price": price})
    assert status == 200 and order["type"] == "LIMIT_MAKER", order
    status, _ = await doors.rest("DELETE", "/api/v1/order", json={"orderId": order["orderId"]})
    assert status == 200


# --- errors -------------------------------------------------------------------------------------------


async def test_keys(doors) -> None:
    status, body = await doors.rest("GET", "/api/v1/account", key=None)
    assert_error(status, body, 401, "UNAUTHENTICATED")
    status, body = await doors.rest("GET", "/api/v1/account", key="not-a-key-at-all")
    assert_error(status, body, 401, "UNAUTHENTICATED")
    status, body = await doors.rest("POST", "/api/v1/order", key=READER_KEY, json={
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "20000"})
    assert_error(status, body, 403, "FORBIDDEN")
    status, body = await doors.rest("GET", "/api/v1/account", key=READER_KEY)
    assert status == 200 and body["canTrade"] is False


@pytest.mark.parametrize(("params", "status", "code", "needle"), [
    ({"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "20000"}, 400, "INVALID_PARAMS", "symbol"),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "price": "20000"}, 400, "INVALID_PARAMS", "quantity"),
    ({"symbol": "BTCUSDT", "side": "UP", "type": "LIMIT", "quantity": "1"}, 400, "INVALID_PARAMS", "side"),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "abc"}, 400, "INVALID_PARAMS", "quantity"),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": 5, "price": True}, 400, "INVALID_PARAMS",
     "price"),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1", "x": "1"}, 400,
     "INVALID_PARAMS", "unknown parameter"),
    ({"symbol": "NOPEUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1"}, 400, "UNKNOWN_SYMBOL",
     "NOPEUSDT"),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "20000", "account": "x"},
     404, "UNKNOWN_VENUE", "x"),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.0000001", "price": "20000"}, 400,
     "PRECISION", ""),
    ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "100", "price": "20000"}, 422,
     "VENUE_REJECTED", ""),
])
async def test_order_errors(doors, params, status, code, needle) -> None:
    got, body = await doors.rest("POST", "/api/v1/order", json=params)
    assert_error(got, body, status, code)
    assert needle in body["msg"]
    _, open_orders = await doors.rest("GET", "/api/v1/openOrders")
    assert open_orders == []


async def test_duplicate_client_order_id_with_another_side(doors) -> None:
    price = await far_bid(doors)
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": price,
             "newClientOrderId": "dup-1"}
    assert (await doors.rest("POST", "/api/v1/order", json=order))[0] == 200
    status, body = await doors.rest("POST", "/api/v1/order", json={**order, "side": "SELL", "price": "999999"})
    assert_error(status, body, 409, "DUPLICATE_CLIENT_ID")


async def test_query_errors(doors) -> None:
    status, body = await doors.rest("GET", "/api/v1/order", params={"orderId": "424242424"})
    assert_error(status, body, 404, "ORDER_NOT_FOUND")
    status, body = await doors.rest("GET", "/api/v1/order", params={"symbol": "BTCUSDT"})
    assert_error(status, body, 400, "INVALID_PARAMS")
    status, body = await doors.rest("GET", "/api/v1/depth", params={"symbol": "BTCUSDT", "limit": "9999"})
    assert_error(status, body, 400, "INVALID_PARAMS")
    status, body = await doors.rest("GET", "/api/v1/klines", params={"symbol": "BTCUSDT", "interval": "1M"})
    assert_error(status, body, 400, "INVALID_PARAMS")
    status, body = await doors.rest("GET", "/api/v1/depth?symbol=BTCUSDT&symbol=ETHUSDT")
    assert_error(status, body, 400, "INVALID_PARAMS")
    status, body = await doors.rest("POST", "/api/v1/order", data=b"{broken", headers={
        "Content-Type": "application/json"})
    assert_error(status, body, 400, "INVALID_JSON")
    status, body = await doors.rest("POST", "/api/v1/order", json=[1, 2])
    assert_error(status, body, 400, "INVALID_REQUEST")


async def test_unknown_paths_and_methods_answer_json(doors) -> None:
    status, body = await doors.rest("GET", "/api/v1/nothing")
    assert_error(status, body, 404, "UNKNOWN_METHOD")
    status, body = await doors.rest("PUT", "/api/v1/order", json={})
    assert_error(status, body, 405, "INVALID_REQUEST")
    assert "DELETE, GET, POST" in body["msg"]


# --- the OpenAPI document is true --------------------------------------------------------------------------


async def api_routes(doors) -> set[tuple[str, str]]:
    found = set()
    for route in doors.ops._app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(PREFIX) and path != PREFIX + "/{tail}":  # the JSON 404/405 fallback
            found.add((route.method, path))
    return found


async def test_openapi_lists_exactly_the_routes_of_the_router(doors) -> None:
    status, document = await doors.rest("GET", "/api/v1/openapi.json", key=None)
    assert status == 200 and document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    routes = await api_routes(doors)
    heads = {(m, p) for m, p in routes if m == "HEAD"}  # aiohttp serves HEAD beside every GET
    assert {("GET", p) for _, p in heads} <= routes
    assert documented == routes - heads
    seed = {("GET", f"{PREFIX}/{p}") for p in ("ping", "time", "ticker/price", "ticker/24hr", "depth", "trades",
                                                 "klines", "order", "openOrders", "allOrders", "account", "myTrades")}
    assert seed | {("POST", f"{PREFIX}/order"), ("DELETE", f"{PREFIX}/order")} <= documented


SAMPLE = {"symbol": "BTCUSDT", "venue": "sim", "account": "sim", "limit": "5", "interval": "1m",
          "startTime": "0", "endTime": "1", "side": "BUY", "type": "LIMIT", "quantity": "0.00001", "price": "1",
          "timeInForce": "GTC", "newClientOrderId": "doc-check-1", "orderId": "1", "origClientOrderId": "x1"}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_openapi_parameters_are_the_parameters_the_endpoint_takes(doors, endpoint) -> None:
    _, document = await doors.rest("GET", "/api/v1/openapi.json", key=None)
    operation = document["paths"][endpoint.path][endpoint.method.lower()]
    parameters = {p["name"]: p for p in operation["parameters"]}
    for name, doc in parameters.items():  # every documented parameter is taken (never "unknown")
        assert doc["in"] == "query"
        params = {p: SAMPLE[p] for p, d in parameters.items() if d["required"]}
        params[name] = SAMPLE[name]
        status, body = await doors.rest(endpoint.method, endpoint.path, key=READER_KEY, params=params)
        assert "unknown parameter" not in str(body), (name, body)
        assert status != 500
    # an undocumented one is refused, by name
    required = {p: SAMPLE[p] for p, d in parameters.items() if d["required"]}
    status, body = await doors.rest(endpoint.method, endpoint.path, key=READER_KEY,
                                    params={**required, "undocumented": "1"})
    assert_error(status, body, 400, "INVALID_PARAMS")
    assert "undocumented" in body["msg"]
    # and a documented required one is required
    for name in required:
        status, body = await doors.rest(endpoint.method, endpoint.path, key=READER_KEY,
                                        params={k: v for k, v in required.items() if k != name})
        assert_error(status, body, 400, "INVALID_PARAMS")
        assert name in body["msg"]
    assert ("security" in operation and operation["security"] == []) is (not endpoint.auth)
