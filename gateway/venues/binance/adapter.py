"""`BinanceAdapter`: a Binance spot or USD-M futures session as a `VenueAdapter`.

Entering it syncs the server-time offset, loads exchangeInfo (instruments; the REQUEST_WEIGHT limits of
the host budget, the ORDERS limits of the account's), opens the market streams and the user stream:
- one task per stream connection (`stream.MarketStream`: reconnect, resubscribe, renewal before 24 h);
- the snapshot worker, which loads a REST depth snapshot for every book that wants one (at start, after
  a gap, after a reconnect) and hands it to the book's `BookSync`;
- the user stream (`userdata`: usdm listenKey stream, spot WebSocket-API subscription) and its watchdog;
- with ``orders_over_ws``, the WebSocket API connection orders go over (`wsapi.WsOrders`: usdm ws-fapi,
  spot ws-api; Ed25519 keys log it on with ``session.logon``);
- the upkeep task: server-time re-sync and exchangeInfo refresh.

Trading calls go to `execution.BinanceExecution` (REST), or to the WebSocket API when it is configured and
open.

State: `OPEN` once every connection is open; `RECONNECTING` (told to the sink) while any is down (the
market service then polls REST; when the session is `OPEN` again, the order service reconciles, which
covers every order and fill of the gap); `CLOSED` after exit.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed
from gateway.core.events import Depth, Kline, OrderUpdate, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, VenueSink
from gateway.venues.binance.auth import Ed25519Signer, HmacSigner, Signer
from gateway.venues.binance.book import BookSync
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.binance.data import MarketData
from gateway.venues.binance.execution import BinanceExecution
from gateway.venues.binance.instruments import SymbolMap, to_instrument, to_rate_limits
from gateway.venues.binance.rest import BinanceRest, account_order_budget
from gateway.venues.binance.schemas import ExchangeInfo
from gateway.venues.binance.trading import CLIENT_ID_ALPHABET
from gateway.venues.binance.user_parse import AlgoLinks
from gateway.venues.binance.userdata import FuturesUserStream, SpotUserStream, UserEvents, UserStream
from gateway.venues.binance.wsapi import WsOrders
from gateway.venues.common.delegation import TradingDelegation
from gateway.venues.common.http import HttpClient
from gateway.venues.common.lifecycle import HttpSessionLifecycle
from gateway.venues.common.ratelimit import ORDERS, WEIGHT, HostBudgets, RateLimit
from gateway.venues.common.retry import Backoff
from gateway.venues.common.sink import NullSink
from gateway.venues.common.tasks import SessionTasks
from gateway.venues.common.timesync import TimeOffset

__all__ = ["BinanceAdapter"]

_Part = TypeVar("_Part")


class BinanceAdapter(HttpSessionLifecycle, TradingDelegation):
    """One Binance market (spot or usdm) as a venue session.

    Args:
        name: the configured venue name.
        settings: the venue's settings slice.
        clock: local time.
        budgets: the daemon's per-host budgets (every session calling a host shares its budget).
        session: an aiohttp session to use (None: the adapter opens and closes its own).
        rng: jitter source (tests pass a seeded one).
    """


    kind = "binance"

    def __init__(
        self,
        name: str,
        settings: BinanceSettings,
        clock: Clock,
        *,
        budgets: HostBudgets,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
    ):
        self.name = name
        self.settings = settings
        self._clock = clock
        self._budgets = budgets
        self._given_session = session
        self._session: aiohttp.ClientSession | None = None
        self._rng = rng or random.Random()
        self._urls = settings.resolved_urls
        self._usdm = settings.market == "usdm"
        self._sink: VenueSink = NullSink()
        self._state = ConnectionState.CLOSED
        self._instruments: dict[str, Instrument] = {}
        self._symbols = SymbolMap([])
        self.data: MarketData | None = None
        self.offset = TimeOffset()
        self.rest: BinanceRest | None = None
        self.links = AlgoLinks()
        self.execution: BinanceExecution | None = None
        self.user: UserStream | None = None
        self.ws_orders: WsOrders | None = None
        self.capabilities = Capabilities(
            amend=self._usdm, stop_orders=True, post_only=True, reduce_only=self._usdm, market_data_stream=True,
            client_order_id_max_len=settings.client_order_id_max_len,
            client_order_id_alphabet=settings.client_order_id_alphabet or CLIENT_ID_ALPHABET[settings.market],
        )
        self._log = structlog.get_logger("gateway.venues.binance").bind(venue=name, market=settings.market)
        self._tasks = SessionTasks(self._log, "binance.task_failed", self._on_task_failed)

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    def bind(self, sink: VenueSink) -> None:
        """Push market events and connection states to `sink` from now on."""
        self._sink = sink
        if self.data is not None:
            self.data.bind(sink)

    def book(self, symbol: str) -> BookSync | None:
        """Return the local book keeper of `symbol` (for status, tests and benchmarks)."""
        return self.data.books.get(symbol) if self.data is not None else None

    async def _start(self) -> None:
        s = self.settings
        assert self._session is not None
        host = self._urls.rest.split("://", 1)[-1].split("/", 1)[0]
        budget = self._budgets.budget(host, [RateLimit(WEIGHT, 60_000, s.default_weight_limit)])
        order_budget = None if s.api_key is None else account_order_budget(
            self._budgets, host, s.api_key.get_secret_value(), s.default_order_limits)
        self.rest = BinanceRest(
            self.name, s.market, HttpClient(self._session, self.name, timeout_s=s.request_timeout_s), self._urls.rest,
            budget, self._clock, self.offset, api_key=s.api_key.get_secret_value() if s.api_key else None,
            signer=self._signer(), recv_window_ms=s.recv_window_ms, max_retries=s.max_retries,
            backoff=Backoff(s.backoff_base_s, s.backoff_cap_s), rng=self._rng,
            order_budget=order_budget, order_wait_s=s.order_wait_s,
        )
        await self.rest.sync_time()
        self._load(await self.rest.exchange_info())
        self.data = MarketData(self.name, s, self._urls, self._instruments, self.rest, self._clock, self._sink,
                               self._on_stream_state, self._rng)
        for conn, stream in self.data.streams.items():
            self._spawn(stream.run(), f"binance-stream:{self.name}:{conn}")
        self._spawn(self.data.run_snapshots(), f"binance-snapshots:{self.name}")
        self.execution = BinanceExecution(self.name, s, self.rest, lambda: self._symbols, self._clock, self.links)
        self._start_user_data()
        if self._usdm and self.user is not None:
            try:  # the user stream's position updates carry no leverage: learn it now (v2 positionRisk)
                await self.execution.positions()
            except GatewayError as exc:
                self._log.warning("binance.leverage_unknown", error=exc.message)
        self._spawn(self._upkeep(), f"binance-upkeep:{self.name}")
        self._log.info("binance.started", symbols=list(self._instruments), rest=self._urls.rest,
                       streams={c: st.url().split("?")[0] for c, st in self.data.streams.items()})

    def _start_user_data(self) -> None:
        s, signer = self.settings, self._signer()
        if s.api_key is None or signer is None or not s.user_stream:
            return
        assert self.rest is not None and self.execution is not None
        events = UserEvents(self.name, lambda: self._symbols, self.links, self.execution.leverage,
                            lambda: self._sink, self._clock)
        if self._usdm:
            self.user = FuturesUserStream(self.name, s, self._urls.stream_private, self.rest, events, self._clock,
                                          self._on_stream_state, self._rng)
        else:
            self.user = SpotUserStream(self.name, s, self._urls.ws_api, s.api_key.get_secret_value(), signer,
                                       self.offset, events, self._clock, self._on_stream_state, self._rng,
                                       resync_time=self.rest.sync_time)
        if s.orders_over_ws:  # its own connection (usdm ws-fapi; spot ws-api, beside the user-data one)
            self.ws_orders = WsOrders(self.name, s, self._urls.ws_api, s.api_key.get_secret_value(), signer,
                                      self.offset, self.execution, self._clock, self._rng)
            self._spawn(self.ws_orders.run(), f"binance-ws-api:{self.name}")
        self._spawn(self.user.run(), f"binance-user:{self.name}")

    def status(self) -> dict[str, Any]:
        """The session's state for /status: connections, the user stream (watchdog), REST counters."""
        rest = self.rest
        return {
            "state": str(self._state), "market": self.settings.market,
            "streams": {c: st.connection.is_open for c, st in self.data.streams.items()} if self.data else {},
            "user_stream": self.user.status() if self.user is not None else None,
            "ws_orders": self.ws_orders.status() if self.ws_orders is not None else None,
            "rest": None if rest is None else {"requests": rest.requests, "retries": rest.retries,
                                               "time_resyncs": rest.time_resyncs, "offset_ms": rest.offset.offset_ms,
                                               "order_counts": dict(rest.order_counts),
                                               "orders_refused": rest.orders_refused},
        }

    def _signer(self) -> Signer | None:
        s = self.settings
        if s.ed25519_private_key is not None:
            return Ed25519Signer(s.ed25519_private_key.get_secret_value())
        if s.api_secret is not None:
            return HmacSigner(s.api_secret.get_secret_value())
        return None

    def _load(self, info: ExchangeInfo) -> None:
        by_unified = {}
        for symbol_info in info.symbols:
            instrument = to_instrument(symbol_info, self.settings.market, self.name)
            if instrument is not None and instrument.symbol in self.settings.symbols:
                by_unified[instrument.symbol] = instrument
        missing = [s for s in self.settings.symbols if s not in by_unified]
        if missing:
            raise LookupFailed(f"{self.name}: exchangeInfo has no {missing}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"venue": self.name, "symbols": missing})
        self._instruments = {s: by_unified[s] for s in self.settings.symbols}
        self._symbols = SymbolMap(list(self._instruments.values()))
        limits = to_rate_limits(info.rateLimits)
        weights = [lim for lim in limits if lim.kind == WEIGHT]
        if weights and self.rest is not None:
            self.rest.budget.configure(weights)
        orders = [lim for lim in limits if lim.kind == ORDERS]
        if orders and self.rest is not None and self.rest.order_budget is not None:
            self.rest.order_budget.configure(orders)

    # --- streams ------------------------------------------------------------------------------------

    def _on_stream_state(self, conn: str, state: ConnectionState, reason: str | None) -> None:
        data, user = self.data, self.user
        if state is ConnectionState.OPEN:
            if data is not None and data.is_open and (user is None or user.state is ConnectionState.OPEN):
                self._set_state(ConnectionState.OPEN, None)
        else:
            self._set_state(ConnectionState.RECONNECTING, f"{conn}: {reason}")

    def _set_state(self, state: ConnectionState, reason: str | None) -> None:
        if state is self._state:
            return
        self._state = state
        self._log.info("binance.state", state=str(state), reason=reason)
        self._sink.on_connection(self.name, state, reason)

    async def _sync_time(self) -> None:
        await self._rest().sync_time()

    async def _refresh_instruments(self) -> None:
        self._load(await self._rest().exchange_info())

    def _running(self, part: _Part | None) -> _Part:
        if part is None:
            raise GatewayError(f"{self.name} is not running", code=ErrorCode.VENUE_UNAVAILABLE)
        return part

    def _rest(self) -> BinanceRest:
        return self._running(self.rest)

    def _native(self, symbol: str) -> str:
        try:
            return self._symbols.native(symbol)
        except KeyError:
            raise LookupFailed(f"unknown symbol {symbol!r} on {self.name}", code=ErrorCode.UNKNOWN_SYMBOL,
                               details={"venue": self.name, "symbol": symbol}) from None

    # --- market data on demand ----------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        return await self._running(self.data).fetch_ticker(self._native(symbol), symbol)

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        return await self._running(self.data).fetch_depth(self._native(symbol), symbol, limit)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        return await self._running(self.data).fetch_trades(self._native(symbol), symbol, limit)

    async def fetch_klines(
        self, symbol: str, interval: str, limit: int, start: int | None = None, end: int | None = None
    ) -> list[Kline]:
        return await self._running(self.data).fetch_klines(self._native(symbol), symbol, interval, limit, start, end)

    # --- trading (execution.BinanceExecution) ------------------------------------------------------

    def _exec(self) -> BinanceExecution:
        return self._running(self.execution)

    # `TradingDelegation` forwards the VenueAdapter calls: orders to `_orders()`, the rest to the execution.

    def _order_calls(self) -> BinanceExecution | WsOrders:
        return self._orders()

    def _account_calls(self) -> BinanceExecution:
        return self._exec()

    async def adjust_position_margin(self, symbol: str, amount: Decimal, add: bool) -> dict[str, object]:
        """usdm: add margin to (``add``) or take it from an isolated position (``/fapi/v1/positionMargin``)."""
        return await self._exec().adjust_position_margin(symbol, amount, add)

    async def cancel_orders(self, symbol: str, order_ids: list[str]) -> list[OrderUpdate]:
        """usdm: cancel orders by id through the batch endpoint; return each canceled order as answered."""
        return await self._exec().cancel_orders(symbol, order_ids)

    def _orders(self) -> BinanceExecution | WsOrders:
        # Order calls go over ws-fapi when configured and connected; REST otherwise (the fallback).
        ws = self.ws_orders
        if ws is not None and ws.is_open:
            return ws
        return self._exec()
