"""The order store: current order snapshots, fills, and the append-only journal, in SQLite.

Writes come in batches: everything the order service decided since its last write is one batch (journal
first, then snapshots and fills). With the append log (the default under `synchronous=NORMAL`), `append`
makes a batch durable with one file write on the caller's thread and SQLite follows behind
(`persistence.write_behind`), so no journal write waits for SQLite on the way to a venue. Without it,
each batch is one SQLite transaction. Reads serve restart, history and fill queries (after SQLite has
caught up with the log); open orders are served from memory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import orjson

from gateway.persistence.db import open_database, write_transaction
from gateway.persistence.write_behind import WriteBehind

__all__ = ["FILL_COLUMNS", "JOURNAL_STATEMENTS", "ORDER_COLUMNS", "JournalRow", "OrderStore"]

# Row layouts: `write` takes and the readers return plain tuples in exactly this column order (the
# order package converts them to and from its records, so this package imports nothing but core).
JournalRow = tuple[int, str, str, "str | None", dict[str, Any]]  # ts, kind, account, client_order_id, data

_ORDER_COLUMNS = (
    "account, order_key, client_order_id, venue, symbol, order_id, strategy, side, type, tif, price, "
    "trigger_price, qty, filled_qty, avg_price, notional, status, is_open, reduce_only, external, "
    "created_ts, updated_ts, sent_at, reason, venue_filled_qty, venue_avg_price"
)
_UPSERT_ORDER = f"INSERT OR REPLACE INTO orders ({_ORDER_COLUMNS}) VALUES ({', '.join('?' * 26)})"
_FILL_COLUMNS = (
    "venue, trade_id, account, symbol, order_id, client_order_id, strategy, side, price, qty, fee, "
    "fee_asset, liquidity, ts, recv_ts"
)
_INSERT_FILL = f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_INSERT_JOURNAL = "INSERT INTO journal (ts, kind, account, client_order_id, data) VALUES (?, ?, ?, ?, ?)"
_UPSERT_POSITION = "INSERT OR REPLACE INTO risk_positions (strategy, account, symbol, qty) VALUES (?, ?, ?, ?)"
_POSITIONS_BUILT = "UPDATE risk_positions_state SET built = 1 WHERE id = ?"
JOURNAL_STATEMENTS = {  # the log names these
    "journal": _INSERT_JOURNAL, "orders": _UPSERT_ORDER, "fills": _INSERT_FILL, "positions": _UPSERT_POSITION,
    "positions_built": _POSITIONS_BUILT,
}
ORDER_COLUMNS = tuple(c.strip() for c in _ORDER_COLUMNS.split(","))
FILL_COLUMNS = tuple(c.strip() for c in _FILL_COLUMNS.split(","))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


class OrderStore:
    """Persistent order state over one aiosqlite connection (one writer: the order service).

    Args:
        conn: the migrated database.
        behind: the append log in front of it (None: every batch is written to SQLite directly).
        observe_write: called with the seconds each SQLite transaction of batches took (metrics).
    """

    def __init__(self, conn: aiosqlite.Connection, observe_write: Callable[[float], None] | None = None,
                 behind: WriteBehind | None = None):
        self._conn = conn
        self._observe_write = observe_write
        self._behind = behind
        self.writes = 0  # batches written (appended to the log, or committed)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, path: str | Path, synchronous: Literal["NORMAL", "FULL"] = "NORMAL", *,
        observe_write: Callable[[float], None] | None = None, append_log: bool = True,
    ) -> AsyncIterator[OrderStore]:
        """Open the database at `path` (migrating it, applying what its append log holds) for the context.

        The append log (`<path>-orders.log`) is used for writes when `append_log` and `synchronous` is
        NORMAL; under FULL every batch is an fsynced SQLite transaction instead. A log left by an earlier
        run is applied either way.
        """
        conn = await open_database(path, synchronous)
        behind = None
        try:
            if str(path) != ":memory:":  # a database of this process only has no log to keep or replay
                behind = await WriteBehind.open(conn, f"{path}-orders.log", JOURNAL_STATEMENTS, observe_write)
            if behind is not None and not (append_log and synchronous == "NORMAL"):
                await behind.close()
                behind = None
            yield cls(conn, observe_write, behind)
        finally:
            try:
                if behind is not None:
                    await behind.close()
            finally:
                await conn.close()

    # --- writes ---------------------------------------------------------------------------------------

    @property
    def appends_synchronously(self) -> bool:
        """Whether `append` makes a batch durable before it returns (the append log is in use)."""
        return self._behind is not None

    def append(
        self,
        orders: Sequence[tuple[Any, ...]],
        fills: Sequence[tuple[Any, ...]],
        journal: Iterable[JournalRow],
        positions: Sequence[tuple[str | None, str, str, str]] = (),
    ) -> Awaitable[None] | None:
        """Make one batch durable: journal entries, order snapshots, fills, risk positions.

        With the append log, the batch is durable when this returns (None is returned). Without it, the
        returned awaitable writes it to SQLite.

        Order rows replace the stored snapshot with the same (account, order_key); fill rows whose
        (venue, trade_id) is already stored are ignored; position rows (strategy, account, symbol, qty)
        replace the stored net position of that key.

        Raises:
            OSError: the log write failed; also the failure of SQLite behind the log, once it failed.
            sqlite3.Error: (awaiting the result) the transaction failed and was rolled back.
        """
        journal_rows = [
            (ts, kind, account, client_order_id, orjson.dumps(data, default=_json_default).decode())
            for ts, kind, account, client_order_id, data in journal
        ]
        if not (journal_rows or orders or fills or positions):
            return None
        position_rows = [("" if strategy is None else strategy, *rest) for strategy, *rest in positions]
        return self._append((("journal", journal_rows), ("orders", orders), ("fills", fills),
                             ("positions", position_rows)))

    def _append(self, batch: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> Awaitable[None] | None:
        if self._behind is None:
            return self._transaction([(JOURNAL_STATEMENTS[name], rows) for name, rows in batch])
        self._behind.append(batch)
        self.writes += 1
        return None

    async def write(
        self,
        orders: Sequence[tuple[Any, ...]],
        fills: Sequence[tuple[Any, ...]],
        journal: Iterable[JournalRow],
    ) -> None:
        """`append` one batch and wait until it is durable (see `append`)."""
        pending = self.append(orders, fills, journal)
        if pending is not None:
            await pending

    async def _transaction(self, statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> None:
        started = time.perf_counter()
        await write_transaction(self._conn, statements)
        self.writes += 1
        if self._observe_write is not None:
            self._observe_write(time.perf_counter() - started)

    @property
    def failed(self) -> BaseException | None:
        """Why SQLite could not follow the append log (the store is unusable), or None."""
        return self._behind.failed if self._behind is not None else None

    @property
    def lag(self) -> int:
        """Batches appended to the log and not yet applied to SQLite."""
        return self._behind.lag if self._behind is not None else 0

    async def flushed(self) -> None:
        """Return once SQLite holds every batch appended so far."""
        if self._behind is not None:
            await self._behind.caught_up()

    # --- reads ----------------------------------------------------------------------------------------

    async def _rows(self, sql: str, params: Sequence[Any] = (), *, settled: bool = True) -> list[Any]:
        if settled and self._behind is not None and self._behind.lag:
            await self._behind.caught_up()  # read your writes
        return list(await self._conn.execute_fetchall(sql, params))

    async def load_orders(self, closed_since_ms: int) -> list[tuple[Any, ...]]:
        """Return every non-terminal order and the terminal ones updated at or after `closed_since_ms`."""
        return await self._rows(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE is_open = 1 OR updated_ts >= ?", (closed_since_ms,)
        )

    async def load_trade_ids(self, since_ms: int) -> list[tuple[str, str, str, str | None]]:
        """Return (venue, trade_id, account, client_order_id) of recent fills and of fills of open orders."""
        rows = await self._rows(
            "SELECT venue, trade_id, account, client_order_id FROM fills f WHERE f.recv_ts >= ? OR EXISTS ("
            "SELECT 1 FROM orders o WHERE o.is_open = 1 AND o.account = f.account "
            "AND o.client_order_id = f.client_order_id)",
            (since_ms,),
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    async def get_order(
        self, account: str, client_order_id: str | None = None, order_id: str | None = None
    ) -> tuple[Any, ...] | None:
        """Return the stored order with this client order id (else venue order id), or None.

        It does not wait for SQLite to catch up with the append log: the order service asks only for
        orders it no longer holds in memory, and it holds every order for at least a minute after its last
        change (`closed_order_retention_ms`), far longer than SQLite lags (a write waits at most the 5 s
        busy timeout before the follower fails and the order service stops). So a placement with a client order
        id waits for no SQLite write.
        """
        if client_order_id:
            rows = await self._rows(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account = ? AND client_order_id = ?",
                (account, client_order_id), settled=False,
            )
        elif order_id:
            rows = await self._rows(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account = ? AND order_id = ?", (account, order_id),
                settled=False,
            )
        else:
            return None
        return rows[0] if rows else None

    async def open_orders(self, account: str, symbol: str | None = None) -> list[tuple[Any, ...]]:
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE is_open = 1 AND account = ?"
        params: list[Any] = [account]
        if symbol is not None:
            sql += " AND symbol = ?"
            params.append(symbol)
        return await self._rows(sql + " ORDER BY created_ts", params)

    async def history(
        self, account: str, symbol: str | None = None, since: int | None = None, limit: int = 500
    ) -> list[tuple[Any, ...]]:
        """Return orders created at or after `since` (oldest first), else the latest `limit` (oldest first)."""
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account = ?"
        params: list[Any] = [account]
        if symbol is not None:
            sql += " AND symbol = ?"
            params.append(symbol)
        if since is not None:
            sql += " AND created_ts >= ? ORDER BY created_ts, order_key LIMIT ?"
            params += [since, limit]
            return await self._rows(sql, params)
        sql += " ORDER BY created_ts DESC, order_key DESC LIMIT ?"
        params.append(limit)
        return list(reversed(await self._rows(sql, params)))

    async def fills(
        self,
        account: str,
        symbol: str | None = None,
        order_id: str | None = None,
        client_order_id: str | None = None,
        since: int | None = None,
        limit: int = 500,
    ) -> list[tuple[Any, ...]]:
        """Return fills of `account`, filtered, oldest first (the latest `limit` when `since` is None)."""
        sql = f"SELECT {_FILL_COLUMNS} FROM fills WHERE account = ?"
        params: list[Any] = [account]
        for column, value in (("symbol", symbol), ("order_id", order_id), ("client_order_id", client_order_id)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if since is not None:
            sql += " AND ts >= ? ORDER BY ts, trade_id LIMIT ?"
            params += [since, limit]
            return await self._rows(sql, params)
        sql += " ORDER BY ts DESC, trade_id DESC LIMIT ?"
        params.append(limit)
        return list(reversed(await self._rows(sql, params)))

    async def risk_positions(self) -> list[tuple[str | None, str, str, str]] | None:
        """Return the stored net positions (strategy, account, symbol, qty), or None if they were never
        built (a database with fills from before the table: `build_risk_positions` once)."""
        built = await self._rows("SELECT built FROM risk_positions_state WHERE id = 1")
        if not built[0][0]:
            return None
        rows = await self._rows("SELECT strategy, account, symbol, qty FROM risk_positions")
        return [(strategy or None, account, symbol, qty) for strategy, account, symbol, qty in rows]

    async def filled_positions(self) -> list[tuple[str | None, str, str, str, str]]:
        """Return (strategy, account, symbol, side, qty) of every fill of the gateway's own orders.

        What `build_risk_positions` sums (as Decimal, by the caller: SQLite would sum the TEXT quantities as
        floats). External orders' fills are not the strategies'.
        """
        rows = await self._rows(
            "SELECT f.strategy, f.account, f.symbol, f.side, f.qty FROM fills f JOIN orders o "
            "ON o.account = f.account AND o.client_order_id = f.client_order_id WHERE o.external = 0")
        return [tuple(r) for r in rows]  # type: ignore[misc]

    async def build_risk_positions(self, positions: Sequence[tuple[str | None, str, str, str]]) -> None:
        """Store `positions` (summed from `filled_positions`) and mark the table built, in one batch."""
        rows = [("" if strategy is None else strategy, *rest) for strategy, *rest in positions]
        pending = self._append((("positions", rows), ("positions_built", [(1,)])))
        if pending is not None:
            await pending
        await self.flushed()

    async def last_event_ts(self, venue: str) -> int | None:
        """Return the time of the latest order change or fill recorded for `venue`, or None."""
        rows = await self._rows(
            "SELECT MAX(t) FROM (SELECT MAX(updated_ts) AS t FROM orders WHERE venue = ? "
            "UNION ALL SELECT MAX(ts) FROM fills WHERE venue = ?)",
            (venue, venue),
        )
        return rows[0][0] if rows and rows[0][0] is not None else None

    async def journal(self, account: str | None = None, client_order_id: str | None = None) -> list[JournalRow]:
        """Return journal entries (oldest first), optionally of one account / order."""
        sql = "SELECT ts, kind, account, client_order_id, data FROM journal WHERE 1 = 1"
        params: list[Any] = []
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        if client_order_id is not None:
            sql += " AND client_order_id = ?"
            params.append(client_order_id)
        rows = await self._rows(sql + " ORDER BY seq", params)
        return [(r[0], r[1], r[2], r[3], orjson.loads(r[4])) for r in rows]

    async def counts(self) -> dict[str, int]:
        """Return the row count of each table (ops and tests)."""
        out = {}
        for table in ("orders", "fills", "journal"):
            rows = await self._rows(f"SELECT COUNT(*) FROM {table}")
            out[table] = rows[0][0]
        return out
