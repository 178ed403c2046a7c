"""`SimAdapter`: the I/O shell around the sim exchange's engine and synthetic market.

It owns one background task that steps every symbol at ``message_rate`` steps per second and pushes
what happens to the bound `VenueSink`: market events, and the adapter account's order updates, fills,
balances and positions (like a real venue's user stream; the order manager dedups them against the
request answers). Request methods wait ``latency_ms`` first, then call the engine synchronously.

With ``state_path`` set, the exchange keeps its customers' state in its own store (`store.SimStore`)
and restores it when entered again, even after a ``kill -9``. Durability: a request's changes are
committed before it answers; the market loop's changes (fills of resting orders, triggers, funding)
are committed once per loop iteration, before they are pushed; every push waits for the commit of
what it reports, and pushes keep the order of the changes. Without a store, pushes happen at once.

Fault injection for tests lives on `SimAdapter.faults` (see `SimFaults`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Self

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, MarginType, OrderStatus
from gateway.core.errors import VenueRejected, VenueTimeout, VenueUnavailable
from gateway.core.events import Balance, Depth, Fill, Kline, MarketEvent, OrderUpdate, Position, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, OrderRequest, VenueSink
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.convert import to_balance, to_fill, to_order_update, to_position
from gateway.venues.sim.market import StepResult, SyntheticMarket, build_engine, build_instruments
from gateway.venues.sim.matching import (
    BalanceEvent,
    EngineEvent,
    FillEvent,
    MatchingEngine,
    OrderEvent,
    OrderRefused,
    PositionEvent,
)
from gateway.venues.sim.snapshot import EngineCounters, EngineState
from gateway.venues.sim.store import SimStore, StoreFailed

__all__ = ["SimAdapter", "SimFaults"]

_MIN_SLEEP_S = 0.01  # at high rates, wake at most 100 times a second and run several steps per wake
_MAX_BACKLOG_S = 0.25  # steps further behind than this are skipped rather than run in a burst


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


class _NullSink:
    def on_market(self, event: MarketEvent) -> None:
        pass

    def on_user(self, event: object) -> None:
        pass

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        pass


class SimAdapter:
    """The embedded simulated exchange as a `VenueAdapter`. Account and venue are both `name`."""

    kind = "sim"
    capabilities = Capabilities(amend=True, stop_orders=True, post_only=True, reduce_only=True)

    def __init__(self, name: str, settings: SimSettings, clock: Clock, *, prewarm_steps: int = 300):
        self.name = name
        self.faults = SimFaults()
        self._settings = settings
        self._clock = clock
        self._prewarm_steps = prewarm_steps
        self._instruments = {i.symbol: i for i in build_instruments(name, settings)}
        self._sink: VenueSink = _NullSink()
        self._state = ConnectionState.CLOSED
        self._engine: MatchingEngine | None = None
        self._market: SyntheticMarket | None = None
        self._task: asyncio.Task[None] | None = None
        self._store: SimStore | None = None
        self._hidden: dict[str, None] = {}  # order ids whose pushes are suppressed (dropped acks)
        self._revealed: dict[str, None] = {}  # order ids the gateway has queried
        self._failures = 0
        self._last_failure_log = float("-inf")
        self._log = structlog.get_logger("gateway.venues.sim").bind(venue=name)

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    @property
    def engine(self) -> MatchingEngine:
        """Return the running engine (for admin tools and tests)."""
        if self._engine is None:
            raise VenueUnavailable("the sim exchange is not running", venue=self.name)
        return self._engine

    def bind(self, sink: VenueSink) -> None:
        """Push market and user events to `sink` from now on."""
        self._sink = sink

    async def __aenter__(self) -> Self:
        self._state = ConnectionState.CONNECTING
        path = self._settings.state_path
        if path is None:
            self._build(None, None)
        else:
            store = await SimStore.open(path)
            try:
                saved = await store.load()
                self._build(saved, None)
                if saved is None or all(a.name != self.name for a in saved.accounts):
                    await store.replace(self.engine.export_state())  # the first snapshot
                else:  # the pre-warm moved the counters
                    await store.submit(self.engine.take_changes())
            except BaseException:
                await store.close()
                raise
            self._store = store
            self._log.info("sim.restored" if saved else "sim.store_created", path=path)
        self._state = ConnectionState.OPEN
        self._sink.on_connection(self.name, ConnectionState.OPEN)
        self._task = asyncio.create_task(self._run(), name=f"sim-market:{self.name}")
        self._log.info("sim.started", symbols=list(self._instruments), rate=self._settings.message_rate)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # unlike `await task`, never swallows a cancellation of our caller
        store, self._store = self._store, None
        if store is not None:
            await store.close()  # commits what is queued
        self._state = ConnectionState.CLOSED
        self._sink.on_connection(self.name, ConnectionState.CLOSED)
        self._log.info("sim.stopped")

    async def reset(self) -> None:
        """Rebuild the exchange from the settings: fresh books, balances and market; push the balances.

        Wipes the store too. Ids keep counting up (an id never names two orders). Open orders are
        dropped without updates, as an exchange reset does.

        Raises:
            VenueUnavailable: the store could not be written.
        """
        counters = self._engine.export_counters() if self._engine is not None else None
        self._build(None, counters)
        now = self._clock.now_ms()
        balances = self._user_updates(self.engine.balances(self.name, now) + self.engine.positions(self.name, now))
        if self._store is None:
            self._deliver(balances, [])
        else:
            with self._store_errors():
                await self._store.replace(self.engine.export_state(), lambda: self._deliver(balances, []))
        self._log.info("sim.reset")

    def _build(self, saved: EngineState | None, counters: EngineCounters | None) -> None:
        # A fresh exchange, or the `saved` one: the market is pre-warmed from the last prices before the
        # saved accounts return, so the pre-warm's back-dated trading never touches their orders.
        # `counters` (a reset) carries the ids over.
        engine = build_engine(self.name, self._settings)
        if saved is not None:
            engine.restore_counters(saved.counters)
        elif counters is not None:
            engine.restore_counters(replace(counters, last_prices={}, mark_prices={}))
        starts = saved.counters.last_prices if saved is not None else None
        market = SyntheticMarket(self.name, self._settings, engine, start_prices=starts)
        market.prewarm(self._clock.now_ms(), self._prewarm_steps)
        if saved is not None:
            for account in saved.accounts:
                engine.restore_account(account)
        if self._settings.state_path is not None:
            engine.track_changes()
        self._engine, self._market = engine, market
        self._hidden.clear()
        self._revealed.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        rate = self._settings.message_rate
        start, done = loop.time(), 0
        max_batch = max(1, int(rate * _MAX_BACKLOG_S))
        while True:
            due = int((loop.time() - start) * rate) - done
            if due > max_batch:  # fell behind (a stall): skip the backlog instead of bursting
                done += due - max_batch
                due = max_batch
            store = self._store
            outbox: list[tuple[list[object], list[MarketEvent]]] | None = [] if store is not None else None
            for _ in range(due):
                for symbol in self._instruments:
                    self._step(symbol, outbox)
            done += due
            if store is not None and due:
                # one commit per iteration; its pushes go out once it is durable
                try:
                    await store.submit(self.engine.take_changes(), lambda: self._deliver_all(outbox or []))
                except StoreFailed:
                    self._note_failure("sim.store_failed", None)
            wait = start + (done + 1) / rate - loop.time()
            await asyncio.sleep(max(_MIN_SLEEP_S, wait))

    def _step(self, symbol: str, outbox: list[tuple[list[object], list[MarketEvent]]] | None) -> None:
        # Step `symbol`; push what it emitted, or (a store) leave it in `outbox` for after the commit.
        try:
            market = self._market
            assert market is not None
            result: StepResult = market.step(symbol, self._clock.now_ms())
            user = self._user_updates(result.engine_events)
            if outbox is None:
                on_market = self._sink.on_market
                for event in result.market_events:
                    on_market(event)
                on_user = self._sink.on_user
                for update in user:
                    on_user(update)
            else:
                outbox.append((user, result.market_events))
        except Exception:
            self._note_failure("sim.step_failed", symbol)

    def _note_failure(self, event: str, symbol: str | None) -> None:
        self._failures += 1
        now = asyncio.get_running_loop().time()
        if now - self._last_failure_log >= 1.0:  # a persistent fault must not flood the log
            self._last_failure_log = now
            self._log.exception(event, symbol=symbol, failures=self._failures)

    def _deliver_all(self, outbox: list[tuple[list[object], list[MarketEvent]]]) -> None:
        on_market, on_user = self._sink.on_market, self._sink.on_user
        for user, market_events in outbox:  # as `_step` pushes: market events first
            for event in market_events:
                on_market(event)
            for update in user:
                on_user(update)

    # --- market data --------------------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        await self._enter_request(symbol)
        ticker = self._require_market().ticker(symbol, self._clock.now_ms())
        if ticker is None:
            raise VenueUnavailable(f"no trades on {symbol} yet", venue=self.name)
        return ticker

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        await self._enter_request(symbol)
        bids, asks, seq = self.engine.depth(symbol, limit)
        now = self._clock.now_ms()
        return Depth(self.name, symbol, bids, asks, seq, now, now)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        await self._enter_request(symbol)
        return self._require_market().recent_trades(symbol, limit)

    async def fetch_klines(
        self, symbol: str, interval: str, limit: int, start: int | None = None, end: int | None = None
    ) -> list[Kline]:
        await self._enter_request(symbol)
        try:
            return self._require_market().klines(symbol, interval, limit, start, end)
        except KeyError:
            raise VenueRejected(f"unknown interval {interval!r}", venue=self.name,
                                venue_code="invalid_interval") from None

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
        await self._publish(events, now)
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
        await self._publish(events, now)
        await self._answer_latency()
        return answer

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        await self._enter_request(symbol)
        now = self._clock.now_ms()
        events = self.engine.cancel_all(self.name, now, symbol)
        recv_ts = self._clock.now_ms()
        answer = [self._to_update(e, recv_ts) for e in events
                  if type(e) is OrderEvent and e.account == self.name and e.status is OrderStatus.CANCELED]
        await self._publish(events, now)
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
        await self._publish(events, now)
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
        await self._publish(events, now)
        return {"symbol": symbol, "leverage": leverage}

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        await self._enter_request(symbol)
        now = self._clock.now_ms()
        with _refusals(self.name):
            events = self.engine.set_margin_type(self.name, symbol, margin_type, now)
        await self._publish(events, now)
        return {"symbol": symbol, "margin_type": str(margin_type)}

    # --- internals ----------------------------------------------------------------------------------

    async def _enter_request(self, symbol: str | None) -> None:
        # Every request: the venue's latency first, then the checks a real venue would make.
        if self._settings.latency_ms:
            await asyncio.sleep(self._settings.latency_ms / 1000)
        if self._state is not ConnectionState.OPEN or self._engine is None:
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

    async def _publish(self, events: list[EngineEvent], now_ms: int) -> None:
        # Push what a request caused: the account's reports, and the tape / book / candles it moved.
        # Both are prepared now (they describe this moment); with a store, they are pushed once the
        # request's changes are committed, and this returns only then.
        try:
            user = self._user_updates(events)
            market_events = self._require_market().observe(events, now_ms)
        except Exception:
            self._log.exception("sim.publish_failed")
            user, market_events = [], []
        store = self._store
        if store is None:
            self._deliver(user, market_events)
            return
        with self._store_errors():
            await store.submit(self.engine.take_changes(), lambda: self._deliver(user, market_events))

    def _deliver(self, user: list[object], market_events: list[MarketEvent]) -> None:
        try:
            on_user = self._sink.on_user
            for update in user:
                on_user(update)
            on_market = self._sink.on_market
            for event in market_events:
                on_market(event)
        except Exception:
            self._log.exception("sim.publish_failed")

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        # A failed commit leaves the outcome unknown to the caller: the venue is unavailable.
        try:
            yield
        except StoreFailed as exc:
            raise VenueUnavailable("the sim exchange could not save its state", venue=self.name,
                                   venue_message=str(exc)) from exc

    def _user_updates(self, events: list[EngineEvent]) -> list[object]:
        # The account's user-stream events among `events`, converted (hidden orders left out).
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
        if self._market is None:
            raise VenueUnavailable("the sim exchange is not running", venue=self.name)
        return self._market



@contextmanager
def _refusals(venue: str) -> Iterator[None]:
    # The one place where the engine's `OrderRefused` becomes the venue error the gateway knows.
    try:
        yield
    except OrderRefused as exc:
        raise VenueRejected(f"sim refused: {exc.message}", venue=venue, venue_code=exc.reason,
                            venue_message=exc.message) from exc
