"""The composition root: build every piece, plug them together, start and stop them in a fixed order.

Start (dependency order): venues -> order store -> order service (reloads, reconciles every venue) ->
bracket service (reloads, re-arms, reconciles every venue and runs the repairs) -> supervised loops ->
ops HTTP (+ the REST API and /admin) -> FMZ bridge -> strategy WebSocket (so no command is accepted
before both startup passes are done).
Stop (the reverse, within `shutdown_timeout_s`):
1. the strategy WebSocket stops accepting connections and closes every session with 1001;
2. the FMZ bridge and the ops HTTP server stop;
3. the supervised loops are cancelled;
4. the bracket service lets its in-flight intents answer and persists;
5. the order service drains its inbox, in-flight venue calls and journal writes;
6. the stores close;
7. the venues close their streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from pathlib import Path
from typing import Any

import structlog

from gateway.api.admin import admin_routes
from gateway.api.algo_methods import register_algo_methods
from gateway.api.bracket_methods import register_bracket_methods
from gateway.api.fmz.server import FmzServer
from gateway.api.http_server import OpsServer
from gateway.api.lighter_methods import register_lighter_methods
from gateway.api.methods import market_methods
from gateway.api.order_methods import register_order_methods
from gateway.api.protocol import encode_push
from gateway.api.rest.server import RestApi
from gateway.api.sim_routes import sim_admin_routes
from gateway.api.venue_methods import register_venue_methods
from gateway.api.ws_server import StrategyServer
from gateway.config import Settings
from gateway.core.bus import StreamBus, StreamKey
from gateway.core.clock import Clock, SystemClock
from gateway.core.enums import ConnectionState
from gateway.core.events import MarketEvent, UserEvent
from gateway.core.ports import VenueAdapter
from gateway.market.service import MarketService
from gateway.metrics import GatewayCollector, Instruments, Metrics, metrics_route
from gateway.ops import RecentLog, live_brackets, orders_summary, venue_details
from gateway.orders.algo.backend import AlgoRouter
from gateway.orders.algo.remote import RemoteAlgoBackend
from gateway.orders.algo.service import LocalAlgoEngine
from gateway.orders.brackets.service import BracketService
from gateway.orders.service import OrderService
from gateway.persistence.algos import AlgoStore
from gateway.persistence.brackets import BracketStore
from gateway.persistence.remote_algos import RemoteAlgoStore
from gateway.persistence.store import OrderStore
from gateway.sim_admin import SimAdmin
from gateway.supervisor import Health, Supervisor
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.factory import build_venue
from gateway.venues.registry import VenueDirectory

__all__ = ["Gateway", "VenueEventRouter", "run"]

log = structlog.get_logger("gateway.app")

class VenueEventRouter:
    """The sink every venue session pushes into: market data to the market service, user data to the
    order service (the single owner of order state), connection changes to `gateway@status`. The order
    service's published order, fill and position events are also handed to the bracket service."""

    def __init__(self, market: MarketService, bus: StreamBus, clock: Clock):
        self._market = market
        self._bus = bus
        self._clock = clock
        self.orders: OrderService | None = None  # set once the order service exists
        self.brackets: BracketService | None = None  # set once the bracket service exists
        self.algos: LocalAlgoEngine | None = None  # set once the algo engine exists
        self.down_since: dict[str, int] = {}  # venue -> when it last left OPEN (for the reconnect pass)
        self.on_venue_open: Any = None  # called with the venue name when a venue comes back (reconnect)
        self.venue_states: dict[str, tuple[ConnectionState, int, str | None]] = {}
        self.reconnects: dict[str, int] = {}  # venue -> times it went RECONNECTING (metrics)
        self.bracket_repairs: dict[tuple[str, str], int] = {}  # (venue, repair kind) -> count (metrics)

    def on_market(self, event: MarketEvent) -> None:
        self._market.on_market(event)

    def on_user(self, event: UserEvent) -> None:
        if self.orders is not None:
            self.orders.on_report(event)
        # Before the order service runs, reports are not lost: its start-up reconciliation reads the venue.

    def publish_user(self, account: str, kind: str, data: dict[str, Any]) -> None:
        """The order service's publish callback: user events to `<account>@<kind>` (never conflated)."""
        self._bus.publish(StreamKey(account, "", kind), data, False)
        brackets = self.brackets
        if brackets is not None and kind != "balance":
            brackets.on_order_event(account, kind, data)
        algos = self.algos
        if algos is not None and kind in ("order", "fill"):
            algos.on_order_event(account, kind, data)

    def publish_algo(self, account: str, data: dict[str, Any]) -> None:
        """The algo engine's publish callback: `<account>@algo` (never conflated)."""
        self._bus.publish(StreamKey(account, "", "algo"), data, False)

    def publish_bracket(self, account: str, data: dict[str, Any]) -> None:
        """The bracket service's publish callback: `<account>@bracket` (never conflated)."""
        repair = data.get("repair")
        if repair:  # every reconciliation repair is published exactly once, with its kind
            key = (account, str(repair))
            self.bracket_repairs[key] = self.bracket_repairs.get(key, 0) + 1
        self._bus.publish(StreamKey(account, "", "bracket"), data, False)

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        previous = self.venue_states.get(venue)
        now = self._clock.now_ms()
        self.venue_states[venue] = (state, now, reason)
        if previous is None or previous[0] is not state:
            if state is not ConnectionState.OPEN and (previous is None or previous[0] is ConnectionState.OPEN):
                self.down_since[venue] = now
            if state is ConnectionState.RECONNECTING:
                self.reconnects[venue] = self.reconnects.get(venue, 0) + 1
            log.info(f"venue.{state.value}", venue=venue, reason=reason)
            self._bus.publish(
                StreamKey("gateway", "", "status"),
                {"type": "venue", "venue": venue, "state": state, "reason": reason, "ts": now},
                False,
            )
            if state is ConnectionState.OPEN and previous is not None and self.on_venue_open is not None:
                self.on_venue_open(venue)


class Gateway:
    """Every piece of a running gateway, wired. Use `async with Gateway(settings):` or `start`/`stop`."""

    def __init__(self, settings: Settings, clock: Clock | None = None,
                 venues: dict[str, VenueAdapter] | None = None):
        # `venues`: sessions built by the caller (the embedded exchange), one per `settings.venues` name;
        # by default each is built from its settings.
        self.settings = settings
        self.clock = clock or SystemClock()
        self.health = Health()
        self.metrics = Metrics()  # before the components, so that each may add its own histograms
        self.instruments = Instruments(self.metrics)
        self.recent_log = RecentLog(50, self.clock.now_ms)  # the last warnings and errors, for /status
        self.bus = StreamBus(encode_push)
        self.budgets = HostBudgets(self.clock)  # one request budget per venue API host, shared by all sessions
        self.venues = dict(venues) if venues is not None else {
            name: build_venue(name, vs, self.clock, self.budgets) for name, vs in settings.venues.items()}
        self.directory = VenueDirectory(self.venues, settings.default_venue)  # type: ignore[arg-type]
        self.market = MarketService(self.directory, self.bus, self.clock, settings.market,
                                    observe_tick=self.instruments.observe_tick)
        self.router = VenueEventRouter(self.market, self.bus, self.clock)
        # Parents on venues that execute them (QE): bound to those venues before they are entered, so the
        # first catch-up's events are published.
        self.remote_algos = RemoteAlgoBackend(self.venues, self.router.publish_algo, self.clock)
        self.supervisor = Supervisor(self.health)
        self.orders: OrderService | None = None  # built in start(), once its store is open
        self.brackets: BracketService | None = None  # built in start(), after the order service
        self.algos: LocalAlgoEngine | None = None  # built in start(), after the bracket service
        methods = market_methods()
        register_order_methods(methods)
        register_bracket_methods(methods)
        register_algo_methods(methods)
        register_venue_methods(methods)
        register_lighter_methods(methods)
        self.api = StrategyServer(
            settings.api, directory=self.directory, market=self.market, bus=self.bus, clock=self.clock,
            methods=methods,
        )
        self.sim = SimAdmin(self.venues, self.add_venue, self.api.services.keys, self.directory.default)
        self.rest = RestApi(self.api.services, methods)  # the seed's /api/v1 REST API, on the ops server
        self.fmz = FmzServer(settings.fmz, self.api.services, methods) if settings.fmz.enabled else None
        self.metrics.register(GatewayCollector(self))
        self.ops = OpsServer(
            settings.http,
            ready=self.readiness_problems,
            status=self.status,
            extra_routes=[
                metrics_route(self.metrics),
                *admin_routes(settings.http.admin_key, lambda: self.orders, self.venues,
                              reconcile=self._reconcile_after_reconnect, brackets=lambda: self.brackets),
                *self.rest.routes(),
                *sim_admin_routes(settings.http.admin_key, lambda: self.sim if self.orders is not None else None),
            ],
        )
        self._stack = contextlib.AsyncExitStack()
        self._added_venues = contextlib.AsyncExitStack()  # venues added at run time (`add_venue`)
        self._started_at = time.monotonic()
        self._reconciles: set[asyncio.Task[bool]] = set()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        stack = self._stack
        self.recent_log.install()
        stack.callback(self.recent_log.uninstall)
        try:
            for adapter in self.venues.values():
                adapter.bind(self.router)
                await stack.enter_async_context(adapter)
            stack.push_async_exit(self._added_venues)  # they close after the order service, before these
            data_dir = Path(self.settings.persistence.data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
            remote_store = await stack.enter_async_context(
                RemoteAlgoStore.open(data_dir / self.settings.orders.db_file, self.settings.orders.db_synchronous))
            self.remote_algos.attach_store(remote_store)
            stack.push_async_callback(self.remote_algos.stop)  # writes queued records before the store closes
            store = await stack.enter_async_context(
                OrderStore.open(data_dir / self.settings.orders.db_file, self.settings.orders.db_synchronous,
                                observe_write=self.instruments.observe_journal_write,
                                append_log=self.settings.orders.journal_log)
            )
            self.orders = OrderService(
                self.venues, store, self.router.publish_user, self.clock, self.settings.orders,
                default_account=self.directory.default, observe_ack=self.instruments.observe_ack,
                count_reject=self.instruments.count_reject,
            )
            self.router.orders = self.orders
            stack.push_async_callback(self.orders.stop)
            bracket_store = await stack.enter_async_context(
                BracketStore.open(data_dir / self.settings.orders.db_file, self.settings.orders.db_synchronous)
            )
            self.brackets = BracketService(
                self.venues, self.orders, bracket_store, self.market, self.router.publish_bracket, self.clock,
                self.settings.brackets,
            )
            self.router.brackets = self.brackets  # before the order service starts: its restart reports count
            stack.push_async_callback(self.brackets.stop)  # unwound before the order service stops
            algo_store = await stack.enter_async_context(
                AlgoStore.open(data_dir / self.settings.orders.db_file, self.settings.orders.db_synchronous)
            )
            self.algos = LocalAlgoEngine(self.venues, self.orders, algo_store, self.market,
                                         self.router.publish_algo, self.clock, self.settings.algos)
            self.router.algos = self.algos
            stack.push_async_callback(self.algos.stop)  # unwound before brackets and orders stop
            await self.orders.start()
            self.market.tick_listener = self.brackets
            await self.brackets.start()  # the startup pass, before any command can arrive
            await self.algos.start()  # resumes running parents from their children's true state
            self.api.services.provide(AlgoRouter, AlgoRouter([self.remote_algos, self.algos]))
            self.api.services.provide(OrderService, self.orders)
            self.api.services.provide(BracketService, self.brackets)
            self.router.on_venue_open = self._reconcile_venue
            stack.push_async_callback(self._cancel_reconciles)
            stack.push_async_callback(self.supervisor.close, self.settings.shutdown_timeout_s / 2)
            self.supervisor.spawn("market.fallback_poller", self.market.run_fallback_poller)
            self.supervisor.spawn("brackets.reconciler", self.brackets.run_reconcile_loop)
            await stack.enter_async_context(self.ops)
            if self.fmz is not None:
                await stack.enter_async_context(self.fmz)
            await stack.enter_async_context(self.api)
        except BaseException:
            await stack.aclose()
            raise
        log.info("gateway.started", venues=list(self.venues), api_port=self.api.port, http_port=self.ops.port,
                 fmz_port=self.fmz.port if self.fmz is not None else None)

    async def stop(self) -> None:
        log.info("gateway.stopping")
        await self._stack.aclose()
        log.info("gateway.stopped")

    async def add_venue(self, adapter: VenueAdapter) -> bool:
        """Add a venue session to the running gateway (e.g. a sim user, see `gateway.sim_admin`).

        Enter it, list it (directory, order and bracket services, admin and status views share the one
        `venues` mapping), then reconcile it: it takes commands once that succeeded. It stops with the
        gateway, after the order service and before the venues configured at start. Returns whether
        the reconciliation succeeded (if not, the order service retries it).

        Raises:
            RuntimeError: the gateway is not running.
            ValueError: the name is taken or not a valid venue name.
        """
        name = adapter.name
        if self.orders is None or not self.orders.is_ready:
            raise RuntimeError("the gateway is not running")
        if name in self.venues or not name or any(c in name for c in ":@/ ") or name == "gateway":
            raise ValueError(f"venue name {name!r} is taken or invalid")
        adapter.bind(self.router)
        await self._added_venues.enter_async_context(adapter)
        self.venues[name] = adapter
        reconciled = await self.orders.reconcile(name)
        log.info("venue.added", venue=name, kind=adapter.kind, reconciled=reconciled)
        return reconciled

    def _reconcile_venue(self, venue: str) -> None:
        # A venue that comes back is reconciled before its orders are trusted again (the order service
        # refuses commands for it until then).
        if self.orders is None:
            return
        task = asyncio.create_task(self._reconcile_after_reconnect(venue), name=f"orders.reconcile.{venue}")
        self._reconciles.add(task)
        task.add_done_callback(self._reconciles.discard)

    async def _reconcile_after_reconnect(self, venue: str) -> bool:
        # Orders first (their state is what brackets fold), then the bracket pass, with the high/low since
        # the venue went away: emulated triggers could not fire while its market data was gone.
        assert self.orders is not None
        if not await self.orders.reconcile(venue):
            return False
        if self.brackets is not None and self.brackets.is_ready:
            try:
                counts = await self.brackets.reconcile(venue, why="reconnect",
                                                       high_low_since=self.router.down_since.get(venue))
            except Exception as exc:  # the periodic pass tries again
                log.warning("brackets.reconcile_failed", venue=venue, why="reconnect", error=repr(exc))
                return False
            log.info("brackets.reconciled", venue=venue, why="reconnect", **counts)
        return True

    async def _cancel_reconciles(self) -> None:
        for task in list(self._reconciles):
            task.cancel()
        await asyncio.gather(*self._reconciles, return_exceptions=True)

    # --- ops views ------------------------------------------------------------------------------------

    def readiness_problems(self) -> list[str]:
        problems = [f"{name}: {problem}" for name, problem in self.health.problems.items()]
        if self.orders is None or not self.orders.is_ready:
            problems.append("orders: not reconciled yet")
        if self.brackets is None or not self.brackets.is_ready:
            problems.append("brackets: not reconciled yet")
        if self.algos is None or not self.algos.is_ready:
            problems.append("algos: not started")
        now = self.clock.now_ms()
        for adapter in self.venues.values():
            if adapter.state is not ConnectionState.OPEN:
                problems.append(f"venue {adapter.name} is {adapter.state}")
                continue
            cold = [s for s in adapter.instruments if not self.market.cache.is_warm(adapter.name, s, now)]
            if cold:
                problems.append(f"venue {adapter.name} caches not warm: {', '.join(cold)}")
        return problems

    def status(self, open_orders_listed: int = 20) -> dict[str, Any]:
        """The `/status` view (and the dashboard's): venues, strategies, orders, brackets, recent errors."""
        now = self.clock.now_ms()
        venues = []
        for adapter in self.venues.values():
            last = self.market.last_message_ms.get(adapter.name)
            since = self.router.venue_states.get(adapter.name)
            venues.append(
                {
                    "name": adapter.name,
                    "kind": adapter.kind,
                    "state": adapter.state,
                    "state_since_ms": None if since is None else since[1],
                    "state_reason": None if since is None else since[2],
                    "reconnects": self.router.reconnects.get(adapter.name, 0),
                    "last_message_age_ms": None if last is None else now - last,
                    "symbols": list(adapter.instruments),
                    **venue_details(adapter, now),
                }
            )
        problems = self.readiness_problems()
        return {
            "uptime_s": round(time.monotonic() - self._started_at, 3),
            "now_ms": now,
            "ready": not problems,
            "problems": problems,
            "health": dict(self.health.problems),
            "venues": venues,
            "strategies": self.api.sessions(),
            "market": {"messages_in": self.market.messages_in, "pushes_out": self.market.pushes_out},
            "loops": self.supervisor.names(),
            "orders": orders_summary(self.orders, open_orders_listed),
            "brackets": live_brackets(self.brackets),
            "errors": self.recent_log.events(),
        }


async def run(settings: Settings, stop: asyncio.Event) -> int:
    """Run until `stop` is set, then shut down within the deadline. Returns the process exit code."""
    gateway = Gateway(settings)
    await gateway.start()
    # Everything built at start-up lives as long as the process: move it out of the collector's sight so
    # full collections stay short (bench/brackets.py: trigger-to-venue p99 about 7 ms -> about 2 ms).
    gc.freeze()
    try:
        await stop.wait()
    finally:
        try:
            async with asyncio.timeout(settings.shutdown_timeout_s):
                await gateway.stop()
        except TimeoutError:
            log.error("gateway.shutdown_timeout", deadline_s=settings.shutdown_timeout_s)
            return 1
    return 0
