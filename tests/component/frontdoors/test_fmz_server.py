"""The FMZ general-protocol bridge over real HTTP on loopback, against an in-process gateway with the sim.

Every request below is shaped exactly like the seed's examples (../shared/reference/fmz-general-protocol.md):
`POST /<path>` with `{access_key, method, nonce, params, secret_key}`; every answer is checked against the
seed's response shape.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
import structlog

from tests.component.frontdoors.helpers import (
    FMZ_ACCESS,
    FMZ_SECRET,
    READER_ACCESS,
    READER_SECRET,
    front_door_overrides,
    serve_front_doors,
)

ORDER_KEYS = {"id", "symbol", "amount", "price", "deal_amount", "avg_price", "type", "status"}
NUMBER = (int, float)


@pytest.fixture
async def doors(gateway_factory):
    gateway = await gateway_factory(**front_door_overrides())
    async with serve_front_doors(gateway) as front:
        yield front


def assert_error(status: int, body: dict, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"].startswith(f"{code}: "), body
    assert "Traceback" not in body["error"]


async def far_bid(doors, symbol: str = "ETH_USDT") -> Decimal:
    _, ticker = await doors.fmz("ticker", {"symbol": symbol})
    return (Decimal(ticker["data"]["buy"]) * Decimal("0.8")).quantize(Decimal("0.01"))


# --- every seed method, shaped like the seed ----------------------------------------------------------


async def test_ticker(doors) -> None:
    status, body = await doors.fmz("ticker", {"symbol": "ETH_USDT"})
    assert status == 200
    data = body["data"]
    assert set(data) == {"symbol", "buy", "sell", "high", "low", "open", "last", "vol", "time"}
    assert data["symbol"] == "ETH_USDT"
    assert all(isinstance(v, str) for v in data.values())
    assert Decimal(data["buy"]) < Decimal(data["sell"]) and data["time"].isdigit()
    assert body["raw"]["ticker"]["symbol"] == "ETH/USDT"  # the gateway's own answer


async def test_ticker_with_an_incomplete_symbol_is_an_error(doors) -> None:
    status, body = await doors.fmz("ticker", {"symbol": "USDT"})  # the seed's own example
    assert_error(status, body, 400, "UNKNOWN_SYMBOL")
    assert "ETH_USDT" in body["error"]


async def test_depth(doors) -> None:
    status, body = await doors.fmz("depth", {"limit": "30", "symbol": "ETH_USDT"})
    assert status == 200
    data = body["data"]
    assert set(data) == {"time", "asks", "bids"} and isinstance(data["time"], int)
    assert 0 < len(data["asks"]) <= 30 and 0 < len(data["bids"]) <= 30
    for price, amount in data["asks"] + data["bids"]:
        assert isinstance(price, NUMBER) and isinstance(amount, NUMBER)
    assert data["bids"][0][0] < data["asks"][0][0]
    assert data["asks"] == sorted(data["asks"]) and data["bids"] == sorted(data["bids"], reverse=True)


async def test_trades(doors) -> None:
    status, body = await doors.fmz("trades", {"symbol": "eth_usdt"})  # the seed sends it lower case
    assert status == 200 and body["data"]
    for trade in body["data"]:
        assert set(trade) == {"id", "time", "price", "amount", "type"}
        assert trade["type"] in ("buy", "sell") and isinstance(trade["price"], NUMBER)
        assert isinstance(trade["time"], int)


async def test_records_period_is_in_minutes_and_time_in_seconds(doors) -> None:
    status, body = await doors.fmz("records", {"limit": "500", "period": "60", "symbol": "ETH_USDT"})
    assert status == 200
    rows = body["data"]
    assert rows and all(len(row) == 6 and all(isinstance(v, NUMBER) for v in row) for row in rows)
    assert all(row[0] < 10**11 for row in rows)  # seconds, as the seed's 1500793319
    assert all(row[0] % 3600 == 0 for row in rows)  # "60" = 60 minutes
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert body["raw"][0]["interval"] == "1h"
    status, body = await doors.fmz("records", {"limit": "3", "period": "1", "symbol": "ETH_USDT"})
    assert status == 200 and len(body["data"]) <= 3 and body["raw"][0]["interval"] == "1m"


async def test_records_with_an_unsupported_period(doors) -> None:
    status, body = await doors.fmz("records", {"limit": "10", "period": "7", "symbol": "ETH_USDT"})
    assert_error(status, body, 400, "INVALID_PARAMS")
    assert "minutes" in body["error"]


@pytest.mark.parametrize("method", ["accounts", "assets"])
async def test_accounts_and_assets(doors, method) -> None:
    status, body = await doors.fmz(method, {})
    assert status == 200
    rows = {row["currency"]: row for row in body["data"]}
    assert set(rows) >= {"USDT", "BTC", "ETH"}
    for row in body["data"]:
        assert set(row) == {"currency", "free", "frozen"} and all(isinstance(v, str) for v in row.values())
    assert Decimal(rows["USDT"]["free"]) > 0


async def test_trade_orders_order_cancel_historyorders(doors) -> None:
    price = await far_bid(doors)
    status, body = await doors.fmz("trade", {"amount": "0.1", "price": str(price), "symbol": "ETH_USDT",
                                             "type": "buy"})
    assert status == 200 and set(body["data"]) == {"id"}, body
    order_id = body["data"]["id"]
    assert order_id.startswith("ETH-USDT,") and order_id.split(",", 1)[1] == body["raw"]["order_id"]

    status, body = await doors.fmz("orders", {"symbol": "ETH_USDT"})
    assert status == 200
    (row,) = [o for o in body["data"] if o["id"] == order_id]
    assert set(row) == ORDER_KEYS
    assert row == {"id": order_id, "symbol": "ETH_USDT", "amount": 0.1, "price": float(price), "deal_amount": 0,
                   "avg_price": 0, "type": "buy", "status": "pending"}

    status, body = await doors.fmz("order", {"id": order_id, "symbol": "ETH_USDT"})
    assert status == 200 and body["data"] == row

    status, body = await doors.fmz("cancel", {"id": order_id, "symbol": "ETH_USDT"})
    assert status == 200 and body["data"] is True and body["raw"]["status"] == "canceled"

    status, body = await doors.fmz("order", {"id": order_id, "symbol": "ETH_USDT"})
    assert body["data"]["status"] == "canceled"
    status, body = await doors.fmz("orders", {"symbol": "ETH_USDT"})
    assert order_id not in [o["id"] for o in body["data"]]

    status, body = await doors.fmz("historyorders", {"limit": 0, "since": 0, "symbol": "ETH_USDT"})
    assert status == 200
    (row,) = [o for o in body["data"] if o["id"] == order_id]
    assert set(row) == ORDER_KEYS and row["status"] == "canceled"


async def test_market_trade_fills_and_history_says_filled(doors) -> None:
    status, body = await doors.fmz("trade", {"amount": "0.01", "price": -1, "symbol": "ETH_USDT", "type": "buy"})
    assert status == 200, body
    order_id = body["data"]["id"]
    status, body = await doors.fmz("order", {"id": order_id, "symbol": "ETH_USDT"})
    assert body["data"]["status"] == "filled" and body["data"]["deal_amount"] == 0.01
    assert body["data"]["avg_price"] > 0
    status, body = await doors.fmz("historyorders", {"limit": 0, "since": 0, "symbol": "ETH_USDT"})
    assert any(o["id"] == order_id and o["status"] == "filled" for o in body["data"])


async def test_order_of_another_market_is_not_found(doors) -> None:
    price = await far_bid(doors)
    _, body = await doors.fmz("trade", {"amount": "0.1", "price": str(price), "symbol": "ETH_USDT", "type": "buy"})
    venue_id = body["data"]["id"].split(",", 1)[1]
    status, body = await doors.fmz("order", {"id": f"BTC-USDT,{venue_id}", "symbol": "BTC_USDT"})
    assert_error(status, body, 404, "ORDER_NOT_FOUND")
    status, body = await doors.fmz("cancel", {"id": f"BTC-USDT,{venue_id}", "symbol": "BTC_USDT"})
    assert_error(status, body, 404, "ORDER_NOT_FOUND")
    status, body = await doors.fmz("order", {"id": "ETH-USDT,999999999", "symbol": "ETH_USDT"})
    assert_error(status, body, 404, "ORDER_NOT_FOUND")


# --- futures --------------------------------------------------------------------------------------------


async def test_positions_marginlevel_fundings(doors) -> None:
    status, body = await doors.fmz("marginlevel", {"symbol": "BTC_USDT.swap", "marginLevel": 5})
    assert status == 200 and body["data"] is True and body["raw"]["leverage"] == 5
    status, body = await doors.fmz("trade", {"amount": "0.01", "price": "-1", "symbol": "BTC_USDT.swap",
                                             "type": "sell"})
    assert status == 200 and body["data"]["id"].startswith("BTC-USDT-SWAP,")
    status, body = await doors.fmz("positions", {"symbol": "BTC_USDT.swap"})
    assert status == 200
    (position,) = body["data"]
    assert set(position) == {"symbol", "margin_level", "amount", "frozen_amount", "price", "profit", "type",
                             "contract_type", "margin"}
    assert position["symbol"] == "BTC_USDT.swap" and position["type"] == "short" and position["amount"] == 0.01
    assert position["margin_level"] == 5
    status, body = await doors.fmz("trade", {"amount": "0.01", "price": "-1", "symbol": "BTC_USDT.swap",
                                             "type": "closesell"})
    assert status == 200 and body["raw"]["reduce_only"] is True
    _, body = await doors.fmz("positions", {})
    assert body["data"] == []

    for _ in range(50):  # the sim's market loop publishes a mark price event for the perp
        status, body = await doors.fmz("fundings", {"symbol": "BTC_USDT.swap"})
        if status == 200:
            break
        await asyncio.sleep(0.05)
    (funding,) = body["data"]
    assert set(funding) == {"symbol", "interval", "time", "rate"}
    assert funding["symbol"] == "BTC_USDT.swap" and funding["time"] > time.time() * 1000 - 60_000
    assert Decimal(str(funding["rate"])) == Decimal(body["raw"][0]["funding_rate"])


async def test_futures_methods_refuse_spot_symbols(doors) -> None:
    status, body = await doors.fmz("marginlevel", {"symbol": "ETH_USDT", "marginLevel": 5})
    assert_error(status, body, 400, "INVALID_PARAMS")
    status, body = await doors.fmz("fundings", {"symbol": "ETH_USDT"})
    assert_error(status, body, 400, "INVALID_PARAMS")
    status, body = await doors.fmz("trade", {"amount": "0.1", "price": "100", "symbol": "ETH_USDT",
                                             "type": "closebuy"})
    assert_error(status, body, 400, "INVALID_PARAMS")


# --- raw calls ------------------------------------------------------------------------------------------


async def test_raw_call_is_not_supported_on_the_sim(doors) -> None:
    params = {"instId": "ETH-USDT", "instType": "SPOT"}  # the seed's exchange.IO example
    status, body = await doors.fmz("__api_/api/v5/trade/orders-pending", params, headers={"Http-Method": "GET"})
    assert_error(status, body, 501, "NOT_SUPPORTED")
    assert "sim" in body["error"]


async def test_raw_call_needs_the_http_method_header_and_the_raw_permission(doors) -> None:
    status, body = await doors.fmz("__api_/api/v5/trade/orders-pending", {})
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert "Http-Method" in body["error"]
    status, body = await doors.fmz("__api_/x", {}, access_key=READER_ACCESS, secret_key=READER_SECRET,
                                   headers={"Http-Method": "GET"})
    assert_error(status, body, 403, "FORBIDDEN")


async def test_raw_call_reaches_a_venue_with_a_raw_api(doors) -> None:
    calls = []

    async def raw_request(http_method, path, params):
        calls.append((http_method, path, params))
        return {"code": "0", "data": [], "msg": ""}

    adapter = doors.gateway.directory.venue("sim")
    adapter.raw_request = raw_request  # a venue that grew a raw API
    try:
        status, body = await doors.fmz("__api_/api/v5/trade/orders-pending", {"instId": "ETH-USDT"},
                                       headers={"Http-Method": "GET"})
    finally:
        del adapter.raw_request
    assert status == 200 and body == {"data": {"code": "0", "data": [], "msg": ""},
                                      "raw": {"code": "0", "data": [], "msg": ""}}
    assert calls == [("GET", "/api/v5/trade/orders-pending", {"instId": "ETH-USDT"})]


# --- authentication -------------------------------------------------------------------------------------


async def test_wrong_keys_are_refused(doors) -> None:
    status, body = await doors.fmz("ticker", {"symbol": "ETH_USDT"}, access_key="nope-nope-nope")
    assert_error(status, body, 401, "UNAUTHENTICATED")
    status, body = await doors.fmz("ticker", {"symbol": "ETH_USDT"}, secret_key=READER_SECRET)
    assert_error(status, body, 401, "UNAUTHENTICATED")  # a real secret, but of another key


async def test_replayed_or_older_nonce_is_refused(doors) -> None:
    nonce = doors.nonce()
    assert (await doors.fmz("accounts", {}, nonce=nonce))[0] == 200
    status, body = await doors.fmz("accounts", {}, nonce=nonce)
    assert_error(status, body, 401, "UNAUTHENTICATED")
    assert "nonce" in body["error"]
    status, body = await doors.fmz("accounts", {}, nonce=nonce - 5)
    assert_error(status, body, 401, "UNAUTHENTICATED")
    assert (await doors.fmz("accounts", {}, nonce=nonce + 1))[0] == 200
    # Nonces are per key: the reader's first request may use any nonce.
    status, _ = await doors.fmz("accounts", {}, nonce=1, access_key=READER_ACCESS, secret_key=READER_SECRET)
    assert status == 200


async def test_a_failed_authentication_does_not_use_the_nonce(doors) -> None:
    nonce = doors.nonce() + 1000
    status, _ = await doors.fmz("accounts", {}, nonce=nonce, secret_key="wrong-secret-123")
    assert status == 401
    assert (await doors.fmz("accounts", {}, nonce=nonce))[0] == 200


async def test_read_only_key_cannot_trade(doors) -> None:
    status, body = await doors.fmz("trade", {"amount": "0.1", "price": "1000", "symbol": "ETH_USDT", "type": "buy"},
                                   access_key=READER_ACCESS, secret_key=READER_SECRET)
    assert_error(status, body, 403, "FORBIDDEN")
    status, _ = await doors.fmz("ticker", {"symbol": "ETH_USDT"}, path="/readonly",
                                access_key=READER_ACCESS, secret_key=READER_SECRET)
    assert status == 200


async def test_unknown_path(doors) -> None:
    status, body = await doors.fmz("ticker", {"symbol": "ETH_USDT"}, path="/OKX")
    assert_error(status, body, 404, "UNKNOWN_VENUE")
    assert "/sim" in body["error"]


async def test_secrets_are_never_logged_or_echoed(doors) -> None:
    with structlog.testing.capture_logs() as logs:
        await doors.fmz("ticker", {"symbol": "ETH_USDT"})
        await doors.fmz("ticker", {"symbol": "ETH_USDT"}, secret_key="guessed-secret-1")
        _, body = await doors.fmz("nope", {})
    text = repr(logs) + repr(body)
    for secret in (FMZ_ACCESS, FMZ_SECRET, "guessed-secret-1"):
        assert secret not in text


# --- malformed requests: each is a clear {"error"} with a 4xx -------------------------------------------


async def test_a_body_that_is_not_json(doors) -> None:
    status, body = await doors.fmz_raw("/sim", b"{not json")
    assert_error(status, body, 400, "INVALID_JSON")
    status, body = await doors.fmz_raw("/sim", b"")
    assert_error(status, body, 400, "INVALID_JSON")


async def test_a_body_that_is_not_an_object(doors) -> None:
    status, body = await doors.fmz_raw("/sim", [1, 2])
    assert_error(status, body, 400, "INVALID_REQUEST")


@pytest.mark.parametrize("field", ["access_key", "secret_key", "method", "nonce"])
async def test_missing_fields(doors, field) -> None:
    request = {"access_key": FMZ_ACCESS, "method": "ticker", "nonce": doors.nonce(),
               "params": {"symbol": "ETH_USDT"}, "secret_key": FMZ_SECRET}
    del request[field]
    status, body = await doors.fmz_raw("/sim", request)
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert field in body["error"]


async def test_missing_params_field_counts_as_empty(doors) -> None:
    status, body = await doors.fmz_raw("/sim", {"access_key": FMZ_ACCESS, "method": "accounts",
                                                "nonce": doors.nonce(), "secret_key": FMZ_SECRET})
    assert status == 200 and body["data"]


@pytest.mark.parametrize(("field", "value"), [
    ("nonce", "1730275031047002000"), ("nonce", True), ("nonce", -1), ("nonce", 1.5),
    ("params", [1]), ("params", "symbol=ETH_USDT"), ("method", 7), ("method", ""), ("access_key", None),
    ("secret_key", {"a": 1}),
])
async def test_fields_of_the_wrong_type(doors, field, value) -> None:
    request = {"access_key": FMZ_ACCESS, "method": "ticker", "nonce": doors.nonce(),
               "params": {"symbol": "ETH_USDT"}, "secret_key": FMZ_SECRET, field: value}
    status, body = await doors.fmz_raw("/sim", request)
    assert_error(status, body, 400, "INVALID_REQUEST")
    assert field in body["error"]


async def test_unknown_method(doors) -> None:
    status, body = await doors.fmz("GetTickerz", {"symbol": "ETH_USDT"})
    assert_error(status, body, 404, "UNKNOWN_METHOD")
    assert "invalid method" in body["error"]


@pytest.mark.parametrize(("method", "params", "field"), [
    ("ticker", {}, "symbol"),
    ("ticker", {"symbol": 5}, "symbol"),
    ("depth", {"symbol": "ETH_USDT", "limit": "many"}, "limit"),
    ("records", {"symbol": "ETH_USDT", "period": [60]}, "period"),
    ("trade", {"amount": "abc", "price": "1000", "symbol": "ETH_USDT", "type": "buy"}, "amount"),
    ("trade", {"amount": "0.1", "price": "1000", "symbol": "ETH_USDT", "type": "hold"}, "type"),
    ("trade", {"amount": "0.1", "price": "0", "symbol": "ETH_USDT", "type": "buy"}, "price"),
    ("trade", {"amount": "0.1", "price": True, "symbol": "ETH_USDT", "type": "buy"}, "price"),
    ("order", {"id": "123456", "symbol": "ETH_USDT"}, "id"),
    ("cancel", {"symbol": "ETH_USDT"}, "id"),
    ("historyorders", {"limit": "x", "since": 0, "symbol": "ETH_USDT"}, "limit"),
    ("marginlevel", {"symbol": "BTC_USDT.swap", "marginLevel": "high"}, "marginLevel"),
])
async def test_params_of_the_wrong_type_or_missing(doors, method, params, field) -> None:
    status, body = await doors.fmz(method, params)
    assert_error(status, body, 400, "INVALID_PARAMS")
    assert field in body["error"]


async def test_only_post_is_served(doors) -> None:
    status, body = await doors.fmz_raw("/sim", b"", http_method="GET")
    assert_error(status, body, 405, "INVALID_REQUEST")


async def test_a_body_that_is_too_large(doors) -> None:
    status, body = await doors.fmz_raw("/sim", b"{" + b" " * 70_000 + b"}")
    assert_error(status, body, 413, "INVALID_REQUEST")
