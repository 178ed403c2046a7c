"""The bracket store: one row per bracket (its record as JSON), and a small key/value table, in SQLite.

The bracket service is the single writer. It writes every bracket a batch of decisions changed in one
transaction (`write`), before it acknowledges, publishes or sends anything those decisions asked for.
The store uses its own connection to the gateway's database file (WAL: the order store's writes and
these never share a transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.persistence.db import SqliteStore, write_transaction

__all__ = ["BracketRow", "BracketStore"]

# bracket_id, account, strategy, symbol, state, is_open, version, created_ts, updated_ts, record (dict)
BracketRow = tuple[str, str, "str | None", str, str, bool, int, int, int, dict[str, Any]]

_COLUMNS = "bracket_id, account, strategy, symbol, state, is_open, version, created_ts, updated_ts, record"
_UPSERT = f"INSERT OR REPLACE INTO brackets ({_COLUMNS}) VALUES ({', '.join('?' * 10)})"
_SET_META = "INSERT OR REPLACE INTO bracket_meta (key, value) VALUES (?, ?)"


class BracketStore(SqliteStore):
    """Persistent brackets over one aiosqlite connection."""

    async def write(self, rows: Sequence[BracketRow], meta: dict[str, Any] | None = None) -> None:
        """Upsert `rows` (and `meta` keys) in one transaction.

        Raises:
            sqlite3.Error: the transaction failed and was rolled back.
        """
        if not rows and not meta:
            return
        await write_transaction(self._conn, (
            (_UPSERT, [(*r[:5], int(r[5]), *r[6:9], orjson.dumps(r[9]).decode()) for r in rows]),
            (_SET_META, [(k, orjson.dumps(v).decode()) for k, v in (meta or {}).items()]),
        ))
        self.writes += 1

    async def load(self, ended_since_ms: int) -> list[BracketRow]:
        """Return every open bracket and the ended ones updated at or after `ended_since_ms`."""
        return await self._select("WHERE is_open = 1 OR updated_ts >= ?", (ended_since_ms,))

    async def get(self, bracket_id: str) -> BracketRow | None:
        rows = await self._select("WHERE bracket_id = ?", (bracket_id,))
        return rows[0] if rows else None

    async def list(self, account: str, *, open_only: bool = False, state: str | None = None,
                   limit: int = 500) -> list[BracketRow]:
        """Return the account's brackets, newest first (open ones only, or of one state, if asked)."""
        where = "WHERE account = ?"
        params: list[Any] = [account]
        if open_only:
            where += " AND is_open = 1"
        if state is not None:
            where += " AND state = ?"
            params.append(state)
        return await self._select(where + " ORDER BY created_ts DESC, bracket_id DESC LIMIT ?", (*params, limit))

    async def get_meta(self, key: str) -> Any:
        rows = await self._conn.execute_fetchall("SELECT value FROM bracket_meta WHERE key = ?", (key,))
        return orjson.loads(rows[0][0]) if rows else None

    async def counts(self) -> dict[str, int]:
        rows = await self._conn.execute_fetchall("SELECT COUNT(*), COALESCE(SUM(is_open), 0) FROM brackets")
        return {"brackets": rows[0][0], "open": rows[0][1]}

    async def _select(self, tail: str, params: Sequence[Any]) -> list[BracketRow]:
        rows = await self._conn.execute_fetchall(f"SELECT {_COLUMNS} FROM brackets {tail}", params)
        return [(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], orjson.loads(r[9])) for r in rows]
