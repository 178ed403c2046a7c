"""The sim exchange's own durable store: its customers' accounts, orders, fills and its id counters.

A real exchange keeps its state across a restart of its customers; so does the sim, in its own SQLite
file (`SimSettings.state_path`), separate from the gateway's database. House (synthetic market) orders
are never stored.

Durability: WAL mode with ``synchronous=NORMAL``. A committed transaction survives a crash of the
process, ``kill -9`` included (the OS holds the WAL pages), but the last commits before a power loss or
an OS crash may be lost; the file itself is never corrupted. The adapter commits a request's changes
before it answers, and the market loop's changes before it pushes them.

Writes: `SimStore.submit` encodes the engine's changes at once (they hold live engine objects), queues
them and returns a future. One writer task takes everything queued, merges it (last state of each row
wins) and commits it in one transaction; then, in submission order, it runs each batch's `after`
callback (the adapter's pushes) and resolves its future. Concurrent calls so share one commit, and
nothing is pushed before it is durable. All I/O runs on aiosqlite's thread, never on the event loop.

Schema (version 1; JSON values keep Decimals as strings):

    orders(order_no INTEGER PK, account, data JSON)             every order the engine still knows
    fills(account, trade_no, liquidity, data JSON; PK all three) in trade order, maker side first
    balances(account, asset, free, locked; PK account, asset)
    positions(account, symbol, data JSON; PK account, symbol)    incl. leverage and margin type set
    meta(key PK, value JSON)                                     "counters": ids, book seqs, last prices
    schema_version(version)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
import structlog

from gateway.core.enums import Liquidity, MarginType, OrderStatus, OrderType, Side, TimeInForce
from gateway.venues.sim.accounts import AssetBalance, PerpPosition
from gateway.venues.sim.records import FillEvent, SimOrder
from gateway.venues.sim.snapshot import AccountState, EngineCounters, EngineState, PositionState, StateChanges

__all__ = ["SCHEMA_VERSION", "SimStore", "StoreFailed"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_no  INTEGER PRIMARY KEY,   -- the engine's order id (a decimal counter)
    account   TEXT    NOT NULL,
    data      TEXT    NOT NULL       -- the engine's `SimOrder`, as JSON
);
CREATE TABLE IF NOT EXISTS fills (
    account   TEXT    NOT NULL,
    trade_no  INTEGER NOT NULL,      -- the engine's trade id (a decimal counter)
    liquidity TEXT    NOT NULL,      -- maker | taker: a self-trade gives an account both sides
    data      TEXT    NOT NULL,      -- `FillEvent`, as JSON
    PRIMARY KEY (account, trade_no, liquidity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balances (
    account   TEXT    NOT NULL,
    asset     TEXT    NOT NULL,
    free      TEXT    NOT NULL,
    locked    TEXT    NOT NULL,
    PRIMARY KEY (account, asset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    account   TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    data      TEXT    NOT NULL,      -- position, leverage and margin type (null: never set), as JSON
    PRIMARY KEY (account, symbol)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key       TEXT    PRIMARY KEY,
    value     TEXT    NOT NULL
) WITHOUT ROWID;
"""
_TABLES = ("orders", "fills", "balances", "positions", "meta")
_UPSERT_ORDER = "INSERT OR REPLACE INTO orders (order_no, account, data) VALUES (?, ?, ?)"
_INSERT_FILL = "INSERT OR IGNORE INTO fills (account, trade_no, liquidity, data) VALUES (?, ?, ?, ?)"
_UPSERT_BALANCE = "INSERT OR REPLACE INTO balances (account, asset, free, locked) VALUES (?, ?, ?, ?)"
_UPSERT_POSITION = "INSERT OR REPLACE INTO positions (account, symbol, data) VALUES (?, ?, ?)"
_UPSERT_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
_DELETE_ORDER = "DELETE FROM orders WHERE order_no = ?"
_TRIM_FILLS = "DELETE FROM fills WHERE account = ? AND (trade_no, liquidity) < (?, ?)"

log = structlog.get_logger("gateway.venues.sim.store")


class StoreFailed(Exception):
    """A write to the sim's store failed; the store takes no more writes (the file is left as it was)."""


# --- encoding ---------------------------------------------------------------------------------------


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _json(value: object) -> str:
    return orjson.dumps(value, default=_default).decode()


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


_ORDER_FIELDS = (
    "order_id", "account", "symbol", "side", "type", "tif", "qty", "price", "trigger_price", "reduce_only",
    "client_order_id", "created_ts", "updated_ts", "status", "filled_qty", "cost", "triggered", "resting",
    "seq", "reason", "locked", "lock_asset", "lock_price", "lock_rate",
)


def _order_row(order: SimOrder) -> tuple[int, str, str]:
    return int(order.order_id), order.account, _json({f: getattr(order, f) for f in _ORDER_FIELDS})


def _order_of(data: dict[str, Any]) -> SimOrder:
    return SimOrder(
        order_id=data["order_id"], account=data["account"], symbol=data["symbol"], side=Side(data["side"]),
        type=OrderType(data["type"]), tif=TimeInForce(data["tif"]), qty=Decimal(data["qty"]),
        price=_dec(data["price"]), trigger_price=_dec(data["trigger_price"]), reduce_only=data["reduce_only"],
        client_order_id=data["client_order_id"], created_ts=data["created_ts"], updated_ts=data["updated_ts"],
        status=OrderStatus(data["status"]), filled_qty=Decimal(data["filled_qty"]), cost=Decimal(data["cost"]),
        triggered=data["triggered"], resting=data["resting"], seq=data["seq"], reason=data["reason"],
        locked=Decimal(data["locked"]), lock_asset=data["lock_asset"], lock_price=_dec(data["lock_price"]),
        lock_rate=Decimal(data["lock_rate"]),
    )


_FILL_FIELDS = (
    "account", "symbol", "order_id", "client_order_id", "trade_id", "side", "price", "qty", "fee", "fee_asset",
    "liquidity", "realized_pnl", "ts",
)


def _fill_row(fill: FillEvent) -> tuple[str, int, str, str]:
    return fill.account, int(fill.trade_id), str(fill.liquidity), _json({f: getattr(fill, f) for f in _FILL_FIELDS})


def _fill_of(data: dict[str, Any]) -> FillEvent:
    return FillEvent(
        account=data["account"], symbol=data["symbol"], order_id=data["order_id"],
        client_order_id=data["client_order_id"], trade_id=data["trade_id"], side=Side(data["side"]),
        price=Decimal(data["price"]), qty=Decimal(data["qty"]), fee=Decimal(data["fee"]),
        fee_asset=data["fee_asset"], liquidity=Liquidity(data["liquidity"]),
        realized_pnl=Decimal(data["realized_pnl"]), ts=data["ts"],
    )


def _position_row(account: str, symbol: str, saved: PositionState) -> tuple[str, str, str]:
    pos = saved.position
    return account, symbol, _json({
        "qty": pos.qty, "entry_price": pos.entry_price, "mark_price": pos.mark_price, "margin": pos.margin,
        "realized_pnl": pos.realized_pnl, "funding": pos.funding, "leverage": saved.leverage,
        "margin_type": saved.margin_type,
    })


def _position_of(symbol: str, data: dict[str, Any]) -> PositionState:
    position = PerpPosition(
        symbol=symbol, qty=Decimal(data["qty"]), entry_price=Decimal(data["entry_price"]),
        mark_price=Decimal(data["mark_price"]), margin=Decimal(data["margin"]),
        realized_pnl=Decimal(data["realized_pnl"]), funding=Decimal(data["funding"]),
    )
    margin_type = data["margin_type"]
    return PositionState(position, data["leverage"], None if margin_type is None else MarginType(margin_type))


def _counters_value(counters: EngineCounters) -> str:
    return _json({
        "next_order": counters.next_order, "next_trade": counters.next_trade, "token": counters.token,
        "book_seqs": counters.book_seqs, "last_prices": counters.last_prices, "mark_prices": counters.mark_prices,
    })


def _counters_of(data: dict[str, Any]) -> EngineCounters:
    return EngineCounters(
        next_order=data["next_order"], next_trade=data["next_trade"], token=data["token"],
        book_seqs=dict(data["book_seqs"]), last_prices={s: Decimal(p) for s, p in data["last_prices"].items()},
        mark_prices={s: Decimal(p) for s, p in data["mark_prices"].items()},
    )


@dataclass(slots=True)
class _Rows:
    """Encoded rows to write; merging keeps the last state of each row (`wipe`: clear the tables first)."""

    wipe: bool = False
    orders: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    forgotten: dict[int, None] = field(default_factory=dict)
    fills: list[tuple[str, int, str, str]] = field(default_factory=list)
    fills_kept: dict[str, tuple[int, str]] = field(default_factory=dict)
    balances: dict[tuple[str, str], tuple[str, str, str, str]] = field(default_factory=dict)
    positions: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    def merge(self, later: _Rows) -> None:
        if later.wipe:
            self.wipe = True
            for rows in (self.orders, self.forgotten, self.fills_kept, self.balances, self.positions, self.meta):
                rows.clear()
            self.fills.clear()
        self.orders.update(later.orders)
        for order_no in later.forgotten:
            self.orders.pop(order_no, None)
            self.forgotten[order_no] = None
        self.fills += later.fills
        self.fills_kept.update(later.fills_kept)
        self.balances.update(later.balances)
        self.positions.update(later.positions)
        self.meta.update(later.meta)


def _changes_rows(changes: StateChanges) -> _Rows:
    return _Rows(
        orders={row[0]: row for row in map(_order_row, changes.orders)},
        forgotten=dict.fromkeys(int(i) for i in changes.forgotten),
        fills=[_fill_row(f) for f in changes.fills],
        fills_kept={a: (int(f.trade_id), str(f.liquidity)) for a, f in changes.fills_kept.items()},
        balances={k: (k[0], k[1], str(b.free), str(b.locked)) for k, b in changes.balances.items()},
        positions={k: _position_row(k[0], k[1], p) for k, p in changes.positions.items()},
        meta={"counters": _counters_value(changes.counters)},
    )


def _state_rows(state: EngineState) -> _Rows:
    rows = _Rows(wipe=True, meta={"counters": _counters_value(state.counters)})
    for account in state.accounts:
        name = account.name
        rows.orders.update((row[0], row) for row in map(_order_row, account.orders))
        rows.fills += [_fill_row(f) for f in account.fills]
        rows.balances.update(((name, a), (name, a, str(b.free), str(b.locked))) for a, b in account.balances.items())
        rows.positions.update(((name, s), _position_row(name, s, p)) for s, p in account.positions.items())
    return rows


# --- the store --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Write:
    rows: _Rows
    after: Callable[[], None] | None
    done: asyncio.Future[None]


class SimStore:
    """The sim exchange's state in one SQLite file, written by one writer task. Open with `open`."""

    def __init__(self, conn: aiosqlite.Connection, path: str):
        self.path = path
        self._conn = conn
        self._queue: list[_Write] = []
        self._wakeup = asyncio.Event()
        self._failed: BaseException | None = None
        self._task = asyncio.create_task(self._write_loop(), name=f"sim-store:{path}")

    @classmethod
    async def open(cls, path: str | Path) -> SimStore:
        """Open (creating if needed) the store at `path` and start its writer. The caller closes it.

        Raises:
            RuntimeError: the file was written by a newer schema.
            sqlite3.Error: the file cannot be opened.
        """
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path))
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")  # survives a process kill, not a power loss
            await conn.executescript(_SCHEMA)
            async with conn.execute("SELECT MAX(version) FROM schema_version") as cursor:
                row = await cursor.fetchone()
            version = row[0] if row else None
            if version is None:
                await conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version > SCHEMA_VERSION:
                raise RuntimeError(f"sim store {path} has schema {version}, newer than {SCHEMA_VERSION}")
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        return cls(conn, str(path))

    async def load(self) -> EngineState | None:
        """Return the saved state, or None if nothing was saved yet (a new or wiped store)."""
        conn = self._conn
        rows = await conn.execute_fetchall("SELECT value FROM meta WHERE key = 'counters'")
        if not rows:
            return None
        counters = _counters_of(orjson.loads(rows[0][0]))
        accounts: dict[str, AccountState] = {}

        def account(name: str) -> AccountState:
            found = accounts.get(name)
            if found is None:
                found = accounts[name] = AccountState(name)
            return found

        for name, asset, free, locked in await conn.execute_fetchall(
            "SELECT account, asset, free, locked FROM balances ORDER BY account, asset"
        ):
            account(name).balances[asset] = AssetBalance(Decimal(free), Decimal(locked))
        for name, symbol, data in await conn.execute_fetchall(
            "SELECT account, symbol, data FROM positions ORDER BY account, symbol"
        ):
            account(name).positions[symbol] = _position_of(symbol, orjson.loads(data))
        for name, data in await conn.execute_fetchall("SELECT account, data FROM orders ORDER BY order_no"):
            account(name).orders.append(_order_of(orjson.loads(data)))
        for name, data in await conn.execute_fetchall(
            "SELECT account, data FROM fills ORDER BY account, trade_no, liquidity"
        ):
            account(name).fills.append(_fill_of(orjson.loads(data)))
        return EngineState(counters, list(accounts.values()))

    def submit(self, changes: StateChanges, after: Callable[[], None] | None = None) -> asyncio.Future[None]:
        """Queue `changes` (encoded now) for the next commit; return a future resolved once durable.

        `after` runs right after the commit, before the future resolves, in submission order.
        The future fails with `StoreFailed` if the commit does (then `after` does not run).
        """
        return self._enqueue(_changes_rows(changes), after)

    async def replace(self, state: EngineState, after: Callable[[], None] | None = None) -> None:
        """Replace everything stored with `state`, in one transaction after the writes queued before.

        `after` runs right after the commit, as with `submit`.

        Raises:
            StoreFailed: the write failed.
        """
        await self._enqueue(_state_rows(state), after)

    async def close(self) -> None:
        """Commit what is queued (and wait for a write in progress), stop the writer and close the file."""
        try:
            if self._failed is None:
                with contextlib.suppress(StoreFailed):
                    await self._enqueue(_Rows(), None)
        finally:
            self._task.cancel()
            await asyncio.wait({self._task})
            await self._conn.close()

    # --- internals ----------------------------------------------------------------------------------

    def _enqueue(self, rows: _Rows, after: Callable[[], None] | None) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._failed is not None:
            done.set_exception(StoreFailed(f"the sim store {self.path} failed: {self._failed!r}"))
        else:
            self._queue.append(_Write(rows, after, done))
            self._wakeup.set()
        return done

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            writes, self._queue = self._queue, []
            if not writes:
                continue
            merged = _Rows()
            for write in writes:
                merged.merge(write.rows)
            try:
                await self._apply(merged)
            except Exception as exc:
                self._failed = exc
                log.error("sim_store.write_failed", path=self.path, error=repr(exc))
                self._fail(writes, exc)
                self._fail(self._queue, exc)
                self._queue = []
                return
            for write in writes:
                if write.after is not None:
                    try:
                        write.after()
                    except Exception:
                        log.exception("sim_store.after_commit_failed", path=self.path)
                if not write.done.done():
                    write.done.set_result(None)

    @staticmethod
    def _fail(writes: Iterable[_Write], exc: Exception) -> None:
        for write in writes:
            if not write.done.done():
                write.done.set_exception(StoreFailed(f"the sim store write failed: {exc!r}"))

    async def _apply(self, rows: _Rows) -> None:
        conn = self._conn
        try:
            if rows.wipe:
                for table in _TABLES:
                    await conn.execute(f"DELETE FROM {table}")
            if rows.orders:
                await conn.executemany(_UPSERT_ORDER, rows.orders.values())
            if rows.forgotten:
                await conn.executemany(_DELETE_ORDER, ((n,) for n in rows.forgotten))
            if rows.fills:
                await conn.executemany(_INSERT_FILL, rows.fills)
            if rows.fills_kept:
                await conn.executemany(_TRIM_FILLS, ((a, n, liq) for a, (n, liq) in rows.fills_kept.items()))
            if rows.balances:
                await conn.executemany(_UPSERT_BALANCE, rows.balances.values())
            if rows.positions:
                await conn.executemany(_UPSERT_POSITION, rows.positions.values())
            if rows.meta:
                await conn.executemany(_UPSERT_META, rows.meta.items())
            await conn.commit()
        except BaseException:
            await asyncio.shield(conn.rollback())
            raise
