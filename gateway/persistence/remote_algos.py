"""The journal of parents a remote venue executes (Quantum Execute), in SQLite: one row per parent.

Why a table of its own and not the local engine's ``algos``: the local engine reloads and resumes every
open row of ``algos`` at start; a QE parent is executed by QE, so the gateway must never slice it.

A row is written before the create is sent (state ``submitting``: the client order id is the key that
resolves an unknown outcome), then upserted with the venue's id and the parent's last public record as
answers and pushes arrive. Upserts keep the original strategy and request (unless the row had failed, or
was first written from a push that carried no request). Its own connection to the
gateway's database file (WAL), like the bracket and algo stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.persistence.db import SqliteStore, write_transaction

__all__ = ["SUBMITTING", "RemoteAlgoRow", "RemoteAlgoStore"]

SUBMITTING = "submitting"  # journaled, not yet answered by the venue

_COLUMNS = ("account, algo_key, client_order_id, algo_id, strategy, symbol, state, is_open, created_ts, updated_ts, "
            "request, record")
_UPSERT = (f"INSERT INTO remote_algos ({_COLUMNS}) VALUES ({', '.join('?' * 12)}) "
           "ON CONFLICT (account, algo_key) DO UPDATE SET "
           # a failed create frees its key: the next request under it starts the row afresh
           "request = CASE WHEN remote_algos.state = 'failed' OR remote_algos.request = '{}' "
           "THEN excluded.request ELSE remote_algos.request END, "
           "strategy = CASE WHEN remote_algos.state = 'failed' THEN excluded.strategy "
           "ELSE COALESCE(remote_algos.strategy, excluded.strategy) END, "
           "algo_id = COALESCE(excluded.algo_id, remote_algos.algo_id), state = excluded.state, "
           "is_open = excluded.is_open, updated_ts = excluded.updated_ts, "
           "record = COALESCE(excluded.record, remote_algos.record)")


def _json_default(value: Any) -> Any:
    return str(value)  # Decimal, enums: their text


@dataclass(frozen=True, slots=True)
class RemoteAlgoRow:
    """One journaled parent. `request` is the validated request; `record` the last public view (or None)."""

    account: str
    algo_key: str
    client_order_id: str | None
    algo_id: str | None
    strategy: str | None
    symbol: str
    state: str
    is_open: bool
    created_ts: int
    updated_ts: int
    request: dict[str, Any]
    record: dict[str, Any] | None

    def to_params(self) -> tuple[Any, ...]:
        return (self.account, self.algo_key, self.client_order_id, self.algo_id, self.strategy, self.symbol,
                self.state, int(self.is_open), self.created_ts, self.updated_ts,
                orjson.dumps(self.request, default=_json_default).decode(),
                None if self.record is None else orjson.dumps(self.record, default=_json_default).decode())


class RemoteAlgoStore(SqliteStore):
    """Persistent remote parents over one aiosqlite connection (one writer: `RemoteAlgoBackend`)."""

    async def write(self, rows: Sequence[RemoteAlgoRow]) -> None:
        """Upsert `rows` in one transaction (an existing row keeps its strategy, request and creation time; see
        the module docstring for the exceptions).

        Raises:
            sqlite3.Error: the transaction failed and was rolled back.
        """
        if rows:
            await write_transaction(self._conn, ((_UPSERT, [r.to_params() for r in rows]),))
            self.writes += 1

    async def by_key(self, account: str, algo_key: str) -> RemoteAlgoRow | None:
        rows = await self._select("WHERE account = ? AND algo_key = ?", (account, algo_key))
        return rows[0] if rows else None

    async def by_algo_id(self, account: str, algo_id: str) -> RemoteAlgoRow | None:
        rows = await self._select("WHERE account = ? AND algo_id = ?", (account, algo_id))
        return rows[0] if rows else None

    async def list(self, account: str, *, open_only: bool = False, limit: int = 500) -> list[RemoteAlgoRow]:
        """The account's parents, newest first (only the open ones, if asked)."""
        where = "WHERE account = ?" + (" AND is_open = 1" if open_only else "")
        return await self._select(where + " ORDER BY created_ts DESC, algo_key DESC LIMIT ?", (account, limit))

    async def _select(self, tail: str, params: Sequence[Any]) -> list[RemoteAlgoRow]:
        rows = await self._conn.execute_fetchall(f"SELECT {_COLUMNS} FROM remote_algos {tail}", params)
        return [RemoteAlgoRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], orjson.loads(r[10]),
                              None if r[11] is None else orjson.loads(r[11])) for r in rows]
