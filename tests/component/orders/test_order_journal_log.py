"""The order journal's append log: a batch is durable once appended; SQLite follows, in order, exactly once.

The framing (torn and corrupt tails), the replay at open (including after a real kill -9 of a process
that appended and never let SQLite follow), read-your-writes, and a failure of SQLite behind the log.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from orders_fake_venue import FakeVenue

from gateway.core.clock import SystemClock
from gateway.core.errors import GatewayError
from gateway.orders.commands import JournalEntry
from gateway.orders.config import OrdersSettings
from gateway.orders.records import fill_to_row, order_to_row
from gateway.orders.service import OrderService
from gateway.persistence import write_behind
from gateway.persistence.append_log import AppendLog
from gateway.persistence.db import open_database
from gateway.persistence.store import JOURNAL_STATEMENTS, OrderStore
from gateway.persistence.write_behind import LogMismatch, WriteBehind
from tests.component.orders.test_order_store import fill, order

ROOT = Path(__file__).resolve().parents[3]


def batch(n: int) -> tuple[list, list, list]:
    o = order(f"c{n}", n)
    return [order_to_row(o)], [], [JournalEntry(n, "intent.place", "fake", f"c{n}", {"qty": Decimal("1.5")})]


# --- the file -----------------------------------------------------------------------------------------


def test_records_come_back_in_order_and_a_reset_empties_the_file(tmp_path: Path) -> None:
    log = AppendLog(tmp_path / "x.log")
    for seq in range(1, 4):
        log.append(seq, f"payload {seq}".encode())
    assert list(log.records()) == [(1, b"payload 1"), (2, b"payload 2"), (3, b"payload 3")]
    log.reset()
    log.append(4, b"after")
    assert list(log.records()) == [(4, b"after")] and log.size == (tmp_path / "x.log").stat().st_size
    log.close()
    with pytest.raises(OSError):
        log.append(5, b"closed")


@pytest.mark.parametrize("damage", ["torn_header", "torn_payload", "flipped_byte"])
def test_reading_stops_at_a_torn_or_corrupt_record(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "x.log"
    log = AppendLog(path)
    log.append(1, b"first")
    log.append(2, b"second record")
    log.close()
    data = bytearray(path.read_bytes())
    if damage == "torn_header":
        data += b"\x05\x00\x00"
    elif damage == "torn_payload":
        data = data[:-3]
    else:
        data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    expected = [(1, b"first"), (2, b"second record")] if damage == "torn_header" else [(1, b"first")]
    assert list(AppendLog(path).records()) == expected


# --- the replay ---------------------------------------------------------------------------------------


async def _append_without_following(path: Path, batches: list[tuple[list, list, list]]) -> None:
    """What a crash leaves: batches in the log that SQLite never saw."""
    conn = await open_database(path)
    behind = await WriteBehind.open(conn, f"{path}-orders.log", JOURNAL_STATEMENTS)
    behind._closing = True  # the follower is stopped as at a close, so appends still go to the log
    behind._task.cancel()
    await asyncio.gather(behind._task, return_exceptions=True)
    store = OrderStore(conn, behind=behind)
    for orders, fills, journal in batches:
        assert store.append(orders, fills, journal) is None
    behind._log.close()
    await conn.close()


async def test_batches_logged_but_not_applied_are_applied_once_at_open(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    await _append_without_following(db, [batch(n) for n in range(1, 6)])
    for _ in range(2):  # a second open applies nothing again
        async with OrderStore.open(db) as store:
            assert await store.counts() == {"orders": 5, "fills": 0, "journal": 5}
            assert (await store.journal("fake", "c3"))[0][4] == {"qty": "1.5"}
    assert (tmp_path / "o.db-orders.log").stat().st_size == 0
    async with OrderStore.open(db) as store:  # numbering goes on after the replayed records
        store.append(*batch(6))
        await store.flushed()
        assert await store.counts() == {"orders": 6, "fills": 0, "journal": 6}
        assert (await store._conn.execute_fetchall("SELECT applied_seq FROM append_log_state"))[0][0] == 6


async def test_a_clean_close_empties_the_log(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    async with OrderStore.open(db) as store:
        store.append(*batch(1))
        assert (tmp_path / "o.db-orders.log").stat().st_size > 0
    assert (tmp_path / "o.db-orders.log").stat().st_size == 0


async def test_a_log_that_does_not_continue_the_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    async with OrderStore.open(db) as store:
        store.append(*batch(1))
    await _append_without_following(db, [batch(2), batch(3)])  # records 2 and 3, after the database's 1
    for suffix in ("", "-wal", "-shm"):  # the database is lost; its log is not
        (tmp_path / f"o.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(LogMismatch, match="does not belong to this database"):
        async with OrderStore.open(db):
            pass


async def test_a_second_process_cannot_open_a_log_in_use(tmp_path: Path) -> None:
    async with OrderStore.open(tmp_path / "o.db"):
        with pytest.raises(BlockingIOError, match="in use by another process"):
            async with OrderStore.open(tmp_path / "o.db"):
                pass


async def test_appends_after_a_torn_tail_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    await _append_without_following(db, [batch(1), batch(2)])
    log_path = tmp_path / "o.db-orders.log"
    log_path.write_bytes(log_path.read_bytes()[:-5])  # record 2 torn by a power loss
    async with OrderStore.open(db) as store:
        assert await store.counts() == {"orders": 1, "fills": 0, "journal": 1}
        store.append(*batch(3))
    await _append_without_following(db, [batch(4)])
    async with OrderStore.open(db) as store:
        assert {r[1] for r in await store.history("fake")} == {"c1", "c3", "c4"}


async def test_a_follower_stopped_from_outside_fails_the_store(tmp_path: Path) -> None:
    async with OrderStore.open(tmp_path / "o.db") as store:
        store._behind._task.cancel()
        await asyncio.gather(store._behind._task, return_exceptions=True)
        assert store.failed is not None
        with pytest.raises(RuntimeError, match="cancelled"):
            store.append(*batch(1))


async def test_a_log_left_behind_is_applied_even_when_the_log_is_off(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    await _append_without_following(db, [batch(1), batch(2)])
    async with OrderStore.open(db, synchronous="FULL") as store:
        assert not store.appends_synchronously
        assert await store.counts() == {"orders": 2, "fills": 0, "journal": 2}


async def test_a_kill_9_after_appending_loses_no_batch_and_applies_none_twice(tmp_path: Path) -> None:
    # A real process appends 200 batches without ever yielding to its event loop (SQLite never follows),
    # then kills itself with SIGKILL.
    db = tmp_path / "o.db"
    child = textwrap.dedent(f"""
        import asyncio, os, signal, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(Path(__file__).parent)!r}]
        from gateway.persistence.store import OrderStore
        from tests.component.orders.test_order_journal_log import batch

        async def main():
            async with OrderStore.open({str(db)!r}) as store:
                for n in range(1, 201):
                    store.append(*batch(n))
                print("appended", store._behind.lag, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", child, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert out.decode().split() == ["appended", "200"]  # none of them had reached SQLite
    async with OrderStore.open(db) as store:
        assert await store.counts() == {"orders": 200, "fills": 0, "journal": 200}
        assert [r[1] for r in await store.history("fake", limit=3)] == ["c198", "c199", "c200"]


# --- while running ------------------------------------------------------------------------------------


async def test_reads_see_every_batch_appended_before_them(tmp_path: Path) -> None:
    async with OrderStore.open(tmp_path / "o.db") as store:
        for n in range(1, 51):
            store.append(*batch(n))
        store.append([], [fill_to_row(fill("T1", "c7", 7))], [])
        assert store._behind.lag == 51  # nothing yielded yet: SQLite has not followed
        assert len(await store.history("fake", limit=100)) == 50
        assert [r[1] for r in await store.fills("fake")] == ["T1"]
        assert store.append([], [], []) is None and store._behind.lag == 0  # an empty batch writes nothing


async def test_sqlite_failing_behind_the_log_stops_the_order_service(tmp_path: Path, monkeypatch) -> None:
    venue = FakeVenue("fake", SystemClock())
    async with OrderStore.open(tmp_path / "o.db") as store:
        service = OrderService({"fake": venue}, store, lambda *e: None, SystemClock(),
                               OrdersSettings(stop_timeout_s=1))
        await service.start()

        fail = asyncio.Event()

        async def broken(*args: object) -> None:
            await fail.wait()
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(write_behind, "write_transaction", broken)  # the follower's next transaction fails
        placed = await service.place("s1", "fake", {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "100"})
        assert placed["status"] == "new"  # durable in the log: acknowledged
        fail.set()
        with pytest.raises(sqlite3.OperationalError):
            await store.flushed()
        assert store.failed is not None and service.failed is not None and not service.is_ready
        sent = len(venue.calls)
        with pytest.raises(GatewayError):
            await service.place("s1", "fake", {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "101"})
        assert len(venue.calls) == sent  # nothing more is sent
        await service.stop()
    monkeypatch.undo()
    async with OrderStore.open(tmp_path / "o.db") as store:  # the log kept what SQLite did not take
        (row,) = await store.history("fake")
        assert row[2] == placed["client_order_id"] and row[16] == "new"
        assert "intent.place" in [e[1] for e in await store.journal("fake", placed["client_order_id"])]


async def test_a_caller_waiting_for_its_venue_answer_hears_of_a_journal_failure_at_once(tmp_path: Path) -> None:
    venue = FakeVenue("fake", SystemClock())
    called, answer = asyncio.Event(), asyncio.Event()
    place = venue.place_order

    async def slow_place(request):  # type: ignore[no-untyped-def]
        called.set()
        await answer.wait()
        return await place(request)

    venue.place_order = slow_place  # type: ignore[method-assign]
    async with OrderStore.open(tmp_path / "o.db") as store:
        service = OrderService({"fake": venue}, store, lambda *e: None, SystemClock(),
                               OrdersSettings(stop_timeout_s=1, request_timeout_s=30))
        await service.start()
        placing = asyncio.create_task(
            service.place("s1", "fake", {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "100"}))
        await asyncio.wait_for(called.wait(), 5)  # the intent is journaled; the venue call waits

        def disk_full(*args: object) -> None:
            raise OSError("disk full")

        store.append = disk_full  # type: ignore[method-assign]  # the answer's batch cannot be journaled
        answer.set()
        with pytest.raises(GatewayError) as info:
            await asyncio.wait_for(placing, 5)  # not the 90 s of the caller's own guard
        assert info.value.code.value == "INTERNAL" and service.failed is not None
        await service.stop()


async def test_an_append_empties_a_big_log_that_sqlite_holds_whole(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(write_behind, "RESET_AT_BYTES", 1)
    async with OrderStore.open(tmp_path / "o.db") as store:
        store.append(*batch(1))
        store.append(*batch(2))  # SQLite does not hold record 1 yet: nothing is emptied
        assert [seq for seq, _ in store._behind._log.records()] == [1, 2]
        await store.flushed()
        store.append(*batch(3))
        assert [seq for seq, _ in store._behind._log.records()] == [3]
        assert await store.counts() == {"orders": 3, "fills": 0, "journal": 3}
