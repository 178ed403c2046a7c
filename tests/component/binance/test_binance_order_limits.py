"""The account's ORDERS limits (fact sheet §2, §4) against the dialect, over real sockets: the dialect counts
orders per account and answers ``X-MBX-ORDER-COUNT-*`` / -1015; the adapter keeps an ORDERS budget from
exchangeInfo, folds the venue's counts in (orders of another process of the account included), refuses an
order locally before Binance would, and treats a -1015 as the account's limit (no retry, no host pause).
Also the dialect's batch cancel-all and the ws-fapi market and account methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import aiohttp
import orjson
import pytest
from dialect_helpers import KEY, PERP, SECRET, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import TestClock
from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side
from gateway.core.errors import VenueRateLimited
from gateway.core.ports import OrderRequest
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.binance.auth import HmacSigner, sign_ws_params, signed_query
from gateway.venues.common.ratelimit import ORDERS, HostBudgets


def _frozen_clock() -> TestClock:
    # Order counts live in fixed windows (10 s, 1 min): a frozen clock, shared by the dialect and the adapter,
    # keeps a test inside one window whenever it runs.
    return TestClock(1_800_000_000_000 + 1_000)


@asynccontextmanager
async def session(**dialect_overrides: object) -> AsyncIterator[tuple[BinanceDialect, BinanceAdapter]]:
    clock = _frozen_clock()
    async with BinanceDialect(dialect_settings(**dialect_overrides), clock=clock) as dialect:
        sink = RecordingSink()
        adapter = BinanceAdapter("bn", adapter_settings(dialect, "usdm", order_wait_s=0), clock,
                                 budgets=HostBudgets(clock))
        adapter.bind(sink)
        async with adapter:
            await sink.until(lambda: adapter.state is ConnectionState.OPEN)
            yield dialect, adapter


def _order(dialect: BinanceDialect, n: int) -> OrderRequest:
    bid = dialect.engine.bbo(PERP)[0]
    assert bid is not None
    return OrderRequest(PERP, Side.BUY, OrderType.LIMIT, Decimal("0.001"), f"ol-{n}", bid - 100 - n)


async def _direct_order(dialect: BinanceDialect, n: int) -> tuple[int, dict[str, str], object]:
    # Another process of the same account, placing straight at the dialect.
    bid = dialect.engine.bbo(PERP)[0]
    assert bid is not None
    query = signed_query([("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
                          ("quantity", "0.001"), ("price", str(bid - 300 - n))], HmacSigner(SECRET),
                         dialect.now_ms(), 5_000)
    async with aiohttp.ClientSession() as http, http.post(f"{dialect.rest_url}/fapi/v1/order?{query}",
                                                          headers={"X-MBX-APIKEY": KEY}) as response:
        return response.status, dict(response.headers), orjson.loads(await response.read())


async def test_the_dialect_counts_orders_per_account_and_answers_1015() -> None:
    async with BinanceDialect(dialect_settings(usdm_order_limits=((10, 3), (60, 100))),
                              clock=_frozen_clock()) as dialect:
        answers = [await _direct_order(dialect, n) for n in range(4)]
        assert [a[0] for a in answers] == [200, 200, 200, 429]
        assert [a[1].get("X-MBX-ORDER-COUNT-10S") for a in answers[:3]] == ["1", "2", "3"]
        assert answers[2][1]["X-MBX-ORDER-COUNT-1M"] == "3"
        assert answers[3][2] == {"code": -1015, "msg": "Too many new orders; current limit is 3 orders per 10S."}
        assert len(dialect.engine.open_orders(dialect.USER, PERP)) == 3  # the refused one never reached the book


async def test_the_adapter_refuses_an_order_its_budget_has_no_room_for() -> None:
    async with session(usdm_order_limits=((10, 10), (60, 100))) as (dialect, adapter):
        budget = adapter.rest.order_budget
        assert budget is not None and {(lim.interval_ms, lim.limit) for lim in budget.limits} == {(10_000, 10),
                                                                                                    (60_000, 100)}
        for n in range(9):  # 90 % of 10 (the daemon's safety share)
            assert (await adapter.place_order(_order(dialect, n))).status is OrderStatus.NEW
        with pytest.raises(VenueRateLimited) as refused:
            await adapter.place_order(_order(dialect, 9))
        assert refused.value.details["venue_code"] == "orders_budget"
        assert dialect.order_counters["usdm"].refused == 0  # refused here: nothing was sent
        assert len(dialect.engine.open_orders(dialect.USER, PERP)) == 9
        assert adapter.status()["rest"]["order_counts"]["10S"] == 9


async def test_orders_of_another_process_count_and_a_1015_is_not_retried() -> None:
    async with session(usdm_order_limits=((10, 20), (60, 100))) as (dialect, adapter):
        for n in range(5):
            assert (await _direct_order(dialect, n))[0] == 200
        await adapter.place_order(_order(dialect, 0))  # its answer says 6 orders in this window
        budget = adapter.rest.order_budget
        assert budget is not None and budget.used(ORDERS, 10_000, dialect.now_ms()) == 6
        for n in range(5, 20):  # the other process takes the rest of the window
            await _direct_order(dialect, n)
        budget.configure([lim for lim in budget.limits if lim.interval_ms != 10_000])  # blind to the 10 s limit
        with pytest.raises(VenueRateLimited) as refused:
            await adapter.place_order(_order(dialect, 1))
        assert refused.value.details["venue_code"] == -1015
        assert dialect.order_counters["usdm"].refused == 2  # one direct, one from the adapter: no retry
        assert adapter.rest.budget.paused_until_ms == 0  # the account's limit: the host is not paused
        with pytest.raises(VenueRateLimited):  # the window is known full now: refused locally
            await adapter.place_order(_order(dialect, 2))
        assert dialect.order_counters["usdm"].refused == 2


async def test_cancel_all_uses_the_batch_endpoint_and_returns_true_states() -> None:
    async with session() as (dialect, adapter):
        placed = [await adapter.place_order(_order(dialect, n)) for n in range(12)]
        canceled = await adapter.cancel_all(PERP)
        assert sorted(u.order_id for u in canceled) == sorted(u.order_id for u in placed)
        assert all(u.status is OrderStatus.CANCELED for u in canceled)
        assert not dialect.engine.open_orders(dialect.USER, PERP)


async def test_ws_fapi_serves_market_and_account_methods() -> None:
    async with BinanceDialect(dialect_settings()) as dialect, aiohttp.ClientSession() as http, \
            http.ws_connect(f"{dialect.ws_url}/ws-fapi/v1") as ws:
        async def call(rid: int, method: str, params: dict[str, object], signed: bool = False) -> dict:
            if signed:
                params = sign_ws_params({**params, "apiKey": KEY, "timestamp": dialect.now_ms()}, HmacSigner(SECRET))
            await ws.send_str(orjson.dumps({"id": rid, "method": method, "params": params}).decode())
            return orjson.loads((await ws.receive(timeout=5)).data)

        last_id, bids, _ = dialect.book(PERP)
        depth = await call(1, "depth", {"symbol": "BTCUSDT", "limit": 5})
        assert depth["status"] == 200 and depth["result"]["lastUpdateId"] == last_id
        assert [(Decimal(p), Decimal(q)) for p, q in depth["result"]["bids"]] == bids[:5]
        price = await call(2, "ticker.price", {"symbol": "BTCUSDT"})
        assert Decimal(price["result"]["price"]) == dialect.engine.last_price(PERP)
        book = await call(3, "ticker.book", {})
        assert [row["symbol"] for row in book["result"]] == ["BTCUSDT"]
        balance = await call(4, "v2/account.balance", {}, signed=True)
        assert any(row["asset"] == "USDT" for row in balance["result"])
        unsigned = await call(5, "account.status", {"apiKey": KEY, "timestamp": dialect.now_ms()})
        assert unsigned["status"] == 400 and unsigned["error"]["code"] == -1102
        bid = dialect.engine.bbo(PERP)[0]
        assert bid is not None
        placed = await call(6, "order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                               "timeInForce": "GTC", "quantity": "0.001", "price": str(bid - 50)},
                            signed=True)
        assert placed["status"] == 200
        assert {(r["interval"], r["intervalNum"], r["count"]) for r in placed["rateLimits"]} == {
            ("SECOND", 10, 1), ("MINUTE", 1, 1)}
