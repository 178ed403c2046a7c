"""The market service: venue market events in, cache updated, encoded pushes out; snapshot queries.

Hot path (`on_market`): one cache update and, only for streams someone holds, one encode per subscribed
name. No logging, no validation: the venue's parser already produced typed events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

import structlog

from gateway.core.bus import StreamBus, StreamKey
from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import ErrorCode, GatewayError, VenueError, VenueUnavailable
from gateway.core.events import Bbo, Depth, Kline, MarkPrice, MarketEvent, Ticker, Trade
from gateway.market.cache import MarketCache, SymbolCache
from gateway.market.config import MarketSettings
from gateway.venues.registry import VenueDirectory

__all__ = ["MarketService", "DEPTH_KINDS", "TickListener", "stream_kinds"]

log = structlog.get_logger("gateway.market")

DEPTH_KINDS: dict[str, int] = {"depth5": 5, "depth": 20, "depth50": 50}
TICK_SAMPLE_MS = 100  # at most one tick-to-client latency observation per this many ms


def stream_kinds() -> list[str]:
    """Every market stream kind a strategy may subscribe to."""
    from gateway.core.events import KLINE_INTERVALS

    return ["trade", "bbo", *DEPTH_KINDS, "ticker", "mark", *(f"kline_{i}" for i in KLINE_INTERVALS)]


class TickListener(Protocol):
    """Who wants trades, mark prices and best bid/ask of some symbols as they arrive (emulated triggers)."""

    watched: set[tuple[str, str]]  # (venue, symbol) pairs to hand over; the rest cost one set lookup

    def on_tick(self, event: Trade | MarkPrice | Bbo) -> None: ...


class MarketService:
    """The market cache and the fan-out of market data.

    `observe_tick`, when given, is called with `(venue, seconds)` for at most one pushed trade every
    `TICK_SAMPLE_MS`: the venue's event time to the hand-off to the subscribed sessions (metrics).
    """

    def __init__(self, directory: VenueDirectory, bus: StreamBus, clock: Clock, settings: MarketSettings,
                 *, observe_tick: Callable[[str, float], None] | None = None):
        self._directory = directory
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self.cache = MarketCache(settings.stale_after_ms)
        self.messages_in = 0
        self.pushes_out = 0
        self.last_message_ms: dict[str, int] = {}  # venue -> receive time of its latest market event
        self.tick_listener: TickListener | None = None  # the bracket service's trigger index
        self._observe_tick = observe_tick
        self._next_tick_sample_ms = 0

    # --- inbound: called by venue sessions -----------------------------------------------------------

    def on_market(self, event: MarketEvent) -> None:
        self.messages_in += 1
        now = self._clock.now_ms()
        self.last_message_ms[event.venue] = now
        self.cache.apply(event, now)
        bus = self._bus
        venue, symbol = event.venue, event.symbol
        listener = self.tick_listener
        if listener is not None and (venue, symbol) in listener.watched and type(event) in _TICKS:
            try:
                listener.on_tick(event)  # type: ignore[arg-type]
            except Exception:  # a bug in the trigger path must not stop market data
                log.exception("market.tick_listener_failed", venue=venue, symbol=symbol)
        if isinstance(event, Depth):
            for kind, levels in DEPTH_KINDS.items():
                key = StreamKey(venue, symbol, kind)
                if bus.has_subscribers(key):
                    self.pushes_out += bus.publish(key, _depth_view(event, levels), True)
            return
        kind = _KIND_OF[type(event)]
        if kind == "kline":
            kind = f"kline_{event.interval}"  # type: ignore[union-attr]
        key = StreamKey(venue, symbol, kind)
        if bus.has_subscribers(key):
            self.pushes_out += bus.publish(key, event, True)
            if now >= self._next_tick_sample_ms and kind == "trade" and self._observe_tick is not None:
                self._next_tick_sample_ms = now + TICK_SAMPLE_MS  # sampled: one compare per push otherwise
                self._observe_tick(venue, max(0, self._clock.now_ms() - event.ts) / 1000)

    # --- snapshot queries: served from the cache when fresh, else from the venue --------------------

    async def ticker(self, venue: str, symbol: str) -> dict[str, Any]:
        entry = self.cache.ensure(venue, symbol)
        if self._is_fresh(entry.ticker_ms):
            return self._stamp(asdict(entry.ticker), entry.ticker_ms)  # type: ignore[arg-type]
        ticker = await self._fetch(venue, lambda a: a.fetch_ticker(symbol))
        self.cache.apply(ticker, self._clock.now_ms())
        return self._stamp(asdict(ticker), entry.ticker_ms)

    async def bbo(self, venue: str, symbol: str) -> dict[str, Any]:
        entry = self.cache.ensure(venue, symbol)
        if self._is_fresh(entry.bbo_ms):
            return self._stamp(asdict(entry.bbo), entry.bbo_ms)  # type: ignore[arg-type]
        depth = await self._refresh_depth(venue, symbol, 20)
        bbo = _bbo_from_depth(depth, self._clock.now_ms())
        self.cache.apply(bbo, self._clock.now_ms())
        return self._stamp(asdict(bbo), entry.bbo_ms)

    async def depth(self, venue: str, symbol: str, limit: int = 20) -> dict[str, Any]:
        entry = self.cache.ensure(venue, symbol)
        depth = entry.depth
        if depth is None or not self._is_fresh(entry.depth_ms):
            depth = await self._refresh_depth(venue, symbol, max(limit, 50))
        return self._stamp(_depth_view(depth, limit), entry.depth_ms)

    async def trades(self, venue: str, symbol: str, limit: int = 100) -> list[dict[str, Any]]:
        entry = self.cache.ensure(venue, symbol)
        if self._is_fresh(entry.trade_ms) and len(entry.trades) >= min(limit, entry.trades.maxlen or limit):
            trades = list(entry.trades)[-limit:]
        else:
            trades = (await self._fetch(venue, lambda a: a.fetch_trades(symbol, limit)))[-limit:]
        return [asdict(t) for t in trades]

    async def klines(
        self, venue: str, symbol: str, interval: str, limit: int = 100, start: int | None = None, end: int | None = None
    ) -> list[dict[str, Any]]:
        entry = self.cache.ensure(venue, symbol)
        series = entry.klines.get(interval)
        fresh = series is not None and self._is_fresh(entry.kline_ms.get(interval, 0))
        if fresh and series and (start is None or series[0].open_ts <= start):
            klines = [k for k in series if (start is None or k.open_ts >= start) and (end is None or k.open_ts <= end)]
        else:
            klines = await self._fetch(venue, lambda a: a.fetch_klines(symbol, interval, limit, start, end))
            if start is None and end is None:
                entry.replace_klines(interval, klines, self._clock.now_ms())
        return [asdict(k) for k in klines[-limit:]]

    def mark(self, venue: str, symbol: str) -> MarkPrice | None:
        entry = self.cache.get(venue, symbol)
        return entry.mark if entry else None

    def entry(self, venue: str, symbol: str) -> SymbolCache | None:
        return self.cache.get(venue, symbol)

    # --- fallback poller: keeps the cache fresh for a venue whose stream is down --------------------

    async def run_fallback_poller(self) -> None:
        """Poll ticker and depth of every configured symbol of each venue that is not OPEN."""
        interval = self._settings.poll_interval_ms / 1000
        while True:
            for adapter in self._directory:
                if adapter.state is ConnectionState.OPEN:
                    continue
                for symbol in list(adapter.instruments):
                    try:
                        await self._refresh_depth(adapter.name, symbol, 50)
                        ticker = await self._fetch(adapter.name, lambda a, s=symbol: a.fetch_ticker(s))
                        self.on_market(ticker)
                    except GatewayError as exc:
                        log.warning("market.poll_failed", venue=adapter.name, symbol=symbol, error=exc.message)
                        break
            await asyncio.sleep(interval)

    def is_ready(self) -> bool:
        now = self._clock.now_ms()
        return all(
            adapter.state is ConnectionState.OPEN and all(self.cache.is_warm(adapter.name, s, now) for s in adapter.instruments)
            for adapter in self._directory
        )

    # --- helpers --------------------------------------------------------------------------------------

    async def _refresh_depth(self, venue: str, symbol: str, limit: int) -> Depth:
        depth = await self._fetch(venue, lambda a: a.fetch_depth(symbol, limit))
        self.on_market(depth)
        bbo = _bbo_from_depth(depth, depth.recv_ts)
        self.on_market(bbo)
        return depth

    async def _fetch(self, venue: str, call: Any) -> Any:
        adapter = self._directory.venue(venue)
        try:
            async with asyncio.timeout(self._settings.venue_timeout_ms / 1000):
                return await call(adapter)
        except TimeoutError as exc:
            raise VenueUnavailable(f"{venue} did not answer in time", venue=venue, code=ErrorCode.TIMEOUT) from exc
        except VenueError:
            raise

    def _is_fresh(self, received_ms: int) -> bool:
        return not self.cache.freshness(received_ms, self._clock.now_ms()).stale

    def _stamp(self, data: dict[str, Any], received_ms: int) -> dict[str, Any]:
        freshness = self.cache.freshness(received_ms, self._clock.now_ms())
        data["age_ms"] = freshness.age_ms
        data["stale"] = freshness.stale
        return data


_TICKS = frozenset({Trade, MarkPrice, Bbo})
_KIND_OF: dict[type, str] = {Trade: "trade", Bbo: "bbo", Ticker: "ticker", MarkPrice: "mark", Kline: "kline"}


def _depth_view(depth: Depth, levels: int) -> dict[str, Any]:
    return {
        "venue": depth.venue,
        "symbol": depth.symbol,
        "bids": depth.bids[:levels],
        "asks": depth.asks[:levels],
        "seq": depth.seq,
        "ts": depth.ts,
        "recv_ts": depth.recv_ts,
    }


def _bbo_from_depth(depth: Depth, now_ms: int) -> Bbo:
    bid = depth.bids[0] if depth.bids else (None, None)
    ask = depth.asks[0] if depth.asks else (None, None)
    return Bbo(depth.venue, depth.symbol, bid[0], bid[1], ask[0], ask[1], depth.ts, now_ms)
