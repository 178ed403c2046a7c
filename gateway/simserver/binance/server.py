"""`BinanceDialect`: the sim exchange served with Binance's REST paths and market streams.

One server plays both Binance hosts: spot (``/api/v3``, streams on ``/ws`` and ``/stream``) and USD-M
futures (``/fapi/v1``, streams on ``/public/...`` and ``/market/...``). Spot symbols of the sim settings
are on spot, perpetuals on futures, both named ``BASEQUOTE``. The synthetic market steps at
``message_rate`` per second and symbol (0: only when `step` is called, which tests use to drive it
deterministically); after every step each symbol's full book is diffed against the published one
(`depth.DepthFeed`) and streamed with Binance update ids.

Faults (`BinanceFaults`), set on ``dialect.faults`` or called as methods: drop every stream connection,
skip depth updates (their ids are spent, the event never sent), answer the next REST requests 429 or
418, delay REST answers, shift the server clock.

Use in-process::

    async with BinanceDialect(DialectSettings()) as dialect:
        urls = dialect.urls("spot")   # rest / stream_public / stream_market for BinanceSettings.urls
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Self

import structlog
from aiohttp import web

from gateway.core.clock import Clock, SystemClock
from gateway.core.enums import MarketType
from gateway.core.events import Bbo, Kline, MarketEvent, MarkPrice, Trade
from gateway.core.instruments import Instrument
from gateway.simserver.binance import render
from gateway.simserver.binance.depth import DepthFeed
from gateway.simserver.binance.limits import IpLimiter, OrderCounter
from gateway.simserver.binance.margin import IsolatedMargin
from gateway.simserver.binance.market_rest import PriceHistory, market_endpoints
from gateway.simserver.binance.rest import ApiError, build_routes, rest_middleware
from gateway.simserver.binance.streams import StreamHub
from gateway.simserver.binance.trade_rest import trading_endpoints
from gateway.simserver.binance.userhub import UserHub
from gateway.simserver.hosting import DialectHost, run_market
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import SyntheticMarket, build_engine
from gateway.venues.sim.records import BookEvent, EngineEvent

__all__ = ["BinanceDialect", "BinanceFaults", "DialectSettings"]

log = structlog.get_logger("gateway.simserver.binance")


@dataclass(frozen=True)
class DialectSettings:
    """How the dialect behaves.

    Attributes:
        sim: symbols, seed and balances of the sim exchange (the funded user is ``user``).
        message_rate: market steps per second per symbol; 0: only `BinanceDialect.step` moves it.
        api_keys: API key -> HMAC secret or Ed25519 public key (PEM) accepted on signed endpoints.
        spot_weight_limit / usdm_weight_limit: REQUEST_WEIGHT per window (fact sheet: 6000 / 2400 per minute).
        weight_interval_s: the weight window (60: per minute, as Binance).
        retry_after_s: the ``Retry-After`` of a 429 (fractions allowed, for fast tests).
        ban_s: the length of a 418 ban.
        ban_after: requests during a 429's ``Retry-After`` before the IP is banned.
        grace_ms: requests this soon after a 429 are not held against the IP (they were in flight).
        spot_ping_s / usdm_ping_s: server ping period (fact sheet: 20 s / 180 s).
        max_connection_age_s: stream connections are closed at this age (Binance: 24 h).
        prewarm_steps: back-dated steps at start, so klines and tickers exist at once.
        spot_order_limits / usdm_order_limits: ORDERS limits per account as (seconds, limit) (fact sheet §4:
            usdm 300 / 10 s and 1200 / min; spot's vary, §2 says read them from exchangeInfo).
        order_limit_status: the HTTP status of a -1015 "Too many new orders" answer (unverified: 429).
    """

    sim: SimSettings = field(default_factory=lambda: SimSettings(message_rate=20))
    message_rate: float = 20.0
    api_keys: dict[str, str] = field(default_factory=dict)
    spot_weight_limit: int = 6_000
    usdm_weight_limit: int = 2_400
    weight_interval_s: int = 60
    retry_after_s: float = 1.0
    ban_s: float = 120.0
    ban_after: int = 3
    grace_ms: int = 50
    spot_ping_s: float | None = 20.0
    usdm_ping_s: float | None = 180.0
    max_connection_age_s: float | None = 86_400.0
    prewarm_steps: int = 300
    spot_order_limits: tuple[tuple[int, int], ...] = ((10, 100), (86_400, 200_000))
    usdm_order_limits: tuple[tuple[int, int], ...] = ((10, 300), (60, 1_200))
    order_limit_status: int = 429


@dataclass
class BinanceFaults:
    """Faults to inject (counts are consumed as they fire)."""

    skip_depth_updates: int = 0  # next N diff events are never sent; their ids are spent
    skip_depth_symbol: str | None = None  # only diffs of this unified symbol are skipped (None: any)
    answer_429: int = 0  # next N REST requests get 429 with Retry-After `retry_after_s`
    answer_418: int = 0  # next N REST requests get 418, banning the IP for `ban_s`
    retry_after_s: float = 1.0
    ban_s: float = 5.0
    rest_delay_ms: float = 0.0  # every REST answer waits this long
    time_offset_ms: int = 0  # the server clock runs this far ahead of the machine's
    drop_order_acks: int = 0  # next N order placements execute but are never answered (the client times out)
    order_ack_delay_ms: float = 0.0  # order placements are answered this late (after executing)
    mute_user_stream: bool = False  # user events are not delivered (a silent stream)
    skipped_depth_updates: int = 0  # how many were skipped so far


class BinanceDialect(DialectHost):
    """The Binance dialect server (an async context manager).

    Args:
        settings: the dialect's behaviour.
        host: the interface to listen on.
        port: the port (0: any free port; read `port` after entering).
        clock: the machine clock (the server clock adds ``faults.time_offset_ms``).
    """

    USER = "user"

    def __init__(self, settings: DialectSettings | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None):
        self.settings = settings or DialectSettings()
        self.host = host
        self.port = port
        self.faults = BinanceFaults()
        self._clock = clock or SystemClock()
        s = self.settings
        self.keys = dict(s.api_keys)
        self.engine = build_engine(self.USER, s.sim)
        self.market = SyntheticMarket(self.USER, s.sim, self.engine)
        self.feeds: dict[str, DepthFeed] = {}
        self._natives: dict[tuple[str, str], str] = {}  # (market, NATIVE) -> unified
        for instrument in self.engine.instruments.values():
            self._natives[(self._market_of(instrument), render.native_of(instrument))] = instrument.symbol
        interval_ms = s.weight_interval_s * 1000
        self.limiters = {
            "spot": IpLimiter(s.spot_weight_limit, interval_ms, s.retry_after_s, s.ban_s, s.ban_after, s.grace_ms),
            "usdm": IpLimiter(s.usdm_weight_limit, interval_ms, s.retry_after_s, s.ban_s, s.ban_after, s.grace_ms),
        }
        unit = ("M", s.weight_interval_s // 60) if s.weight_interval_s % 60 == 0 else ("S", s.weight_interval_s)
        self.weight_header = f"X-MBX-USED-WEIGHT-{unit[1]}{unit[0]}"
        self.hubs = {
            "spot": StreamHub(False, ping_interval_s=s.spot_ping_s, max_age_s=s.max_connection_age_s,
                              max_incoming_per_s=5),
            "usdm": StreamHub(True, ping_interval_s=s.usdm_ping_s, max_age_s=s.max_connection_age_s,
                              max_incoming_per_s=10),
        }
        self.endpoints = {**build_routes(), **market_endpoints(), **trading_endpoints()}
        self.order_counters = {"spot": OrderCounter(tuple((n * 1000, lim) for n, lim in s.spot_order_limits)),
                               "usdm": OrderCounter(tuple((n * 1000, lim) for n, lim in s.usdm_order_limits))}
        self.prices = PriceHistory("binance", [i.symbol for i in self.instruments_of("usdm")])
        self.isolated = IsolatedMargin()
        self.user_hub = UserHub(self)
        self.requests = 0
        self.steps = 0
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        now = self.now_ms()
        self.market.prewarm(now, self.settings.prewarm_steps)
        self._sample_prices(now)
        for symbol in self.engine.instruments:
            feed = self.feeds[symbol] = DepthFeed()
            bids, asks, _ = self.engine.depth(symbol, 1_000_000)
            feed.update(bids, asks)  # the starting book; nobody is subscribed yet
        app = web.Application(middlewares=[rest_middleware(self)])
        for path in self.endpoints:
            app.router.add_route("*", path, _unreachable)
        for prefix, market, tier in (("", "spot", None), ("/public", "usdm", "public"), ("/market", "usdm", "market")):
            app.router.add_get(f"{prefix}/stream", self._stream_handler(market, tier, combined=True))
            app.router.add_get(f"{prefix}/ws", self._stream_handler(market, tier, combined=False))
            app.router.add_get(f"{prefix}/ws/{{streams:.+}}", self._stream_handler(market, tier, combined=False))
        hub = self.user_hub
        for path in ("/private/ws", "/private/ws/{key}", "/private/stream"):
            app.router.add_get(path, hub.handle_private)

        async def spot_ws_api(request: web.Request) -> web.StreamResponse:
            return await hub.handle_ws_api(request, "spot")

        async def ws_fapi(request: web.Request) -> web.StreamResponse:
            return await hub.handle_ws_api(request, "usdm")

        app.router.add_get("/ws-api/v3", spot_ws_api)
        app.router.add_get("/ws-fapi/v1", ws_fapi)
        rate = self.settings.message_rate
        await self._serve(app, run_market(rate, self.step, log) if rate > 0 else None, "binance-dialect-market")
        log.info("dialect.listening", dialect="binance", rest=self.rest_url, ws=self.ws_url)
        return self

    async def _close_sockets(self) -> None:
        for hub in self.hubs.values():
            await hub.close_all(1001)
        await self.user_hub.close_all()

    def urls(self, market: str) -> dict[str, str]:
        """Return the URL overrides pointing a Binance session of `market` (spot | usdm) here."""
        if market == "spot":
            return {"rest": self.rest_url, "stream_public": self.ws_url, "stream_market": self.ws_url,
                    "ws_api": f"{self.ws_url}/ws-api/v3"}
        return {"rest": self.rest_url, "stream_public": f"{self.ws_url}/public",
                "stream_market": f"{self.ws_url}/market", "stream_private": f"{self.ws_url}/private",
                "ws_api": f"{self.ws_url}/ws-fapi/v1"}

    def now_ms(self) -> int:
        """Return the server's time (the machine's plus the injected offset)."""
        return self._clock.now_ms() + self.faults.time_offset_ms

    # --- the market ---------------------------------------------------------------------------------

    def step(self, count: int = 1) -> None:
        """Advance every symbol `count` steps and stream what happened."""
        for _ in range(count):
            self.steps += 1
            now = self.now_ms()
            for symbol in self.engine.instruments:
                result = self.market.step(symbol, now)
                self._publish(symbol, result.market_events, now)
                self.user_hub.on_engine(result.engine_events, now)
            self._sample_prices(now)
            if self.isolated.added:
                self.isolated.release_flat(self)

    def book(self, symbol: str) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Return (last update id, bids best first, asks best first) of `symbol` (unified) as published."""
        return self.feeds[symbol].snapshot(1_000_000)

    def after_engine_call(self, events: list[EngineEvent], now: int) -> None:
        """Stream what a user's request changed: the market (tape, book) and the user's own reports."""
        by_symbol: dict[str, list[MarketEvent]] = {}
        for event in self.market.observe(events, now):
            by_symbol.setdefault(event.symbol, []).append(event)
        for event in events:  # a resting order changes the book without a market event
            if type(event) is BookEvent:
                by_symbol.setdefault(event.symbol, [])
        for symbol, found in by_symbol.items():
            self._publish(symbol, found, now)
        self.user_hub.on_engine(events, now)
        if self.isolated.added:
            self.isolated.release_flat(self)

    def count_orders(self, market: str, orders: int) -> dict[str, str]:
        """Count `orders` new orders of the user on `market`; return the ``X-MBX-ORDER-COUNT-*`` headers.

        Raises:
            ApiError: -1015 when they would break an ORDERS limit (nothing is counted then).
        """
        counter, now = self.order_counters[market], self.now_ms()
        broken = counter.admit(orders, now)
        if broken is not None:
            raise ApiError(self.settings.order_limit_status, -1015, broken)
        return counter.headers(now)

    def _sample_prices(self, now: int) -> None:
        for instrument in self.instruments_of("usdm"):
            mark = self.market.mark(instrument.symbol)
            if mark is not None:
                self.prices.sample(instrument.symbol, mark.mark_price, mark.index_price, now)

    async def ack_faults(self) -> None:
        """Apply the order-ack faults to a placement that has executed: never answer, or answer late."""
        if self.faults.drop_order_acks > 0:
            self.faults.drop_order_acks -= 1
            await asyncio.sleep(3_600)  # the client gives up first; its disconnect cancels this
        elif self.faults.order_ack_delay_ms:
            await asyncio.sleep(self.faults.order_ack_delay_ms / 1000)

    def expire_listen_key(self) -> int:
        """Expire the futures listenKeys now (``listenKeyExpired`` is pushed); return how many."""
        return self.user_hub.expire()

    def drop_user_streams(self, kind: str | None = None) -> int:
        """Abort user-data connections (private, spot WS API; or `kind`) without a close frame."""
        return self.user_hub.drop(kind)

    def native_of(self, symbol: str) -> str:
        return render.native_of(self.engine.instruments[symbol])

    def market_of_symbol(self, symbol: str) -> str:
        return self._market_of(self.engine.instruments[symbol])

    def drop_connections(self, market: str | None = None) -> int:
        """Abort every stream connection (of `market`, or all); return how many."""
        return sum(hub.drop_all() for name, hub in self.hubs.items() if market in (None, name))

    def instruments_of(self, market: str) -> list[Instrument]:
        return [i for i in self.engine.instruments.values() if self._market_of(i) == market]

    def symbol_of(self, market: str, native: str) -> str:
        """Return the unified symbol of `native` on `market`. Raises ApiError -1121 if there is none."""
        found = self._natives.get((market, native.upper()))
        if found is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return found


    def _publish(self, symbol: str, events: list[MarketEvent], now: int) -> None:
        instrument = self.engine.instruments[symbol]
        market = self._market_of(instrument)
        futures = market == "usdm"
        hub = self.hubs[market]
        native = render.native_of(instrument)
        s = native.lower()
        feed = self.feeds[symbol]
        bids, asks, _ = self.engine.depth(symbol, 1_000_000)
        diff = feed.update(bids, asks)
        if diff is not None:
            faults = self.faults
            if faults.skip_depth_updates > 0 and faults.skip_depth_symbol in (None, symbol):
                self.faults.skip_depth_updates -= 1
                self.faults.skipped_depth_updates += 1
            else:
                payload = None
                for name in (f"{s}@depth", f"{s}@depth@100ms", f"{s}@depth@500ms"):
                    if hub.has(name):
                        payload = payload or render.depth_event(diff, native, futures, now)
                        hub.publish(name, payload)
        for event in events:
            kind = type(event)
            if kind is Trade:
                if hub.has(f"{s}@trade"):
                    hub.publish(f"{s}@trade", render.trade_event(event, native, now))  # type: ignore[arg-type]
                if hub.has(f"{s}@aggTrade"):
                    hub.publish(f"{s}@aggTrade", render.agg_trade_event(event, native, now, futures))  # type: ignore[arg-type]
            elif kind is Bbo:
                if hub.has(f"{s}@bookTicker"):
                    bbo = (event.bid, event.bid_qty, event.ask, event.ask_qty)  # type: ignore[union-attr]
                    hub.publish(f"{s}@bookTicker", render.book_ticker_event(feed.last_id, native, bbo, futures, now))
            elif kind is Kline:
                name = f"{s}@kline_{event.interval}"  # type: ignore[union-attr]
                if hub.has(name):
                    hub.publish(name, render.kline_event(event, native, now))  # type: ignore[arg-type]
            elif kind is MarkPrice:
                for name in (f"{s}@markPrice", f"{s}@markPrice@1s"):
                    if hub.has(name):
                        hub.publish(name, render.mark_price_event(event, native, now))  # type: ignore[arg-type]

    @staticmethod
    def _market_of(instrument: Instrument) -> str:
        return "usdm" if instrument.type is MarketType.PERP else "spot"

    def _stream_handler(self, market: str, tier: str | None, *, combined: bool):
        hub = self.hubs[market]

        async def handler(request: web.Request) -> web.StreamResponse:
            if combined:
                streams = [s for s in request.query.get("streams", "").split("/") if s]
            else:
                streams = [s for s in request.match_info.get("streams", "").split("/") if s]
            return await hub.handle(request, tier, streams, combined)

        return handler


async def _unreachable(request: web.Request) -> web.StreamResponse:
    # Every REST path is answered by the middleware; this only exists so the router knows the path.
    raise web.HTTPNotFound()
