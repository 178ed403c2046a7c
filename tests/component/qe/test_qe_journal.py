"""QE parents are journaled and idempotent by client order id, across a restart of the backend.

Each "lifetime" is a fresh QE session, backend and store over the same database file, against one QE
dialect on loopback that outlives them (QE keeps its master orders while the gateway restarts).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from qe_helpers import Recorder, dialect_settings, session_settings

from gateway.core.algo_ports import ParentSpec
from gateway.core.clock import SystemClock
from gateway.core.errors import ErrorCode, GatewayError
from gateway.orders.algo.remote import RemoteAlgoBackend
from gateway.persistence.remote_algos import SUBMITTING, RemoteAlgoStore
from gateway.simserver.qe.server import QeDialect
from gateway.venues.qe.adapter import QeAdapter

TWAP = {"symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP", "qty": "0.04"}


@asynccontextmanager
async def lifetime(dialect: QeDialect, db: Path, *, wait_open: bool = True, **overrides: Any
                   ) -> AsyncIterator[tuple[RemoteAlgoBackend, QeAdapter, Recorder]]:
    async with RemoteAlgoStore.open(db) as store:
        adapter = QeAdapter("qe", session_settings(dialect, **overrides), SystemClock())
        recorder = Recorder()
        adapter.bind(recorder)
        backend = RemoteAlgoBackend({"qe": adapter}, recorder.publish, SystemClock())
        backend.attach_store(store)  # before the session starts: its first catch-up is journaled
        async with adapter:
            try:
                if wait_open:
                    await recorder.wait_for(lambda: adapter.stream is not None and adapter.stream.is_open)
                yield backend, adapter, recorder
            finally:
                await backend.stop()


def count_creates(dialect: QeDialect) -> list[int]:
    """Count the master orders QE is asked to create (a spy on the dialect's book)."""
    calls = [0]
    create = dialect.book.create

    def counted(body: Any, now: int) -> Any:
        calls[0] += 1
        return create(body, now)

    dialect.book.create = counted  # type: ignore[method-assign]
    return calls


async def until(dialect: QeDialect, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            dialect.changed.clear()
            await dialect.changed.wait()


async def test_a_known_client_order_id_answers_the_journaled_parent_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    async with QeDialect(dialect_settings()) as dialect:
        creates = count_creates(dialect)
        async with lifetime(dialect, db) as (backend, _, recorder):
            placed = await backend.place("s1", "qe", {**TWAP, "execution_duration_s": 60, "client_order_id": "j-1"})
            short = await backend.place("s1", "qe", {**TWAP, "execution_duration_s": 1, "client_order_id": "j-2"})
            assert creates[0] == 2
            row = await backend.journal.by_client_order_id("qe", "j-1")
            assert row is not None and row.algo_id == placed["algo_id"] and row.strategy == "s1" and row.is_open
        # The gateway is down while QE finishes j-2.
        await until(dialect, lambda: dialect.book.masters[short["algo_id"]].algo.is_terminal)

        async with lifetime(dialect, db) as (backend, _, recorder):
            again = await backend.place("s2", "qe", {**TWAP, "execution_duration_s": 60, "client_order_id": "j-1"})
            assert again["algo_id"] == placed["algo_id"] and creates[0] == 2  # QE was not asked to create again
            with pytest.raises(GatewayError) as taken:
                await backend.place("s1", "qe", {**TWAP, "qty": "0.05", "execution_duration_s": 60,
                                                 "client_order_id": "j-1"})
            assert taken.value.code is ErrorCode.DUPLICATE_CLIENT_ID and creates[0] == 2

            # The session's catch-up after connecting reported j-2's end; the journal has it.
            await recorder.wait_for(lambda: any(d.get("algo_id") == short["algo_id"] and d.get("state") == "completed"
                                                for d in recorder.published))
            await backend.journal.flush()
            row = await backend.journal.by_client_order_id("qe", "j-2")
            assert row is not None and row.state == "completed" and not row.is_open
            assert Decimal(row.record["filled_qty"]) == Decimal("0.04")  # type: ignore[index]
            listed = await backend.list("qe")
            assert {a["algo_id"] for a in listed} >= {placed["algo_id"], short["algo_id"]}
            assert (await backend.get("qe", None, "j-1"))["algo_id"] == placed["algo_id"]
            await backend.cancel("qe", placed["algo_id"])

        # QE unreachable: algo.get and algos.list answer from the journal.
        async with lifetime(dialect, db, wait_open=False, rest_url="http://127.0.0.1:9", max_retries=0) as (
                backend, _, _):
            got = await backend.get("qe", None, "j-2")
            assert got["source"] == "journal" and got["state"] == "completed"
            assert (await backend.get("qe", placed["algo_id"]))["state"] == "canceled"
            listed = await backend.list("qe")
            assert sorted(a["client_order_id"] for a in listed) == ["j-1", "j-2"]
            assert all(a["source"] == "journal" for a in listed)
            replayed = await backend.place("s1", "qe", {**TWAP, "execution_duration_s": 60, "client_order_id": "j-1"})
            assert replayed["algo_id"] == placed["algo_id"] and creates[0] == 2  # answered with QE down


async def test_an_intent_whose_answer_was_lost_is_resolved_by_its_client_order_id(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    async with QeDialect(dialect_settings()) as dialect:
        creates = count_creates(dialect)
        async with lifetime(dialect, db) as (backend, adapter, _):
            # A crash after the intent was journaled and QE created it, before the answer was recorded:
            request = {"symbol": "BTC/USDT", "side": "buy", "algorithm": "TWAP", "qty": "0.04", "notional": None}
            await backend.journal.intent("s1", "qe", "lost-1", "BTC/USDT", request)
            created = await adapter.create_parent(ParentSpec(
                api_key_id="ak-binance-1", exchange="Binance", market_type="SPOT", symbol="BTCUSDT", side="buy",
                algorithm="TWAP", duration_s=60, qty=Decimal("0.04"), client_order_id="lost-1"))
            # ... and a crash after the intent was journaled, before the create was sent:
            await backend.journal.intent("s1", "qe", "never-1", "BTC/USDT", request)
            row = await backend.journal.by_client_order_id("qe", "never-1")
            assert row is not None and row.state == SUBMITTING and row.algo_id is None
        assert creates[0] == 1

        async with lifetime(dialect, db) as (backend, _, _):
            found = await backend.place("s1", "qe", {**TWAP, "execution_duration_s": 60, "client_order_id": "lost-1"})
            assert found["algo_id"] == created.parent_id and creates[0] == 1  # found at QE, not created twice
            fresh = await backend.place("s1", "qe", {**TWAP, "execution_duration_s": 60, "client_order_id": "never-1"})
            assert creates[0] == 2 and fresh["client_order_id"] == "never-1"
            row = await backend.journal.by_client_order_id("qe", "never-1")
            assert row is not None and row.algo_id == fresh["algo_id"] and row.state != SUBMITTING


async def test_a_refused_create_is_journaled_as_failed_and_frees_its_client_order_id(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    async with QeDialect(dialect_settings()) as dialect, \
            lifetime(dialect, db, api_key_id="ak-unbound") as (backend, adapter, _):
        with pytest.raises(GatewayError) as refused:
            await backend.place("s1", "qe", {**TWAP, "execution_duration_s": 60, "client_order_id": "r-1"})
        assert refused.value.code is ErrorCode.VENUE_REJECTED
        row = await backend.journal.by_client_order_id("qe", "r-1")
        assert row is not None and row.state == "failed" and not row.is_open and row.algo_id is None
        assert not dialect.book.masters
        adapter._api_key_id = "ak-binance-1"  # the account is fixed: the same id may be placed again
        placed = await backend.place("s2", "qe", {**TWAP, "qty": "0.05", "execution_duration_s": 60,
                                                  "client_order_id": "r-1"})
        row = await backend.journal.by_client_order_id("qe", "r-1")
        assert row is not None and row.algo_id == placed["algo_id"] and row.is_open
        assert row.request["qty"] == "0.05" and row.strategy == "s2"  # the new request, not the failed one
