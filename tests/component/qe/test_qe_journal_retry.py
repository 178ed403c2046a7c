"""`RemoteJournal`'s flusher against a real store whose writes fail: a failed batch is kept (a newer push
of a parent wins), retried after a backoff, and `flush` returns only once the rows are really written."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from gateway.core.clock import TestClock
from gateway.orders.algo.remote_journal import RemoteJournal
from gateway.persistence.remote_algos import RemoteAlgoRow, RemoteAlgoStore


class _FlakyStore(RemoteAlgoStore):
    """Fails the first `fail` writes (as a locked database would), after letting the test queue more."""

    fail = 1
    attempts = 0
    entered: asyncio.Event
    release: asyncio.Event

    async def write(self, rows: Sequence[RemoteAlgoRow]) -> None:
        self.attempts += 1
        if self.attempts <= self.fail:
            self.entered.set()
            await self.release.wait()
            raise sqlite3.OperationalError("database is locked")
        await super().write(rows)


def _public(algo_id: str, state: str, filled: str) -> dict[str, object]:
    return {"algo_id": algo_id, "client_order_id": f"c-{algo_id}", "state": state, "symbol": "BTC/USDT",
            "filled_qty": filled, "created_ts": 1}


async def test_a_failed_batch_is_retried_and_flush_waits_until_it_is_written(tmp_path: Path) -> None:
    async with _FlakyStore.open(tmp_path / "journal.db") as store:
        store.entered, store.release = asyncio.Event(), asyncio.Event()
        journal = RemoteJournal(TestClock(1_700_000_000_000))
        journal.attach(store)
        journal.note("acct", _public("m1", "running", "0.1"))
        journal.note("acct", _public("m2", "running", "0.2"))
        await asyncio.wait_for(store.entered.wait(), 5.0)  # the first batch is being written ...
        journal.note("acct", _public("m1", "running", "0.3"))  # ... a newer push of m1 arrives meanwhile
        store.release.set()  # ... and the write fails
        await asyncio.wait_for(journal.flush(), 5.0)
        assert journal.failures == 1 and store.attempts == 2
        m1, m2 = await store.by_key("acct", "c-m1"), await store.by_key("acct", "c-m2")
        assert m1 is not None and m1.record is not None and m1.record["filled_qty"] == "0.3"  # the newer one won
        assert m2 is not None and m2.record is not None and m2.record["filled_qty"] == "0.2"  # not lost
        await journal.stop()


async def test_flush_does_not_return_while_the_store_keeps_failing(tmp_path: Path) -> None:
    async with _FlakyStore.open(tmp_path / "journal.db") as store:
        store.fail = 10**9
        store.entered, store.release = asyncio.Event(), asyncio.Event()
        store.release.set()
        journal = RemoteJournal(TestClock(1_700_000_000_000))
        journal.attach(store)
        journal.note("acct", _public("m1", "running", "0.1"))
        flushed = asyncio.create_task(journal.flush())
        await asyncio.wait_for(store.entered.wait(), 5.0)
        done, _ = await asyncio.wait({flushed}, timeout=0.2)  # bounded: it must still be waiting
        assert not done and journal.failures >= 1
        store.fail = 0  # the store recovers: the kept row is written and the flush returns
        await asyncio.wait_for(flushed, 5.0)
        row = await store.by_key("acct", "c-m1")
        assert row is not None and row.state == "running"
        await journal.stop()


async def test_stop_gives_up_after_its_timeout_when_the_store_stays_down(tmp_path: Path) -> None:
    async with _FlakyStore.open(tmp_path / "journal.db") as store:
        store.fail = 10**9
        store.entered, store.release = asyncio.Event(), asyncio.Event()
        store.release.set()
        journal = RemoteJournal(TestClock(1_700_000_000_000))
        journal.attach(store)
        journal.note("acct", _public("m1", "running", "0.1"))
        await asyncio.wait_for(journal.stop(timeout_s=0.2), 5.0)  # logged as unwritten, never a hang
        assert journal.failures >= 1
