"""Write-behind: a batch is durable once it is in the append log; SQLite follows, in order, exactly once.

`append` encodes a batch of statements, writes it to the `AppendLog` on the caller's thread and returns:
the caller may act on it at once (the order service publishes and sends). A follower task applies what
was appended to SQLite, several batches per transaction, together with the sequence number of the last
one (`append_log_state`). At open, every record after that number is applied before anything reads, so a
batch that was logged but not applied when the process died is applied once, and none twice.

Readers call `caught_up` first: it waits until SQLite holds everything appended so far (read-your-writes).
A failed SQLite write stops the follower; `append` and `caught_up` then raise it (crash-only: the caller
stops; the log keeps the batches, and the next start applies them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiosqlite
import orjson
import structlog

from gateway.persistence.append_log import AppendLog
from gateway.persistence.db import Statement, write_transaction

__all__ = ["LogMismatch", "NamedRows", "WriteBehind"]

log = structlog.get_logger("gateway.persistence")

NamedRows = tuple[str, Sequence[Sequence[Any]]]  # (statement name, rows for its executemany)
_SET_APPLIED = "UPDATE append_log_state SET applied_seq = ? WHERE id = 1"
RESET_AT_BYTES = 16 << 20  # an append empties the log first when SQLite holds all of it and it is this big
REPLAY_CHUNK = 512  # records applied per transaction at start


class LogMismatch(RuntimeError):
    """The append log does not continue the database (a deleted or restored database beside an old log)."""


class WriteBehind:
    """The append log in front of one SQLite connection (see the module docstring).

    Build with `open`. A batch is a list of `(name, rows)` pairs: `name` is a key of `sql` (the log holds
    names, never SQL), `rows` are JSON-encodable parameter rows for an executemany of that statement.
    Batches applied together are merged per statement, in the order each name was first seen.

    Args:
        sql: the statements a batch may name.
        observe_write: called with the seconds each SQLite transaction took (metrics).
    """

    def __init__(self, conn: aiosqlite.Connection, append_log: AppendLog, sql: Mapping[str, str], seq: int,
                 observe_write: Callable[[float], None] | None = None):
        self._conn = conn
        self._log = append_log
        self._sql = sql
        self._appended = self._applied = seq
        self._pending: list[tuple[int, Sequence[NamedRows]]] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._observe_write = observe_write
        self.failed: BaseException | None = None
        self.transactions = 0
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._follow(), name="persistence.write_behind")
        self._task.add_done_callback(self._on_follower_done)

    @classmethod
    async def open(cls, conn: aiosqlite.Connection, path: Any, sql: Mapping[str, str],
                   observe_write: Callable[[float], None] | None = None) -> WriteBehind:
        """Apply what the log at `path` holds beyond SQLite's `applied_seq`, empty it, and start following.

        Raises:
            LogMismatch: the log's records do not follow on from the database's last applied one.
            sqlite3.Error, OSError: the replay could not be applied; nothing after the failure was.
        """
        append_log = AppendLog(path)
        try:
            seq = await replay(conn, append_log, sql)
            append_log.reset()
        except BaseException:
            append_log.close()
            raise
        return cls(conn, append_log, sql, seq, observe_write)

    @property
    def lag(self) -> int:
        """Records appended and not yet in SQLite."""
        return self._appended - self._applied

    def append(self, batch: Sequence[NamedRows]) -> None:
        """Make `batch` durable now (the log) and queue it for SQLite.

        Raises:
            OSError: the log write failed. Also the follower's failure, once it failed.
        """
        if self.failed is not None:
            raise self.failed
        if self._applied == self._appended and self._log.size >= RESET_AT_BYTES:
            self._log.reset()  # all of it is in SQLite
        seq = self._appended + 1
        self._log.append(seq, orjson.dumps(batch))
        self._appended = seq
        self._pending.append((seq, batch))
        if len(self._pending) == 1:
            # Woken through the ready queue: what the caller schedules next (a venue call) runs first.
            self._loop.call_soon(self._wake.set)

    async def caught_up(self) -> None:
        """Return once SQLite holds every record appended before this call.

        Raises:
            The follower's failure.
        """
        if self.failed is not None:
            raise self.failed
        if self._applied >= self._appended:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((self._appended, future))
        await future

    async def close(self) -> None:
        """Apply what is queued, empty the log, then stop (the caller bounds the wait). After a failure
        the log keeps what SQLite did not take, for the next start."""
        try:
            if self.failed is None:
                await self.caught_up()
                if self.failed is None and self._applied == self._appended:
                    self._log.reset()
        finally:
            self._closing = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._log.close()

    async def _follow(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    batch, self._pending = self._pending, []
                    await self._apply(batch)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.exception("write_behind.failed", pending=self.lag)
            self._fail(exc)

    def _on_follower_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() and not self._closing and self.failed is None:
            self._fail(RuntimeError("the journal's SQLite follower was cancelled"))  # nothing follows the log

    def _fail(self, exc: BaseException) -> None:
        self.failed = exc
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(exc)
        self._waiters.clear()

    async def _apply(self, batch: list[tuple[int, Sequence[NamedRows]]]) -> None:
        started = time.perf_counter()
        last = batch[-1][0]
        await write_transaction(self._conn, merge((b for _, b in batch), self._sql, last))
        self.transactions += 1
        if self._observe_write is not None:
            self._observe_write(time.perf_counter() - started)
        self._applied = last
        if self._waiters:
            still = []
            for target, future in self._waiters:
                if target <= last:
                    if not future.done():
                        future.set_result(None)
                else:
                    still.append((target, future))
            self._waiters = still


def merge(batches: Iterable[Sequence[NamedRows]], sql: Mapping[str, str], last_seq: int) -> list[Statement]:
    """One transaction's statements: each named statement's rows across `batches` (in the order each name
    was first seen), then the new `applied_seq`.

    Raises:
        KeyError: a batch names a statement that is not in `sql` (a log from another schema).
    """
    merged: dict[str, list[Any]] = {}
    for batch in batches:
        for name, rows in batch:
            if rows:
                merged.setdefault(sql[name], []).extend(rows)
    return [*merged.items(), (_SET_APPLIED, [(last_seq,)])]


async def replay(conn: aiosqlite.Connection, append_log: AppendLog, sql: Mapping[str, str]) -> int:
    """Apply the log's records after SQLite's `applied_seq`; return the last sequence number applied."""
    rows = await conn.execute_fetchall("SELECT applied_seq FROM append_log_state WHERE id = 1")
    applied = int(next(iter(rows))[0])
    chunk: list[Sequence[NamedRows]] = []
    last = applied
    replayed = 0
    for seq, payload in append_log.records():
        if seq <= applied:
            continue
        if seq != last + 1:
            raise LogMismatch(
                f"{append_log.path} holds record {seq} but the database applied {applied} (and the log "
                f"{last - applied} after it): the log does not belong to this database. Move the log aside "
                "to start without it (its batches are then lost), or restore the database it belongs to.")
        chunk.append(orjson.loads(payload))
        last = seq
        replayed += 1
        if len(chunk) >= REPLAY_CHUNK:
            await write_transaction(conn, merge(chunk, sql, last))
            chunk = []
    if chunk:
        await write_transaction(conn, merge(chunk, sql, last))
    if replayed:
        log.warning("append_log.replayed", records=replayed, last_seq=last, path=str(append_log.path))
    return last
