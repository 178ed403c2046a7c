"""The order service: the async shell around the pure `OrderManager`.

Every command, venue report, venue answer and resolver tick goes through one task, the `OrderWriter`
(persist -> send -> publish, in batches). This module is the API around it: commands and queries for
the callers, the resolver's timer, and the reconciliation with each venue.

Startup (`start`): reload open and recently closed orders from the store, then reconcile with every venue
(open orders, orders and fills since the last recorded event) before accepting commands (`is_ready`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, Side
from gateway.core.errors import (
    ErrorCode,
    GatewayError,
    LookupFailed,
    OrderRejected,
    VenueRateLimited,
    VenueRejected,
    VenueUnavailable,
)
from gateway.core.events import Balance, Fill, OrderUpdate, Position, UserEvent
from gateway.core.instruments import Instrument
from gateway.core.ports import ClientIdMemory, GroupedOrderVenue, VenueAdapter
from gateway.orders.commands import (
    CancelAll,
    CancelOrder,
    Intent,
    ModifyOrder,
    PlaceGroup,
    PlaceOrder,
    PlaceParams,
    Reconciled,
    SetKillSwitch,
    Tick,
)
from gateway.orders.config import OrdersSettings
from gateway.orders.manager import OrderManager
from gateway.orders.records import OrderJournal, fill_from_row, order_from_row
from gateway.orders.validation import normalize_amend, normalize_place
from gateway.orders.venue_calls import call_venue, resolve_instrument
from gateway.orders.writer import OrderWriter, PublishFn

__all__ = ["OrderService", "PublishFn"]

log = structlog.get_logger("gateway.orders")



class OrderService:
    """Serialize every order decision through one task; persist -> send -> publish.

    Args:
        venues: venue sessions by name (the name is also the account name).
        journal: the order store (`persistence.store.OrderStore`).
        publish: called with `(account, kind, data)` after each batch is persisted; must not block.
        clock: time source (`now_ms`).
        settings: the `orders` settings slice.
        default_account: used when a command names no account (else the only venue, if there is one).
        observe_ack: metrics: called with `(venue, seconds)` when a placement was answered by the venue.
        count_reject: metrics: called with `(venue, error code)` when a placement is refused.
    """

    def __init__(self, venues: Mapping[str, VenueAdapter], journal: OrderJournal, publish: PublishFn,
                 clock: Clock, settings: OrdersSettings, *, default_account: str | None = None,
                 observe_ack: Callable[[str, float], None] | None = None,
                 count_reject: Callable[[str, str], None] | None = None):
        self._venues = venues
        self._journal = journal
        self._publish = publish
        self._clock = clock
        self._settings = settings
        self._default = default_account or (next(iter(venues)) if len(venues) == 1 else None)
        self.manager = OrderManager(settings, clock.now_ms())
        self._writer = OrderWriter(self.manager, journal, publish, clock, settings.max_batch, self._send)
        self._resolver: asyncio.Task[None] | None = None
        self._aliases: dict[str, dict[str, str]] = {}
        self._reconciled: set[str] = set()
        self._reconciling: set[str] = set()
        self._ready = False
        self._accepting = False
        self._observe_ack = observe_ack
        self._count_reject = count_reject

    # --- lifecycle ------------------------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """True once start-up reconciliation finished, until `stop` or a journal failure."""
        return self._ready and self.failed is None

    @property
    def failed(self) -> BaseException | None:
        """Why the writer task died or the journal failed (crash-only: the service is done), or None."""
        return self._writer.failed or self._journal.failed

    @property
    def journal_lag(self) -> int:
        """Journal batches durable in the append log and not yet in SQLite (metrics)."""
        return self._journal.lag

    async def journal_flushed(self) -> None:
        """Return once SQLite holds every journal batch written so far (ops tools and tests)."""
        await self._journal.flushed()

    @property
    def kill_switch_engaged(self) -> bool:
        return self.manager.risk.kill_switch

    async def start(self) -> None:
        """Reload orders from the store, start the manager task, reconcile every venue, then accept commands."""
        now = self._clock.now_ms()
        horizon = now - self._settings.closed_order_retention_ms
        for venue in self._venues:  # every order the catch-up may report must be known, or it looks external
            last = await self._journal.last_event_ts(venue)
            if last is not None:
                horizon = min(horizon, last - self._settings.reconcile_lookback_ms)
        orders = [order_from_row(r) for r in await self._journal.load_orders(horizon)]
        by_key = {(o.account, o.client_order_id): o for o in orders}
        trades = []
        for venue, trade_id, account, client_order_id in await self._journal.load_trade_ids(horizon):
            trades.append((venue, trade_id))
            owner = by_key.get((account, client_order_id))
            if owner is not None:
                owner.fill_ids.add(trade_id)
        decision = self.manager.restore(orders, trades, now)
        await self._restore_positions()
        await self._writer.persist([decision])
        self._writer.emit([decision])
        for name, adapter in self._venues.items():
            if isinstance(adapter, ClientIdMemory):
                adapter.remember_client_order_ids(o.client_order_id for o in orders
                                                  if o.account == name and o.client_order_id)
        log.info("orders.restored", orders=len(orders), open=sum(1 for o in orders if o.is_open))
        self._writer.start()
        assert self._writer.task is not None
        self._writer.task.add_done_callback(self._on_writer_done)
        self._resolver = asyncio.create_task(self._tick_loop(), name="orders.resolver")
        self._accepting = True
        await asyncio.gather(*(self.reconcile(name) for name in self._venues))
        self._ready = True
        log.info("orders.ready", reconciled=sorted(self._reconciled))

    async def _restore_positions(self) -> None:
        """Load the risk book's net positions; sum them from every fill once, for a database older than them."""
        risk = self.manager.risk
        stored = await self._journal.risk_positions()
        if stored is None:
            started = time.perf_counter()
            fills = await self._journal.filled_positions()
            for strategy, account, symbol, side, qty in fills:
                risk.on_fill(strategy, account, symbol, Side(side), Decimal(qty))
            await self._journal.build_risk_positions([(*key, str(qty)) for *key, qty in risk.positions()])
            log.info("orders.positions_built", fills=len(fills), positions=len(risk.positions()),
                     ms=round((time.perf_counter() - started) * 1000))
            return
        for strategy, account, symbol, qty in stored:
            risk.set_position(strategy, account, symbol, Decimal(qty))

    async def reconcile(self, venue: str, periodic: bool = False) -> bool:
        """Fold the venue's view (open orders; orders and fills since our last event) into the manager.

        Call at start and after every reconnect: commands for the venue are refused until it succeeds.
        A `periodic` pass (run every `reconcile_interval_ms`) leaves the venue usable meanwhile.
        Returns whether it succeeded (a failure is logged; call again later).
        """
        adapter = self._venues[venue]
        if not periodic:
            self._reconciled.discard(venue)
        try:
            last = await self._journal.last_event_ts(venue)
            async with asyncio.timeout(self._settings.reconcile_timeout_s):
                open_orders = await adapter.open_orders()
                orders: list[OrderUpdate] = []
                fills: list[Fill] = []
                if last is not None:
                    since = last - self._settings.reconcile_lookback_ms
                    orders = await adapter.orders_since(since)
                    fills = await adapter.fills_since(since)
            await self._writer.submit(Reconciled(venue, tuple(open_orders), tuple(orders), tuple(fills)))
        except (GatewayError, TimeoutError, OSError) as exc:
            log.warning("orders.reconcile_failed", venue=venue, error=repr(exc))
            return False
        self._reconciled.add(venue)
        log.info("orders.reconciled", venue=venue, open_orders=len(open_orders), orders=len(orders),
                 fills=len(fills), periodic=periodic)
        return True

    async def stop(self) -> None:
        """Stop accepting commands, let in-flight venue calls answer, drain the inbox and journal writes.

        Everything is bounded by `stop_timeout_s`; what is left then is cancelled (and logged).
        """
        self._ready = False
        self._accepting = False
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            resolver.cancel()
            await asyncio.gather(resolver, return_exceptions=True)
        await self._writer.stop(self._settings.stop_timeout_s)
        self._writer.fail_waiters(GatewayError("order service stopped", code=ErrorCode.VENUE_UNAVAILABLE))

    def _on_writer_done(self, task: asyncio.Task[None]) -> None:
        if self._writer.failed is not None or (not task.cancelled() and task.exception() is not None):
            # Crash-only: stop taking commands; the composition root sees `failed` and exits non-zero.
            # Callers waiting for a venue answer get the failure now, not at their timeout.
            self._ready = False
            self._accepting = False
            self._writer.fail_waiters(GatewayError("the order journal failed", code=ErrorCode.INTERNAL))

    # --- venue reports (the VenueSink.on_user entry point) --------------------------------------------

    def on_report(self, event: UserEvent) -> None:
        """Take a venue's user-data report. Never blocks: orders and fills queue for the manager."""
        if isinstance(event, OrderUpdate | Fill):
            self._writer.put(event)
        elif isinstance(event, Balance):
            self._publish(event.venue, "balance", {
                "venue": event.venue, "account": event.venue, "asset": event.asset, "free": event.free,
                "locked": event.locked, "ts": event.ts})
        elif isinstance(event, Position):
            self._publish(event.venue, "position", {
                "venue": event.venue, "account": event.venue, "symbol": event.symbol, "qty": event.qty,
                "entry_price": event.entry_price, "mark_price": event.mark_price,
                "unrealized_pnl": event.unrealized_pnl, "leverage": event.leverage,
                "margin_type": event.margin_type, "ts": event.ts})

    on_user = on_report

    # --- commands -------------------------------------------------------------------------------------

    async def place(self, strategy: str | None, account: str | None, params: PlaceParams | Mapping[str, Any],
                    *, fresh_client_id: bool = False) -> dict[str, Any]:
        """Place an order; return it once the venue answered (status `unknown` if the answer was lost).

        The same client_order_id again returns the first order and places nothing. An id that is not in
        memory is looked up in the journal first (it may predate the in-memory window), unless the caller
        passes `fresh_client_id`: its promise that the id was minted for this order and never used before
        (the bracket legs' ids carry a generation that is persisted and never re-sent). That saves a
        database round trip on the trigger-to-venue path.

        Raises:
            GatewayError: INVALID_PARAMS, UNKNOWN_VENUE, UNKNOWN_SYMBOL, PRECISION, MIN_NOTIONAL,
                NOT_SUPPORTED, RISK_LIMIT, DUPLICATE_CLIENT_ID, VENUE_UNAVAILABLE (not ready, venue down),
                VENUE_REJECTED / RATE_LIMITED (the venue said no; the order is recorded as rejected).
        """
        if not fresh_client_id:
            stored = await self._placed_before(account, params)
            if stored is not None:
                return stored
        return await self.start_place(strategy, account, params)

    async def _placed_before(self, account: str | None, params: PlaceParams | Mapping[str, Any]
                             ) -> dict[str, Any] | None:
        """The order a client order id names in the journal but no longer in memory (placed before the
        in-memory retention window: still the same order), or None."""
        started = time.perf_counter()
        try:
            if not isinstance(params, PlaceParams):
                params = PlaceParams.from_mapping(params)
            adapter = self._trading_venue(account)
            if not params.client_order_id or self.manager.get(adapter.name, params.client_order_id) is not None:
                return None
            row = await self._journal.get_order(adapter.name, params.client_order_id)
            if row is None:
                return None
            stored = order_from_row(row)
            if (stored.symbol != self._instrument(adapter, params.symbol).symbol or stored.side is not params.side
                    or stored.external):
                raise OrderRejected(f"client_order_id {params.client_order_id!r} is used by another order",
                                    code=ErrorCode.DUPLICATE_CLIENT_ID)
        except GatewayError as exc:
            self._count_refusal(account, exc, started)
            raise
        return stored.to_public()

    def start_place(self, strategy: str | None, account: str | None, params: PlaceParams | Mapping[str, Any]
                    ) -> Awaitable[dict[str, Any]]:
        """`place` for an order whose client order id is fresh (see `place`), started now.

        When the order writer is idle, the order is validated, decided, journaled and its venue call
        scheduled before this returns (the venue call is the next thing the event loop runs): a bracket's
        fired stop goes out from the tick that crossed it. Await the result for what `place` returns.

        Raises:
            GatewayError: what `place` refuses before anything is sent (also when awaiting: the venue's
                refusals).
        """
        started = time.perf_counter()
        try:
            if not isinstance(params, PlaceParams):
                params = PlaceParams.from_mapping(params)
            adapter = self._trading_venue(account)
            command = PlaceOrder(strategy, adapter.name, params, self._instrument(adapter, params.symbol),
                                 adapter.capabilities)
            decided = self._writer.submit_nowait(command)
        except GatewayError as exc:
            self._count_refusal(account, exc, started)
            raise
        return self._placed(account, decided, started)

    async def _placed(self, account: str | None, decided: asyncio.Future[Any], started: float) -> dict[str, Any]:
        try:
            placed = _one(await self._answers(decided))
        except GatewayError as exc:
            self._count_refusal(account, exc, started)
            raise
        if self._observe_ack is not None and placed.get("status") != "unknown":
            self._observe_ack(placed["account"], time.perf_counter() - started)
        return placed

    def _count_refusal(self, account: str | None, exc: GatewayError, started: float) -> None:
        # Labels stay bounded: an account that is not a configured venue is counted as "".
        venue = account or self._default or ""
        venue = venue if venue in self._venues else ""
        if self._count_reject is not None:
            self._count_reject(venue, exc.code.value)
        if self._observe_ack is not None and isinstance(exc, VenueRejected | VenueRateLimited):
            self._observe_ack(venue, time.perf_counter() - started)  # the venue answered: no

    async def place_group(self, strategy: str | None, account: str | None, entry: PlaceParams,
                          children: Sequence[PlaceParams]) -> list[dict[str, Any]]:
        """Place an entry with its take-profit / stop-loss children in one venue request (a venue with
        `Capabilities.grouped_tpsl`, e.g. Lighter's OTOCO). Every order needs its client order id; each is
        journaled and tracked like any other. Returns the orders as answered, entry first; the same group
        again returns them and places nothing.

        Raises:
            GatewayError: NOT_SUPPORTED where the venue has no grouped orders; the refusals of `place`.
        """
        adapter = self._trading_venue(account)
        if not (adapter.capabilities.grouped_tpsl and isinstance(adapter, GroupedOrderVenue)):
            raise GatewayError(f"{adapter.name} takes no grouped orders", code=ErrorCode.NOT_SUPPORTED)
        instrument = self._instrument(adapter, entry.symbol)
        command = PlaceGroup(strategy, adapter.name, entry, tuple(children), instrument, adapter.capabilities)
        results = await self._command(command)
        for result in results:
            if isinstance(result, GatewayError):
                raise result
        return results

    async def cancel(self, strategy: str | None, account: str | None, order_id: str | None = None,
                     client_order_id: str | None = None) -> dict[str, Any]:
        """Cancel an order; return it once the venue answered (`pending_cancel` if the answer was lost).

        Raises:
            GatewayError: ORDER_NOT_FOUND, NOT_SUPPORTED (external order), VENUE_UNAVAILABLE,
                VENUE_REJECTED (the venue refused the cancel; the order is unchanged).
        """
        adapter = self._trading_venue(account)
        return _one(await self._command(CancelOrder(strategy, adapter.name, order_id, client_order_id)))

    async def cancel_all(self, strategy: str | None, account: str | None, symbol: str | None = None
                         ) -> list[dict[str, Any]]:
        """Cancel the strategy's open orders on `account` (one symbol, if given); return them as answered."""
        adapter = self._trading_venue(account)
        if symbol is not None:
            symbol = self._instrument(adapter, symbol).symbol
        return await self._command_many(CancelAll(strategy, adapter.name, symbol))

    async def modify(self, strategy: str | None, account: str | None, order_id: str | None = None,
                     client_order_id: str | None = None, qty: Decimal | None = None,
                     price: Decimal | None = None) -> dict[str, Any]:
        """Change qty and/or price: a venue amend when supported, else cancel then replace.

        Returns the order with `modified_by` = `amend` or `cancel_replace`; a replacement has a new
        client order id and names the old one in `replaces` (when the cancel did not end in `canceled`,
        nothing is placed and the old order is returned with `replaced: false`).
        """
        adapter = self._trading_venue(account)
        order = self.manager.get(adapter.name, client_order_id, order_id)
        if order is None:
            raise LookupFailed("order not found", code=ErrorCode.ORDER_NOT_FOUND)
        instrument = self._instrument(adapter, order.symbol)
        if adapter.capabilities.amend:
            command = ModifyOrder(strategy, adapter.name, instrument, order.order_id, order.client_order_id,
                                  qty, price)
            return {**_one(await self._command(command)), "modified_by": "amend"}
        if order.external:
            raise OrderRejected("external order: the gateway neither adopts nor cancels it",
                                code=ErrorCode.NOT_SUPPORTED)
        new_qty, new_price = normalize_amend(qty, price, order.side, instrument, order.price is not None)
        total = new_qty if new_qty is not None else order.qty
        price_after = new_price if new_price is not None else order.price
        if total <= order.known_filled_qty:
            raise GatewayError(f"qty must exceed the filled quantity {order.known_filled_qty}",
                               code=ErrorCode.INVALID_PARAMS, details={"field": "qty"})
        # Refuse what would be refused anyway before canceling anything.
        normalize_place(PlaceParams(order.symbol, order.side, order.type, total - order.known_filled_qty, price_after,
                                    order.trigger_price, order.tif, order.reduce_only),
                        instrument, adapter.capabilities)
        canceled = await self.cancel(strategy, adapter.name, order.order_id, order.client_order_id)
        remaining = total - Decimal(canceled["filled_qty"])  # fills that raced the cancel count
        if canceled["status"] != "canceled" or remaining <= 0:
            return {**canceled, "modified_by": "cancel_replace", "replaced": False}
        params = PlaceParams(order.symbol, order.side, order.type, remaining, price_after, order.trigger_price,
                             order.tif, order.reduce_only)
        placed = await self.place(strategy, adapter.name, params)
        return {**placed, "modified_by": "cancel_replace", "replaced": True, "replaces": order.client_order_id}

    async def engage_kill_switch(self, cancel_open: bool) -> list[dict[str, Any]]:
        """Refuse every new order (RISK_LIMIT "kill switch engaged"); optionally cancel all open orders.

        Returns the orders it canceled, as answered.
        """
        return await self._command_many(SetKillSwitch(True, cancel_open))

    async def release_kill_switch(self) -> None:
        await self._command_many(SetKillSwitch(False))

    # --- queries ----------------------------------------------------------------------------------------

    async def get(self, account: str | None, order_id: str | None = None, client_order_id: str | None = None
                  ) -> dict[str, Any]:
        """Return one order (memory first, then the store). Raises GatewayError ORDER_NOT_FOUND."""
        name = self._venue(account).name
        order = self.manager.get(name, client_order_id, order_id)
        if order is not None:
            return order.to_public()
        row = await self._journal.get_order(name, client_order_id, order_id)
        if row is None:
            raise LookupFailed("order not found", code=ErrorCode.ORDER_NOT_FOUND,
                               details={"order_id": order_id, "client_order_id": client_order_id})
        return order_from_row(row).to_public()

    async def open_orders(self, account: str | None, symbol: str | None = None) -> list[dict[str, Any]]:
        adapter = self._venue(account)
        if symbol is not None:
            symbol = self._instrument(adapter, symbol).symbol
        orders = sorted(self.manager.open_orders(adapter.name, symbol), key=lambda o: o.created_ts)
        return [o.to_public() for o in orders]

    async def history(self, account: str | None, symbol: str | None = None, since: int | None = None,
                      limit: int = 500) -> list[dict[str, Any]]:
        adapter = self._venue(account)
        if symbol is not None:
            symbol = self._instrument(adapter, symbol).symbol
        rows = await self._journal.history(adapter.name, symbol, since, limit)
        return [order_from_row(r).to_public() for r in rows]

    async def fills(self, account: str | None, symbol: str | None = None, order_id: str | None = None,
                    since: int | None = None, limit: int = 500, client_order_id: str | None = None
                    ) -> list[dict[str, Any]]:
        adapter = self._venue(account)
        if symbol is not None:
            symbol = self._instrument(adapter, symbol).symbol
        rows = await self._journal.fills(adapter.name, symbol, order_id, client_order_id, since, limit)
        return [fill_from_row(r).to_public() for r in rows]

    # --- the resolver ---------------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        interval = self._settings.resolve_interval_ms / 1000
        retry_every = self._settings.unknown_backoff_max_ms / 1000
        periodic_every = self._settings.reconcile_interval_ms / 1000
        last_retry = last_periodic = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(interval)  # scheduling, not synchronization: Tick is idempotent
            self._writer.put(Tick())
            now = asyncio.get_running_loop().time()
            if self._ready and now - last_retry >= retry_every:
                last_retry = now
                for name, adapter in self._venues.items():  # a venue that failed reconciliation: try again
                    if name not in self._reconciled and adapter.state is ConnectionState.OPEN:
                        self._spawn_reconcile(name, periodic=False)
            if self._ready and periodic_every and now - last_periodic >= periodic_every:
                # A periodic pass catches what a quiet or lossy stream never reported (ANCHORS item 3);
                # the venue stays usable meanwhile.
                last_periodic = now
                for name, adapter in self._venues.items():
                    if name in self._reconciled and adapter.state is ConnectionState.OPEN:
                        self._spawn_reconcile(name, periodic=True)

    def _spawn_reconcile(self, name: str, periodic: bool) -> None:
        if name in self._reconciling:
            return
        self._reconciling.add(name)
        task = asyncio.create_task(self.reconcile(name, periodic=periodic), name=f"orders.reconcile.{name}")
        self._writer.calls.add(task)  # type: ignore[arg-type]  # stop() waits for it like a venue call
        task.add_done_callback(lambda t: (self._writer.calls.discard(t), self._reconciling.discard(name)))  # type: ignore[arg-type]

    async def _send(self, intent: Intent) -> Any:
        return await call_venue(self._venues[intent.venue], intent, self._settings.request_timeout_s)

    # --- helpers ----------------------------------------------------------------------------------------

    async def _command(self, msg: Any) -> list[Any]:
        return await self._answers(self._writer.submit_nowait(msg))

    async def _answers(self, decided: asyncio.Future[Any]) -> list[Any]:
        reply = await decided
        if isinstance(reply, GatewayError):
            raise reply
        if not isinstance(reply, list):
            return [reply]
        try:  # bounded by the venue call timeout; this is only a guard against a lost settle
            async with asyncio.timeout(self._settings.request_timeout_s * 3):
                return list(await asyncio.gather(*reply))
        except TimeoutError:
            raise GatewayError("no answer in time", code=ErrorCode.TIMEOUT) from None

    async def _command_many(self, msg: Any) -> list[dict[str, Any]]:
        return [r for r in await self._command(msg) if not isinstance(r, GatewayError)]

    def _venue(self, account: str | None) -> VenueAdapter:
        name = account or self._default
        if name is None:
            raise LookupFailed("no default account: name one", code=ErrorCode.UNKNOWN_VENUE)
        adapter = self._venues.get(name)
        if adapter is None:
            raise LookupFailed(f"unknown account {name!r}", code=ErrorCode.UNKNOWN_VENUE, details={"account": name})
        return adapter

    def _trading_venue(self, account: str | None) -> VenueAdapter:
        adapter = self._venue(account)
        if not self._accepting or self.failed is not None or adapter.name not in self._reconciled:
            raise VenueUnavailable(f"{adapter.name} is not reconciled yet", venue=adapter.name)
        if adapter.state is not ConnectionState.OPEN:
            raise VenueUnavailable(f"{adapter.name} is {adapter.state}", venue=adapter.name)
        return adapter

    def _instrument(self, adapter: VenueAdapter, symbol: str) -> Instrument:
        return resolve_instrument(adapter, symbol, self._aliases)


def _one(results: list[Any]) -> dict[str, Any]:
    result = results[0]
    if isinstance(result, GatewayError):
        raise result
    return result
