"""Opening the SQLite database: aiosqlite (queries run on its own thread, never on the event loop), WAL.

Durability trade-off: `synchronous=NORMAL` in WAL mode fsyncs only at checkpoints, not at each commit.
A committed transaction survives a crash of the process (the OS holds the WAL pages), but the last
commits before a power loss or kernel crash may be lost; the database itself is never corrupted.
That keeps a journal write well under a millisecond. After such a loss the startup reconciliation
with the venues restores the truth. `synchronous=FULL` (settings: `orders.db_synchronous`) fsyncs the
WAL at every commit instead, costing one fsync per batch of decisions.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import aiosqlite

from gateway.persistence.migrations import migrate

__all__ = ["SqliteStore", "Statement", "open_database", "write_transaction"]

Statement = tuple[str, Sequence[Sequence[Any]]]  # (sql, rows for executemany)


async def open_database(
    path: str | Path, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
) -> aiosqlite.Connection:
    """Open (creating if needed) and migrate the database at `path`. The caller closes it.

    Raises:
        ValueError: `synchronous` is neither NORMAL nor FULL.
        sqlite3.Error: the file cannot be opened or migrated.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path))
    try:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA synchronous={synchronous}")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA temp_store=MEMORY")
        await migrate(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


async def write_transaction(conn: aiosqlite.Connection, statements: Iterable[Statement]) -> None:
    """Run `statements` (each an executemany) and commit, as one job on the connection's thread.

    aiosqlite hands each call to its thread and back (one event-loop wake-up per `executemany` and per
    `commit`); a journal batch of three statements paid four such hops on the order path. Here the whole
    transaction is one hop. It uses `Connection._execute`, aiosqlite's own way of queueing a function on
    its thread (stable since 0.17; the pin in pyproject.toml bounds the version, and the store tests fail
    loudly if it changes).

    Raises:
        sqlite3.Error: a statement or the commit failed; the transaction was rolled back.
    """
    work = [(sql, rows) for sql, rows in statements if rows]
    if work:
        await conn._execute(_run_transaction, conn, work)


def _run_transaction(conn: aiosqlite.Connection, work: list[Statement]) -> None:
    # On aiosqlite's thread: the sqlite3 connection is only ever used from there.
    db: sqlite3.Connection = conn._conn
    try:
        for sql, rows in work:
            db.executemany(sql, rows)
        db.commit()
    except BaseException:
        db.rollback()
        raise


class SqliteStore:
    """Base of a store that owns one aiosqlite connection to the (migrated) gateway database."""

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn
        self.writes = 0  # transactions committed

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: str | Path, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> AsyncIterator[Self]:
        """Open the database at `path` (migrating it) for the duration of the context."""
        conn = await open_database(path, synchronous)
        try:
            yield cls(conn)
        finally:
            await conn.close()
