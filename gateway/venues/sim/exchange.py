"""`SimExchange`: one simulated exchange (matching engine, synthetic market, market loop, optional store)
and the account views (`SimAdapter`) that trade on it.

A `SimAdapter` built alone owns its exchange: that is the configured ``sim`` venue, one venue = one
account. Several adapters may share one exchange instead (the embedded exchange's users, see
`gateway.embedded`): each is one account on the same books, so one account's order fills against
another's, and the exchange's market loop runs once however many accounts there are.

Events: the exchange produces each engine and market event once and hands it to every open view. User
events (orders, fills, balances, positions) go to the view of the account they concern. Market events
go to every view, relabelled with the view's venue name: the gateway caches market data per venue, so
every account venue of one exchange carries the same market under its own name (and `/ready`, the
emulated triggers of brackets and `<account>:<symbol>@<kind>` streams work for each of them).

The exchange starts when its first view is entered and stops when its last view exits. Views attached
while it runs get their account opened then, with their opening balances pushed as balance updates.

With ``state_path`` set, the exchange keeps its customers' state in its own store (`store.SimStore`)
and restores it when started again, even after a ``kill -9``. Durability: a request's changes are
committed before it answers; the market loop's changes (fills of resting orders, triggers, funding)
are committed once per loop iteration, before they are pushed; every push waits for the commit of
what it reports, and pushes keep the order of the changes. Without a store, pushes happen at once.
A durable exchange lists only its configured symbols (`add_symbol` refuses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

import structlog

from gateway.core.clock import Clock
from gateway.core.errors import VenueUnavailable
from gateway.core.events import MarketEvent
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from gateway.venues.sim.market import HOUSE, StepResult, SyntheticMarket, build_instrument, build_instruments
from gateway.venues.sim.matching import EngineEvent, MatchingEngine
from gateway.venues.sim.snapshot import EngineCounters, EngineState
from gateway.venues.sim.store import SimStore, StoreFailed

if TYPE_CHECKING:
    from gateway.venues.sim.adapter import SimAdapter

__all__ = ["SimExchange"]

_MIN_SLEEP_S = 0.01  # at high rates, wake at most 100 times a second and run several steps per wake
_MAX_BACKLOG_S = 0.25  # steps further behind than this are skipped rather than run in a burst

# What one view receives for one engine call or market step: its user updates and its market events.
_Delivery = tuple["SimAdapter", list[object], list[MarketEvent]]


class SimExchange:
    """One sim exchange shared by the account views attached to it.

    Args:
        name: the exchange's name (logs; the venue name its market events carry before relabelling).
        settings: seed, symbols, fees, rates; ``state_path`` makes it durable.
        clock: the gateway clock.
        prewarm_steps: synthetic market steps run (back-dated) at start, so caches and klines are warm.
        synthetic_market: run the house makers and takers; False leaves a quiet exchange where only the
            accounts' own orders make the books and the tape (no mark price or funding on perps).
    """

    def __init__(self, name: str, settings: SimSettings, clock: Clock, *, prewarm_steps: int = 300,
                 synthetic_market: bool = True):
        self.name = name
        self.settings = settings
        self.clock = clock
        self.synthetic_market = synthetic_market
        self._prewarm_steps = prewarm_steps
        self._specs: dict[str, SimSymbolSettings] = {s.symbol: s for s in settings.symbols}
        self._opening: dict[str, dict[str, Decimal]] = {}  # account -> balances credited when it opens
        self._views: dict[str, SimAdapter] = {}  # attached views by account
        self._open: dict[str, SimAdapter] = {}  # entered views by account: events go to these
        self._running = False
        self._engine: MatchingEngine | None = None
        self._market: SyntheticMarket | None = None
        self._task: asyncio.Task[None] | None = None
        self._store: SimStore | None = None
        self._failures = 0
        self._last_failure_log = float("-inf")
        self._log = structlog.get_logger("gateway.venues.sim").bind(venue=name)

    # --- what it is ---------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def is_durable(self) -> bool:
        """True when the exchange keeps its state in a store (``state_path``)."""
        return self.settings.state_path is not None

    @property
    def symbols(self) -> list[SimSymbolSettings]:
        """The symbols traded, configured and added."""
        return list(self._specs.values())

    @property
    def engine(self) -> MatchingEngine:
        """Return the engine (for admin tools and tests)."""
        if self._engine is None:
            raise VenueUnavailable("the sim exchange is not running", venue=self.name)
        return self._engine

    @property
    def market(self) -> SyntheticMarket:
        if self._market is None:
            raise VenueUnavailable("the sim exchange is not running", venue=self.name)
        return self._market

    def accounts(self) -> list[str]:
        """The accounts of the attached views, in attach order."""
        return list(self._views)

    def view(self, account: str) -> SimAdapter | None:
        return self._views.get(account)

    # --- views ----------------------------------------------------------------------------------------

    def attach(self, view: SimAdapter, balances: Mapping[str, Decimal]) -> None:
        """Register `view` as account ``view.name``, to be credited `balances` when its account opens.

        Raises:
            ValueError: the account is attached already, or is the house's.
        """
        if view.name in self._views or view.name == HOUSE:
            raise ValueError(f"account {view.name!r} is taken on sim exchange {self.name!r}")
        self._views[view.name] = view
        self._opening[view.name] = {asset: Decimal(amount) for asset, amount in balances.items()}

    def detach(self, view: SimAdapter) -> None:
        """Forget `view` (never entered, or exited); its account stays in the engine while it runs."""
        if view.name not in self._open and self._views.get(view.name) is view:
            del self._views[view.name]
            del self._opening[view.name]

    async def open(self, view: SimAdapter) -> None:
        """Start the exchange unless it runs; open `view`'s account; send it events from now on."""
        if not self._running:
            await self._start()
            self._open[view.name] = view
            return
        self._open[view.name] = view
        engine = self.engine
        if view.name not in engine.ledger.accounts:
            engine.open_account(view.name)
            now = self.clock.now_ms()
            events: list[EngineEvent] = []
            for asset, amount in self._opening[view.name].items():
                if amount:
                    events += engine.transfer(view.name, asset, amount, now)
            await self.publish(events, now, view.name)

    async def close(self, view: SimAdapter) -> None:
        """Stop sending `view` events; stop the exchange when no view is open any more."""
        self._open.pop(view.name, None)
        if not self._open and self._running:
            await self._stop()

    # --- admin ----------------------------------------------------------------------------------------

    def add_symbol(self, spec: SimSymbolSettings) -> None:
        """Trade `spec` from now on, on every account (its synthetic market pre-warmed when it runs).

        Raises:
            ValueError: the symbol or its native alias is listed already, or the exchange is durable.
        """
        if self.is_durable:
            raise ValueError(f"sim exchange {self.name!r} keeps a store (state_path): it lists only its configured "
                             "symbols")
        native = spec.native_name.upper()
        if spec.symbol in self._specs or any(s.native_name.upper() == native for s in self._specs.values()):
            raise ValueError(f"{spec.symbol!r} ({spec.native_name}) is listed already")
        self._specs[spec.symbol] = spec
        if self._engine is not None and self._market is not None:
            self._engine.add_instrument(build_instrument(self.name, spec))
            self._market.add_symbol(spec)
            if self.synthetic_market:
                self._market.prewarm(self.clock.now_ms(), self._prewarm_steps, symbols=[spec.symbol])
        for view in self._views.values():
            view.on_symbol_added(spec)
        self._log.info("sim.symbol_added", symbol=spec.symbol, native=spec.native_name)

    async def transfer(self, account: str, asset: str, amount: Decimal) -> tuple[Decimal, Decimal]:
        """Deposit (> 0) or withdraw (< 0) `amount` of `asset`; push the balance; return (free, locked).

        Raises:
            OrderRefused: unknown account, zero amount, or a withdrawal beyond the free balance.
            VenueUnavailable: the exchange is not running, or its store could not be written.
        """
        if not self._running:
            raise VenueUnavailable("the sim exchange is not running", venue=self.name)
        now = self.clock.now_ms()
        events = self.engine.transfer(account, asset, amount, now)
        await self.publish(events, now, account)
        return self.engine.balance_of(account, asset)

    async def reset(self) -> None:
        """Rebuild the exchange: fresh books and market, every account back to its opening balances.

        Wipes the store too and pushes every open account's balances. Ids keep counting up (an id never
        names two orders). Open orders are dropped without updates, as an exchange reset does.

        Raises:
            VenueUnavailable: the store could not be written.
        """
        counters = self._engine.export_counters() if self._engine is not None else None
        self._build(None, counters)
        engine = self.engine
        now = self.clock.now_ms()
        deliveries: list[_Delivery] = [
            (view, view.user_updates(engine.balances(name, now) + engine.positions(name, now)), [])
            for name, view in self._open.items()
        ]
        if self._store is None:
            self._deliver(deliveries, market_first=False)
        else:
            with self.store_errors(self.name):
                await self._store.replace(engine.export_state(),
                                          lambda: self._deliver(deliveries, market_first=False))
        self._log.info("sim.reset")

    # --- lifecycle ------------------------------------------------------------------------------------

    async def _start(self) -> None:
        path = self.settings.state_path
        if path is None:
            self._build(None, None)
        else:
            store = await SimStore.open(path)
            try:
                saved = await store.load()
                self._build(saved, None)
                saved_accounts = {a.name for a in saved.accounts} if saved is not None else set()
                if saved is None or not self._opening.keys() <= saved_accounts:
                    await store.replace(self.engine.export_state())  # the first snapshot (of a new account)
                else:  # the pre-warm moved the counters
                    await store.submit(self.engine.take_changes())
            except BaseException:
                await store.close()
                raise
            self._store = store
            self._log.info("sim.restored" if saved else "sim.store_created", path=path)
        self._running = True
        if self.synthetic_market:
            self._task = asyncio.create_task(self._run(), name=f"sim-market:{self.name}")
        self._log.info("sim.started", symbols=list(self._specs), rate=self.settings.message_rate,
                       synthetic_market=self.synthetic_market)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # unlike `await task`, never swallows a cancellation of our caller
        store, self._store = self._store, None
        if store is not None:
            await store.close()  # commits what is queued
        self._running = False
        self._log.info("sim.stopped")

    def _settings_now(self) -> SimSettings:
        # The settings with the symbols listed now (added ones included); not validated again.
        return self.settings.model_copy(update={"symbols": list(self._specs.values())})

    def _build(self, saved: EngineState | None, counters: EngineCounters | None) -> None:
        # A fresh exchange, or the `saved` one: the market is pre-warmed from the last prices before the
        # saved accounts return, so the pre-warm's back-dated trading never touches their orders.
        # `counters` (a reset) carries the ids over.
        settings = self._settings_now()
        engine = MatchingEngine(build_instruments(self.name, settings), settings.maker_fee, settings.taker_fee,
                                settings.default_leverage)
        engine.open_account(HOUSE, house=True)
        for account, balances in self._opening.items():
            engine.open_account(account, dict(balances))
        if saved is not None:
            engine.restore_counters(saved.counters)
        elif counters is not None:
            engine.restore_counters(replace(counters, last_prices={}, mark_prices={}))
        starts = saved.counters.last_prices if saved is not None else None
        market = SyntheticMarket(self.name, settings, engine, start_prices=starts)
        if self.synthetic_market:
            market.prewarm(self.clock.now_ms(), self._prewarm_steps)
        if saved is not None:
            for account in saved.accounts:
                engine.restore_account(account)
        if settings.state_path is not None:
            engine.track_changes()
        self._engine, self._market = engine, market
        for view in self._views.values():
            view.forget_order_ids()

    # --- the market loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        rate = self.settings.message_rate
        start, done = loop.time(), 0
        max_batch = max(1, int(rate * _MAX_BACKLOG_S))
        while True:
            due = int((loop.time() - start) * rate) - done
            if due > max_batch:  # fell behind (a stall): skip the backlog instead of bursting
                done += due - max_batch
                due = max_batch
            store = self._store
            outbox: list[_Delivery] | None = [] if store is not None else None
            for _ in range(due):
                for symbol in list(self._specs):
                    self._step(symbol, outbox)
            done += due
            if store is not None and due:
                # one commit per iteration; its pushes go out once it is durable
                try:
                    await store.submit(self.engine.take_changes(),
                                       lambda box=outbox: self._deliver(box or [], market_first=True))
                except StoreFailed:
                    self._note_failure("sim.store_failed", None)
            wait = start + (done + 1) / rate - loop.time()
            await asyncio.sleep(max(_MIN_SLEEP_S, wait))

    def _step(self, symbol: str, outbox: list[_Delivery] | None) -> None:
        # Step `symbol`; push what it emitted, or (a store) leave it in `outbox` for after the commit.
        try:
            market = self._market
            assert market is not None
            result: StepResult = market.step(symbol, self.clock.now_ms())
            deliveries = self._route(result.engine_events, result.market_events)
            if outbox is None:
                for view, user, market_events in deliveries:
                    view.deliver(user, market_events, market_first=True)
            else:
                outbox += deliveries
        except Exception:
            self._note_failure("sim.step_failed", symbol)

    def _note_failure(self, event: str, symbol: str | None) -> None:
        self._failures += 1
        now = asyncio.get_running_loop().time()
        if now - self._last_failure_log >= 1.0:  # a persistent fault must not flood the log
            self._last_failure_log = now
            self._log.exception(event, symbol=symbol, failures=self._failures)

    # --- pushes ---------------------------------------------------------------------------------------

    async def publish(self, events: list[EngineEvent], now_ms: int, venue: str) -> None:
        """Push what an engine call made on behalf of `venue` caused: each account's reports, and the
        tape / book / candles it moved, to every open view.

        Both are prepared now (they describe this moment); with a store, they are pushed once the
        call's changes are committed, and this returns only then.

        Raises:
            VenueUnavailable: the store could not be written (the outcome is unknown to the caller).
        """
        try:
            deliveries = self._route(events, self.market.observe(events, now_ms))
        except Exception:
            self._log.exception("sim.publish_failed")
            deliveries = []
        store = self._store
        if store is None:
            self._deliver(deliveries, market_first=False)
            return
        with self.store_errors(venue):
            await store.submit(self.engine.take_changes(), lambda: self._deliver(deliveries, market_first=False))

    def _route(self, engine_events: list[EngineEvent], market_events: list[MarketEvent]) -> list[_Delivery]:
        return [(view, view.user_updates(engine_events), view.relabel(market_events)) for view in self._open.values()]

    def _deliver(self, deliveries: list[_Delivery], market_first: bool) -> None:
        try:
            for view, user, market_events in deliveries:
                view.deliver(user, market_events, market_first)
        except Exception:
            self._log.exception("sim.publish_failed")

    @contextmanager
    def store_errors(self, venue: str) -> Iterator[None]:
        """Map a failed commit to `VenueUnavailable` of `venue`: the outcome is unknown to the caller."""
        try:
            yield
        except StoreFailed as exc:
            raise VenueUnavailable("the sim exchange could not save its state", venue=venue,
                                   venue_message=str(exc)) from exc
