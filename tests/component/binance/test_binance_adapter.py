"""`BinanceAdapter` against the dialect over real sockets: lifecycle, events, on-demand data, renewal,
live subscription, and spot's refusal of futures-only calls."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from dialect_helpers import PERP, SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed
from gateway.core.events import Bbo, Depth, Kline, MarkPrice, Trade
from gateway.core.ports import VenueAdapter
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.binance.stream import StreamRoute
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.factory import build_venue


def _adapter(dialect: BinanceDialect, market: str, **overrides: object) -> BinanceAdapter:
    return BinanceAdapter("bn", adapter_settings(dialect, market, **overrides), SystemClock(),
                          budgets=HostBudgets(SystemClock()))


@pytest.mark.parametrize(("market", "symbol", "kinds"), [
    ("spot", SPOT, {Trade, Bbo, Depth, Kline}),
    ("usdm", PERP, {Trade, Bbo, Depth, Kline, MarkPrice}),
])
async def test_streams_every_market_data_kind(market: str, symbol: str, kinds: set[type]) -> None:
    async with BinanceDialect(dialect_settings(message_rate=50)) as dialect:
        sink = RecordingSink()
        adapter = _adapter(dialect, market)
        adapter.bind(sink)
        assert adapter.state is ConnectionState.CLOSED
        async with adapter:
            members = [n for n in dir(VenueAdapter) if not n.startswith("_")] + ["__aenter__", "__aexit__"]
            assert all(hasattr(adapter, n) for n in members + ["name", "kind", "capabilities"])
            await sink.until(lambda: {type(e) for e in sink.market} >= kinds
                             and adapter.state is ConnectionState.OPEN)
            assert all(getattr(e, "symbol", symbol) == symbol and e.venue == "bn" for e in sink.market)
            instrument = adapter.instruments[symbol]
            assert instrument.native == "BTCUSDT" and instrument.min_notional == Decimal(5)
        assert adapter.state is ConnectionState.CLOSED
        assert [s for s, _ in sink.states] == [ConnectionState.OPEN, ConnectionState.CLOSED]


@pytest.mark.parametrize(("market", "symbol"), [("spot", SPOT), ("usdm", PERP)])
async def test_fetches_on_demand(market: str, symbol: str) -> None:
    async with BinanceDialect(dialect_settings()) as dialect, _adapter(dialect, market) as adapter:
        ticker = await adapter.fetch_ticker(symbol)
        depth = await adapter.fetch_depth(symbol, 7)
        trades = await adapter.fetch_trades(symbol, 5)
        klines = await adapter.fetch_klines(symbol, "1m", 3)
    assert ticker.symbol == symbol and ticker.last > 0
    assert len(depth.bids) == 7 and depth.bids[0][0] < depth.asks[0][0] and depth.seq == dialect.book(symbol)[0]
    assert len(trades) == 5 and all(t.symbol == symbol for t in trades)
    assert len(klines) == 3 and klines[-1].interval == "1m" and klines[0].closed  # older bars are closed


async def test_renews_the_connection_before_its_maximum_age() -> None:
    async with BinanceDialect(dialect_settings(message_rate=50)) as dialect:
        sink = RecordingSink()
        adapter = _adapter(dialect, "spot", ws_max_age_s=0.3)
        adapter.bind(sink)
        async with adapter:
            assert adapter.data is not None
            connection = adapter.data.streams["public"].connection
            await sink.until(lambda: connection.renewals >= 2 and adapter.state is ConnectionState.OPEN)
            sync = adapter.book(SPOT)
            assert sync is not None
            await sink.until(lambda: sync.is_synced)  # each renewal resynced the book
            assert sync.snapshots >= 3


async def test_subscribes_a_stream_on_the_live_connection() -> None:
    async with BinanceDialect(dialect_settings(message_rate=50)) as dialect:
        sink = RecordingSink()
        adapter = _adapter(dialect, "spot", kline_intervals=["1m"])
        adapter.bind(sink)
        async with adapter:
            assert adapter.data is not None
            stream = adapter.data.streams["public"]
            await sink.until(lambda: adapter.state is ConnectionState.OPEN)
            await stream.subscribe({"btcusdt@kline_5m": StreamRoute(SPOT, "kline")})
            await sink.until(lambda: any(isinstance(e, Kline) and e.interval == "5m" for e in sink.market))
            assert "btcusdt@kline_5m" in stream.url()  # part of every later connection too


async def test_unknown_symbol_fails_the_start() -> None:
    async with BinanceDialect(dialect_settings()) as dialect:
        adapter = _adapter(dialect, "spot", symbols=["DOGE/USDT"])
        with pytest.raises(LookupFailed) as caught:
            await adapter.__aenter__()
        assert caught.value.code is ErrorCode.UNKNOWN_SYMBOL
        assert adapter.state is ConnectionState.CLOSED


async def test_spot_refuses_what_spot_cannot_do() -> None:
    async with BinanceDialect(dialect_settings()) as dialect, _adapter(dialect, "spot") as adapter:
        assert not adapter.capabilities.amend and not adapter.capabilities.reduce_only
        assert adapter.capabilities.post_only and adapter.capabilities.stop_orders
        for call in (adapter.set_leverage(SPOT, 5), adapter.amend_order(SPOT, "1", price=Decimal(1))):
            with pytest.raises(GatewayError) as caught:
                await call
            assert caught.value.code is ErrorCode.NOT_SUPPORTED
        assert await adapter.positions() == []


async def test_the_factory_builds_a_binance_session() -> None:
    async with BinanceDialect(dialect_settings()) as dialect:
        settings = adapter_settings(dialect, "spot")
        clock = SystemClock()
        budgets = HostBudgets(clock)  # the daemon makes one (app.Gateway) and hands it to every session
        first = build_venue("a", settings, clock, budgets)
        second = build_venue("b", settings, clock, budgets)
        assert isinstance(first, BinanceAdapter) and first.kind == "binance"
        async with first, second:
            assert first.rest is not None and second.rest is not None
            assert first.rest.budget is second.rest.budget  # one budget per host across the daemon
        await asyncio.sleep(0)
