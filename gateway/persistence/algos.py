"""The algo store: one row per parent order (its record as JSON, children included), in SQLite.

The local algo engine is the single writer. It writes every parent a batch of decisions changed in one
transaction (`write`) before it acknowledges, publishes or sends anything those decisions asked for
(a child is in the record, with its client order id, before it is placed). Its own connection to the
gateway's database file (WAL), like the bracket store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.persistence.db import SqliteStore, write_transaction

__all__ = ["AlgoRow", "AlgoStore"]

# algo_id, account, client_order_id, strategy, symbol, algorithm, state, is_open, version, created_ts,
# updated_ts, record (dict)
AlgoRow = tuple[str, str, "str | None", "str | None", str, str, str, bool, int, int, int, dict[str, Any]]

_COLUMNS = ("algo_id, account, client_order_id, strategy, symbol, algorithm, state, is_open, version, created_ts, "
            "updated_ts, record")
_UPSERT = f"INSERT OR REPLACE INTO algos ({_COLUMNS}) VALUES ({', '.join('?' * 12)})"


class AlgoStore(SqliteStore):
    """Persistent parent orders over one aiosqlite connection."""

    async def write(self, rows: Sequence[AlgoRow]) -> None:
        """Upsert `rows` in one transaction.

        Raises:
            sqlite3.Error: the transaction failed and was rolled back (e.g. a client_order_id taken).
        """
        if not rows:
            return
        await write_transaction(self._conn, (
            (_UPSERT, [(*r[:7], int(r[7]), *r[8:11], orjson.dumps(r[11]).decode()) for r in rows]),
        ))
        self.writes += 1

    async def load(self, ended_since_ms: int) -> list[AlgoRow]:
        """Return every open parent and the ended ones updated at or after `ended_since_ms`."""
        return await self._select("WHERE is_open = 1 OR updated_ts >= ?", (ended_since_ms,))

    async def get(self, algo_id: str) -> AlgoRow | None:
        rows = await self._select("WHERE algo_id = ?", (algo_id,))
        return rows[0] if rows else None

    async def by_client_order_id(self, account: str, client_order_id: str) -> AlgoRow | None:
        rows = await self._select("WHERE account = ? AND client_order_id = ?", (account, client_order_id))
        return rows[0] if rows else None

    async def list(self, account: str, *, open_only: bool = False, state: str | None = None,
                   limit: int = 500) -> list[AlgoRow]:
        """Return the account's parents, newest first (open ones only, or of one state, if asked)."""
        where = "WHERE account = ?"
        params: list[Any] = [account]
        if open_only:
            where += " AND is_open = 1"
        if state is not None:
            where += " AND state = ?"
            params.append(state)
        return await self._select(where + " ORDER BY created_ts DESC, algo_id DESC LIMIT ?", (*params, limit))

    async def _select(self, tail: str, params: Sequence[Any]) -> list[AlgoRow]:
        rows = await self._conn.execute_fetchall(f"SELECT {_COLUMNS} FROM algos {tail}", params)
        return [(*r[:7], bool(r[7]), r[8], r[9], r[10], orjson.loads(r[11])) for r in rows]  # type: ignore[misc]
