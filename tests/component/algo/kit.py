"""Helpers for the algo tests: wire the local algo engine onto a started in-process `Gateway`.

`gateway/app.py` does not build the engine yet (the composition root is the lead's), so the tests do
exactly what the composition root will do (see `wire_algos`): open the algo store on the gateway's
database file, build the engine, route the order service's events of child ids to it, register the
`algo.*` methods and provide the `AlgoRouter`, start it after the order service is ready, and stop it
before the order service stops.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.api.algo_methods import register_algo_methods
from gateway.app import Gateway
from gateway.core.bus import StreamKey
from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.orders.algo.backend import AlgoRouter
from gateway.orders.algo.config import AlgoSettings
from gateway.orders.algo.service import LocalAlgoEngine
from gateway.orders.config import OrdersSettings
from gateway.persistence.algos import AlgoStore
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import HOUSE
from tests.component.brackets.kit import api_settings

__all__ = ["FAST", "SPOT", "Tee", "gateway_overrides", "house_order", "wire_algos"]

SPOT = "BTC/USDT"
FROZEN = SimSettings(message_rate=0.001)
FAST = AlgoSettings(tick_ms=50, slice_ms=500, min_duration_s=0, reprice_ms=300, overtime_ms=3_000)
D = Decimal


class Tee:
    """Hand the order service's events to several listeners (the bracket service and the algo engine)."""

    def __init__(self, *targets: Any):
        self.targets = [t for t in targets if t is not None]

    def on_order_event(self, account: str, kind: str, data: dict[str, Any]) -> None:
        for target in self.targets:
            target.on_order_event(account, kind, data)


def gateway_overrides(**venues: Any) -> dict[str, Any]:
    return {"api": api_settings(), "venues": venues or {"sim": FROZEN},
            "orders": OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
            "algos": FAST}


async def wire_algos(gateway: Gateway, settings: AlgoSettings = FAST) -> LocalAlgoEngine:
    """Build, route, register and start the local algo engine on a started gateway (what app.py will do).

    Once app.py wires the engine itself (`gateway.algos`), that one is returned and nothing is built.
    """
    wired = getattr(gateway, "algos", None)
    if wired is not None:
        return wired  # type: ignore[no-any-return]
    assert gateway.orders is not None
    data_dir = Path(gateway.settings.persistence.data_dir)
    store = await gateway._stack.enter_async_context(  # closed when the gateway stops
        AlgoStore.open(data_dir / gateway.settings.orders.db_file, gateway.settings.orders.db_synchronous))
    bus = gateway.bus
    engine = LocalAlgoEngine(gateway.venues, gateway.orders, store, gateway.market,
                             lambda account, data: bus.publish(StreamKey(account, "", "algo"), data, False),
                             gateway.clock, settings)
    gateway.router.brackets = Tee(gateway.brackets, engine)  # type: ignore[assignment]
    gateway._stack.push_async_callback(engine.stop)  # unwound before the order service stops
    await engine.start()
    if "algo.place" not in gateway.api.methods:
        register_algo_methods(gateway.api.methods)
    gateway.api.services.provide(AlgoRouter, AlgoRouter([engine]))
    return engine


async def house_order(gateway: Gateway, side: Side, qty: str, symbol: str = SPOT, price: Decimal | None = None) -> None:
    """Trade as the exchange's house (a market order, or an IOC limit) and push what it caused."""
    adapter = gateway.venues["sim"]
    engine = adapter.engine  # type: ignore[attr-defined]
    now = gateway.clock.now_ms()
    if price is None:
        events = engine.place(HOUSE, symbol, side, OrderType.MARKET, D(qty), now)
    else:
        events = engine.place(HOUSE, symbol, side, OrderType.LIMIT, D(qty), now, price=price, tif=TimeInForce.IOC)
    await adapter.exchange.publish(events, now, "sim")  # type: ignore[attr-defined]
