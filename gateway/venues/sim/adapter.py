"""`SimAdapter`: one account of a sim exchange (`exchange.SimExchange`) as a `VenueAdapter`.

Built alone, an adapter owns its exchange (the configured ``sim`` venue: one venue = one account).
Built with `SimAdapter.attached(name, exchange)`, it is one more account of a shared exchange. Either
way the exchange's market loop pushes to the bound `VenueSink` what happens: market events under this
adapter's venue name, and this account's order updates, fills, balances and positions (like a real
venue's user stream; the order manager dedups them against the request answers). Request methods wait
``latency_ms`` first, then call the engine synchronously. Durability (``state_path``) is the
exchange's: see `exchange`.

Fault injection for tests lives on `SimAdapter.faults` (see `SimFaults`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Self

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, MarginType, OrderStatus
from gateway.core.errors import VenueRejected, VenueTimeout, VenueUnavailable
from gateway.core.events import Balance, Depth, Fill, Kline, MarketEvent, OrderUpdate, Position, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, OrderRequest, VenueSink
from gateway.venues.common.sink import NullSink
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from gateway.venues.sim.convert import to_balance, to_fill, to_order_update, to_position
from gateway.venues.sim.exchange import SimExchange
from gateway.venues.sim.market import SyntheticMarket, build_instrument
from gateway.venues.sim.matching import (
    BalanceEvent,
    EngineEvent,
    FillEvent,
    MatchingEngine,
    OrderEvent,
    OrderRefused,
    PositionEvent,
)

__all__ = ["SimAdapter", "SimFaults"]


@dataclass(slots=True)
class SimFaults:
    """Faults the sim injects, for tests of the order manager.

    Attributes:
        drop_acks: the next N placements execute, but the call raises `VenueTimeout` as if the answer
            was lost, and the user stream never pushes those orders or their fills (only a query finds
            them).
        withhold_order_ids: while set, answers and pushes carry ``order_id=None`` for orders not yet
            seen through `get_order` / `open_orders`.
        reject_all: when set, every placement raises `VenueRejected` with this venue code.
    """

    drop_acks: int = 0
    withhold_order_ids: bool = False
    reject_all: str | None = None


class SimAdapter:
    """One account of a sim exchange as a `VenueAdapter`. Account and venue are both `name`.

    Args:
        name: the venue and account name.
        settings: the exchange's settings (an owned exchange is built from them); this adapter's
            ``latency_ms`` and ``answer_latency_ms`` come from them either way.
        clock: the gateway clock.
        prewarm_steps: for an owned exchange, its pre-warm steps.
        exchange: share this exchange instead of owning one (see `attached`).
        balances: the account's opening balances; default ``settings.balances`` for an owned exchange,
            none for a shared one.
    """

    kind = "sim"
    capabilities = Capabilities(amend=True, stop_orders=True, post_only=True, reduce_only=True)

    def __init__(self, name: str, settings: SimSettings, clock: Clock, *, prewarm_steps: int = 300,
                 exchange: SimExchange | None = None, balances: Mapping[str, Decimal] | None = None):
        self.name = name
        self.faults = SimFaults()
        self._settings = settings
        self._clock = clock
        self.owns_exchange = exchange is None
        if exchange is None:
            exchange = SimExchange(name, settings, clock, prewarm_steps=prewarm_steps)
            opening = settings.balances if balances is None else balances
        else:
            opening = balances or {}
        self._instruments = {spec.symbol: build_instrument(name, spec) for spec in exchange.symbols}
        self._sink: VenueSink = NullSink()
        self._state = ConnectionState.CLOSED
        self._hidden: dict[str, None] = {}  # order ids whose pushes are suppressed (dropped acks)
        self._revealed: dict[str, None] = {}  # order ids the gateway has queried
        exchange.attach(self, opening)
        self._exchange = exchange

    @classmethod
    def attached(cls, name: str, exchange: SimExchange, balances: Mapping[str, Decimal] | None = None) -> SimAdapter:
        """Return account `name` of the shared `exchange` (opening `balances`: none by default).

        Raises:
            ValueError: the exchange has an account of that name already.
        """
        return cls(name, exchange.settings, exchange.clock, exchange=exchange, balances=balances)

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    @property
    def exchange(self) -> SimExchange:
        """The exchange this account trades on (shared or owned)."""
        return self._exchange

    @property
    def engine(self) -> MatchingEngine:
        """Return the running engine (for admin tools and tests)."""
        return self._exchange.engine

    def bind(self, sink: VenueSink) -> None:
        """Push market and user events to `sink` from now on."""
        self._sink = sink

    async def __aenter__(self) -> Self:
        self._state = ConnectionState.CONNECTING
        await self._exchange.open(self)
        self._state = ConnectionState.OPEN
        self._sink.on_connection(self.name, ConnectionState.OPEN)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._exchange.close(self)
        self._state = ConnectionState.CLOSED
        self._sink.on_connection(self.name, ConnectionState.CLOSED)

    async def reset(self) -> None:
        """Reset the exchange (every account on it): see `SimExchange.reset`.

        Raises:
            VenueUnavailable: the store could not be written.
        """
        await self._exchange.reset()

    # --- called by the exchange ---------------------------------------------------------------------

    def on_symbol_added(self, spec: SimSymbolSettings) -> None:
        """List a symbol the exchange trades from now on."""
        self._instruments[spec.symbol] = build_instrument(self.name, spec)

    def forget_order_ids(self) -> None:
        """Forget which orders are hidden or revealed (the exchange was rebuilt)."""
        self._hidden.clear()
        self._revealed.clear()

    def relabel(self, events: list[MarketEvent]) -> list[MarketEvent]:
        """Return the exchange's market `events` under this venue's name."""
        name = self.name
        return [e if e.venue == name else replace(e, venue=name) for e in events]  # type: ignore[arg-type]

    def deliver(self, user: list[object], market_events: list[MarketEvent], market_first: bool) -> None:
        """Push this account's `user` updates and `market_events` to the sink (steps: market first)."""
        sink = self._sink
        if market_first:
            for event in market_events:
                sink.on_market(event)
        for update in user:
            sink.on_user(update)  # type: ignore[arg-type]
        if not market_first:
            for event in market_events:
                sink.on_market(event)

    # --- market data --------------------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        await self._enter_request(symbol)
        ticker = self._require_market().ticker(symbol, self._clock.now_ms())
        if ticker is None:
            raise VenueUnavailable(f"no trades on {symbol} yet", venue=self.name)
        return ticker if ticker.venue == self.name else replace(ticker, venue=self.name)

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        await self._enter_request(symbol)
        bids, asks, seq = self.engine.depth(symbol, limit)
        now = self._clock.now_ms()
        return Depth(self.name, symbol, bids, asks, seq, now, now)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        await self._enter_request(symbol)
        return self.relabel(self._require_market().recent_trades(symbol, limit))  # type: ignore[arg-type,return-value]

    async def fetch_klines(
        self, symbol: str, interval: str, limit: int, start: int | None = None, end: int | None = None
    ) -> list[Kline]:
        await self._enter_request(symbol)
        try:
            klines = self._require_market().klines(symbol, interval, limit, start, end)
        except KeyError:
            raise VenueRejected(f"unknown interval {interval!r}", venue=self.name,
                                venue_code="invalid_interval") from None
        return self.relabel(klines)  # type: ignore[arg-type,return-value]

    # --- trading ------------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        await self._enter_request(request.symbol)
        if self.faults.reject_all:
            code = self.faults.reject_all
            raise VenueRejected(f"sim rejected the order: {code}", venue=self.name, venue_code=code,
                                venue_message="fault injected: reject_all")
        engine = self.engine
        now = self._clock.now_ms()
        with _refusals(self.name):
            events = engine.place(
                self.name, request.symbol, request.side, request.type, request.qty, now, price=request.price,
                trigger_price=request.trigger_price, tif=request.tif, reduce_only=request.reduce_only,
                client_order_id=request.client_order_id,
            )
        order_id = engine.last_order_id
        dropped = self.faults.drop_acks > 0
        if dropped:
            self.faults.drop_acks -= 1
            self._hidden[order_id] = None
        answer = self._answer(order_id)
        await self._exchange.publish(events, now, self.name)
        if dropped:
            raise VenueTimeout("sim dropped the answer to a placement", venue=self.name,
                               venue_message="fault injected: drop_acks")
        await self._answer_latency()
        return answer

    async def cancel_order(
        self, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderUpdate:
        await self._enter_request(symbol)
        order = self._find(symbol, order_id, client_order_id)
        now = self._clock.now_ms()
        with _refusals(self.name):
            events = self.engine.cancel(self.name, now, order_id=order.order_id)
        answer = self._answer(order.order_id)
        await self._exchange.publish(events, now, self.name)
        await self._answer_latency()
        return answer

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        await self._enter_request(symbol)
        now = self._clock.now_ms()
        events = self.engine.cancel_all(self.name, now, symbol)
        recv_ts = self._clock.now_ms()
        answer = [self._to_update(e, recv_ts) for e in events
                  if type(e) is OrderEvent and e.account == self.name and e.status is OrderStatus.CANCELED]
        await self._exchange.publish(events, now, self.name)
        await self._answer_latency()
        return answer

    async def amend_order(
        self,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
        qty: Decimal | None = None,
        price: Decimal | None = None,
    ) -> OrderUpdate:
        await self._enter_request(symbol)
        order = self._find(symbol, order_id, client_order_id)
        now = self._clock.now_ms()
        with _refusals(self.name):
            events = self.engine.amend(self.name, now, order_id=order.order_id, qty=qty, price=price)
        answer = self._answer(order.order_id)
        await self._exchange.publish(events, now, self.name)
        await self._answer_latency()
        return answer

    async def get_order(
        self, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderUpdate | None:
        await self._enter_request(symbol)
        order = self.engine.order(self.name, order_id, client_order_id)
        if order is None or order.symbol != symbol:
            return None
        self._revealed[order.order_id] = None
        return self._to_update(order, self._clock.now_ms())

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        await self._enter_request(symbol)
        orders = self.engine.open_orders(self.name, symbol)
        for order in orders:
            self._revealed[order.order_id] = None
        recv_ts = self._clock.now_ms()
        return [self._to_update(o, recv_ts) for o in orders]

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        await self._enter_request(None)
        recv_ts = self._clock.now_ms()
        return [self._to_update(o, recv_ts) for o in self.engine.orders_since(self.name, since_ms)]

    async def fills_since(self, since_ms: int) -> list[Fill]:
        await self._enter_request(None)
        recv_ts = self._clock.now_ms()
        return [self._to_fill(f, recv_ts) for f in self.engine.fills_since(self.name, since_ms)]

    async def balances(self) -> list[Balance]:
        await self._enter_request(None)
        return [to_balance(b, self.name) for b in self.engine.balances(self.name, self._clock.now_ms())]

    async def positions(self) -> list[Position]:
        await self._enter_request(None)
        found = self.engine.positions(self.name, self._clock.now_ms())
        return [to_position(p, self.name) for p in found if p.qty]

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]:
        await self._enter_request(symbol)
        now = self._clock.now_ms()
        with _refusals(self.name):
            events = self.engine.set_leverage(self.name, symbol, leverage, now)
        await self._exchange.publish(events, now, self.name)
        return {"symbol": symbol, "leverage": leverage}

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        await self._enter_request(symbol)
        now = self._clock.now_ms()
        with _refusals(self.name):
            events = self.engine.set_margin_type(self.name, symbol, margin_type, now)
        await self._exchange.publish(events, now, self.name)
        return {"symbol": symbol, "margin_type": str(margin_type)}

    # --- internals ----------------------------------------------------------------------------------

    async def _enter_request(self, symbol: str | None) -> None:
        # Every request: the venue's latency first, then the checks a real venue would make.
        if self._settings.latency_ms:
            await asyncio.sleep(self._settings.latency_ms / 1000)
        if self._state is not ConnectionState.OPEN or not self._exchange.is_running:
            raise VenueUnavailable("the sim exchange is not open", venue=self.name)
        if symbol is not None and symbol not in self._instruments:
            raise VenueRejected(f"unknown symbol {symbol!r}", venue=self.name, venue_code="unknown_symbol")

    async def _answer_latency(self) -> None:
        # The answer's way back: the venue has acted (and pushed) by now; a crash in this window loses
        # the answer but not the order, as with a real venue.
        if self._settings.answer_latency_ms:
            await asyncio.sleep(self._settings.answer_latency_ms / 1000)

    def _find(self, symbol: str, order_id: str | None, client_order_id: str | None) -> OrderEvent:
        order = self.engine.order(self.name, order_id, client_order_id)
        if order is None or order.symbol != symbol:
            raise VenueRejected("unknown order", venue=self.name, venue_code="order_not_found",
                                venue_message=f"no order {order_id or client_order_id!r} on {symbol}")
        return order

    def _answer(self, order_id: str) -> OrderUpdate:
        order = self.engine.order(self.name, order_id=order_id)
        assert order is not None
        return self._to_update(order, self._clock.now_ms())

    def user_updates(self, events: list[EngineEvent]) -> list[object]:
        """Return this account's user-stream events among `events`, converted (hidden orders left out)."""
        name, hidden = self.name, self._hidden
        recv_ts = self._clock.now_ms()
        found: list[object] = []
        for event in events:
            kind = type(event)
            if kind is OrderEvent or kind is FillEvent:
                if event.account != name or event.order_id in hidden:  # type: ignore[union-attr]
                    continue
                if kind is OrderEvent:
                    found.append(self._to_update(event, recv_ts))  # type: ignore[arg-type]
                else:
                    found.append(self._to_fill(event, recv_ts))  # type: ignore[arg-type]
            elif kind is BalanceEvent:
                if event.account == name:  # type: ignore[union-attr]
                    found.append(to_balance(event, name))  # type: ignore[arg-type]
            elif kind is PositionEvent and event.account == name:  # type: ignore[union-attr]
                found.append(to_position(event, name))  # type: ignore[arg-type]
        return found

    def _visible_id(self, order_id: str) -> str | None:
        if self.faults.withhold_order_ids and order_id not in self._revealed:
            return None
        return order_id

    def _to_update(self, e: OrderEvent, recv_ts: int) -> OrderUpdate:
        return to_order_update(e, self.name, self._visible_id(e.order_id), recv_ts)

    def _to_fill(self, e: FillEvent, recv_ts: int) -> Fill:
        return to_fill(e, self.name, self._visible_id(e.order_id), recv_ts)

    def _require_market(self) -> SyntheticMarket:
        return self._exchange.market


@contextmanager
def _refusals(venue: str) -> Iterator[None]:
    # The one place where the engine's `OrderRefused` becomes the venue error the gateway knows.
    try:
        yield
    except OrderRefused as exc:
        raise VenueRejected(f"sim refused: {exc.message}", venue=venue, venue_code=exc.reason,
                            venue_message=exc.message) from exc
