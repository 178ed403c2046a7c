"""`QeAdapter`: a Quantum Execute session, as a `VenueAdapter` where it can be one and an `AlgoVenue`.

What it is as a `VenueAdapter` (the order service, market service and status views see every venue):
- **no market data**: QE publishes none; the fetch methods answer NOT_SUPPORTED, and `instruments` is
  empty, so the market service neither polls it nor waits for its caches (readiness would never come);
  the symbols parents may trade are `algo_instruments`;
- **no plain orders**: `place_order`, `cancel_order`, `amend_order`, `cancel_all`, leverage and margin
  answer NOT_SUPPORTED; the reconciliation reads (`open_orders`, `orders_since`, `fills_since`,
  `balances`, `positions`) answer empty, which is the truth of this venue (the exchange account's own
  orders are QE's children, reported on the algo path);
- `state` is the user stream's: OPEN once the socket is up and caught up.

As an `AlgoVenue` (`port.py`) it creates, cancels, pauses, resumes, reads and lists master orders and
their children over V2 REST, and emits parent / child / fill events from its user stream.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Self

import aiohttp
import structlog

from gateway.core.algo_ports import AlgoEvent, AlgoSink, ChildOrder, ParentOrder, ParentPage, ParentSpec
from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, MarginType
from gateway.core.errors import (
    ConfigError,
    ErrorCode,
    GatewayError,
    OrderRejected,
    VenueRejected,
    VenueUnavailable,
)
from gateway.core.events import Balance, Depth, Fill, Kline, OrderUpdate, Position, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, OrderRequest, VenueSink
from gateway.core.symbols import parse_symbol
from gateway.venues.common.http import HttpClient
from gateway.venues.common.ratelimit import HostBudgets, RateLimit
from gateway.venues.common.retry import Backoff
from gateway.venues.common.timesync import TimeOffset
from gateway.venues.qe.auth import HmacSigner
from gateway.venues.qe.body import exchange_api_public, to_create_body, trading_pairs_public
from gateway.venues.qe.config import QeSettings
from gateway.venues.qe.rest import REQUESTS, QeRest
from gateway.venues.qe.schemas import QeFormatError, parse_child, parse_parent
from gateway.venues.qe.stream import QeUserStream
from gateway.venues.qe.tracker import Tracker

__all__ = ["QeAdapter"]

_NOT_FOUND_CODES = frozenset({404, "404"})


class QeAdapter:
    """One QE user session (see the module docstring)."""

    kind = "qe"
    capabilities = Capabilities(post_only=False, market_data_stream=False, client_order_id_max_len=36)

    def __init__(self, name: str, settings: QeSettings, clock: Clock, *, budgets: HostBudgets | None = None,
                 rng: random.Random | None = None):
        self.name = name
        self.settings = settings
        self._clock = clock
        self._budgets = budgets or HostBudgets(clock)
        self._rng = rng or random.Random()
        self._state = ConnectionState.CONNECTING
        self._sink: VenueSink | None = None
        self._algo_sink: AlgoSink | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.tracker = Tracker()
        self.offset = TimeOffset()
        self.rest: QeRest | None = None
        self.stream: QeUserStream | None = None
        self.algo_instruments = {i.symbol: i for i in self._build_instruments()}
        self._api_key_id = settings.api_key_id
        self._log = structlog.get_logger("gateway.venues.qe").bind(venue=name)

    def __repr__(self) -> str:
        return f"QeAdapter({self.name!r}, {self.settings.resolved_rest_url!r})"

    # --- VenueAdapter: what it is ------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def instruments(self) -> dict[str, Instrument]:
        return {}  # no market data: see the module docstring

    def bind(self, sink: VenueSink) -> None:
        self._sink = sink

    def bind_algo(self, sink: AlgoSink) -> None:
        self._algo_sink = sink

    async def __aenter__(self) -> Self:
        s = self.settings
        if s.api_key is None or s.api_secret is None:
            raise ConfigError(f"venue {self.name}: a qe session needs api_key and api_secret (env or secret files)")
        self._session = aiohttp.ClientSession()
        http = HttpClient(self._session, self.name, timeout_s=s.request_timeout_s)
        host = s.resolved_rest_url.split("://", 1)[-1].split("/", 1)[0]
        budget = self._budgets.budget(host, [RateLimit(REQUESTS, 60_000, s.requests_per_minute)])
        backoff = Backoff(s.backoff_base_s, s.backoff_cap_s)
        self.rest = QeRest(self.name, http, s.resolved_rest_url, v2_prefix=s.strategy_api_prefix,
                           v1_prefix=s.v1_prefix, budget=budget, clock=self._clock, offset=self.offset,
                           api_key=s.api_key.get_secret_value(), signer=HmacSigner(s.api_secret.get_secret_value()),
                           recv_window_ms=s.recv_window_ms, max_retries=s.max_retries, backoff=backoff, rng=self._rng)
        self.stream = QeUserStream(
            self.name, self.rest, s.resolved_ws_url, s.ws_path, self._clock, self.tracker, self._emit,
            self._on_stream_state, renew_before_s=s.listen_key_renew_before_s, backoff=backoff,
            ping_interval_s=s.ws_ping_interval_s, ping_timeout_s=s.ws_ping_timeout_s,
            page_size=s.catchup_page_size, max_parents=s.max_catchup_parents, rng=self._rng)
        self._tasks = [asyncio.create_task(self._sync_time_loop(), name=f"{self.name}.time_sync"),
                       asyncio.create_task(self.stream.run(), name=f"{self.name}.user_stream")]
        self._report(ConnectionState.CONNECTING, None)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._report(ConnectionState.CLOSED, None)

    # --- AlgoVenue ---------------------------------------------------------------------------------------

    async def default_api_key_id(self) -> str:
        """The bound exchange account parents run on: the setting, else QE's default one for `exchange`.

        Raises:
            OrderRejected: NOT_SUPPORTED when QE lists no trading-enabled account for the exchange.
        """
        if self._api_key_id:
            return self._api_key_id
        accounts = await self.exchange_apis()
        wanted = self.settings.exchange.lower()
        usable = [a for a in accounts if str(a.get("exchange") or "").lower() == wanted
                  and a.get("is_trading_enabled") is not False and a.get("api_key_id")]
        usable.sort(key=lambda a: not a.get("is_default"))
        if not usable:
            raise OrderRejected(f"QE lists no trading account on {self.settings.exchange} for this API key",
                                code=ErrorCode.NOT_SUPPORTED, details={"venue": self.name})
        self._api_key_id = str(usable[0]["api_key_id"])
        return self._api_key_id

    async def create_parent(self, spec: ParentSpec) -> ParentOrder:
        body = to_create_body(spec, self.settings.qty_quantum)
        reply = await self._rest().create_master_order(body)
        if not isinstance(reply, dict) or not reply.get("masterOrderId"):
            raise VenueRejected(f"create master order: {reply!r:.200}", venue=self.name)
        if reply.get("success") is False:
            raise VenueRejected(f"create master order refused: {reply.get('message')}", venue=self.name,
                                venue_message=str(reply.get("message")))
        record = {**body, "status": reply.get("status") or "NEW", "masterOrderId": reply["masterOrderId"],
                  "clientOrderId": reply.get("clientOrderId") or spec.client_order_id}
        return parse_parent(record)

    async def cancel_parent(self, parent_id: str, reason: str | None = None) -> None:
        await self._action(parent_id, "cancel", reason)

    async def pause_parent(self, parent_id: str, reason: str | None = None) -> None:
        await self._action(parent_id, "pause", reason)

    async def resume_parent(self, parent_id: str, reason: str | None = None) -> None:
        await self._action(parent_id, "resume", reason)

    async def update_parent(self, parent_id: str, fields: Mapping[str, Any]) -> None:
        """PUT .../update with V2 field names (§5); decimals as strings."""
        body = {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in fields.items()}
        await self._action(parent_id, "update", None, body)

    async def batch_cancel(self, parent_ids: list[str], reason: str | None = None) -> dict[str, Any]:
        reply = await self._rest().batch_cancel(parent_ids, reason)
        return reply if isinstance(reply, dict) else {}

    async def get_parent(self, parent_id: str | None = None, client_order_id: str | None = None
                         ) -> ParentOrder | None:
        rest = self._rest()
        try:
            if parent_id is not None:
                reply = await rest.get_master_order(parent_id)
            elif client_order_id is not None:
                reply = await rest.get_master_order_by_client_id(client_order_id)
            else:
                raise ValueError("give parent_id or client_order_id")
        except VenueRejected as exc:
            if exc.venue_code in _NOT_FOUND_CODES:
                return None
            raise
        if isinstance(reply, dict) and isinstance(reply.get("masterOrder"), dict):
            reply = reply["masterOrder"]  # the V1 detail shape
        if not reply:
            return None
        parent = self._parse(parse_parent, reply)
        self._fold(self.tracker.on_parent(parent))
        return parent

    async def list_parents(self, *, open_only: bool = False, page: int = 1, page_size: int = 100) -> ParentPage:
        params: dict[str, Any] = {"page": page, "pageSize": page_size}
        if open_only:
            params["status"] = "NEW"
        reply = await self._rest().list_master_orders(**params)
        data = reply if isinstance(reply, dict) else {"items": reply or []}
        items = [self._parse(parse_parent, r) for r in data.get("items") or []]
        return ParentPage(items, int(data.get("total") or len(items)), int(data.get("page") or page),
                          int(data.get("pageSize") or page_size))

    async def parent_children(self, parent_id: str) -> list[ChildOrder]:
        found: list[ChildOrder] = []
        page, size = 1, self.settings.catchup_page_size
        while True:
            reply = await self._rest().order_fills(masterOrderId=parent_id, page=page, pageSize=size)
            items = (reply or {}).get("items") or [] if isinstance(reply, dict) else (reply or [])
            found.extend(self._parse(parse_child, r) for r in items)
            if len(items) < size:
                return found
            page += 1

    async def exchange_apis(self) -> list[dict[str, Any]]:
        reply = await self._rest().exchange_apis()
        items = reply.get("items") if isinstance(reply, dict) else reply
        return [exchange_api_public(r) for r in items or [] if isinstance(r, dict)]

    async def trading_pairs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        wire = {"exchange": params.get("exchange"), "marketType": params.get("market_type"),
                "isCoin": params.get("is_coin"), "page": params.get("page"), "pageSize": params.get("page_size")}
        if isinstance(wire["isCoin"], bool):
            wire["isCoin"] = "true" if wire["isCoin"] else "false"
        return trading_pairs_public(await self._rest().trading_pairs(wire))

    # --- VenueAdapter: what QE does not do ------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        raise _no_market_data(self.name)

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        raise _no_market_data(self.name)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        raise _no_market_data(self.name)

    async def fetch_klines(self, symbol: str, interval: str, limit: int, start: int | None = None,
                           end: int | None = None) -> list[Kline]:
        raise _no_market_data(self.name)

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        raise _algo_only(self.name, "place_order")

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        raise _algo_only(self.name, "cancel_order")

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        raise _algo_only(self.name, "cancel_all")

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        raise _algo_only(self.name, "amend_order")

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        return None  # no plain order ever exists here

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        return []

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        return []

    async def fills_since(self, since_ms: int) -> list[Fill]:
        return []

    async def balances(self) -> list[Balance]:
        return []

    async def positions(self) -> list[Position]:
        return []

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]:
        raise _algo_only(self.name, "set_leverage")

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        raise _algo_only(self.name, "set_margin_type")

    # --- internals ----------------------------------------------------------------------------------------

    def _rest(self) -> QeRest:
        if self.rest is None:
            raise VenueUnavailable(f"{self.name} is not started", venue=self.name)
        return self.rest

    async def _action(self, parent_id: str, action: str, reason: str | None,
                      body: Mapping[str, Any] | None = None) -> None:
        reply = await self._rest().master_order_action(parent_id, action, body if body is not None
                                                        else {"reason": reason})
        if isinstance(reply, dict) and reply.get("success") is False:
            raise VenueRejected(f"{action} master order {parent_id} refused: {reply.get('message')}",
                                venue=self.name, venue_message=str(reply.get("message")))

    def _parse(self, parser: Any, record: Any) -> Any:
        try:
            return parser(record)
        except QeFormatError as exc:
            self._log.warning("rest.bad_record", error=str(exc), record=str(record)[:500])
            raise VenueRejected(f"unreadable record from QE: {exc}", venue=self.name) from exc

    def _emit(self, event: AlgoEvent) -> None:
        if self._algo_sink is not None:
            self._algo_sink.on_algo(self.name, event)

    def _fold(self, events: list[AlgoEvent]) -> None:
        for event in events:
            self._emit(event)

    def _on_stream_state(self, state: ConnectionState, reason: str | None) -> None:
        self._report(state, reason)

    def _report(self, state: ConnectionState, reason: str | None) -> None:
        self._state = state
        if self._sink is not None:
            self._sink.on_connection(self.name, state, reason)

    async def _sync_time_loop(self) -> None:
        while True:
            try:
                await self._rest().sync_time()  # an unreadable answer is a VenueUnavailable (QeRest._read)
            except asyncio.CancelledError:
                raise
            except GatewayError as exc:
                self._log.warning("rest.time_sync_failed", error=exc.message)
            except Exception:  # noqa: BLE001 - the loop must outlive any one failed sample
                self._log.exception("rest.time_sync_failed")
            await asyncio.sleep(self.settings.time_sync_interval_s)  # scheduling: a periodic refresh

    def _build_instruments(self) -> list[Instrument]:
        quantum = self.settings.qty_quantum
        found = []
        for text in self.settings.symbols:
            parsed = parse_symbol(text)
            found.append(Instrument(venue=self.name, symbol=str(parsed), native=f"{parsed.base}{parsed.quote}",
                                    base=parsed.base, quote=parsed.quote, type=parsed.market_type,
                                    tick_size=quantum, step_size=quantum, min_qty=quantum, min_notional=Decimal(0),
                                    settle=parsed.settle))
        return found


def _no_market_data(venue: str) -> OrderRejected:
    return OrderRejected("Quantum Execute publishes no market data", code=ErrorCode.NOT_SUPPORTED,
                         details={"venue": venue})


def _algo_only(venue: str, what: str) -> OrderRejected:
    return OrderRejected(f"{what}: a Quantum Execute account takes algo parent orders only (algo.place)",
                         code=ErrorCode.NOT_SUPPORTED, details={"venue": venue})
