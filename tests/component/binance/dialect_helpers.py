"""Shared pieces of the Binance component tests: a recording sink and adapter settings for a dialect."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from gateway.core.enums import ConnectionState
from gateway.simserver.binance.server import BinanceDialect, DialectSettings
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.sim.config import SimSettings, SimSymbolSettings

__all__ = ["KEY", "PERP", "SECRET", "SPOT", "RecordingSink", "adapter_settings", "dialect_settings"]

KEY, SECRET = "test-key", "test-secret"
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
TIMEOUT_S = 10.0


def dialect_settings(**overrides: object) -> DialectSettings:
    sim = SimSettings(symbols=[
        SimSymbolSettings(symbol=SPOT, start_price=Decimal(65000), tick_size=Decimal("0.01"),
                          step_size=Decimal("0.00001"), min_qty=Decimal("0.00001")),
        SimSymbolSettings(symbol=PERP, start_price=Decimal(65000), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.001"), min_qty=Decimal("0.001")),
    ], depth_levels=30)
    values: dict[str, object] = {"sim": sim, "message_rate": 0, "api_keys": {KEY: SECRET}, "prewarm_steps": 30}
    values.update(overrides)
    return DialectSettings(**values)  # type: ignore[arg-type]


def adapter_settings(dialect: BinanceDialect, market: str, **overrides: object) -> BinanceSettings:
    values: dict[str, object] = {
        "market": market, "symbols": [PERP if market == "usdm" else SPOT], "urls": dialect.urls(market),
        "api_key": KEY, "api_secret": SECRET, "backoff_base_s": 0.02, "backoff_cap_s": 0.2,
        "request_timeout_s": 5.0,
    }
    values.update(overrides)
    return BinanceSettings(**values)  # type: ignore[arg-type]


class RecordingSink:
    """Records what an adapter pushes; lets a test await a condition."""

    def __init__(self) -> None:
        self.market: list[object] = []
        self.user: list[object] = []
        self.states: list[tuple[ConnectionState, str | None]] = []
        self._changed = asyncio.Event()

    def on_market(self, event: object) -> None:
        self.market.append(event)
        self._changed.set()

    def on_user(self, event: object) -> None:
        self.user.append(event)
        self._changed.set()

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        self.states.append((state, reason))
        self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
        """Wait until `condition()` holds, re-checking whenever the adapter pushes something."""

        async def wait() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)
