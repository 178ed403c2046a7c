"""The market service: cache-first snapshots with age and staleness, and the fallback poller."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from gateway.core.bus import StreamBus, StreamKey
from gateway.core.clock import TestClock
from gateway.core.enums import ConnectionState, MarketType, Side
from gateway.core.errors import ErrorCode, VenueUnavailable
from gateway.core.events import Bbo, Depth, Kline, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities
from gateway.market.config import MarketSettings
from gateway.market.service import MarketService
from gateway.venues.registry import VenueDirectory

D = Decimal
SYMBOL = "BTC/USDT"


class PollableVenue:
    kind = "sim"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.name = "v"
        self.state = ConnectionState.OPEN
        self.instruments = {
            SYMBOL: Instrument("v", SYMBOL, "BTCUSDT", "BTC", "USDT", MarketType.SPOT, D("0.01"), D("0.0001"),
                               D("0.0001"), D("5"))
        }
        self.calls: list[str] = []
        self.polled = asyncio.Event()
        self.hang = False

    async def fetch_ticker(self, symbol: str) -> Ticker:
        self.calls.append("ticker")
        self.polled.set()
        return Ticker("v", symbol, D("101"), D("100"), D("102"), D("99"), D("5"), D("500"), 2)

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        self.calls.append("depth")
        if self.hang:
            await asyncio.Event().wait()
        return Depth("v", symbol, ((D("100"), D("1")),), ((D("101"), D("2")),), 9, 1, 1)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        self.calls.append("trades")
        return [Trade("v", symbol, str(i), D("100"), D("1"), Side.SELL, i, i) for i in range(limit)]

    async def fetch_klines(self, symbol, interval, limit, start=None, end=None) -> list[Kline]:
        self.calls.append("klines")
        return [Kline("v", symbol, interval, 60_000 * i, D(1), D(2), D(1), D(2), D(3), True) for i in range(limit)]


class Sink:
    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []

    def deliver(self, frame: bytes, stream: str, conflatable: bool) -> None:
        self.frames.append((stream, frame))


def make(stale_after_ms: int = 1000, venue_timeout_ms: int = 5000) -> tuple[MarketService, PollableVenue, TestClock, StreamBus]:
    venue = PollableVenue()
    clock = TestClock()
    bus = StreamBus(lambda name, data: name.encode())
    settings = MarketSettings(stale_after_ms=stale_after_ms, poll_interval_ms=10, venue_timeout_ms=venue_timeout_ms)
    return MarketService(VenueDirectory({"v": venue}), bus, clock, settings), venue, clock, bus


async def test_fresh_cache_answers_without_the_venue_and_stale_asks_it() -> None:
    market, venue, clock, _ = make()
    market.on_market(Ticker("v", SYMBOL, D("1"), D("1"), D("1"), D("1"), D("0"), D("0"), 1))
    clock.advance(400)
    ticker = await market.ticker("v", SYMBOL)
    assert ticker["last"] == D("1") and ticker["age_ms"] == 400 and ticker["stale"] is False
    assert venue.calls == []
    clock.advance(1000)
    ticker = await market.ticker("v", SYMBOL)
    assert ticker["last"] == D("101") and ticker["stale"] is False and venue.calls == ["ticker"]


async def test_bbo_and_depth_come_from_a_venue_snapshot_when_the_cache_is_cold() -> None:
    market, venue, _, _ = make()
    bbo = await market.bbo("v", SYMBOL)
    assert (bbo["bid"], bbo["ask"]) == (D("100"), D("101"))
    depth = await market.depth("v", SYMBOL, 5)
    assert depth["bids"] == ((D("100"), D("1")),) and depth["seq"] == 9
    assert venue.calls == ["depth"]  # the depth fetched for the bbo warmed the cache for depth too


async def test_trades_and_klines_fall_back_to_the_venue() -> None:
    market, venue, _, _ = make()
    assert len(await market.trades("v", SYMBOL, 10)) == 10
    klines = await market.klines("v", SYMBOL, "1m", 3)
    assert [k["open_ts"] for k in klines] == [0, 60_000, 120_000]
    assert venue.calls == ["trades", "klines"]
    assert len(await market.klines("v", SYMBOL, "1m", 3)) == 3
    assert venue.calls == ["trades", "klines"]  # now cached


async def test_a_venue_that_does_not_answer_is_a_timeout_error() -> None:
    market, venue, _, _ = make(venue_timeout_ms=50)
    venue.hang = True
    with pytest.raises(VenueUnavailable) as caught:
        await market.depth("v", SYMBOL)
    assert caught.value.code is ErrorCode.TIMEOUT


async def test_depth_pushes_are_sliced_per_subscribed_size() -> None:
    market, _, _, bus = make()
    sink = Sink()
    bus.subscribe(StreamKey("v", SYMBOL, "depth5"), "v:BTC/USDT@depth5", sink)
    levels = tuple((D(100 - i), D(1)) for i in range(30))
    market.on_market(Depth("v", SYMBOL, levels, tuple((D(200 + i), D(1)) for i in range(30)), 1, 1, 1))
    market.on_market(Bbo("v", SYMBOL, D(100), D(1), D(200), D(1), 1, 1))
    assert [s for s, _ in sink.frames] == ["v:BTC/USDT@depth5"]
    assert market.cache.is_warm("v", SYMBOL, 1_700_000_000_000)


async def test_the_fallback_poller_keeps_the_cache_fresh_while_the_stream_is_down() -> None:
    market, venue, clock, _ = make()
    venue.state = ConnectionState.RECONNECTING
    poller = asyncio.create_task(market.run_fallback_poller())
    try:
        await asyncio.wait_for(venue.polled.wait(), 2)
    finally:
        poller.cancel()
    entry = market.entry("v", SYMBOL)
    assert entry is not None and entry.ticker is not None and entry.depth is not None and entry.bbo is not None
    assert venue.calls[:2] == ["depth", "ticker"]


async def test_the_poller_leaves_a_connected_venue_alone() -> None:
    market, venue, _, _ = make()
    poller = asyncio.create_task(market.run_fallback_poller())
    try:
        for _ in range(5):
            await asyncio.sleep(0)  # let it run a few iterations; it must not fetch
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(venue.polled.wait(), 0.1)
    finally:
        poller.cancel()
    assert venue.calls == []
