"""The SQLite order store: migrations, pragmas, batched writes and the queries the service uses."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.core.clock import SystemClock
from gateway.core.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, GatewayError
from gateway.orders.commands import JournalEntry
from gateway.orders.config import OrdersSettings
from gateway.orders.model import FillRecord, Order
from gateway.orders.records import (
    FILL_ROW_COLUMNS,
    ORDER_ROW_COLUMNS,
    fill_from_row,
    fill_to_row,
    order_from_row,
    order_to_row,
)
from gateway.orders.service import OrderService
from gateway.persistence.migrations import MIGRATIONS
from gateway.persistence.store import FILL_COLUMNS, ORDER_COLUMNS, OrderStore
from orders_fake_venue import FakeVenue


def order(coid: str, created: int, status: OrderStatus = OrderStatus.NEW, symbol: str = "BTC/USDT") -> Order:
    return Order(venue="fake", account="fake", symbol=symbol, client_order_id=coid, side=Side.BUY,
                 type=OrderType.LIMIT, tif=TimeInForce.GTC, qty=Decimal("1.5"), price=Decimal("100.01"),
                 trigger_price=None, reduce_only=False, status=status, created_ts=created, updated_ts=created,
                 order_id=f"V-{coid}", strategy="s1", sent_at=created)


def fill(trade_id: str, coid: str, ts: int) -> FillRecord:
    return FillRecord("fake", "fake", "BTC/USDT", f"V-{coid}", coid, trade_id, Side.BUY, Decimal("100"),
                      Decimal("0.5"), Decimal("0.01"), "USDT", Liquidity.TAKER, ts, ts, "s1")


async def test_migrations_run_once_and_pragmas_hold(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "o.db"
    for _ in range(2):
        async with OrderStore.open(db, synchronous="FULL") as store:
            conn = store._conn
            assert (await conn.execute_fetchall("PRAGMA journal_mode"))[0][0] == "wal"
            assert (await conn.execute_fetchall("PRAGMA synchronous"))[0][0] == 2  # FULL
            versions = await conn.execute_fetchall("SELECT version FROM schema_version")
            assert [v[0] for v in versions] == list(range(1, len(MIGRATIONS) + 1))
    async with OrderStore.open(db) as store:
        assert (await store._conn.execute_fetchall("PRAGMA synchronous"))[0][0] == 1  # NORMAL


async def test_positions_from_before_their_table_are_marked_to_be_summed(tmp_path: Path) -> None:
    with_fills, without = tmp_path / "fills.db", tmp_path / "empty.db"
    for db in (with_fills, without):
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, script in enumerate(MIGRATIONS[:6], start=1):  # a database from before the table
            conn.executescript(script)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        if db == with_fills:
            conn.execute(f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) VALUES ({', '.join('?' * 15)})",
                         fill_to_row(fill("T1", "a", 1)))
        conn.commit()
        conn.close()
    async with OrderStore.open(with_fills) as store:
        assert await store.risk_positions() is None  # to be summed from the fills, exactly, once
        await store.build_risk_positions([("s1", "fake", "BTC/USDT", "0.5"), (None, "fake", "ETH/USDT", "-2")])
    async with OrderStore.open(with_fills) as store:
        assert set(await store.risk_positions()) == {
            (None, "fake", "ETH/USDT", "-2"), ("s1", "fake", "BTC/USDT", "0.5")}
    async with OrderStore.open(without) as store:
        assert await store.risk_positions() == []  # nothing to sum: built


def test_row_layouts_agree() -> None:
    assert ORDER_COLUMNS == ORDER_ROW_COLUMNS and FILL_COLUMNS == FILL_ROW_COLUMNS


async def test_write_batches_and_queries(tmp_path: Path) -> None:
    async with OrderStore.open(tmp_path / "o.db") as store:
        a, b, c = order("a", 10), order("b", 20, OrderStatus.FILLED), order("c", 30, symbol="ETH/USDT")
        await store.write([order_to_row(o) for o in (a, b, c)], [fill_to_row(fill("T1", "b", 25))],
                          [JournalEntry(10, "intent.place", "fake", "a", {"qty": Decimal("1.5")})])
        b.reason = "done"
        await store.write([order_to_row(b)], [fill_to_row(fill("T1", "b", 25)), fill_to_row(fill("T2", "b", 26))], [])
        assert await store.counts() == {"orders": 3, "fills": 2, "journal": 1}
        assert store.writes == 2
        restored = order_from_row(await store.get_order("fake", "b"))
        assert restored.reason == "done" and restored.qty == Decimal("1.5") and restored.status is OrderStatus.FILLED
        assert order_from_row(await store.get_order("fake", order_id="V-a")).client_order_id == "a"
        assert [r[1] for r in await store.open_orders("fake")] == ["a", "c"]
        assert [r[1] for r in await store.history("fake", limit=2)] == ["b", "c"]
        assert [r[1] for r in await store.history("fake", since=15)] == ["b", "c"]
        assert [r[1] for r in await store.history("fake", symbol="ETH/USDT")] == ["c"]
        assert [fill_from_row(r).trade_id for r in await store.fills("fake", client_order_id="b", since=26)] == ["T2"]
        assert await store.last_event_ts("fake") == 30 and await store.last_event_ts("other") is None
        assert {r[0] for r in await store.load_orders(closed_since_ms=1_000)} == {"fake"}
        assert {r[1] for r in await store.load_orders(closed_since_ms=1_000)} == {"a", "c"}
        assert (await store.journal("fake", "a"))[0][4] == {"qty": "1.5"}


async def test_a_batch_that_fails_midway_is_rolled_back_whole(tmp_path: Path) -> None:
    # One transaction: the journal entry and the order snapshot written before the failing fill row go too.
    async with OrderStore.open(tmp_path / "o.db", append_log=False) as store:
        assert not store.appends_synchronously
        broken_fill = (*fill_to_row(fill("T9", "z", 5))[:-1], object())  # not a type SQLite can bind
        with pytest.raises(sqlite3.Error):
            await store.write([order_to_row(order("z", 5))], [broken_fill],
                              [JournalEntry(5, "intent.place", "fake", "z", {})])
        assert await store.counts() == {"orders": 0, "fills": 0, "journal": 0}
        assert store.writes == 0
        await store.write([order_to_row(order("y", 6))], [], [])  # the connection is still usable
        assert await store.counts() == {"orders": 1, "fills": 0, "journal": 0}


async def test_a_batch_the_log_cannot_encode_is_refused_whole(tmp_path: Path) -> None:
    async with OrderStore.open(tmp_path / "o.db") as store:
        assert store.appends_synchronously
        broken_fill = (*fill_to_row(fill("T9", "z", 5))[:-1], object())
        with pytest.raises(TypeError):
            store.append([order_to_row(order("z", 5))], [broken_fill], [JournalEntry(5, "intent.place", "fake", "z", {})])
        assert store.writes == 0 and await store.counts() == {"orders": 0, "fills": 0, "journal": 0}
        assert store.append([order_to_row(order("y", 6))], [], []) is None  # durable on return; usable
        assert await store.counts() == {"orders": 1, "fills": 0, "journal": 0}


class FailingJournal:
    def __init__(self, store: OrderStore):
        self._store = store
        self.fail = False

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._store, name)

    def append(self, *args: object) -> object:
        if self.fail:
            raise OSError("disk full")
        return self._store.append(*args)  # type: ignore[arg-type]


async def test_nothing_is_sent_or_published_that_was_not_journaled(tmp_path: Path) -> None:
    venue = FakeVenue("fake", SystemClock())
    published: list[object] = []
    async with OrderStore.open(tmp_path / "o.db") as store:
        journal = FailingJournal(store)
        service = OrderService({"fake": venue}, journal, lambda *e: published.append(e), SystemClock(),
                               OrdersSettings(stop_timeout_s=1))
        await service.start()
        journal.fail = True
        with pytest.raises(GatewayError) as info:
            await service.place("s1", "fake", {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "100"})
        assert info.value.code is ErrorCode.INTERNAL
        assert venue.calls == [] and published == []
        assert service.failed is not None and not service.is_ready
        await service.stop()
