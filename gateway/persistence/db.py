"""Opening the SQLite database: aiosqlite (queries run on its own thread, never on the event loop), WAL.

Durability trade-off: `synchronous=NORMAL` in WAL mode fsyncs only at checkpoints, not at each commit.
A committed transaction survives a crash of the process (the OS holds the WAL pages), but the last
commits before a power loss or kernel crash may be lost; the database itself is never corrupted.
That keeps a journal write well under a millisecond. After such a loss the startup reconciliation
with the venues restores the truth. `synchronous=FULL` (settings: `orders.db_synchronous`) fsyncs the
WAL at every commit instead, costing one fsync per batch of decisions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import aiosqlite

from gateway.persistence.migrations import migrate

__all__ = ["open_database"]


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
