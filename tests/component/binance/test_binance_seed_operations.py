"""The 26 USD-M futures operations of the seed (../shared/reference/binance-futures-websocket-api-functions.md),
each driven THROUGH THE GATEWAY: a strategy on the gateway's WebSocket, a Binance usdm venue (orders over
ws-fapi) pointed at the Binance dialect, real sockets on loopback. Each test checks the answer against the
dialect's own state (its engine, book, tape, price history), so a wrong path, parameter or parse fails.

The normalized method is used where docs/strategy-api.md has one, ``venue.raw`` otherwise. One dialect and
one gateway serve the whole module (module-scoped event loop), so the file stays fast. The market does not
move on its own (``message_rate=0``): what a test sees is what the tests did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from dialect_helpers import KEY, SECRET

from gateway.client import ApiError, GatewayClient
from gateway.core.enums import MarginType, OrderStatus
from gateway.simserver.binance.server import BinanceDialect, DialectSettings
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from tests.conftest import LOCAL_KEY, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
TIMEOUT_S = 10.0


@dataclass
class Env:
    dialect: BinanceDialect
    gateway: Any
    client: GatewayClient

    async def raw(self, path: str, params: dict[str, Any] | None = None, method: str = "GET") -> Any:
        return await self.client.call("venue.raw", {"account": "bn", "http_method": method, "path": path,
                                                    "params": params or {}})

    async def call(self, method: str, **params: Any) -> Any:
        return await self.client.call(method, {"account": "bn", **params} if _takes_account(method) else params)

    def ws_requests(self) -> int:
        return self.gateway.venues["bn"].ws_orders.requests

    def below(self, symbol: str, ticks: int) -> str:
        bid = self.dialect.engine.bbo(symbol)[0]
        assert bid is not None
        return str(bid - self.dialect.engine.instruments[symbol].tick_size * ticks)


def _takes_account(method: str) -> bool:
    return method.startswith(("order", "account.", "fills", "bracket"))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    from gateway.app import Gateway

    sim = SimSettings(symbols=[
        SimSymbolSettings(symbol=BTC, start_price=Decimal(65000), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.001"), min_qty=Decimal("0.001")),
        SimSymbolSettings(symbol=ETH, start_price=Decimal(3000), tick_size=Decimal("0.01"),
                          step_size=Decimal("0.001"), min_qty=Decimal("0.001")),
    ], depth_levels=30)
    async with BinanceDialect(DialectSettings(sim=sim, message_rate=0, api_keys={KEY: SECRET},
                                              prewarm_steps=30)) as dialect:
        venue = BinanceSettings(market="usdm", symbols=[BTC, ETH], urls=dialect.urls("usdm"), api_key=KEY,
                                api_secret=SECRET, backoff_base_s=0.02, backoff_cap_s=0.2, request_timeout_s=5.0,
                                orders_over_ws=True)
        settings = make_settings(venues={"bn": venue},
                                 persistence={"data_dir": str(tmp_path_factory.mktemp("seed-ops"))})
        gateway = Gateway(settings)
        await gateway.start()
        try:
            async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
                yield Env(dialect, gateway, client)
        finally:
            await gateway.stop()


def _d(value: object) -> Decimal:
    return Decimal(str(value))


# --- market data (seed 1-11) ----------------------------------------------------------------------------


async def test_01_order_book(env: Env) -> None:
    _, bids, asks = env.dialect.book(BTC)
    depth = await env.call("depth", venue="bn", symbol=BTC, limit=5)
    assert [(_d(p), _d(q)) for p, q in depth["bids"]] == bids[:5]
    assert [(_d(p), _d(q)) for p, q in depth["asks"]] == asks[:5]


async def test_02_recent_trades(env: Env) -> None:
    tape = {t.id: t for t in env.dialect.market.recent_trades(BTC, 1_000)}
    trades = await env.call("trades", venue="bn", symbol=BTC, limit=10)
    assert trades and all(_d(t["price"]) == tape[str(t["id"])].price for t in trades)


async def test_03_historical_trades(env: Env) -> None:
    tape = env.dialect.market.recent_trades(BTC, 5)
    rows = await env.raw("/fapi/v1/historicalTrades", {"symbol": "BTCUSDT", "limit": 5})
    assert [r["id"] for r in rows] == [int(t.id) for t in tape]
    from_id = int(tape[0].id)
    rows = await env.raw("/fapi/v1/historicalTrades", {"symbol": "BTCUSDT", "fromId": from_id, "limit": 2})
    assert [r["id"] for r in rows] == [from_id, int(tape[1].id)]


async def test_04_aggregate_trades(env: Env) -> None:
    tape = env.dialect.market.recent_trades(BTC, 5)
    rows = await env.raw("/fapi/v1/aggTrades", {"symbol": "BTCUSDT", "limit": 5})
    assert [(r["a"], _d(r["p"]), _d(r["q"])) for r in rows] == [(int(t.id), t.price, t.qty) for t in tape]


async def test_05_klines(env: Env) -> None:
    truth = env.dialect.market.klines(BTC, "1m", 5)
    klines = await env.call("klines", venue="bn", symbol=BTC, interval="1m", limit=5)
    assert [(k["open_ts"], _d(k["close"])) for k in klines] == [(k.open_ts, k.close) for k in truth]


async def test_06_continuous_klines(env: Env) -> None:
    truth = env.dialect.market.klines(BTC, "1m", 5)
    rows = await env.raw("/fapi/v1/continuousKlines", {"pair": "BTCUSDT", "contractType": "PERPETUAL",
                                                        "interval": "1m", "limit": 5})
    assert [(r[0], _d(r[4])) for r in rows] == [(k.open_ts, k.close) for k in truth]
    with pytest.raises(ApiError) as refused:
        await env.raw("/fapi/v1/continuousKlines", {"pair": "BTCUSDT", "contractType": "WEEKLY", "interval": "1m"})
    assert refused.value.code == "VENUE_REJECTED" and refused.value.details["venue_code"] == -1100


@pytest.mark.parametrize(("seed", "path", "key", "kind"), [
    (7, "/fapi/v1/indexPriceKlines", "pair", "index"),
    (8, "/fapi/v1/markPriceKlines", "symbol", "mark"),
    (9, "/fapi/v1/premiumIndexKlines", "symbol", "premium"),
])
async def test_07_to_09_price_klines(env: Env, seed: int, path: str, key: str, kind: str) -> None:
    mark = env.dialect.market.mark(BTC)
    assert mark is not None
    expected = {"index": mark.index_price, "mark": mark.mark_price,
                "premium": ((mark.mark_price - mark.index_price) / mark.index_price).quantize(Decimal("1e-8"))}[kind]
    rows = await env.raw(path, {key: "BTCUSDT", "interval": "1m", "limit": 3})
    assert rows and _d(rows[-1][4]) == expected  # the close of the open bar is the latest sample
    assert all(len(r) == 12 and r[5] == "0" for r in rows)


async def test_10_all_tickers(env: Env) -> None:
    rows = await env.raw("/fapi/v1/ticker/price")
    by_symbol = {r["symbol"]: _d(r["price"]) for r in rows}
    assert by_symbol == {"BTCUSDT": env.dialect.engine.last_price(BTC), "ETHUSDT": env.dialect.engine.last_price(ETH)}
    ticker = await env.call("ticker", venue="bn", symbol=BTC)  # the normalized 24h ticker of one symbol
    assert _d(ticker["last"]) == env.dialect.engine.last_price(BTC)


async def test_11_orderbook_tickers(env: Env) -> None:
    rows = {r["symbol"]: r for r in await env.raw("/fapi/v1/ticker/bookTicker")}
    bid, bid_qty, ask, ask_qty = env.dialect.engine.bbo(BTC)
    btc = rows["BTCUSDT"]
    assert (_d(btc["bidPrice"]), _d(btc["bidQty"]), _d(btc["askPrice"]), _d(btc["askQty"])) == \
        (bid, bid_qty, ask, ask_qty)
    assert set(rows) == {"BTCUSDT", "ETHUSDT"}


# --- orders (seed 16-23) -------------------------------------------------------------------------------


async def test_16_create_order(env: Env) -> None:
    sent = env.ws_requests()
    order = await env.call("order.place", symbol=BTC, side="buy", type="limit", qty="0.002",
                           price=env.below(BTC, 50), client_order_id="seed-16")
    assert order["status"] == "new"
    on_venue = env.dialect.engine.order(env.dialect.USER, client_order_id="seed-16")
    assert on_venue is not None and on_venue.status is OrderStatus.NEW and on_venue.qty == Decimal("0.002")
    assert env.ws_requests() > sent  # it went over ws-fapi (order.place)


async def test_17_modify_order(env: Env) -> None:
    await env.call("order.place", symbol=BTC, side="buy", type="limit", qty="0.002", price=env.below(BTC, 60),
                   client_order_id="seed-17")
    new_price = env.below(BTC, 80)
    modified = await env.call("order.modify", client_order_id="seed-17", price=new_price, qty="0.003")
    assert modified["modified_by"] == "amend" and _d(modified["price"]) == _d(new_price)
    on_venue = env.dialect.engine.order(env.dialect.USER, client_order_id="seed-17")
    assert on_venue is not None and on_venue.price == _d(new_price) and on_venue.qty == Decimal("0.003")


async def test_18_cancel_order(env: Env) -> None:
    await env.call("order.place", symbol=BTC, side="buy", type="limit", qty="0.002", price=env.below(BTC, 70),
                   client_order_id="seed-18")
    canceled = await env.call("order.cancel", client_order_id="seed-18")
    assert canceled["status"] == "canceled"
    on_venue = env.dialect.engine.order(env.dialect.USER, client_order_id="seed-18")
    assert on_venue is not None and on_venue.status is OrderStatus.CANCELED


async def test_19_cancel_all_open_orders(env: Env) -> None:
    for n in range(3):
        await env.call("order.place", symbol=ETH, side="buy", type="limit", qty="0.01", price=env.below(ETH, 40 + n),
                       client_order_id=f"seed-19-{n}")
    answer = await env.call("order.cancel_all", symbol=ETH)
    assert {o["client_order_id"] for o in answer["canceled"]} >= {f"seed-19-{n}" for n in range(3)}
    assert not env.dialect.engine.open_orders(env.dialect.USER, ETH)


async def test_20_cancel_orders_in_a_batch(env: Env) -> None:
    ids = []
    for n in range(2):
        order = await env.call("order.place", symbol=ETH, side="buy", type="limit", qty="0.01",
                               price=env.below(ETH, 50 + n), client_order_id=f"seed-20-{n}")
        ids.append(int(order["order_id"]))
    rows = await env.raw("/fapi/v1/batchOrders", {"symbol": "ETHUSDT", "orderIdList": [*ids, 987654321]},
                         method="DELETE")
    assert [r.get("status") for r in rows[:2]] == ["CANCELED", "CANCELED"]
    assert [r["orderId"] for r in rows[:2]] == ids
    assert rows[2] == {"code": -2011, "msg": "Unknown order sent."}  # one entry per id, in order
    assert all(env.dialect.engine.order(env.dialect.USER, str(i)).status is OrderStatus.CANCELED for i in ids)


async def test_21_get_order(env: Env) -> None:
    placed = await env.call("order.place", symbol=BTC, side="buy", type="limit", qty="0.002",
                            price=env.below(BTC, 90), client_order_id="seed-21")
    got = await env.call("order.get", client_order_id="seed-21")
    assert got["order_id"] == placed["order_id"] and got["status"] == "new" and _d(got["qty"]) == Decimal("0.002")


async def test_22_open_orders(env: Env) -> None:
    await env.call("order.place", symbol=BTC, side="buy", type="limit", qty="0.002", price=env.below(BTC, 95),
                   client_order_id="seed-22")
    listed = {o["client_order_id"] for o in await env.call("orders.open", symbol=BTC)}
    on_venue = {o.client_order_id for o in env.dialect.engine.open_orders(env.dialect.USER, BTC)}
    assert "seed-22" in listed and listed == on_venue


async def test_23_all_orders(env: Env) -> None:
    # Its own orders: a test of this module may run alone, or on another xdist worker than the others.
    for cid in ("seed-23a", "seed-23b"):
        await env.call("order.place", symbol=BTC, side="buy", type="limit", qty="0.002", price=env.below(BTC, 60),
                       client_order_id=cid)
    await env.call("order.cancel", client_order_id="seed-23b")
    history = {o["client_order_id"]: o["status"] for o in await env.call("orders.history", symbol=BTC)}
    assert history["seed-23b"] == "canceled" and history["seed-23a"] == "new"
    rows = await env.raw("/fapi/v1/allOrders", {"symbol": "BTCUSDT"})
    assert {r["clientOrderId"]: r["status"] for r in rows}["seed-23b"] == "CANCELED"


# --- account (seed 12-15, 24-26) -----------------------------------------------------------------------


async def test_24_change_leverage(env: Env) -> None:
    answer = await env.call("account.leverage", symbol=BTC, leverage=7)
    assert answer["leverage"] == 7
    assert env.dialect.engine.ledger.leverage_of(env.dialect.USER, BTC) == 7


async def test_25_change_margin_type(env: Env) -> None:
    await env.call("account.margin_type", symbol=ETH, margin_type="isolated")
    assert env.dialect.engine.ledger.margin_type_of(env.dialect.USER, ETH) is MarginType.ISOLATED
    await env.call("account.margin_type", symbol=ETH, margin_type="isolated")  # already so (-4046): success


async def test_26_change_position_margin(env: Env) -> None:
    filled = await env.call("order.place", symbol=ETH, side="buy", type="market", qty="0.5")
    assert filled["status"] == "filled"

    async def isolated_margin() -> Decimal:
        rows = await env.raw("/fapi/v2/positionRisk", {"symbol": "ETHUSDT"})
        return _d(next(r for r in rows if r["symbol"] == "ETHUSDT")["isolatedMargin"])

    before = await isolated_margin()
    free_before = env.dialect.engine.balance_of(env.dialect.USER, "USDT")[0]
    added = await env.raw("/fapi/v1/positionMargin", {"symbol": "ETHUSDT", "amount": "10", "type": 1}, method="POST")
    assert added["code"] == 200 and added["type"] == 1
    assert await isolated_margin() == before + 10
    assert env.dialect.engine.balance_of(env.dialect.USER, "USDT")[0] == free_before - 10
    await env.raw("/fapi/v1/positionMargin", {"symbol": "ETHUSDT", "amount": "4", "type": 2}, method="POST")
    assert await isolated_margin() == before + 6
    with pytest.raises(ApiError) as refused:  # only what was added can be taken back
        await env.raw("/fapi/v1/positionMargin", {"symbol": "ETHUSDT", "amount": "7", "type": 2}, method="POST")
    assert refused.value.code == "VENUE_REJECTED" and refused.value.details["venue_code"] == -4051
    with pytest.raises(ApiError) as cross:  # BTC is cross margined
        await env.raw("/fapi/v1/positionMargin", {"symbol": "BTCUSDT", "amount": "1", "type": 1}, method="POST")
    assert cross.value.details["venue_code"] == -4049


async def test_12_account_information(env: Env) -> None:
    account = await env.raw("/fapi/v3/account")
    usdt = next(a for a in account["assets"] if a["asset"] == "USDT")
    free, locked = env.dialect.engine.balance_of(env.dialect.USER, "USDT")
    assert _d(usdt["availableBalance"]) == free and _d(usdt["balance"]) == free + locked
    assert {p["symbol"] for p in account["positions"]} == {"ETHUSDT"}  # test 26 opened it


async def test_13_account_balance(env: Env) -> None:
    balances = {b["asset"]: b for b in await env.call("account.balances")}
    free, locked = env.dialect.engine.balance_of(env.dialect.USER, "USDT")
    assert _d(balances["USDT"]["free"]) == free and _d(balances["USDT"]["locked"]) == locked


async def test_14_position_information(env: Env) -> None:
    positions = {p["symbol"]: p for p in await env.call("account.positions")}
    truth = env.dialect.engine.ledger.position(env.dialect.USER, ETH)
    assert _d(positions[ETH]["qty"]) == truth.qty == Decimal("0.5")
    assert _d(positions[ETH]["entry_price"]) == truth.entry_price
    assert positions[ETH]["margin_type"] == "isolated"


async def test_15_account_trades(env: Env) -> None:
    await env.client.subscribe(["bn@fill"])
    order = await env.call("order.place", symbol=BTC, side="sell", type="market", qty="0.001",
                           client_order_id="seed-15")
    while True:  # the fill comes over the user stream
        push = await env.client.next_push("bn@fill", timeout=TIMEOUT_S)
        if push.data["order_id"] == order["order_id"]:
            break
    fills = await env.call("fills", symbol=BTC, order_id=order["order_id"])
    venue_trades = {t.trade_id for t in env.dialect.engine.fills_since(env.dialect.USER, 0)
                    if t.order_id == order["order_id"]}
    assert fills and {f["trade_id"] for f in fills} == {f"BTCUSDT-{t}" for t in venue_trades}  # (symbol, id)
    rows = await env.raw("/fapi/v1/userTrades", {"symbol": "BTCUSDT", "orderId": order["order_id"]})
    assert {str(r["id"]) for r in rows} == venue_trades
