"""Shared pieces of the OKX client component tests: the dialect's settings, adapter settings pointing at it,
and a recording sink whose waits are event-driven (no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from gateway.core.enums import ConnectionState
from gateway.simserver.okx.server import OkxDialect, OkxDialectSettings
from gateway.venues.okx.config import OkxSettings
from gateway.venues.sim.config import SimSettings, SimSymbolSettings

__all__ = ["KEY", "PASSPHRASE", "PERP", "SECRET", "SPOT", "RecordingSink", "adapter_settings", "dialect_settings"]

KEY, SECRET, PASSPHRASE = "okx-key", "okx-secret", "okx-pass"
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
TIMEOUT_S = 10.0


def dialect_settings(**overrides: object) -> OkxDialectSettings:
    sim = SimSettings(symbols=[
        SimSymbolSettings(symbol=SPOT, start_price=Decimal(65000), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.00001"), min_qty=Decimal("0.00001")),
        SimSymbolSettings(symbol=PERP, start_price=Decimal(65000), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.001"), min_qty=Decimal("0.001")),
    ], depth_levels=20)
    values: dict[str, object] = {"sim": sim, "message_rate": 0.0, "api_keys": {KEY: (SECRET, PASSPHRASE)},
                                 "prewarm_steps": 20, "book_levels": 50}
    values.update(overrides)
    return OkxDialectSettings(**values)  # type: ignore[arg-type]


def adapter_settings(dialect: OkxDialect, market: str = "spot", **overrides: object) -> OkxSettings:
    values: dict[str, object] = {
        "market": market, "symbols": [PERP if market == "swap" else SPOT],
        "urls": {"rest": dialect.rest_url, "ws_public": dialect.ws_public_url, "ws_private": dialect.ws_private_url,
                 "ws_business": dialect.ws_business_url},
        "api_key": KEY, "api_secret": SECRET, "passphrase": PASSPHRASE, "backoff_base_s": 0.02,
        "backoff_cap_s": 0.2, "request_timeout_s": 5.0, "kline_intervals": [],
    }
    values.update(overrides)
    return OkxSettings(**values)  # type: ignore[arg-type]


class RecordingSink:
    """Records everything; `wait_for` wakes on each new event (an event, not a sleep).

    Some predicates watch adapter counters that change without a sink event (a catch-up count, a
    resubscribe count): `wait_for` therefore also re-checks every `RECHECK_S` — a bounded wake-up under
    the overall timeout, not a sleep standing in for synchronization.
    """

    RECHECK_S = 0.05

    def __init__(self) -> None:
        self.market: list[object] = []
        self.user: list[object] = []
        self.states: list[tuple[ConnectionState, str | None]] = []
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()  # synchronous: no task to keep, nothing to lose

    def on_market(self, event: object) -> None:
        self.market.append(event)
        self._notify()

    def on_user(self, event: object) -> None:
        self.user.append(event)
        self._notify()

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        self.states.append((state, reason))
        self._notify()

    async def wait_for(self, predicate: Callable[[], object], timeout: float = TIMEOUT_S) -> object:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()  # cleared before the check: an event after it wakes the wait below
            value = predicate()
            if value:
                return value
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"condition not met in {timeout}s")
            try:
                await asyncio.wait_for(self._changed.wait(), min(self.RECHECK_S, left))
            except TimeoutError:
                pass  # re-check predicates over adapter state that no sink event announces
