"""The composition root: build every piece, plug them together, start and stop them in a fixed order.

Start (dependency order): venues -> order store -> order service (reloads, reconciles every venue) ->
supervised loops -> ops HTTP -> strategy WebSocket.
Stop (the reverse, within `shutdown_timeout_s`):
1. the strategy WebSocket stops accepting connections and closes every session with 1001;
2. the ops HTTP server stops;
3. the supervised loops are cancelled;
4. the order service drains its inbox, in-flight venue calls and journal writes;
5. the order store closes;
6. the venues close their streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from gateway.api.http_server import OpsServer
from gateway.api.methods import market_methods
from gateway.api.order_methods import register_order_methods
from gateway.api.protocol import encode_push
from gateway.api.ws_server import StrategyServer
from gateway.config import Settings
from gateway.core.bus import StreamBus, StreamKey
from gateway.core.clock import Clock, SystemClock
from gateway.core.enums import ConnectionState
from gateway.core.events import MarketEvent, UserEvent
from gateway.market.service import MarketService
from gateway.metrics import GatewayCollector, Metrics, metrics_route
from gateway.orders.service import OrderService
from gateway.persistence.store import OrderStore
from gateway.supervisor import Health, Supervisor
from gateway.venues.factory import build_venue
from gateway.venues.registry import VenueDirectory

__all__ = ["Gateway", "VenueEventRouter", "run"]

log = structlog.get_logger("gateway.app")

class VenueEventRouter:
    """The sink every venue session pushes into: market data to the market service, user data to the
    order service (the single owner of order state), connection changes to `gateway@status`."""

    def __init__(self, market: MarketService, bus: StreamBus, clock: Clock):
        self._market = market
        self._bus = bus
        self._clock = clock
        self.orders: OrderService | None = None  # set once the order service exists
        self.on_venue_open: Any = None  # called with the venue name when a venue comes back (reconnect)
        self.venue_states: dict[str, tuple[ConnectionState, int, str | None]] = {}

    def on_market(self, event: MarketEvent) -> None:
        self._market.on_market(event)

    def on_user(self, event: UserEvent) -> None:
        if self.orders is not None:
            self.orders.on_report(event)
        # Before the order service runs, reports are not lost: its start-up reconciliation reads the venue.

    def publish_user(self, account: str, kind: str, data: dict[str, Any]) -> None:
        """The order service's publish callback: user events to `<account>@<kind>` (never conflated)."""
        self._bus.publish(StreamKey(account, "", kind), data, False)

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        previous = self.venue_states.get(venue)
        now = self._clock.now_ms()
        self.venue_states[venue] = (state, now, reason)
        if previous is None or previous[0] is not state:
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

    def __init__(self, settings: Settings, clock: Clock | None = None):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.health = Health()
        self.metrics = Metrics()  # before the components, so that each may add its own histograms
        self.bus = StreamBus(encode_push)
        self.venues = {name: build_venue(name, vs, self.clock) for name, vs in settings.venues.items()}
        self.directory = VenueDirectory(self.venues, settings.default_venue)  # type: ignore[arg-type]
        self.market = MarketService(self.directory, self.bus, self.clock, settings.market)
        self.router = VenueEventRouter(self.market, self.bus, self.clock)
        self.supervisor = Supervisor(self.health)
        self.orders: OrderService | None = None  # built in start(), once its store is open
        methods = market_methods()
        register_order_methods(methods)
        self.api = StrategyServer(
            settings.api, directory=self.directory, market=self.market, bus=self.bus, clock=self.clock,
            methods=methods,
        )
        self.metrics.register(GatewayCollector(self))
        self.ops = OpsServer(
            settings.http,
            ready=self.readiness_problems,
            status=self.status,
            extra_routes=[metrics_route(self.metrics), web.post("/admin/venues/{venue}/reset", self._reset_venue)],
        )
        self._stack = contextlib.AsyncExitStack()
        self._started_at = time.monotonic()
        self._reconciles: set[asyncio.Task[bool]] = set()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        stack = self._stack
        try:
            for adapter in self.venues.values():
                adapter.bind(self.router)
                await stack.enter_async_context(adapter)
            data_dir = Path(self.settings.persistence.data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
            store = await stack.enter_async_context(
                OrderStore.open(data_dir / self.settings.orders.db_file, self.settings.orders.db_synchronous)
            )
            self.orders = OrderService(
                self.venues, store, self.router.publish_user, self.clock, self.settings.orders,
                default_account=self.directory.default,
            )
            self.router.orders = self.orders
            stack.push_async_callback(self.orders.stop)
            await self.orders.start()
            self.api.services.provide(OrderService, self.orders)
            self.router.on_venue_open = self._reconcile_venue
            stack.push_async_callback(self._cancel_reconciles)
            stack.push_async_callback(self.supervisor.close, self.settings.shutdown_timeout_s / 2)
            self.supervisor.spawn("market.fallback_poller", self.market.run_fallback_poller)
            await stack.enter_async_context(self.ops)
            await stack.enter_async_context(self.api)
        except BaseException:
            await stack.aclose()
            raise
        log.info("gateway.started", venues=list(self.venues), api_port=self.api.port, http_port=self.ops.port)

    async def stop(self) -> None:
        log.info("gateway.stopping")
        await self._stack.aclose()
        log.info("gateway.stopped")

    def _reconcile_venue(self, venue: str) -> None:
        # A venue that comes back is reconciled before its orders are trusted again (the order service
        # refuses commands for it until then).
        if self.orders is None:
            return
        task = asyncio.create_task(self.orders.reconcile(venue), name=f"orders.reconcile.{venue}")
        self._reconciles.add(task)
        task.add_done_callback(self._reconciles.discard)

    async def _cancel_reconciles(self) -> None:
        for task in list(self._reconciles):
            task.cancel()
        await asyncio.gather(*self._reconciles, return_exceptions=True)

    async def _reset_venue(self, request: web.Request) -> web.Response:
        """Ops: reset a simulated venue's exchange state (POST /admin/venues/{venue}/reset)."""
        name = request.match_info["venue"]
        adapter = self.venues.get(name)
        reset = getattr(adapter, "reset", None)
        if adapter is None or reset is None:
            return web.json_response({"error": f"{name!r} is not a venue that can be reset"}, status=404)
        log.warning("venue.reset", venue=name)
        await reset()
        reconciled = await self.orders.reconcile(name) if self.orders is not None else False
        return web.json_response({"venue": name, "reset": True, "reconciled": reconciled})

    # --- ops views ------------------------------------------------------------------------------------

    def readiness_problems(self) -> list[str]:
        problems = [f"{name}: {problem}" for name, problem in self.health.problems.items()]
        if self.orders is None or not self.orders.is_ready:
            problems.append("orders: not reconciled yet")
        now = self.clock.now_ms()
        for adapter in self.venues.values():
            if adapter.state is not ConnectionState.OPEN:
                problems.append(f"venue {adapter.name} is {adapter.state}")
                continue
            cold = [s for s in adapter.instruments if not self.market.cache.is_warm(adapter.name, s, now)]
            if cold:
                problems.append(f"venue {adapter.name} caches not warm: {', '.join(cold)}")
        return problems

    def status(self) -> dict[str, Any]:
        now = self.clock.now_ms()
        venues = []
        for adapter in self.venues.values():
            last = self.market.last_message_ms.get(adapter.name)
            venues.append(
                {
                    "name": adapter.name,
                    "kind": adapter.kind,
                    "state": adapter.state,
                    "last_message_age_ms": None if last is None else now - last,
                    "symbols": list(adapter.instruments),
                }
            )
        return {
            "uptime_s": round(time.monotonic() - self._started_at, 3),
            "ready": not self.readiness_problems(),
            "health": dict(self.health.problems),
            "venues": venues,
            "strategies": self.api.sessions(),
            "market": {"messages_in": self.market.messages_in, "pushes_out": self.market.pushes_out},
            "loops": self.supervisor.names(),
        }


async def run(settings: Settings, stop: asyncio.Event) -> int:
    """Run until `stop` is set, then shut down within the deadline. Returns the process exit code."""
    gateway = Gateway(settings)
    await gateway.start()
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
