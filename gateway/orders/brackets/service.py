"""The bracket service: the async shell around the pure bracket core (virtual TP/SL orders).

Single writer (`writer.BracketWriter`): one task folds commands, order reports, answers and
reconciliation views through the pure machine, then persists -> publishes -> runs the intents (triggers
armed/disarmed at once, venue intents on the `IntentRunner`'s per-bracket lanes, through the order
service). The one exception is a trigger firing: a tick crosses an emulated leg synchronously on the
market path, and its reduce-only order is handed to the runner at once; the record is persisted just
after (the core folds a fired order found at the venue while the record still says armed, and the order
service's client-id idempotency makes a replay harmless).

Inputs: `on_order_event` (the order service's publish path: order, fill and position events),
`on_tick` (the market service, for watched symbols only), commands, and `reconcile` (startup, periodic,
after a reconnect, or on request).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, MarketType, OrderStatus
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, VenueUnavailable
from gateway.core.events import Bbo, MarkPrice, Trade
from gateway.core.ports import VenueAdapter
from gateway.market.service import MarketService
from gateway.orders.brackets.book import BracketBook
from gateway.orders.brackets.config import BracketsSettings
from gateway.orders.brackets.ids import parse_client_order_id
from gateway.orders.brackets.intents import Decision, FireLeg, PlaceEntry
from gateway.orders.brackets.machine import on_trigger, rearm_intents
from gateway.orders.brackets.model import Bracket, BracketState, LegName, TriggerSource
from gateway.orders.brackets.runner import Answer, IntentRunner
from gateway.orders.brackets.views import armed_symbols, fetch_views, oldest_request, price_views
from gateway.orders.brackets.writer import (
    BracketWriter,
    CancelCommand,
    FiredMessage,
    PlaceCommand,
    PlaceSpec,
    PositionCheck,
    PublishFn,
    ReconcileViews,
    ReportMessage,
    duplicate_bracket,
)
from gateway.orders.service import OrderService
from gateway.persistence.brackets import BracketRow, BracketStore

__all__ = ["BracketService", "PlaceSpec"]

log = structlog.get_logger("gateway.brackets")

_LOOKBACK_MARGIN_MS = 60_000  # venue clocks and reporting delays
_FIRE_HOLD_S = 0.25  # at most this long a fire's record waits for its order's first report


class BracketService:
    """Own every bracket; persist -> run intents -> publish. See the module docstring.

    Args:
        venues: venue sessions by name (= account name).
        orders: the order service every entry and leg order goes through.
        store: the bracket store.
        market: the market service (prices for reconciliation).
        publish: called with `(account, data)` for `<account>@bracket`; must not block.
        clock: time source.
        settings: the `brackets` settings slice.
    """

    def __init__(self, venues: Mapping[str, VenueAdapter], orders: OrderService, store: BracketStore,
                 market: MarketService, publish: PublishFn, clock: Clock, settings: BracketsSettings):
        self._venues = venues
        self._orders = orders
        self._store = store
        self._market = market
        self._clock = clock
        self._settings = settings
        self.book = BracketBook()
        self.watched = self.book.watched  # read by the market service's tick hook
        self._writer = BracketWriter(self.book, store, publish, clock)
        self._runner = IntentRunner(orders, venues, self._feed_answer, self._writer.to_report, self.book.strategy.get,
                                    self._venue_reduce_only, pause_before_legs_ms=settings.debug_pause_before_legs_ms)
        self._writer.run_venue_intents = self._runner.submit
        self._position_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        # Fires whose record waits for their order to be journaled (see `on_tick`): by the fired order's id.
        self._held_fires: dict[str, tuple[Bracket, LegName, Decision, asyncio.TimerHandle]] = {}
        self._loaded = False
        self._ready = False
        self._started_ms = clock.now_ms()
        self.fire_samples: list[int] | None = None  # tick -> FireLeg handed to the runner (ns), when collected

    @property
    def runner(self) -> IntentRunner:
        return self._runner

    @property
    def is_ready(self) -> bool:
        """True once the startup pass is done (and until `stop` or a writer failure)."""
        return self._ready and self._writer.failed is None

    @property
    def failed(self) -> BaseException | None:
        """The writer's failure (a store write failed): the gateway should exit."""
        return self._writer.failed

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load brackets, re-arm emulated legs, run the startup reconcile pass and its repairs; then accept.

        Call after the order service is ready and before the API accepts commands.
        """
        now = self._started_ms = self._clock.now_ms()
        rows = await self._store.load(now - self._settings.ended_retention_ms)
        for row in rows:
            self.book.add(Bracket.from_record(row[9]), row[2])
        for bracket in list(self.book.live()):
            for arm in rearm_intents(bracket):
                self.book.arm(arm)
        watched_ts = await self._store.get_meta("watched_ts")
        self._loaded = True
        self._writer.start()
        log.info("brackets.loaded", brackets=len(rows), live=sum(1 for _ in self.book.live()),
                 armed=len(self.book.index))
        deadline = self._settings.startup_timeout_s
        try:
            async with asyncio.timeout(deadline):
                for venue in self._venues:
                    await self._startup_venue(venue, watched_ts)
                await self._runner.idle(deadline)
                await self._writer.submit(None)  # a barrier: the answers of the startup repairs are folded in
        except TimeoutError:
            log.error("brackets.startup_timeout", deadline_s=deadline, lanes=self._runner.busy)
        self._ready = True
        log.info("brackets.ready", live=sum(1 for _ in self.book.live()), armed=len(self.book.index))

    async def _startup_venue(self, venue: str, watched_ts: int | None) -> None:
        try:
            counts = await self.reconcile(venue, why="startup", high_low_since=watched_ts)
        except (GatewayError, OSError) as exc:
            log.warning("brackets.startup_reconcile_failed", venue=venue, error=repr(exc))
            return
        log.info("brackets.reconciled", venue=venue, why="startup", **counts)
        for b in [b for b in self.book.of_venue(venue) if b.state is BracketState.PENDING_ENTRY]:
            e = b.entry
            if e.order_id is not None or e.status not in (OrderStatus.PENDING_NEW, OrderStatus.UNKNOWN):
                continue
            try:
                await self._orders.get(b.account, client_order_id=e.client_order_id)
                continue  # the order service sent it: its resolver and reports settle it
            except LookupFailed:
                pass
            reason = "entry was persisted but never sent before the restart: sent now"
            log.info("bracket.repair", bracket_id=b.bracket_id, kind="resent_entry", reason=reason)
            self._runner.submit([PlaceEntry(bracket_id=b.bracket_id, venue=b.venue, account=b.account,
                                            symbol=b.symbol, client_order_id=e.client_order_id, side=b.side,
                                            type=e.type, qty=b.qty, price=e.price)])

    async def stop(self) -> None:
        """Stop accepting commands, let in-flight intents answer, persist what they changed, stop the writer."""
        self._ready = False
        for handle in self._position_timers.values():
            handle.cancel()
        self._position_timers.clear()
        await self._runner.close(self._settings.stop_timeout_s)
        for cid in list(self._held_fires):
            self._release_fire(cid)
        await self._writer.stop(self._settings.stop_timeout_s)
        if self._writer.failed is None:
            try:  # a graceful stop: the triggers were watched until now
                await self._store.write([], {"watched_ts": self._clock.now_ms()})
            except Exception:
                log.exception("brackets.meta_write_failed")

    # --- inputs: the order service's events, and ticks ------------------------------------------------------

    def on_order_event(self, account: str, kind: str, data: Mapping[str, Any]) -> None:
        """Take an event the order service published (order, fill, position); ignore what is not ours."""
        if kind == "order":
            bid = self._owner(account, data.get("client_order_id"), data.get("order_id"))
            if bid is not None:
                self._release_fire(data.get("client_order_id"))  # the fire's record goes first
                self._writer.put(ReportMessage(bid, self._writer.to_report(data)))
        elif kind == "fill":
            cid = data.get("client_order_id")
            if cid and self._owner(account, cid, None) is not None:
                fill_ts = self._writer.fill_ts
                fill_ts[cid] = max(fill_ts.get(cid, 0), int(data.get("ts") or 0))
        elif kind == "position":
            key = (account, data["symbol"])
            self._writer.positions[key] = (Decimal(data["qty"]), int(data.get("ts") or 0))
            if self.book.has_live_on(*key) and key not in self._position_timers:
                # Fill reports race position reports: act on a flat position only after the fills had a chance
                self._position_timers[key] = asyncio.get_running_loop().call_later(
                    self._settings.position_settle_ms / 1000, self._position_due, key)

    def _owner(self, account: str, cid: str | None, oid: str | None) -> str | None:
        if cid and "-" in cid:
            ref = parse_client_order_id(cid)
            if ref is not None and (ref.bracket_id in self.book or not self._loaded):
                return ref.bracket_id
        return self.book.by_order_id(account, oid) if oid else None

    def _position_due(self, key: tuple[str, str]) -> None:
        self._position_timers.pop(key, None)
        self._writer.put(PositionCheck(*key))

    def on_tick(self, event: Trade | MarkPrice | Bbo) -> None:
        """Fire the emulated legs a market event crosses (the market service calls this for watched symbols)."""
        t0 = time.perf_counter_ns()
        cls = type(event)
        index = self.book.index
        if cls is Trade:
            fired = index.on_price(event.venue, event.symbol, TriggerSource.LAST, event.price)  # type: ignore[union-attr]
        elif cls is MarkPrice:
            fired = index.on_price(event.venue, event.symbol, TriggerSource.MARK, event.mark_price)  # type: ignore[union-attr]
        elif cls is Bbo:
            fired = index.on_bbo(event.venue, event.symbol, event.bid, event.ask)  # type: ignore[union-attr]
        else:
            return
        if not fired:
            return
        self.book.fired(event.venue, event.symbol, fired)
        now = self._clock.now_ms()
        for bracket_id, leg in fired:  # type: ignore[misc]
            bracket = self.book.get(bracket_id)
            if bracket is None:
                continue
            decision = on_trigger(bracket, LegName(leg), now)
            if self.fire_samples is not None:
                self.fire_samples.append(time.perf_counter_ns() - t0)
            self._runner.submit(decision.intents)  # the reduce-only order goes out now
            if decision.changed:
                self._hold_fire(bracket, LegName(leg), decision)

    def _hold_fire(self, bracket: Bracket, leg: LegName, decision: Decision) -> None:
        """Log, persist and publish a fire once its order is journaled and sent (its first report).

        Everything done for a fire before its order reaches the venue delays it: the order's lane runs
        first, and the fire's log line and record (the bracket writer's batch: a store write, a
        publication) follow the order's first report (or its answer, or `_FIRE_HOLD_S`), which the order
        service publishes behind the venue call. A crash in between loses nothing: the order is journaled,
        and a bracket loaded with the leg armed adopts the order it finds for the leg.
        """
        fired = next((i.client_order_id for i in decision.intents if isinstance(i, FireLeg)), None)
        if fired is None:
            self._record_fire(bracket, leg, decision)
            return
        timer = asyncio.get_running_loop().call_later(_FIRE_HOLD_S, self._release_fire, fired)
        self._held_fires[fired] = (bracket, leg, decision, timer)

    def _release_fire(self, client_order_id: str | None) -> None:
        held = self._held_fires.pop(client_order_id, None) if client_order_id else None
        if held is not None:
            bracket, leg, decision, timer = held
            timer.cancel()
            self._record_fire(bracket, leg, decision)

    def _record_fire(self, bracket: Bracket, leg: LegName, decision: Decision) -> None:
        log.info("bracket.fired", bracket_id=bracket.bracket_id, leg=str(leg), symbol=bracket.symbol,
                 trigger_source=bracket.trigger_source.value)
        self._writer.put(FiredMessage(decision, bracket.to_public()))

    def _feed_answer(self, answer: Answer) -> None:
        if answer.report is not None:
            self._release_fire(answer.report.client_order_id)
        self._writer.put(answer)

    # --- commands -----------------------------------------------------------------------------------------

    def new_bracket_id(self) -> str:
        """Return a fresh bracket id (fits the 24-character id rule; unique across restarts)."""
        return f"b{self._clock.now_ms():x}{secrets.token_hex(4)}"

    async def place(self, strategy: str | None, spec: PlaceSpec) -> dict[str, Any]:
        """Persist a new bracket, place its entry; answer with the bracket once the entry was answered.

        Idempotent on `bracket_id`: the same id with the same account, symbol, side and qty returns the
        bracket (placing nothing); with different ones it is DUPLICATE_CLIENT_ID.

        Raises:
            GatewayError: VENUE_UNAVAILABLE (not ready), DUPLICATE_CLIENT_ID, INVALID_PARAMS, or the entry's
                own refusal (VENUE_REJECTED, RISK_LIMIT, ...: the bracket is then `canceled`, in `details`).
        """
        self._check_trading(spec.account)
        if spec.bracket_id not in self.book:
            row = await self._store.get(spec.bracket_id)
            if row is not None:  # ended and forgotten from memory: still the same bracket
                if not spec.same_as(Bracket.from_record(row[9])):
                    raise duplicate_bracket(spec.bracket_id)
                return Bracket.from_record(row[9]).to_public()
        return await self._writer.submit(PlaceCommand(spec, strategy))  # type: ignore[no-any-return]

    async def cancel(self, account: str, bracket_id: str) -> dict[str, Any]:
        """Stop managing a bracket: cancel its entry's remainder and its legs (a position is left as it is).

        Returns the bracket (`canceled`) once persisted; the venue cancels follow. Idempotent.
        """
        self._check_trading(account)
        if bracket_id not in self.book:
            return (await self.get(account, bracket_id))  # ended long ago, or ORDER_NOT_FOUND
        return await self._writer.submit(CancelCommand(bracket_id, account))  # type: ignore[no-any-return]

    async def get(self, account: str, bracket_id: str) -> dict[str, Any]:
        """Return one bracket. Raises LookupFailed (ORDER_NOT_FOUND) for an unknown id."""
        bracket = self.book.get(bracket_id)
        if bracket is None:
            row = await self._store.get(bracket_id)
            bracket = Bracket.from_record(row[9]) if row is not None else None
        if bracket is None or bracket.account != account:
            raise LookupFailed(f"bracket {bracket_id!r} not found", code=ErrorCode.ORDER_NOT_FOUND,
                               details={"bracket_id": bracket_id})
        return bracket.to_public()

    async def list(self, account: str, *, open_only: bool = False, state: str | None = None,
                   limit: int = 500) -> list[dict[str, Any]]:
        """Return the account's brackets, newest first (from the store: what was acknowledged)."""
        rows = await self._store.list(account, open_only=open_only, state=state, limit=limit)
        return [self._current(row).to_public() for row in rows]

    def _current(self, row: BracketRow) -> Bracket:
        return self.book.get(row[0]) or Bracket.from_record(row[9])

    async def reconcile(self, venue: str, *, why: str = "request", high_low_since: int | None = None
                        ) -> dict[str, int]:
        """Run one reconciliation pass for `venue` now; return counts: total, matched, updated, repaired.

        Raises:
            VenueUnavailable: the venue is not open or did not answer in time.
        """
        adapter = self._venues[venue]
        if adapter.state is not ConnectionState.OPEN:
            raise VenueUnavailable(f"{venue} is {adapter.state}", venue=venue)
        held = self.book.of_venue(venue)
        now = self._clock.now_ms()
        oldest = oldest_request(held)
        since = None if oldest is None else max(oldest - _LOOKBACK_MARGIN_MS, now - self._settings.max_lookback_ms)
        try:
            async with asyncio.timeout(self._settings.reconcile_timeout_s):
                prices = await price_views(self._market, venue, armed_symbols(held), high_low_since)
                views = await fetch_views(adapter, ts=now, since_ms=since, prices=prices)
        except (TimeoutError, OSError) as exc:
            raise VenueUnavailable(f"{venue} did not answer the reconciliation in time", venue=venue) from exc
        perps = frozenset(s for s, i in adapter.instruments.items() if i.type is MarketType.PERP)
        spots = frozenset(adapter.instruments) - perps
        grace = None
        if why == "startup":
            # Nothing requested before this process started can still be in flight (what the order service
            # journaled it has resolved or is resolving): only requests of this process get the grace.
            grace = min(self._settings.grace_ms, now - self._started_ms + 1)
        policy = self._settings.policy(grace)
        return await self._writer.submit(ReconcileViews(venue, ((perps, views[0]), (spots, views[1])), policy, why))

    async def run_reconcile_loop(self) -> None:
        """The periodic pass over every open venue (supervised by the composition root)."""
        while True:
            await asyncio.sleep(self._settings.reconcile_interval_s)  # scheduling: a pass is idempotent
            if not self._ready or not self._orders.is_ready:
                continue
            for venue, adapter in self._venues.items():
                if adapter.state is not ConnectionState.OPEN:
                    continue
                try:
                    counts = await self.reconcile(venue, why="periodic")
                except GatewayError as exc:
                    log.warning("brackets.reconcile_failed", venue=venue, error=exc.message)
                    continue
                if counts["repaired"] or counts["matched"] or counts["updated"]:
                    log.info("brackets.reconciled", venue=venue, why="periodic", **counts)
            self.book.prune(self._clock.now_ms() - self._settings.ended_retention_ms)

    # --- helpers ------------------------------------------------------------------------------------------

    def _check_trading(self, account: str) -> None:
        adapter = self._venues.get(account)
        if adapter is None:
            raise LookupFailed(f"unknown account {account!r}", code=ErrorCode.UNKNOWN_VENUE)
        if not self.is_ready or not self._orders.is_ready:
            raise VenueUnavailable("brackets are not reconciled yet", venue=account)
        if adapter.state is not ConnectionState.OPEN:
            raise VenueUnavailable(f"{account} is {adapter.state}", venue=account)

    def _venue_reduce_only(self, venue: str, symbol: str) -> bool:
        adapter = self._venues[venue]
        instrument = adapter.instruments.get(symbol)
        return adapter.capabilities.reduce_only and instrument is not None and instrument.type is MarketType.PERP
