"""`LighterAdapter`: one Lighter account as a `VenueAdapter`.

Entering it loads the markets (``orderBookDetails``: ids and decimals of the configured symbols),
registers the API keys with the signer (no network), primes the market cache over REST and starts:
- the stream (`stream.LighterStream`): ``order_book/<m>`` feeds the market cache, and with a key
  ``account_all_orders/<a>`` and ``account_all_trades/<a>`` push order reports and fills;
- the poller: market cache refresh over REST whenever the stream's entry is stale (the seed's
  ``start_market_cache_loop`` as the fallback), accepted-but-unseen orders (`execution.pending`)
  looked up by client order index until the venue shows them, and the auth token renewal;
- the virtual order reconciliation (`grouped.GroupedOrders`).

Nonces: read at start (lazily, per key), after any refusal or lost answer, and after every reconnect of
the stream (the venue is then the only truth; Nautilus #4263-style wedging is avoided).

State: OPEN once markets are loaded; RECONNECTING while the stream is down (the gateway's order service
reconciles when it is OPEN again); CLOSED after exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any, Self

import aiohttp
import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, MarginType, OrderStatus, OrderType, Side
from gateway.core.errors import ErrorCode, LookupFailed, OrderRejected, VenueError
from gateway.core.events import (
    Balance,
    Depth,
    Fill,
    Kline,
    MarketEvent,
    OrderUpdate,
    Position,
    Ticker,
    Trade,
)
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, OrderRequest, VenueSink
from gateway.venues.common.http import HttpClient
from gateway.venues.common.retry import Backoff
from gateway.venues.lighter import marketdata, parse
from gateway.venues.lighter.cache import MarketCache
from gateway.venues.lighter.config import LighterSettings
from gateway.venues.lighter.constants import MARGIN_CROSS, MARGIN_ISOLATED
from gateway.venues.lighter.execution import LighterExecution, accepted_update, plan_order
from gateway.venues.lighter.grouped import GroupedOrders
from gateway.venues.lighter.nonces import NonceKeeper
from gateway.venues.lighter.queries import LighterQueries
from gateway.venues.lighter.rest import LighterRest
from gateway.venues.lighter.scaling import ClientIndexMap, MarketSpec, ScalingError, worst_price
from gateway.venues.lighter.signer import LighterSigner
from gateway.venues.lighter.stream import LighterStream
from gateway.venues.lighter.userfeed import UserFeed

__all__ = ["LighterAdapter"]


class _NullSink:
    def on_market(self, event: MarketEvent) -> None:
        pass

    def on_user(self, event: object) -> None:
        pass

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        pass


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
        self._sink: VenueSink = _NullSink()
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
        self.grouped = GroupedOrders(self)
        self._token: tuple[str, float] | None = None  # (token, expiry unix seconds)
        self._token_lock = asyncio.Lock()
        self._margin: dict[str, tuple[int, int]] = {}  # symbol -> (leverage, margin mode) last set
        self._tasks: list[asyncio.Task[None]] = []
        self.capabilities = Capabilities(amend=False, stop_orders=True, attached_tpsl=False, post_only=True,
                                         reduce_only=True, market_data_stream=settings.market_stream)
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
        if self.can_trade:
            self._tasks.append(asyncio.create_task(self.grouped.run_reconcile_loop(),
                                                   name=f"lighter-reconcile:{self.name}"))

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

    def _trading(self) -> LighterExecution:
        if self.execution is None:
            raise OrderRejected(f"{self.name} has no API key: read-only", code=ErrorCode.NOT_SUPPORTED)
        return self.execution

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
        """The seed's ``calulate_worst_acceptable_price``: from the cache; else the last 1m close."""
        spec = self.spec(symbol)
        slippage = self.settings.max_slippage if max_slippage is None else max_slippage
        entry = self.cache.get(symbol, self.now_ms())
        bid = ask = last = None
        if entry is not None and not entry["stale"]:
            bid, ask, last = entry["best_bid"], entry["best_ask"], entry["last_trade"]
        if (ask if side is Side.BUY else bid) is None and last is None:
            klines = await self.fetch_klines(symbol, "1m", 1)
            last = klines[-1].close if klines else None
        try:
            return worst_price(side, spec, best_bid=bid, best_ask=ask, last=last, max_slippage=slippage)
        except ScalingError as exc:
            raise OrderRejected(str(exc), code=ErrorCode.VENUE_UNAVAILABLE) from exc

    # --- trading ------------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        execution = self._trading()
        spec = self.spec(request.symbol)
        worst = None
        if request.type is OrderType.MARKET:
            worst = await self.worst_price(request.symbol, request.side)
        elif request.type in (OrderType.STOP, OrderType.TAKE_PROFIT) and request.trigger_price is not None:
            bound = request.trigger_price * (1 + self.settings.max_slippage * request.side.sign)
            worst = spec.tick * (bound / spec.tick).to_integral_value() if bound > 0 else request.trigger_price
        plan = plan_order(request, spec, self.ids.index_of(request.client_order_id), worst=worst,
                          gtt_expiry=self._expiry())
        return await execution.place(request, plan)

    def _expiry(self) -> int:
        ms = self.settings.order_expiry_ms
        return -1 if ms < 0 else self.now_ms() + ms

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        execution = self._trading()
        spec = self.spec(symbol)
        current = await self.get_order(symbol, order_id, client_order_id)
        if current is None and client_order_id:
            # Accepted but not executed yet: the sequencer runs txs in nonce order, so a cancel by client
            # order index sent now executes after the placement (fact sheet §4: Index 1..2^48-1).
            pending = execution.pending.get(self.ids.index_of(client_order_id))
            if pending is not None:
                await execution.cancel(spec.market_id, pending.client_order_index)
                self.user.watch(pending.client_order_index, pending.client_order_index)
                return accepted_update(self.name, pending.request, self.now_ms(), OrderStatus.PENDING_CANCEL)
        if current is None:
            raise LookupFailed("no such order at the venue", code=ErrorCode.ORDER_NOT_FOUND)
        if current.status.is_terminal:
            return current
        index = int(order_id) if order_id else self.ids.index_of(client_order_id or "")
        await execution.cancel(spec.market_id, index)
        self.user.watch(self.ids.index_of(current.client_order_id) if current.client_order_id else None, index)
        return _with_status(current, OrderStatus.PENDING_CANCEL, self.now_ms())

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        execution = self._trading()
        open_now = await self.open_orders(symbol)
        if symbol is None:
            await execution.cancel_all()
        else:
            for update in open_now:
                await execution.cancel(self.spec(symbol).market_id, int(update.order_id or 0))
        now = self.now_ms()
        for update in open_now:
            self.user.watch(None, int(update.order_id or 0))
        return [_with_status(u, OrderStatus.PENDING_CANCEL, now) for u in open_now]

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        raise OrderRejected("amend is not offered on Lighter by this gateway", code=ErrorCode.NOT_SUPPORTED)

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        assert self.queries is not None
        spec = self.spec(symbol)
        if client_order_id:
            index = self.ids.index_of(client_order_id)
            found = await self.queries.orders_by_client_index([index])
        else:
            status = await self.queries.order_status(spec.market_id, order_index=int(order_id or 0))
            found = [status["order"]] if status["order"] else []
        updates = [self.user.to_update(o) for o in found]
        return next((u for u in updates if u is not None), None)

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        assert self.queries is not None
        market = self.spec(symbol).market_id if symbol else None
        return self.user.to_updates(await self.queries.active_orders(market))

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        assert self.queries is not None
        closed = await self.queries.inactive_orders(between=(since_ms, self.now_ms() + 60_000))
        return self.user.to_updates(closed + await self.queries.active_orders())

    async def fills_since(self, since_ms: int) -> list[Fill]:
        assert self.queries is not None
        trades = await self.queries.trades(since_ms=since_ms)
        return [f for f in (self.user.to_fill(t) for t in trades) if f is not None and f.ts >= since_ms]

    async def balances(self) -> list[Balance]:
        assert self.queries is not None
        return parse.to_balances(self.name, await self.queries.account(), self.settings.quote_asset, self.now_ms())

    async def positions(self) -> list[Position]:
        assert self.queries is not None
        return parse.to_positions(self.name, await self.queries.account(), self.spec_of_market, self.now_ms())

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]:
        _, mode = self._margin.get(symbol, (10, MARGIN_CROSS))
        await self._trading().update_leverage(self.spec(symbol).market_id, leverage, mode)
        self._margin[symbol] = (leverage, mode)
        return {"symbol": symbol, "leverage": leverage}

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        leverage, _ = self._margin.get(symbol, (10, MARGIN_CROSS))
        mode = MARGIN_ISOLATED if margin_type is MarginType.ISOLATED else MARGIN_CROSS
        await self._trading().update_leverage(self.spec(symbol).market_id, leverage, mode)
        self._margin[symbol] = (leverage, mode)
        return {"symbol": symbol, "margin_type": margin_type.value, "leverage": leverage}

    async def close_all_positions(self, symbol: str, client_order_id: str) -> OrderUpdate | None:
        """The seed's ``close_all_positions_for_symbol``: a reduce-only market order (None: no position)."""
        position = next((p for p in await self.positions() if p.symbol == symbol and p.qty != 0), None)
        if position is None:
            return None
        side = Side.SELL if position.qty > 0 else Side.BUY
        return await self.place_order(OrderRequest(symbol=symbol, side=side, type=OrderType.MARKET,
                                                   qty=abs(position.qty), client_order_id=client_order_id,
                                                   reduce_only=True))


def _with_status(update: OrderUpdate, status: OrderStatus, now: int) -> OrderUpdate:
    from dataclasses import replace

    return replace(update, status=status, ts=now, recv_ts=now)

