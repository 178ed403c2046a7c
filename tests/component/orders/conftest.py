"""Fixtures of the order component tests: a real SQLite file, the fake venue, a publish recorder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.core.clock import SystemClock
from gateway.orders.config import OrdersSettings
from gateway.orders.service import OrderService
from gateway.persistence.store import OrderStore
from orders_fake_venue import FakeVenue

FAST = {"unknown_backoff_base_ms": 5, "unknown_backoff_max_ms": 20, "unknown_reject_after_ms": 150,
        "resolve_interval_ms": 2, "request_timeout_s": 2.0, "stop_timeout_s": 2.0}


class Published:
    """Records every publish; `wait_for` resolves when a matching event arrives (no sleeping)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self._waiters: list[tuple[Callable[[str, str, dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []

    def __call__(self, account: str, kind: str, data: dict[str, Any]) -> None:
        self.events.append((account, kind, data))
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(account, kind, data):
                future.set_result(data)
                self._waiters.remove((predicate, future))

    async def wait_for(self, kind: str, timeout: float = 3.0, **fields: Any) -> dict[str, Any]:
        def predicate(account: str, k: str, data: dict[str, Any]) -> bool:
            return k == kind and all(data.get(name) == value for name, value in fields.items())

        for account, k, data in self.events:
            if predicate(account, k, data):
                return data
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return await asyncio.wait_for(future, timeout)

    def statuses(self, client_order_id: str) -> list[str]:
        return [d["status"] for _, k, d in self.events if k == "order" and d["client_order_id"] == client_order_id]


class Harness:
    def __init__(self, db: Path, venue: FakeVenue):
        self.db = db
        self.venue = venue
        self.published = Published()
        self.service: OrderService
        self.store: OrderStore

    @contextlib.asynccontextmanager
    async def run(self, start: bool = True, **settings: Any) -> AsyncIterator[OrderService]:
        async with OrderStore.open(self.db) as store:
            self.store = store
            self.published = Published()
            self.service = OrderService({self.venue.name: self.venue}, store, self.published, SystemClock(),
                                        OrdersSettings(**{**FAST, **settings}))
            self.venue.bind(self.service)
            if start:
                await self.service.start()
            try:
                yield self.service
            finally:
                await self.service.stop()
                self.venue.sink = None


@pytest.fixture
def venue() -> FakeVenue:
    return FakeVenue("fake", SystemClock())


@pytest.fixture
def harness(tmp_path: Path, venue: FakeVenue) -> Harness:
    return Harness(tmp_path / "orders.db", venue)
