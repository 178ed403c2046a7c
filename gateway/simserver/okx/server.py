"""`OkxDialect`: the sim exchange served with OKX v5's REST paths and its three WebSocket endpoints.

Sim spot symbols are SPOT instruments (``BTC-USDT``), perpetuals linear SWAPs (``BTC-USDT-SWAP``, sizes
in contracts of ``ctVal``: see `instruments`). REST lives under ``/api/v5/...`` (`rest`, `rest_private`),
WebSockets at ``/ws/v5/public``, ``/ws/v5/private`` and ``/ws/v5/business`` (`ws`). The synthetic market
steps ``message_rate`` times per second and symbol (0: only `step` moves it, for deterministic tests);
after every step and every user request each instrument's full book is diffed against the published
one and pushed on ``books`` with OKX sequence ids (`books.BookFeed`).

Faults (`OkxFaults`, or the methods): skip book updates (ids spent, never sent: a ``prevSeqId`` gap),
drop WebSocket connections, answer the next requests 50011, answer the next order request with an
outcome-unknown code (applied or not), shift the server clock, delay REST answers.

Use in-process::

    settings = OkxDialectSettings(sim=SimSettings(), message_rate=0, api_keys={"KEY": ("SECRET", "PASS")})
    async with OkxDialect(settings) as dialect:
        dialect.rest_url, dialect.ws_public_url, dialect.ws_private_url, dialect.ws_business_url
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Self

import structlog
from aiohttp import web

from gateway.core.clock import Clock, SystemClock
from gateway.core.events import Bbo, Kline, MarketEvent, MarkPrice, Trade
from gateway.simserver.hosting import DialectHost, run_market
from gateway.simserver.okx import render
from gateway.simserver.okx.algos import AlgoBook
from gateway.simserver.okx.books import BookFeed, checksum, level_rows
from gateway.simserver.okx.instruments import OkxInstrument, build_okx_instruments
from gateway.simserver.okx.limits import WindowLimiter
from gateway.simserver.okx.orders_render import OrderNotes
from gateway.simserver.okx.reports import UserReports
from gateway.simserver.okx.rest import build_app
from gateway.simserver.okx.trading import OrderDesk
from gateway.simserver.okx.ws import SocketHub
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import FUNDING_INTERVAL_MS, SyntheticMarket, build_engine
from gateway.venues.sim.records import EngineEvent, OrderEvent

__all__ = ["OkxDialect", "OkxDialectSettings", "OkxFaults"]

log = structlog.get_logger("gateway.simserver.okx")

Levels = list[tuple[Decimal, Decimal]]


@dataclass(frozen=True)
class OkxDialectSettings:
    """How the dialect behaves.

    Attributes:
        sim: symbols, seed and balances of the sim exchange (the funded user is ``user``).
        message_rate: market steps per second per symbol; 0: only `OkxDialect.step` moves it.
        api_keys: API key -> (secret, passphrase).
        environment: ``any`` (default), ``demo`` (``x-simulated-trading: 1`` required) or ``live``
            (the header refused); a mismatch is 50101.
        acct_lv / pos_mode: what ``account/config`` reports. ``long_short_mode`` is modelled over the
            engine's one net position per instrument: SWAP orders need ``posSide``; an order that would
            hold a long and a short at once is refused (51000), see `trading`.
        contract_values: instId -> ``ctVal`` of a SWAP (default: the sim instrument's contract size, 1).
        legacy_checksum: fill ``checksum`` with the retired CRC32 instead of 0 (fact sheet §7).
        enforce_rate_limits: apply the per-endpoint limits of the fact sheet (50011 beyond them).
        idle_timeout_s: close a WebSocket (4004) after this long with nothing received or sent.
        prewarm_steps: back-dated steps at start, so candles and tickers exist at once.
        book_levels: levels of a ``books`` snapshot (OKX: 400).
    """

    sim: SimSettings = field(default_factory=lambda: SimSettings(message_rate=20))
    message_rate: float = 20.0
    api_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    environment: str = "any"
    acct_lv: str = "2"
    pos_mode: str = "net_mode"
    uid: str = "44800000000001"
    contract_values: dict[str, Decimal] = field(default_factory=dict)
    legacy_checksum: bool = False
    enforce_rate_limits: bool = True
    idle_timeout_s: float | None = 30.0
    prewarm_steps: int = 300
    book_levels: int = 400


@dataclass
class OkxFaults:
    """Faults to inject (counts are consumed as they fire)."""

    skip_book_updates: int = 0  # next N books updates are never sent; their seqIds are spent
    skip_book_inst: str | None = None  # only updates of this instId are skipped (None: any)
    skipped_book_updates: int = 0  # how many were skipped so far
    rate_limited: int = 0  # next N REST requests / WS operations answer 50011
    unknown_outcomes: list[tuple[str, bool]] = field(default_factory=list)  # (code, applied) per next order request
    time_offset_ms: int = 0  # the server clock runs this far ahead of the machine's
    rest_delay_ms: float = 0.0  # every REST answer waits this long
    mute_private: bool = False  # private pushes are not delivered (a silent stream)


class OkxDialect(DialectHost):
    """The OKX dialect server (an async context manager); see the module docstring."""

    USER = "user"

    def __init__(self, settings: OkxDialectSettings | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None):
        self.settings = s = settings or OkxDialectSettings()
        self.host, self.port = host, port
        self.faults = OkxFaults()
        self._clock = clock or SystemClock()
        self.keys = dict(s.api_keys)
        self.engine = build_engine(self.USER, s.sim)
        self.market = SyntheticMarket(self.USER, s.sim, self.engine)
        self.insts: dict[str, OkxInstrument] = build_okx_instruments(self.engine.instruments, s.contract_values)
        self.by_symbol = {i.symbol: i for i in self.insts.values()}
        self.feeds: dict[str, BookFeed] = {}
        self.notes: dict[str, OrderNotes] = {}
        self.algos = AlgoBook()
        self.desk = OrderDesk(self.engine, self.USER, self.insts, self.notes, self.algos,
                              long_short=self.settings.pos_mode == "long_short_mode")
        self.reports = UserReports(self.desk)
        self.limiter = WindowLimiter()
        self.hub = SocketHub(self)
        self.requests = 0
        self.steps = 0
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.market.prewarm(self.now_ms(), self.settings.prewarm_steps)
        for inst_id in self.insts:
            self.feeds[inst_id] = BookFeed()
            self._diff(inst_id)  # the starting book; nobody is subscribed yet
        rate = self.settings.message_rate
        await self._serve(build_app(self), run_market(rate, self.step, log) if rate > 0 else None, "okx-dialect-market")
        log.info("dialect.listening", dialect="okx", rest=self.rest_url)
        return self

    async def _close_sockets(self) -> None:
        await self.hub.close_all(1001)

    @property
    def ws_public_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/v5/public"

    @property
    def ws_private_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/v5/private"

    @property
    def ws_business_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/v5/business"

    def now_ms(self) -> int:
        """The server's time: the machine's plus the injected offset."""
        return self._clock.now_ms() + self.faults.time_offset_ms

    # --- the fixed test interface ------------------------------------------------------------------

    def step(self, count: int = 1) -> None:
        """Advance every symbol `count` steps and push what happened."""
        for _ in range(count):
            self.steps += 1
            now = self.now_ms()
            for symbol in list(self.engine.instruments):
                result = self.market.step(symbol, now)
                extra = self._react(result.engine_events, now)
                events = result.market_events + (self.market.observe(extra, now) if extra else [])
                self._publish_market(symbol, events, now)
                self._publish_user(result.engine_events + extra, now)

    def book(self, inst_id: str) -> tuple[int, Levels, Levels]:
        """(seqId, bids best first, asks best first) of `inst_id` as published (sizes in wire units)."""
        return self.feeds[inst_id].snapshot(1_000_000)

    def instruments(self) -> list[str]:
        return list(self.insts)

    def skip_book_updates(self, inst_id: str | None = None, n: int = 1) -> None:
        self.faults.skip_book_updates += n
        self.faults.skip_book_inst = inst_id

    def drop_connections(self, kind: str | None = None) -> int:
        """Abort the WebSocket connections of `kind` (public | private | business; None: all)."""
        return self.hub.drop(kind)

    def rate_limit_next(self, n: int = 1) -> None:
        self.faults.rate_limited += n

    def unknown_outcome_next_order(self, code: str = "50004", applied: bool = True) -> None:
        self.faults.unknown_outcomes.append((code, applied))

    def shift_clock(self, ms: int) -> None:
        self.faults.time_offset_ms += ms

    # --- engine calls from requests ----------------------------------------------------------------

    def after_engine_call(self, events: list[EngineEvent], now: int) -> None:
        """Push what a user's request changed: algo reactions, the market (tape, book) and the user's reports."""
        events = events + self._react(events, now)
        by_symbol: dict[str, list[MarketEvent]] = {}
        for event in self.market.observe(events, now):
            by_symbol.setdefault(event.symbol, []).append(event)
        for symbol in self.engine.instruments:
            self._publish_market(symbol, by_symbol.get(symbol, []), now)
        self._publish_user(events, now)

    def _react(self, events: list[EngineEvent], now: int) -> list[EngineEvent]:
        # OCO siblings and attached TP/SL, until nothing more follows (each round acts on new events only).
        extra: list[EngineEvent] = []
        pending = events
        for _ in range(8):
            follow: list[EngineEvent] = []
            for event in pending:
                if type(event) is not OrderEvent or event.account != self.USER:
                    continue
                algo, siblings = self.algos.on_order(event)
                if algo is not None:
                    self.hub.push_private(*self.reports.algo_push(algo))
                for leg in siblings:
                    if self.engine.is_open(leg):
                        follow += self.engine.cancel(self.USER, now, order_id=leg)
                parent = self.algos.on_parent(event)
                if parent is not None:
                    known = set(self.algos.algos)
                    follow += self.desk.attach(parent[0], parent[1], parent[2], now)
                    for algo_id in [a for a in self.algos.algos if a not in known]:
                        self.hub.push_private(*self.reports.algo_push(self.algos.algos[algo_id]))
            if not follow:
                break
            extra += follow
            pending = follow
        return extra

    # --- publishing ---------------------------------------------------------------------------------

    def _diff(self, inst_id: str):  # type: ignore[no-untyped-def]
        inst = self.insts[inst_id]
        bids, asks, _ = self.engine.depth(inst.symbol, 1_000_000)
        if inst.ct_val != 1:
            bids = tuple((p, inst.to_sz(q)) for p, q in bids)
            asks = tuple((p, inst.to_sz(q)) for p, q in asks)
        return self.feeds[inst_id].update(bids, asks)

    def book_snapshot_item(self, inst_id: str, levels: int) -> dict[str, object]:
        seq_id, bids, asks = self.feeds[inst_id].snapshot(levels)
        return {"asks": level_rows(asks), "bids": level_rows(bids), "ts": str(self.now_ms()),
                "checksum": checksum(bids, asks) if self.settings.legacy_checksum else 0,
                "prevSeqId": -1, "seqId": seq_id}

    def _publish_market(self, symbol: str, events: list[MarketEvent], now: int) -> None:
        inst = self.by_symbol[symbol]
        inst_id = inst.inst_id
        hub = self.hub
        change = self._diff(inst_id)
        if change is not None:
            faults = self.faults
            if faults.skip_book_updates > 0 and faults.skip_book_inst in (None, inst_id):
                faults.skip_book_updates -= 1
                faults.skipped_book_updates += 1
            elif hub.has("books", inst_id):
                item: dict[str, object] = {"asks": level_rows(change.asks), "bids": level_rows(change.bids),
                                           "ts": str(now), "checksum": 0, "prevSeqId": change.prev_seq_id,
                                           "seqId": change.seq_id}
                if self.settings.legacy_checksum:
                    _, bids, asks = self.feeds[inst_id].snapshot(25)
                    item["checksum"] = checksum(bids, asks)
                hub.push_public("books", inst_id, item, action="update")
            if hub.has("books5", inst_id):
                seq_id, bids, asks = self.feeds[inst_id].snapshot(5)
                hub.push_public("books5", inst_id, {"asks": level_rows(asks), "bids": level_rows(bids),
                                                    "instId": inst_id, "ts": str(now), "seqId": seq_id})
        for event in events:
            kind = type(event)
            if kind is Trade:
                if hub.has("trades", inst_id):
                    hub.push_public("trades", inst_id, render.trade_item(inst, event))  # type: ignore[arg-type]
                if hub.has("tickers", inst_id):
                    hub.push_public("tickers", inst_id, self.ticker_item(inst, now))
            elif kind is Bbo:
                if hub.has("bbo-tbt", inst_id):
                    seq_id, bids, asks = self.feeds[inst_id].snapshot(1)
                    hub.push_public("bbo-tbt", inst_id, {"asks": level_rows(asks), "bids": level_rows(bids),
                                                         "ts": str(now), "seqId": seq_id})
                if hub.has("tickers", inst_id):
                    hub.push_public("tickers", inst_id, self.ticker_item(inst, now))
            elif kind is Kline:
                bar = next((b for b, sim in render.BARS.items() if sim == event.interval), None)  # type: ignore[union-attr]
                for name in (f"candle{bar}", "candle1Dutc" if bar == "1D" else ""):
                    if bar and name and hub.has(name, inst_id):
                        hub.push_public(name, inst_id, render.candle_row(inst, event))  # type: ignore[arg-type]
            elif kind is MarkPrice:
                if hub.has("mark-price", inst_id):
                    hub.push_public("mark-price", inst_id, render.mark_item(inst, event.mark_price, now))  # type: ignore[union-attr]
                if hub.has("funding-rate", inst_id):
                    hub.push_public("funding-rate", inst_id,
                                    render.funding_item(inst, event, now, FUNDING_INTERVAL_MS))  # type: ignore[arg-type]

    def ticker_item(self, inst: OkxInstrument, now: int) -> dict[str, object]:
        trades = self.market.recent_trades(inst.symbol, 1)
        return render.ticker_item(inst, self.market.ticker(inst.symbol, now), trades[-1] if trades else None,
                                  self.engine.bbo(inst.symbol), now)

    def _publish_user(self, events: list[EngineEvent], now: int) -> None:
        for channel, item in self.reports.render(events, now):
            self.hub.push_private(channel, item)

