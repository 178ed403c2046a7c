"""Shared pieces of the QE component tests: a dialect on loopback and a session (or backend) on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from gateway.core.algo_ports import AlgoEvent, ChildFill, ParentOrder
from gateway.core.clock import SystemClock
from gateway.simserver.qe.server import QeDialect, QeDialectSettings
from gateway.venues.qe.adapter import QeAdapter
from gateway.venues.qe.config import QeSettings
from gateway.venues.sim.config import SimSettings

KEY, SECRET = "qe-key", "qe-secret"


class Recorder:
    """An AlgoSink and VenueSink that records, and wakes waiters on every event."""

    def __init__(self) -> None:
        self.events: list[AlgoEvent] = []
        self.states: list[Any] = []
        self.published: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()

    def on_algo(self, account: str, event: AlgoEvent) -> None:
        self.events.append(event)
        asyncio.get_running_loop().create_task(self._notify())

    def publish(self, account: str, data: dict[str, Any]) -> None:
        self.published.append(data)
        asyncio.get_running_loop().create_task(self._notify())

    def on_connection(self, venue: str, state: Any, reason: str | None = None) -> None:
        self.states.append(state)
        asyncio.get_running_loop().create_task(self._notify())

    def on_market(self, event: Any) -> None: ...
    def on_user(self, event: Any) -> None: ...

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    def fills(self) -> list[ChildFill]:
        return [e for e in self.events if isinstance(e, ChildFill)]

    def parent(self, parent_id: str) -> ParentOrder | None:
        found = [e for e in self.events if isinstance(e, ParentOrder) and e.parent_id == parent_id]
        return found[-1] if found else None


def dialect_settings(**overrides: Any) -> QeDialectSettings:
    base: dict[str, Any] = {"sim": SimSettings(), "message_rate": 60, "api_keys": {KEY: SECRET}, "min_duration_s": 0,
                                "slice_ms": 150, "prewarm_steps": 30, "ws_heartbeat_s": None}
    base.update(overrides)
    return QeDialectSettings(**base)


def session_settings(dialect: QeDialect, **overrides: Any) -> QeSettings:
    base: dict[str, Any] = {"api_key": KEY, "api_secret": SECRET, "rest_url": dialect.rest_url, "ws_url": dialect.ws_url,
                                "symbols": ["BTC/USDT", "BTC/USDT:USDT"], "min_duration_s": 0, "backoff_base_s": 0.05,
                                "backoff_cap_s": 0.2, "strategy_api_prefix": "/strategy-api"}
    base.update(overrides)
    return QeSettings(**base)


@asynccontextmanager
async def running(dialect_overrides: dict[str, Any] | None = None, **session_overrides: Any
                  ) -> AsyncIterator[tuple[QeDialect, QeAdapter, Recorder]]:
    async with QeDialect(dialect_settings(**(dialect_overrides or {}))) as dialect:
        adapter = QeAdapter("qe", session_settings(dialect, **session_overrides), SystemClock())
        recorder = Recorder()
        adapter.bind(recorder)
        adapter.bind_algo(recorder)
        async with adapter:
            await recorder.wait_for(lambda: adapter.stream is not None and adapter.stream.is_open)
            yield dialect, adapter, recorder


def engine_filled(dialect: QeDialect, parent_id: str) -> Decimal:
    """What the sim engine really filled for the children of `parent_id`."""
    children = dialect.book.masters[parent_id].algo.children
    ids = {c.client_order_id for c in children}
    return sum((f.qty for f in dialect.fills if f.client_order_id in ids), Decimal(0))
