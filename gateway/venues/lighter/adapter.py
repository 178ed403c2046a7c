"""`LighterAdapter`: one Lighter account as a `VenueAdapter`.

Entering it loads the markets (``orderBookDetails``: ids and decimals of the configured symbols),
registers the API keys with the signer (no network), primes the market cache over REST and starts:
- the stream (`stream.LighterStream`): ``order_book/<m>`` feeds the market cache, and with a key
  ``account_all_orders/<a>`` and ``account_all_trades/<a>`` push order reports and fills;
- the poller: market cache refresh over REST whenever the stream's entry is stale (the seed's
  ``start_market_cache_loop`` as the fallback), accepted-but-unseen orders (`execution.pending`)
  looked up by client order index until the venue shows them, and the auth token renewal.
Grouped TP/SL orders are the bracket service's (`place_group`); their late indexes are learnt by the
bracket reconciliation, as the seed's virtual orders were.

Nonces: read at start (lazily, per key), after any refusal or lost answer, and after every reconnect of
the stream (the venue is then the only truth; Nautilus #4263-style wedging is avoided).

The requests live beside it, one module per concern: `trading` (place, grouped place, cancel, close),
`account` (order lookups, open / closed orders, fills, balances, positions, leverage), `marketdata`, and
`wrapper_api` (the seed wrapper's reads that `VenueAdapter` has no place for).

State: OPEN once markets are loaded; RECONNECTING while the stream is down (the gateway's order service
reconciles when it is OPEN again); CLOSED after exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Self

import aiohttp
import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, MarginType, Side
from gateway.core.errors import ErrorCode, LookupFailed, OrderRejected, VenueError
from gateway.core.events import (
    Balance,
    Depth,
    Fill,
    Kline,
    OrderUpdate,
    Position,
    Ticker,
    Trade,
)
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, OrderRequest, VenueSink
from gateway.venues.common.http import HttpClient
from gateway.venues.common.retry import Backoff
from gateway.venues.common.sink import NullSink
from gateway.venues.lighter import account, marketdata, parse, trading, wrapper_api
from gateway.venues.lighter.cache import MarketCache
from gateway.venues.lighter.config import LighterSettings
from gateway.venues.lighter.constants import SIGNER_DEFAULT_EXPIRY_MS
from gateway.venues.lighter.execution import LighterExecution
from gateway.venues.lighter.nonces import NonceKeeper
from gateway.venues.lighter.queries import LighterQueries
from gateway.venues.lighter.rest import LighterRest
from gateway.venues.lighter.scaling import ClientIndexMap, MarketSpec
from gateway.venues.lighter.signer import LighterSigner
from gateway.venues.lighter.stream import LighterStream
from gateway.venues.lighter.userfeed import UserFeed

__all__ = ["LighterAdapter"]


class LighterAdapter:
    """One Lighter account (perpetual markets) as a venue session.

    Args:
        name: the configured venue name.
        settings: the venue's settings slice.
        clock: local time.
        session: an aiohttp session to use (None: the adapter opens and closes its own).
    """

    kind = "lighter"

    def __init__(self, name: str, settings: LighterSettings, clock: Clock, *,
                 session: aiohttp.ClientSession | None = None):
        self.name = name
        self.settings = settings
        self._clock = clock
        self._given_session = session
        self._session: aiohttp.ClientSession | None = None
        self._sink: VenueSink = NullSink()
        self._state = ConnectionState.CLOSED
        self._instruments: dict[str, Instrument] = {}
        self.specs: dict[str, MarketSpec] = {}
        self._by_market: dict[int, MarketSpec] = {}
        self.cache = MarketCache(int(settings.cache_stale_s * 1000))
        self.ids = ClientIndexMap()
        self.signer: LighterSigner | None = None
        self.nonces: NonceKeeper | None = None
        self.execution: LighterExecution | None = None
        self.rest: LighterRest | None = None
        self.queries: LighterQueries | None = None
        self.stream: LighterStream | None = None
        self.user = UserFeed(self)
        self._token: tuple[str, float] | None = None  # (token, expiry unix seconds)
        self._token_lock = asyncio.Lock()
        self.margin: dict[str, tuple[int, int]] = {}  # symbol -> (leverage, margin mode) last set
        self.grouped_sizes: dict[int, Decimal] = {}  # grouped child client index -> its size until the venue sizes it
        self._tasks: list[asyncio.Task[None]] = []
        self.capabilities = Capabilities(amend=False, stop_orders=True, attached_tpsl=False, grouped_tpsl=True,
                                         post_only=True, reduce_only=True, market_data_stream=settings.market_stream)
        self._log = structlog.get_logger("gateway.venues.lighter").bind(venue=name)

    def __repr__(self) -> str:
        return f"LighterAdapter(name={self.name!r}, account_index={self.settings.account_index})"

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    @property
    def can_trade(self) -> bool:
        return self.execution is not None

    def bind(self, sink: VenueSink) -> None:
        self._sink = sink

    @property
    def sink(self) -> VenueSink:
        return self._sink

    def now_ms(self) -> int:
        return self._clock.now_ms()

    async def __aenter__(self) -> Self:
        s = self.settings
        self._state = ConnectionState.CONNECTING
        self._session = self._given_session or aiohttp.ClientSession()
        try:
            http = HttpClient(self._session, self.name, timeout_s=s.request_timeout_s)
            self.rest = LighterRest(http, s.rest_url, self.name, backoff=Backoff(s.backoff_base_s, s.backoff_cap_s),
                                    max_retries=s.max_retries, auth_in_query=s.auth_header == "query")
            await self.load_markets()
            if s.api_keys:
                self.signer = LighterSigner(s.rest_url, s.resolved_chain_id, s.account_index, dict(s.api_keys))
                await self.signer.start()
                self.nonces = NonceKeeper(self.signer.key_indexes, self._fetch_nonce)
                self.execution = LighterExecution(self.name, self.signer, self.nonces, self.rest, self.now_ms,
                                                  self.ids, s.price_protection)
            self.queries = LighterQueries(self.rest, s.account_index, self.auth_token if s.api_keys else None)
            for symbol in self.specs:
                with contextlib.suppress(VenueError):
                    await self.user.poll_quote(symbol)
            self._start_tasks()
        except BaseException:
            await self._close()
            raise
        self._state = ConnectionState.OPEN
        self._sink.on_connection(self.name, ConnectionState.OPEN, None)
        self._log.info("lighter.open", markets=list(self.specs), trading=self.can_trade)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()
        self._state = ConnectionState.CLOSED
        self._sink.on_connection(self.name, ConnectionState.CLOSED, None)

    async def _close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self.signer is not None:
            await self.signer.close()
        if self._session is not None and self._given_session is None:
            await self._session.close()
        self._session = None

    def _start_tasks(self) -> None:
        s = self.settings
        channels: list[str] = []
        if s.market_stream:
            channels += [f"order_book/{spec.market_id}" for spec in self.specs.values()]
        if s.account_stream and self.can_trade:
            channels += [f"account_all_orders/{s.account_index}", f"account_all_trades/{s.account_index}"]
        if channels:
            self.stream = LighterStream(self.name, s.stream_url, channels, self.user.on_frame,
                                        auth=self.auth_token if self.can_trade else None, on_state=self._on_stream_state,
                                        ping_interval_s=s.ws_ping_interval_s)
            self._tasks.append(asyncio.create_task(self.stream.run(), name=f"lighter-stream:{self.name}"))
        self._tasks.append(asyncio.create_task(self.user.run_poller(), name=f"lighter-poller:{self.name}"))

    def _on_stream_state(self, state: ConnectionState, reason: str | None) -> None:
        if state is ConnectionState.OPEN and self.nonces is not None:
            self.nonces.invalidate()  # after a reconnect the venue is the only truth about nonces
        if state is not self._state and self._state is not ConnectionState.CLOSED:
            self._state = state
            self._sink.on_connection(self.name, state, reason)

    async def load_markets(self) -> None:
        """(Re)load the market list and keep the configured symbols (the seed's books metadata cache)."""
        assert self.rest is not None
        answer = await self.rest.get("/api/v1/orderBookDetails")
        specs = parse.to_market_specs(answer, self.settings.quote_asset, self.settings.decimals_source == "supported")
        missing = [s for s in self.settings.symbols if s not in specs]
        if missing:
            raise LookupFailed(f"unknown Lighter markets {missing}", code=ErrorCode.UNKNOWN_SYMBOL)
        self.specs = {s: specs[s] for s in self.settings.symbols}
        self._by_market = {spec.market_id: spec for spec in self.specs.values()}
        self._instruments = {s: parse.to_instrument(self.name, spec, self.settings.quote_asset)
                             for s, spec in self.specs.items()}

    def spec(self, symbol: str) -> MarketSpec:
        found = self.specs.get(symbol)
        if found is None:
            raise LookupFailed(f"{symbol} is not a market of {self.name}", code=ErrorCode.UNKNOWN_SYMBOL)
        return found

    def spec_of_market(self, market_id: int) -> MarketSpec | None:
        return self._by_market.get(market_id)

    async def _fetch_nonce(self, api_key_index: int) -> int:
        assert self.rest is not None
        answer = await self.rest.get("/api/v1/nextNonce", {"account_index": self.settings.account_index,
                                                            "api_key_index": api_key_index})
        return int(answer["nonce"])

    async def auth_token(self) -> str:
        """Return an auth token, renewed `auth_token_refresh_s` before it expires (fact sheet §6)."""
        async with self._token_lock:
            now = time.time()
            if self._token is None or self._token[1] - now < self.settings.auth_token_refresh_s:
                assert self.signer is not None
                deadline = int(now) + self.settings.auth_token_ttl_s
                token = await self.signer.auth_token(deadline, self.signer.key_indexes[0])
                self._token = (token, float(deadline))
            return self._token[0]

    def is_token_due(self) -> bool:
        """True when the auth token expires within `auth_token_refresh_s` (the stream must renew it)."""
        return self._token is not None and self._token[1] - time.time() < self.settings.auth_token_refresh_s

    def trading(self) -> LighterExecution:
        """The session's tx sender. Raises OrderRejected (NOT_SUPPORTED) on a read-only session."""
        if self.execution is None:
            raise OrderRejected(f"{self.name} has no API key: read-only", code=ErrorCode.NOT_SUPPORTED)
        return self.execution

    def expiry_ms(self) -> int:
        """The expiry of a GTT order sent now (-1: the signer's 28-day default)."""
        ms = self.settings.order_expiry_ms
        return -1 if ms < 0 else self.now_ms() + ms

    def group_expiry_ms(self) -> int:
        """One concrete expiry for every leg of a grouped order.

        The signer turns -1 into now + 28 days per leg, so two legs signed a millisecond apart get
        different expiries, and the signer refuses an OTOCO whose children's expiries differ.
        """
        ms = self.settings.order_expiry_ms
        return self.now_ms() + (ms if ms >= 0 else SIGNER_DEFAULT_EXPIRY_MS)

    def remember_client_order_ids(self, client_order_ids: Iterable[str]) -> None:
        """Learn the gateway's ids of orders placed before this session (e.g. before a restart).

        Lighter only keeps the client order *index*, a hash of the id (`scaling.client_order_index_of`);
        an index this session has not seen is reported as its decimal string, which the order manager
        would take for an external order. Call with the ids of the orders the gateway still tracks.
        """
        for client_order_id in client_order_ids:
            self.ids.index_of(client_order_id)

    # --- market data --------------------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        return await marketdata.fetch_ticker(self, symbol)

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        return await marketdata.fetch_depth(self, symbol, limit)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        return await marketdata.fetch_trades(self, symbol, limit)

    async def fetch_klines(self, symbol: str, interval: str, limit: int, start: int | None = None,
                           end: int | None = None) -> list[Kline]:
        return await marketdata.fetch_klines(self, symbol, interval, limit, start, end)

    def price_cache(self, symbol: str) -> dict[str, Any] | None:
        """The seed's ``get_price_cache``: the cached prices of `symbol` with age_sec and stale."""
        return self.cache.get(self.spec(symbol).symbol, self.now_ms())

    async def worst_price(self, symbol: str, side: Side, max_slippage: Decimal | None = None) -> Decimal:
        """The seed's ``calulate_worst_acceptable_price`` (`trading.worst_price`)."""
        return await trading.worst_price(self, symbol, side, max_slippage)

    async def order_status(self, symbol: str, **kwargs: Any) -> dict[str, Any]:
        """The seed's ``get_order_status`` (`wrapper_api.order_status`)."""
        return await wrapper_api.order_status(self, symbol, **kwargs)

    async def closed_orders_page(self, symbol: str | None, **kwargs: Any) -> dict[str, Any]:
        """The seed's ``fetch_closed_orders``, one cursor page (`wrapper_api.closed_orders_page`)."""
        return await wrapper_api.closed_orders_page(self, symbol, **kwargs)

    async def fills_page(self, symbol: str | None, **kwargs: Any) -> dict[str, Any]:
        """The seed's ``fetch_fills``, one cursor page (`wrapper_api.fills_page`)."""
        return await wrapper_api.fills_page(self, symbol, **kwargs)

    async def refresh_quote(self, symbol: str) -> dict[str, Any] | None:
        """The seed's ``refresh_order_book_cache`` (`wrapper_api.refresh_quote`)."""
        return await wrapper_api.refresh_quote(self, symbol)

    # --- trading (`trading`) ------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        return await trading.place_order(self, request)

    async def place_group(self, entry: OrderRequest, take_profit: OrderRequest | None,
                          stop_loss: OrderRequest | None) -> list[OrderUpdate]:
        """`GroupedOrderVenue`: the entry and its TP / SL as one grouped tx (`trading.place_group`)."""
        return await trading.place_group(self, entry, take_profit, stop_loss)

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        return await trading.cancel_order(self, symbol, order_id, client_order_id)

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        return await trading.cancel_all(self, symbol)

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        raise OrderRejected("amend is not offered on Lighter by this gateway", code=ErrorCode.NOT_SUPPORTED)

    async def close_all_positions(self, symbol: str, client_order_id: str) -> OrderUpdate | None:
        """The seed's ``close_all_positions_for_symbol`` straight on the venue (`trading`)."""
        return await trading.close_all_positions(self, symbol, client_order_id)

    # --- account (`account`) ------------------------------------------------------------------------

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        return await account.get_order(self, symbol, order_id, client_order_id)

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        return await account.open_orders(self, symbol)

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        return await account.orders_since(self, since_ms)

    async def fills_since(self, since_ms: int) -> list[Fill]:
        return await account.fills_since(self, since_ms)

    async def balances(self) -> list[Balance]:
        return await account.balances(self)

    async def positions(self) -> list[Position]:
        return await account.positions(self)

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]:
        return await account.set_leverage(self, symbol, leverage)

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        return await account.set_margin_type(self, symbol, margin_type)
