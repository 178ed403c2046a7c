"""Shared pieces of the Lighter component tests: a throwaway key, the fake, an adapter pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState
from gateway.simserver.lighter.server import FakeSettings, LighterFake
from gateway.venues.lighter.adapter import LighterAdapter
from gateway.venues.lighter.config import LighterSettings, LighterUrlSettings
from gateway.venues.lighter.signer import generate_api_key

ETH = "ETH/USDC:USDC"
ACCOUNT = 7
KEY_INDEX = 3
_KEYS: dict[int, tuple[str, str]] = {}


def throwaway_key(index: int = KEY_INDEX) -> tuple[str, str]:
    """A (private, public) key pair made locally, one per index per test run."""
    if index not in _KEYS:
        _KEYS[index] = generate_api_key()
    return _KEYS[index]


@dataclass
class RecordingSink:
    """A VenueSink that keeps what it is told and lets a test wait for a condition on it."""

    user: list[Any] = field(default_factory=list)
    market: list[Any] = field(default_factory=list)
    states: list[ConnectionState] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_market(self, event: Any) -> None:
        self.market.append(event)
        self.changed.set()

    def on_user(self, event: Any) -> None:
        self.user.append(event)
        self.changed.set()

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        self.states.append(state)
        self.changed.set()

    async def wait_reopened(self, timeout: float = 10.0) -> None:
        """Wait until the session went RECONNECTING and then OPEN again."""
        async with asyncio.timeout(timeout):
            while True:
                states = self.states
                if ConnectionState.RECONNECTING in states and states[-1] is ConnectionState.OPEN:
                    return
                self.changed.clear()
                await self.changed.wait()

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                found = next((e for e in reversed(self.user) if predicate(e)), None)
                if found is not None:
                    return found
                self.changed.clear()
                await self.changed.wait()


def fake_settings(**overrides: Any) -> FakeSettings:
    keys = overrides.pop("api_keys", None) or {KEY_INDEX: throwaway_key()[1][2:]}
    return FakeSettings(api_keys=keys, **{"message_rate": 0, "execution_delay_ms": 20, **overrides})


def adapter_settings(fake: LighterFake, **overrides: Any) -> LighterSettings:
    keys = overrides.pop("api_keys", None) or {KEY_INDEX: SecretStr(throwaway_key()[0])}
    values: dict[str, Any] = {
        "account_index": ACCOUNT, "api_keys": keys, "symbols": [ETH], "chain_id": 300,
        "urls": LighterUrlSettings(rest=fake.rest_url, stream=fake.stream_url), "pending_poll_s": 0.05,
        "poll_interval_s": 0.2, "ws_ping_interval_s": None, **overrides}
    return LighterSettings(**values)


@asynccontextmanager
async def running(**fake_overrides: Any) -> AsyncIterator[tuple[LighterFake, LighterAdapter, RecordingSink]]:
    adapter_overrides = fake_overrides.pop("adapter", {})
    async with LighterFake(fake_settings(**fake_overrides)) as fake:
        adapter = LighterAdapter("lx", adapter_settings(fake, **adapter_overrides), SystemClock())
        sink = RecordingSink()
        adapter.bind(sink)
        async with adapter:
            if adapter.stream is not None:
                await asyncio.wait_for(adapter.stream.opened.wait(), 10)
            yield fake, adapter, sink
