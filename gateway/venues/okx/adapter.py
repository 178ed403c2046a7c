"""`OkxAdapter`: an OKX SPOT or SWAP session as a `VenueAdapter` (and a `RawVenue`).

Entering it syncs the server-time offset, loads the instruments of the configured symbols, reads the
account configuration (acctLv, posMode: how tdMode / posSide are sent), and starts the connections:
``/public`` (books, tickers, trades, mark price, funding), ``/business`` (candles), and with
credentials ``/private`` (orders, account, positions, order operations) and a logged-in ``/business``
(orders-algo), plus the upkeep task (time re-sync, instruments refresh).

State: `OPEN` once every connection is open; `RECONNECTING` (told to the sink) while any is down (the
order service reconciles when it is `OPEN` again; the private connections also catch up by REST).
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import aiohttp
import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed
from gateway.core.events import Depth, Kline, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, VenueSink
from gateway.venues.common.delegation import TradingDelegation
from gateway.venues.common.http import HttpClient
from gateway.venues.common.lifecycle import HttpSessionLifecycle
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.common.retry import Backoff
from gateway.venues.common.sink import NullSink
from gateway.venues.common.tasks import SessionTasks
from gateway.venues.common.timesync import TimeOffset
from gateway.venues.okx.auth import Credentials
from gateway.venues.okx.clientids import MAX_LEN, STRATEGY_ALPHABET
from gateway.venues.okx.config import OkxSettings
from gateway.venues.okx.data import MarketData
from gateway.venues.okx.execution import OkxExecution
from gateway.venues.okx.instruments import SymbolMap, inst_type, to_instrument
from gateway.venues.okx.parse import BARS, to_kline, to_ticker, to_trade
from gateway.venues.okx.rest import OkxRest
from gateway.venues.okx.stream import OkxSocket
from gateway.venues.okx.userdata import UserData

__all__ = ["OkxAdapter"]


class OkxAdapter(HttpSessionLifecycle, TradingDelegation):
    """One OKX market (spot or swap) as a venue session.

    Args:
        name: the configured venue name.
        settings: the venue's settings slice.
        clock: local time.
        budgets: the daemon's shared request budgets.
        session: an aiohttp session to use (None: the adapter opens and closes its own).
        rng: jitter source (tests pass a seeded one).
    """


    kind = "okx"

    def __init__(self, name: str, settings: OkxSettings, clock: Clock, *, budgets: HostBudgets,
                 session: aiohttp.ClientSession | None = None, rng: random.Random | None = None):
        self.name = name
        self.settings = settings
        self._clock = clock
        self._budgets = budgets
        self._given_session = session
        self._session: aiohttp.ClientSession | None = None
        self._rng = rng or random.Random()
        self._urls = settings.resolved_urls
        self._sink: VenueSink = NullSink()
        self._state = ConnectionState.CLOSED
        self._instruments: dict[str, Instrument] = {}
        self._symbols = SymbolMap([])
        self.offset = TimeOffset()
        self.rest: OkxRest | None = None
        self.execution: OkxExecution | None = None
        self.data: MarketData | None = None
        self.user: UserData | None = None
        self._credentials = (Credentials(settings.api_key.get_secret_value(), settings.api_secret.get_secret_value(),
                                         settings.passphrase.get_secret_value())
                             if settings.has_credentials else None)  # type: ignore[union-attr]
        swap = settings.market == "swap"
        self.capabilities = Capabilities(
            amend=True, stop_orders=True, attached_tpsl=False, post_only=True, reduce_only=swap,
            market_data_stream=True, client_order_id_max_len=MAX_LEN, client_order_id_alphabet=STRATEGY_ALPHABET)
        self._log = structlog.get_logger("gateway.venues.okx").bind(venue=name, market=settings.market)
        self._tasks = SessionTasks(self._log, "okx.task_failed", self._on_task_failed)

    def __repr__(self) -> str:
        return f"OkxAdapter(name={self.name!r}, market={self.settings.market!r})"

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    def bind(self, sink: VenueSink) -> None:
        self._sink = sink

    async def _start(self) -> None:
        s = self.settings
        assert self._session is not None
        self.rest = OkxRest(self.name, HttpClient(self._session, self.name, timeout_s=s.request_timeout_s),
                            self._urls.rest, self._budgets, self._clock, self.offset, credentials=self._credentials,
                            demo=s.demo, max_retries=s.max_retries, backoff=Backoff(s.backoff_base_s, s.backoff_cap_s),
                            rng=self._rng)
        await self.rest.sync_time()
        await self._load_instruments()
        self.execution = OkxExecution(self.name, s, self.rest, lambda: self._symbols, self._clock,
                                      lambda: self.user.private if self.user is not None else None)
        if self._credentials is not None:
            mode = await self.execution.load_account_mode()
            self._log.info("okx.account_mode", acct_lv=mode.acct_lv, pos_mode=mode.pos_mode,
                           td_mode=self.execution.td_mode(s.symbols[0]))
        self.data = MarketData(self.name, s, lambda: self._symbols, self._clock, lambda: self._sink, self._socket)
        if self._credentials is not None and s.user_stream:
            self.user = UserData(self.name, s, lambda: self._symbols, self._clock, lambda: self._sink,
                                 self.execution, self._socket)
        for socket in self._sockets():
            self._spawn(socket.run(), f"okx-ws:{self.name}:{socket.name}")
        self._spawn(self._upkeep(), f"okx-upkeep:{self.name}")
        self._log.info("okx.started", symbols=list(self._instruments), rest=self._urls.rest, demo=s.demo)

    def _socket(self, name: str, on_push: Any, *, on_state: Any = None, on_opened: Any = None,
                login: bool = False) -> OkxSocket:
        url = {"public": self._urls.ws_public, "business_public": self._urls.ws_business,
               "private": self._urls.ws_private, "business": self._urls.ws_business}[name]
        s = self.settings

        def state(conn: str, st: ConnectionState, reason: str | None) -> None:
            if on_state is not None:
                on_state(conn, st, reason)
            self._on_socket_state(conn, st, reason)

        return OkxSocket(name, self.name, url, on_push, self._clock, offset_ms=lambda: self.offset.offset_ms,
                         credentials=self._credentials if login else None, on_state=state, on_opened=on_opened,
                         backoff=Backoff(s.backoff_base_s, s.backoff_cap_s, floor_s=min(0.05, s.backoff_base_s)),
                         rng=self._rng, ping_after_s=s.ws_ping_after_s, login_timeout_s=s.ws_login_timeout_s)

    def _sockets(self) -> list[OkxSocket]:
        found = self.data.sockets() if self.data is not None else []
        return found + (self.user.sockets() if self.user is not None else [])

    def _on_socket_state(self, conn: str, state: ConnectionState, reason: str | None) -> None:
        if state is ConnectionState.OPEN:
            if all(s.is_open for s in self._sockets()):
                self._set_state(ConnectionState.OPEN, None)
        else:
            self._set_state(ConnectionState.RECONNECTING, f"{conn}: {reason}")

    def _set_state(self, state: ConnectionState, reason: str | None) -> None:
        if state is self._state:
            return
        self._state = state
        self._log.info("okx.state", state=str(state), reason=reason)
        self._sink.on_connection(self.name, state, reason)

    async def _load_instruments(self) -> None:
        envelope = await self._rest().call("GET", "/api/v5/public/instruments",
                                           {"instType": inst_type(self.settings.market)})
        by_unified = {}
        for row in envelope.data:
            instrument = to_instrument(row, self.name) if isinstance(row, dict) else None
            if instrument is not None and instrument.symbol in self.settings.symbols:
                by_unified[instrument.symbol] = instrument
        missing = [s for s in self.settings.symbols if s not in by_unified]
        if missing:
            raise LookupFailed(f"{self.name}: OKX instruments have no {missing}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"venue": self.name, "symbols": missing})
        self._instruments = {s: by_unified[s] for s in self.settings.symbols}
        self._symbols = SymbolMap(list(self._instruments.values()))

    async def _sync_time(self) -> None:
        await self._rest().sync_time()

    async def _refresh_instruments(self) -> None:
        await self._load_instruments()

    def status(self) -> dict[str, Any]:
        """The session's state for /status: connections, REST counters, account mode."""
        rest, execution = self.rest, self.execution
        return {
            "state": str(self._state), "market": self.settings.market, "demo": self.settings.demo,
            "connections": {s.name: s.is_open for s in self._sockets()},
            "account_mode": None if execution is None else {"acct_lv": execution.mode.acct_lv,
                                                            "pos_mode": execution.mode.pos_mode},
            "rest": None if rest is None else {"requests": rest.requests, "retries": rest.retries,
                                               "rate_limited": rest.rate_limited, "time_resyncs": rest.time_resyncs,
                                               "offset_ms": rest.offset.offset_ms},
            "books": {} if self.data is None else {i: {"synced": b.is_synced, "gaps": b.gaps}
                                                   for i, b in self.data.books.items()},
        }

    def book(self, symbol: str) -> Any:
        """Return the local book keeper of `symbol` (status, tests)."""
        if self.data is None or symbol not in self._symbols:
            return None
        return self.data.books.get(self._symbols.native(symbol))

    def _rest(self) -> OkxRest:
        if self.rest is None:
            raise GatewayError(f"{self.name} is not running", code=ErrorCode.VENUE_UNAVAILABLE)
        return self.rest

    def _exec(self) -> OkxExecution:
        if self.execution is None:
            raise GatewayError(f"{self.name} is not running", code=ErrorCode.VENUE_UNAVAILABLE)
        return self.execution

    def _native(self, symbol: str) -> str:
        try:
            return self._symbols.native(symbol)
        except KeyError:
            raise LookupFailed(f"unknown symbol {symbol!r} on {self.name}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"venue": self.name, "symbol": symbol}) from None

    # --- market data on demand ----------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        envelope = await self._rest().call("GET", "/api/v5/market/ticker", {"instId": self._native(symbol)})
        return to_ticker(envelope.data[0], self.name, symbol)

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        envelope = await self._rest().call("GET", "/api/v5/market/books",
                                           {"instId": self._native(symbol), "sz": max(1, min(limit, 400))})
        row = envelope.data[0]
        now = self._clock.now_ms()
        bids = tuple((Decimal(b[0]), Decimal(b[1])) for b in row.get("bids", [])[:limit])
        asks = tuple((Decimal(a[0]), Decimal(a[1])) for a in row.get("asks", [])[:limit])
        return Depth(self.name, symbol, bids, asks, int(row.get("seqId") or 0), int(row.get("ts") or now), now)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        envelope = await self._rest().call("GET", "/api/v5/market/trades",
                                           {"instId": self._native(symbol), "limit": max(1, min(limit, 500))})
        now = self._clock.now_ms()
        return sorted((to_trade(r, self.name, symbol, now) for r in envelope.data), key=lambda t: t.ts)

    async def fetch_klines(self, symbol: str, interval: str, limit: int, start: int | None = None,
                           end: int | None = None) -> list[Kline]:
        if interval not in BARS:
            raise GatewayError(f"unknown interval {interval!r}", code=ErrorCode.INVALID_PARAMS)
        params: dict[str, object] = {"instId": self._native(symbol), "bar": BARS[interval],
                                     "limit": max(1, min(limit, 300))}
        if end is not None:
            params["after"] = end + 1  # records older than `after`
        if start is not None:
            params["before"] = start - 1
        envelope = await self._rest().call("GET", "/api/v5/market/candles", params)
        rows = [to_kline(r, self.name, symbol, interval) for r in envelope.data]
        return sorted(rows, key=lambda k: k.open_ts)  # OKX sends newest first

    # --- trading: `TradingDelegation` forwards the VenueAdapter calls to the execution --------------------

    def _account_calls(self) -> OkxExecution:
        return self._exec()
