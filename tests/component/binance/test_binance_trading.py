"""`BinanceAdapter` trading against the dialect over real sockets: place / query / amend / cancel round trips
on spot and usdm, refusals with Binance's codes, algo (conditional) orders, account calls, raw calls, and
the dialect's signature and timestamp checks on the order endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import aiohttp
import orjson
import pytest
from dialect_helpers import KEY, PERP, SECRET, SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, MarginType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import GatewayError, VenueRejected
from gateway.core.events import Fill, OrderUpdate
from gateway.core.ports import OrderRequest, RawVenue
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.binance.auth import HmacSigner, signed_query
from gateway.venues.common.ratelimit import HostBudgets


@asynccontextmanager
async def session(market: str, **overrides: object) -> AsyncIterator[tuple[BinanceDialect, BinanceAdapter, RecordingSink]]:
    async with BinanceDialect(dialect_settings()) as dialect:
        sink = RecordingSink()
        adapter = BinanceAdapter("bn", adapter_settings(dialect, market, **overrides), SystemClock(),
                                 budgets=HostBudgets(SystemClock()))
        adapter.bind(sink)
        async with adapter:
            await sink.until(lambda: adapter.state is ConnectionState.OPEN)
            yield dialect, adapter, sink


def _symbol(market: str) -> str:
    return PERP if market == "usdm" else SPOT


def _limit(market: str, dialect: BinanceDialect, client_id: str, away: int = 100, side: Side = Side.BUY,
           tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    symbol = _symbol(market)
    bid, _, ask, _ = dialect.engine.bbo(symbol)
    assert bid is not None and ask is not None
    price = bid - away if side is Side.BUY else ask + away
    return OrderRequest(symbol, side, OrderType.LIMIT, Decimal("0.001"), client_id, price, tif=tif)


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_place_query_cancel_round_trip(market: str) -> None:
    async with session(market) as (dialect, adapter, sink):
        symbol = _symbol(market)
        placed = await adapter.place_order(_limit(market, dialect, "gw-1"))
        assert placed.status is OrderStatus.NEW and placed.client_order_id == "gw-1" and placed.order_id
        by_client = await adapter.get_order(symbol, client_order_id="gw-1")
        by_id = await adapter.get_order(symbol, order_id=placed.order_id)
        assert by_client == by_id or (by_client and by_id and by_client.order_id == by_id.order_id)
        assert [o.client_order_id for o in await adapter.open_orders()] == ["gw-1"]
        canceled = await adapter.cancel_order(symbol, client_order_id="gw-1")
        assert canceled.status is OrderStatus.CANCELED and canceled.client_order_id == "gw-1"
        assert await adapter.open_orders(symbol) == []
        assert await adapter.get_order(symbol, client_order_id="never-placed") is None  # -2013
        with pytest.raises(VenueRejected) as caught:
            await adapter.cancel_order(symbol, client_order_id="gw-1")
        assert caught.value.venue_code == -2011
        await sink.until(lambda: any(isinstance(e, OrderUpdate) and e.status is OrderStatus.CANCELED
                                     for e in sink.user))


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_market_order_fills_and_is_found_by_catch_up(market: str) -> None:
    async with session(market) as (dialect, adapter, sink):
        symbol = _symbol(market)
        since = dialect.now_ms() - 1
        answer = await adapter.place_order(OrderRequest(symbol, Side.BUY, OrderType.MARKET, Decimal("0.002"), "mkt-1"))
        assert answer.status is OrderStatus.FILLED and answer.filled_qty == Decimal("0.002") and answer.avg_price
        await sink.until(lambda: any(isinstance(e, Fill) for e in sink.user))
        streamed = [e for e in sink.user if isinstance(e, Fill)]
        fills = await adapter.fills_since(since)
        assert {f.trade_id for f in fills} == {f.trade_id for f in streamed}
        assert sum(f.qty for f in fills) == Decimal("0.002") and all(f.order_id == answer.order_id for f in fills)
        assert [o.client_order_id for o in await adapter.orders_since(since)] == ["mkt-1"]
        balances = {b.asset: b for b in await adapter.balances()}
        assert balances["USDT"].free < Decimal(100_000)


async def test_usdm_amend_post_only_reduce_only_and_account_calls() -> None:
    async with session("usdm") as (dialect, adapter, _sink):
        placed = await adapter.place_order(_limit("usdm", dialect, "amend-1", tif=TimeInForce.POST_ONLY))
        assert placed.tif is TimeInForce.POST_ONLY
        assert placed.price is not None
        amended = await adapter.amend_order(PERP, client_order_id="amend-1", qty=Decimal("0.002"),
                                            price=placed.price - 1)
        assert (amended.qty, amended.price) == (Decimal("0.002"), placed.price - 1)
        with pytest.raises(VenueRejected) as caught:  # GTX that would take
            await adapter.place_order(_limit("usdm", dialect, "gtx-take", away=-500, tif=TimeInForce.POST_ONLY))
        assert caught.value.venue_code == -5022
        with pytest.raises(VenueRejected) as caught:  # nothing to reduce
            await adapter.place_order(OrderRequest(PERP, Side.SELL, OrderType.MARKET, Decimal("0.001"), "ro-1",
                                                   reduce_only=True))
        assert caught.value.venue_code == -2022
        assert await adapter.set_leverage(PERP, 5) == {"symbol": PERP, "leverage": 5, "max_notional": "1000000"}
        assert (await adapter.set_margin_type(PERP, MarginType.ISOLATED))["margin_type"] == "isolated"
        await adapter.set_margin_type(PERP, MarginType.ISOLATED)  # -4046 "no need to change": success
        await adapter.place_order(OrderRequest(PERP, Side.BUY, OrderType.MARKET, Decimal("0.003"), "open-1"))
        (position,) = await adapter.positions()
        assert position.qty == Decimal("0.003") and position.leverage == 5
        assert position.margin_type is MarginType.ISOLATED
        canceled = await adapter.cancel_all(PERP)
        assert [u.client_order_id for u in canceled] == ["amend-1"]


async def test_usdm_conditional_orders_are_algo_orders_from_placement_to_fill() -> None:
    async with session("usdm") as (dialect, adapter, sink):
        await adapter.place_order(OrderRequest(PERP, Side.BUY, OrderType.MARKET, Decimal("0.002"), "open-2"))
        last = dialect.engine.last_price(PERP)
        assert last is not None
        stop = OrderRequest(PERP, Side.SELL, OrderType.STOP, Decimal("0.002"), "sl-1", None, last - 2000,
                            reduce_only=True)
        placed = await adapter.place_order(stop)
        assert placed.order_id == f"algo-{placed.order_id[5:]}" and placed.status is OrderStatus.NEW
        assert placed.type is OrderType.STOP and placed.trigger_price == last - 2000 and placed.reduce_only
        assert (await adapter.get_order(PERP, client_order_id="sl-1")).order_id == placed.order_id  # type: ignore[union-attr]
        assert "sl-1" in {o.client_order_id for o in await adapter.open_orders(PERP)}
        canceled = await adapter.cancel_order(PERP, placed.order_id)
        assert canceled.status is OrderStatus.CANCELED
        take = OrderRequest(PERP, Side.SELL, OrderType.TAKE_PROFIT, Decimal("0.002"), "tp-1", None, last - 1000,
                            reduce_only=True)  # already crossed: triggers at once
        placed = await adapter.place_order(take)
        await sink.until(lambda: any(isinstance(e, Fill) and e.client_order_id == "tp-1" for e in sink.user))
        fill = next(e for e in sink.user if isinstance(e, Fill) and e.client_order_id == "tp-1")
        assert fill.order_id == placed.order_id  # the triggered order reported under the algo order's ids
        final = await adapter.get_order(PERP, client_order_id="tp-1")
        assert final is not None and final.status is OrderStatus.FILLED and final.order_id == placed.order_id
        assert await adapter.positions() == []


async def test_raw_requests_go_through_the_signed_client() -> None:
    async with session("usdm") as (_dialect, adapter, _sink):
        assert isinstance(adapter, RawVenue)
        assert "serverTime" in await adapter.raw_request("GET", "/fapi/v1/time", {})
        rows = await adapter.raw_request("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})
        assert rows[0]["symbol"] == "BTCUSDT"
        with pytest.raises(GatewayError):
            await adapter.raw_request("GET", "/etc/passwd", {})


@pytest.mark.parametrize(("mutate", "status", "code"), [
    (lambda q: q.replace("signature=", "signature=0"), 400, -1022),  # a bad signature
    (lambda q: q, 400, -1021),  # a stale timestamp (signed 70 s ago)
    (lambda q: q.replace("quantity=0.001", "quantity=0.002"), 400, -1022),  # a parameter changed after signing
])
async def test_order_endpoints_check_signatures_and_timestamps(mutate, status: int, code: int) -> None:
    async with BinanceDialect(dialect_settings()) as dialect, aiohttp.ClientSession() as http:
        stale = code == -1021
        timestamp = dialect.now_ms() - (70_000 if stale else 0)
        query = signed_query({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
                             HmacSigner(SECRET), timestamp, 60_000 if not stale else 5_000)
        async with http.post(f"{dialect.rest_url}/fapi/v1/order?{mutate(query)}",
                             headers={"X-MBX-APIKEY": KEY}) as response:
            body = orjson.loads(await response.read())
        assert (response.status, body["code"]) == (status, code)
        assert dialect.engine.open_orders(dialect.USER) == [] and not dialect.engine.fills_since(dialect.USER, 0)
