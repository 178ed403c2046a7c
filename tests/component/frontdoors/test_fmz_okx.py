"""The FMZ bridge on OKX accounts: the seed's requests, over real HTTP, through an in-process gateway whose
venues are the OKX dialect (spot `ok`, USDT swap `okf`) on loopback.

Same shapes as on Binance (test_fmz_binance.py); here orders go to the dialect through the OKX client, `raw`
is the gateway's normalized report, and `__api_` calls reach OKX's v5 REST API signed by the session (the
dialect checks the OK-ACCESS-* signature, so a 0 code proves the session signed it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.simserver.okx.server import OkxDialect
from tests.component.frontdoors.helpers import fmz_ok, fmz_on_venues
from tests.component.okx.okx_helpers import PERP, SPOT, adapter_settings, dialect_settings

ORDER_KEYS = {"id", "symbol", "amount", "price", "deal_amount", "avg_price", "type", "status"}


@pytest.fixture
async def doors(gateway_factory):
    async with OkxDialect(dialect_settings()) as dialect, \
            fmz_on_venues(gateway_factory, {"ok": adapter_settings(dialect, "spot"),
                                            "okf": adapter_settings(dialect, "swap")},
                          {"/okx": "ok", "/okx_swap": "okf"}, dialect) as front:
        yield front


async def spot(doors, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return await fmz_ok(doors, "/okx", method, params, **kw)


async def swap(doors, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return await fmz_ok(doors, "/okx_swap", method, params)


async def test_market_data_methods_answer_in_the_seed_shapes_on_okx(doors) -> None:
    ticker = (await spot(doors, "ticker", {"symbol": "BTC_USDT"}))["data"]
    assert set(ticker) == {"symbol", "buy", "sell", "high", "low", "open", "last", "vol", "time"}
    assert ticker["symbol"] == "BTC_USDT" and Decimal(str(ticker["buy"])) < Decimal(str(ticker["sell"]))
    bid = doors.dialect.engine.bbo(SPOT)[0]
    assert bid is not None and abs(Decimal(str(ticker["buy"])) - bid) < bid * Decimal("0.01")

    depth = (await spot(doors, "depth", {"limit": "10", "symbol": "BTC_USDT"}))["data"]
    assert 0 < len(depth["bids"]) <= 10 and depth["bids"][0][0] < depth["asks"][0][0]

    trades = (await spot(doors, "trades", {"symbol": "btc_usdt"}))["data"]
    assert all(set(t) == {"id", "time", "price", "amount", "type"} for t in trades)

    body = await spot(doors, "records", {"limit": "5", "period": "1", "symbol": "BTC_USDT"})
    assert 0 < len(body["data"]) <= 5 and all(len(row) == 6 for row in body["data"])
    assert all(row[0] % 60 == 0 and row[0] < 10**11 for row in body["data"])

    swap_ticker = (await swap(doors, "ticker", {"symbol": "BTC_USDT.swap"}))["data"]
    assert swap_ticker["symbol"] == "BTC_USDT.swap" and Decimal(str(swap_ticker["last"])) > 0


async def test_accounts_show_the_dialect_users_balances_on_okx(doors) -> None:
    rows = {row["currency"]: row for row in (await spot(doors, "accounts"))["data"]}
    assert Decimal(rows["USDT"]["free"]) > 0
    assert all(set(row) == {"currency", "free", "frozen"} for row in rows.values())


async def test_trade_orders_order_cancel_historyorders_on_okx_spot(doors) -> None:
    bid = doors.dialect.engine.bbo(SPOT)[0]
    price = (bid * Decimal("0.8")).quantize(Decimal("0.1"))
    body = await spot(doors, "trade", {"amount": "0.001", "price": str(price), "symbol": "BTC_USDT", "type": "buy"})
    order_id = body["data"]["id"]
    venue_id = order_id.split(",", 1)[1]
    assert order_id.startswith("BTC-USDT,") and venue_id == body["raw"]["order_id"]
    # the order is really on the dialect's book, under the OKX ordId the FMZ id carries
    assert any(str(o.order_id) == venue_id for o in doors.dialect.engine.open_orders("user"))

    (row,) = [o for o in (await spot(doors, "orders", {"symbol": "BTC_USDT"}))["data"] if o["id"] == order_id]
    assert set(row) == ORDER_KEYS and row["status"] == "pending" and row["amount"] == 0.001
    assert (await spot(doors, "order", {"id": order_id, "symbol": "BTC_USDT"}))["data"] == row

    body = await spot(doors, "cancel", {"id": order_id, "symbol": "BTC_USDT"})
    assert body["data"] is True and body["raw"]["status"] == "canceled"
    assert not any(str(o.order_id) == venue_id for o in doors.dialect.engine.open_orders("user"))
    history = (await spot(doors, "historyorders", {"limit": 0, "since": 0, "symbol": "BTC_USDT"}))["data"]
    assert any(o["id"] == order_id and o["status"] == "canceled" for o in history)


async def test_a_market_buy_fills_on_okx_spot(doors) -> None:
    body = await spot(doors, "trade", {"amount": "0.001", "price": -1, "symbol": "BTC_USDT", "type": "buy"})
    order = (await spot(doors, "order", {"id": body["data"]["id"], "symbol": "BTC_USDT"}))["data"]
    assert order["status"] == "filled" and order["deal_amount"] == 0.001 and order["avg_price"] > 0


async def test_swap_leverage_positions_and_close_on_okx(doors) -> None:
    body = await swap(doors, "marginlevel", {"symbol": "BTC_USDT.swap", "marginLevel": 7})
    assert body["data"] is True
    assert doors.dialect.engine.ledger.leverage_of("user", PERP) == 7  # the dialect's account really changed
    body = await swap(doors, "trade", {"amount": "0.002", "price": "-1", "symbol": "BTC_USDT.swap", "type": "sell"})
    assert body["data"]["id"].startswith("BTC-USDT-SWAP,")
    (position,) = (await swap(doors, "positions", {"symbol": "BTC_USDT.swap"}))["data"]
    assert position["type"] == "short" and position["amount"] == 0.002 and position["margin_level"] == 7
    body = await swap(doors, "trade", {"amount": "0.002", "price": "-1", "symbol": "BTC_USDT.swap",
                                       "type": "closesell"})
    assert body["raw"]["reduce_only"] is True
    assert (await swap(doors, "positions", {"symbol": "BTC_USDT.swap"}))["data"] == []


async def test_raw_api_calls_reach_okx_signed(doors) -> None:
    body = await spot(doors, "__api_/api/v5/account/balance", {}, headers={"Http-Method": "GET"})
    assert body["data"] == body["raw"] and body["data"]["code"] == "0"
    details = {d["ccy"]: d for d in body["data"]["data"][0]["details"]}  # OKX's own balance answer
    assert Decimal(details["USDT"]["availBal"]) > 0
    status, body = await doors.fmz("__api_/api/v5/trade/order", {"instId": "BTC-USDT", "ordId": "987654321"},
                                   path="/okx", headers={"Http-Method": "GET"})
    assert status >= 400 and set(body) == {"error"} and "51603" in body["error"]  # OKX: order does not exist
    status, body = await doors.fmz("__api_/api/v3/account", {}, path="/okx", headers={"Http-Method": "GET"})
    assert status >= 400 and "not an OKX v5 path" in body["error"]
