"""The market-data half of a Binance session: stream connections, local books and their snapshots.

`MarketData` owns one `stream.MarketStream` per connection (spot: one; usdm: ``public`` + ``market``),
one `book.BookSync` per symbol, and the snapshot worker that loads a REST depth snapshot whenever a book
wants one (start, gap, reconnect of the connection carrying depth). Stream messages become the
gateway's market events (`parse`) and go to the bound sink; every diff applied pushes the book's top
``published_depth`` levels as a `Depth`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import VenueError
from gateway.core.events import Depth, Kline, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import VenueSink
from gateway.venues.binance.book import BookDiff, BookSync
from gateway.venues.binance.config import USDM_DEPTH_LIMITS, BinanceSettings
from gateway.venues.binance.parse import (
    to_bbo,
    to_depth,
    to_kline,
    to_klines,
    to_levels,
    to_mark_price,
    to_rest_trades,
    to_ticker,
    to_trade,
)
from gateway.venues.binance.rest import BinanceRest
from gateway.venues.binance.schemas import (
    AggTradeEvent,
    BookTickerEvent,
    DepthUpdate,
    KlineEvent,
    MarketMessage,
    MarkPriceEvent,
    TradeEvent,
)
from gateway.venues.binance.stream import MarketStream, StreamRoute, plan_streams
from gateway.venues.binance.urls import ResolvedUrls
from gateway.venues.common.retry import Backoff

__all__ = ["MarketData"]

DEPTH_CONNECTION = "public"  # the connection carrying diff depth, on spot and usdm alike


class MarketData:
    """Market streams and local books of one Binance session.

    Args:
        venue: the venue name events carry.
        settings: the venue settings.
        urls: the resolved URLs.
        instruments: the session's instruments by unified symbol.
        rest: the REST client (depth snapshots).
        clock: receive times.
        sink: where events go (rebind with `bind`).
        on_state: told (connection name, state, reason) on every open and drop.
        rng: jitter source.
    """

    def __init__(
        self,
        venue: str,
        settings: BinanceSettings,
        urls: ResolvedUrls,
        instruments: dict[str, Instrument],
        rest: BinanceRest,
        clock: Clock,
        sink: VenueSink,
        on_state: Callable[[str, ConnectionState, str | None], None],
        rng: random.Random,
    ):
        self._venue = venue
        self._settings = settings
        self._instruments = instruments
        self._rest = rest
        self._clock = clock
        self._sink = sink
        self._on_state_change = on_state
        self._rng = rng
        self._open: set[str] = set()
        self._snapshot_wanted = asyncio.Event()
        usdm = settings.market == "usdm"
        self.books = {symbol: BookSync(usdm, settings.book_buffer_limit) for symbol in instruments}
        plan = plan_streams(settings, {u: i.native for u, i in instruments.items()})
        bases = {"public": urls.stream_public, "market": urls.stream_market}
        self.streams = {
            conn: MarketStream(conn, venue, bases[conn], routes, self._on_message, on_open=self._on_open,
                               on_state=self._on_state, clock=clock, settings=settings, rng=rng)
            for conn, routes in plan.items()
        }
        self._log = structlog.get_logger("gateway.venues.binance.data").bind(venue=venue)

    def bind(self, sink: VenueSink) -> None:
        self._sink = sink

    @property
    def is_open(self) -> bool:
        """Return True while every stream connection is open."""
        return self._open >= set(self.streams)

    # --- stream callbacks ---------------------------------------------------------------------------

    async def _on_open(self, conn: str) -> None:
        # A fresh connection: its books restart from a new snapshot, buffering diffs from now on.
        if conn == DEPTH_CONNECTION:
            for sync in self.books.values():
                sync.reset()
            self._snapshot_wanted.set()

    def _on_state(self, conn: str, state: ConnectionState, reason: str | None) -> None:
        if state is ConnectionState.OPEN:
            self._open.add(conn)
            if conn == DEPTH_CONNECTION:  # the snapshot worker skips books whose connection is down
                self._snapshot_wanted.set()
        else:
            self._open.discard(conn)
        self._on_state_change(conn, state, reason)

    def _on_message(self, route: StreamRoute, msg: MarketMessage, recv_ts: int) -> None:
        symbol, sink, venue = route.symbol, self._sink, self._venue
        kind = type(msg)
        if kind is DepthUpdate:
            self._on_depth(symbol, msg, recv_ts)  # type: ignore[arg-type]
        elif kind is BookTickerEvent:
            sink.on_market(to_bbo(msg, venue, symbol, recv_ts))  # type: ignore[arg-type]
        elif kind is TradeEvent or kind is AggTradeEvent:
            sink.on_market(to_trade(msg, venue, symbol, recv_ts))  # type: ignore[arg-type]
        elif kind is KlineEvent:
            sink.on_market(to_kline(msg, venue, symbol))  # type: ignore[arg-type]
        elif kind is MarkPriceEvent:
            sink.on_market(to_mark_price(msg, venue, symbol))  # type: ignore[arg-type]

    def _on_depth(self, symbol: str, msg: DepthUpdate, recv_ts: int) -> None:
        sync = self.books[symbol]
        step = sync.on_diff(BookDiff(msg.U, msg.u, msg.pu, to_levels(msg.b), to_levels(msg.a)))
        if step.changed:
            self._push_book(symbol, sync, msg.T or msg.E, recv_ts)
        elif step.needs_snapshot:
            self._log.warning("binance.book_gap", symbol=symbol, first_id=msg.U, final_id=msg.u,
                              previous_id=msg.pu, gaps=sync.gaps)
            self._snapshot_wanted.set()

    def _push_book(self, symbol: str, sync: BookSync, ts: int, recv_ts: int) -> None:
        bids, asks = sync.book.top(self._settings.published_depth)
        assert sync.book.seq is not None
        self._sink.on_market(to_depth(bids, asks, sync.book.seq, self._venue, symbol, ts, recv_ts))

    # --- the snapshot worker ------------------------------------------------------------------------

    async def run_snapshots(self) -> None:
        """Load a snapshot for every book that wants one, one at a time (each costs weight). Runs forever."""
        s = self._settings
        backoff = Backoff(s.backoff_base_s, s.backoff_cap_s)
        failures = 0
        while True:
            await self._snapshot_wanted.wait()
            self._snapshot_wanted.clear()
            for symbol, sync in self.books.items():
                if not sync.wants_snapshot or DEPTH_CONNECTION not in self._open:
                    continue
                try:
                    snap = await self._rest.depth(self._instruments[symbol].native, s.depth_snapshot_limit)
                except VenueError as exc:
                    failures += 1
                    delay = backoff.delay(failures, self._rng)
                    self._log.warning("binance.snapshot_failed", symbol=symbol, error=exc.message,
                                      retry_in_s=round(delay, 3))
                    await asyncio.sleep(delay)
                    self._snapshot_wanted.set()
                    break
                failures = 0
                now = self._clock.now_ms()
                step = sync.on_snapshot(snap.lastUpdateId, to_levels(snap.bids), to_levels(snap.asks))
                if step.changed:
                    self._log.info("binance.book_synced", symbol=symbol, last_update_id=snap.lastUpdateId,
                                   snapshots=sync.snapshots, replayed_to=sync.book.seq)
                    self._push_book(symbol, sync, snap.T or self._rest.offset.server_now(now), now)
                if sync.wants_snapshot:  # stale, or a gap inside the buffer: ask again after a beat
                    await asyncio.sleep(backoff.delay(1, self._rng))
                    self._snapshot_wanted.set()

    # --- on demand (the market cache's REST fallback) -----------------------------------------------

    async def fetch_ticker(self, native: str, symbol: str) -> Ticker:
        return to_ticker(await self._rest.ticker_24h(native), self._venue, symbol)

    async def fetch_depth(self, native: str, symbol: str, limit: int) -> Depth:
        wire_limit = limit
        if self._settings.market == "usdm":  # futures takes only a few limits: ask for the next one up
            wire_limit = next((v for v in USDM_DEPTH_LIMITS if v >= limit), USDM_DEPTH_LIMITS[-1])
        snap = await self._rest.depth(native, max(1, min(wire_limit, 5_000)))
        now = self._clock.now_ms()
        return to_depth(to_levels(snap.bids[:limit]), to_levels(snap.asks[:limit]), snap.lastUpdateId, self._venue,
                        symbol, snap.T or self._rest.offset.server_now(now), now)

    async def fetch_trades(self, native: str, symbol: str, limit: int) -> list[Trade]:
        rows = await self._rest.trades(native, max(1, min(limit, 1_000)))
        return to_rest_trades(rows, self._venue, symbol, self._clock.now_ms())

    async def fetch_klines(self, native: str, symbol: str, interval: str, limit: int, start: int | None = None,
                           end: int | None = None) -> list[Kline]:
        rows = await self._rest.klines(native, interval, max(1, min(limit, 1_000)), start, end)
        return to_klines(rows, self._venue, symbol, interval, self._rest.offset.server_now(self._clock.now_ms()))
