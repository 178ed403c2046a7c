"""The FMZ bridge on Binance accounts: the seed's requests, over real HTTP, through an in-process gateway
whose venues are the Binance dialect (spot `bn`, USD-M futures `bnf`) on loopback.

Same shapes as on the sim (test_fmz_server.py); here what changes is the venue behind the path: orders go
to the dialect through the Binance client, `raw` is Binance's own answer, and `__api_` calls reach
Binance's REST API signed by the session.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.simserver.binance.server import BinanceDialect
from tests.component.binance.dialect_helpers import adapter_settings, dialect_settings
from tests.component.frontdoors.helpers import fmz_ok, fmz_on_venues

ORDER_KEYS = {"id", "symbol", "amount", "price", "deal_amount", "avg_price", "type", "status"}


@pytest.fixture
async def doors(gateway_factory):
    async with BinanceDialect(dialect_settings(message_rate=20)) as dialect, \
            fmz_on_venues(gateway_factory, {"bn": adapter_settings(dialect, "spot"),
                                            "bnf": adapter_settings(dialect, "usdm")},
                          {"/binance": "bn", "/binance_futures": "bnf"}, dialect) as front:
        yield front


async def spot(doors, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return await fmz_ok(doors, "/binance", method, params, **kw)


async def futures(doors, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return await fmz_ok(doors, "/binance_futures", method, params)


async def test_market_data_methods_answer_in_the_seed_shapes(doors) -> None:
    ticker = (await spot(doors, "ticker", {"symbol": "BTC_USDT"}))["data"]
    assert set(ticker) == {"symbol", "buy", "sell", "high", "low", "open", "last", "vol", "time"}
    assert ticker["symbol"] == "BTC_USDT" and Decimal(ticker["buy"]) < Decimal(ticker["sell"])
    bid, _, ask, _ = doors.dialect.engine.bbo("BTC/USDT")
    assert bid is not None and ask is not None and abs(Decimal(ticker["buy"]) - bid) < bid * Decimal("0.01")

    depth = (await spot(doors, "depth", {"limit": "10", "symbol": "BTC_USDT"}))["data"]
    assert 0 < len(depth["bids"]) <= 10 and depth["bids"][0][0] < depth["asks"][0][0]

    trades = (await spot(doors, "trades", {"symbol": "btc_usdt"}))["data"]
    assert trades and all(set(t) == {"id", "time", "price", "amount", "type"} for t in trades)

    body = await spot(doors, "records", {"limit": "5", "period": "1", "symbol": "BTC_USDT"})
    assert 0 < len(body["data"]) <= 5 and all(len(row) == 6 for row in body["data"])
    assert all(row[0] % 60 == 0 and row[0] < 10**11 for row in body["data"])


async def test_accounts_show_the_dialect_users_balances(doors) -> None:
    rows = {row["currency"]: row for row in (await spot(doors, "accounts"))["data"]}
    assert Decimal(rows["USDT"]["free"]) > 0
    assert all(set(row) == {"currency", "free", "frozen"} for row in rows.values())


async def test_trade_orders_order_cancel_historyorders_on_binance_spot(doors) -> None:
    bid = doors.dialect.engine.bbo("BTC/USDT")[0]
    price = (bid * Decimal("0.8")).quantize(Decimal("0.01"))
    body = await spot(doors, "trade", {"amount": "0.001", "price": str(price), "symbol": "BTC_USDT", "type": "buy"})
    order_id = body["data"]["id"]
    venue_id = order_id.split(",", 1)[1]
    assert order_id.startswith("BTC-USDT,") and venue_id == body["raw"]["order_id"]
    # the order is really on the dialect's book, under the venue id the FMZ id carries
    assert any(str(o.order_id) == venue_id for o in doors.dialect.engine.open_orders("user"))

    (row,) = [o for o in (await spot(doors, "orders", {"symbol": "BTC_USDT"}))["data"] if o["id"] == order_id]
    assert set(row) == ORDER_KEYS and row["status"] == "pending" and row["amount"] == 0.001
    assert (await spot(doors, "order", {"id": order_id, "symbol": "BTC_USDT"}))["data"] == row

    body = await spot(doors, "cancel", {"id": order_id, "symbol": "BTC_USDT"})
    assert body["data"] is True and body["raw"]["status"] == "canceled"
    assert not any(str(o.order_id) == venue_id for o in doors.dialect.engine.open_orders("user"))
    history = (await spot(doors, "historyorders", {"limit": 0, "since": 0, "symbol": "BTC_USDT"}))["data"]
    assert any(o["id"] == order_id and o["status"] == "canceled" for o in history)


async def test_a_market_buy_fills_on_binance_spot(doors) -> None:
    body = await spot(doors, "trade", {"amount": "0.001", "price": -1, "symbol": "BTC_USDT", "type": "buy"})
    order = (await spot(doors, "order", {"id": body["data"]["id"], "symbol": "BTC_USDT"}))["data"]
    assert order["status"] == "filled" and order["deal_amount"] == 0.001 and order["avg_price"] > 0


async def test_futures_leverage_positions_and_close_on_binance_usdm(doors) -> None:
    body = await futures(doors, "marginlevel", {"symbol": "BTC_USDT.swap", "marginLevel": 7})
    assert body["data"] is True
    body = await futures(doors, "trade", {"amount": "0.002", "price": "-1", "symbol": "BTC_USDT.swap",
                                          "type": "sell"})
    assert body["data"]["id"].startswith("BTC-USDT-SWAP,")
    (position,) = (await futures(doors, "positions", {"symbol": "BTC_USDT.swap"}))["data"]
    assert position["type"] == "short" and position["amount"] == 0.002 and position["margin_level"] == 7
    body = await futures(doors, "trade", {"amount": "0.002", "price": "-1", "symbol": "BTC_USDT.swap",
                                          "type": "closesell"})
    assert body["raw"]["reduce_only"] is True
    assert (await futures(doors, "positions", {"symbol": "BTC_USDT.swap"}))["data"] == []


async def test_raw_api_calls_reach_binance_signed(doors) -> None:
    body = await spot(doors, "__api_/api/v3/account", {}, headers={"Http-Method": "GET"})
    assert body["data"] == body["raw"]
    balances = {b["asset"]: b for b in body["data"]["balances"]}  # Binance's own account answer
    assert Decimal(balances["USDT"]["free"]) > 0
    status, body = await doors.fmz("__api_/api/v3/order", {"symbol": "BTCUSDT", "orderId": "987654321"},
                                   path="/binance", headers={"Http-Method": "GET"})
    assert status >= 400 and set(body) == {"error"} and "-2013" in body["error"]  # Binance: order does not exist
