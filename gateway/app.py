"""The composition root: build every piece, plug them together, start and stop them in a fixed order.

Start (dependency order): venues -> market service + supervised loops -> ops HTTP -> strategy WebSocket.
Stop (the reverse, within `shutdown_timeout_s`):
1. the strategy WebSocket stops accepting connections and closes every session with 1001;
2. the supervised loops are cancelled;
3. the ops HTTP server stops;
4. the venues close their streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog

from gateway.api.http_server import OpsServer
from gateway.api.protocol import encode_push
from gateway.api.ws_server import StrategyServer
from gateway.config import Settings
from gateway.core.bus import StreamBus, StreamKey
from gateway.core.clock import Clock, SystemClock
from gateway.core.enums import ConnectionState
from gateway.core.events import Balance, Fill, MarketEvent, OrderUpdate, Position, UserEvent
from gateway.market.service import MarketService
from gateway.supervisor import Health, Supervisor
from gateway.venues.factory import build_venue
from gateway.venues.registry import VenueDirectory

__all__ = ["Gateway", "VenueEventRouter", "run"]

log = structlog.get_logger("gateway.app")

_USER_KIND = {OrderUpdate: "order", Fill: "fill", Balance: "balance", Position: "position"}


class VenueEventRouter:
    """The sink every venue session pushes into: market data to the market service, user data and
    connection changes to their streams."""

    def __init__(self, market: MarketService, bus: StreamBus, clock: Clock):
        self._market = market
        self._bus = bus
        self._clock = clock
        self.venue_states: dict[str, tuple[ConnectionState, int, str | None]] = {}

    def on_market(self, event: MarketEvent) -> None:
        self._market.on_market(event)

    def on_user(self, event: UserEvent) -> None:
        self._bus.publish(StreamKey(event.venue, "", _USER_KIND[type(event)]), event, False)

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


class Gateway:
    """Every piece of a running gateway, wired. Use `async with Gateway(settings):` or `start`/`stop`."""

    def __init__(self, settings: Settings, clock: Clock | None = None):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.health = Health()
        self.bus = StreamBus(encode_push)
        self.venues = {name: build_venue(name, vs, self.clock) for name, vs in settings.venues.items()}
        self.directory = VenueDirectory(self.venues, settings.default_venue)  # type: ignore[arg-type]
        self.market = MarketService(self.directory, self.bus, self.clock, settings.market)
        self.router = VenueEventRouter(self.market, self.bus, self.clock)
        self.supervisor = Supervisor(self.health)
        self.api = StrategyServer(
            settings.api, directory=self.directory, market=self.market, bus=self.bus, clock=self.clock
        )
        self.ops = OpsServer(settings.http, ready=self.readiness_problems, status=self.status)
        self._stack = contextlib.AsyncExitStack()
        self._started_at = time.monotonic()

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

    # --- ops views ------------------------------------------------------------------------------------

    def readiness_problems(self) -> list[str]:
        problems = [f"{name}: {problem}" for name, problem in self.health.problems.items()]
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
