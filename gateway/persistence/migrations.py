"""Versioned schema migrations: an ordered list of SQL scripts; `schema_version` records the applied ones.

Append a script to `MIGRATIONS` to change the schema; never edit one that has shipped. Each script
runs in its own transaction together with its version row.
"""

from __future__ import annotations

import aiosqlite

__all__ = ["MIGRATIONS", "migrate"]

_V1 = """
CREATE TABLE orders (
    account         TEXT    NOT NULL,
    order_key       TEXT    NOT NULL,   -- client_order_id, or '#' || order_id for external orders without one
    client_order_id TEXT,
    venue           TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    order_id        TEXT,
    strategy        TEXT,
    side            TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    tif             TEXT    NOT NULL,
    price           TEXT,               -- Decimal as text, here and below
    trigger_price   TEXT,
    qty             TEXT    NOT NULL,
    filled_qty      TEXT    NOT NULL,
    avg_price       TEXT,
    notional        TEXT    NOT NULL,   -- sum of price * qty of the counted fills
    status          TEXT    NOT NULL,
    is_open         INTEGER NOT NULL,
    reduce_only     INTEGER NOT NULL,
    external        INTEGER NOT NULL,
    created_ts      INTEGER NOT NULL,
    updated_ts      INTEGER NOT NULL,
    sent_at         INTEGER,
    reason          TEXT,
    PRIMARY KEY (account, order_key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX orders_client_order_id ON orders (account, client_order_id) WHERE client_order_id IS NOT NULL;
CREATE INDEX orders_order_id ON orders (account, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX orders_open ON orders (account, symbol) WHERE is_open = 1;
CREATE INDEX orders_created ON orders (account, created_ts);
CREATE INDEX orders_venue_updated ON orders (venue, updated_ts);

CREATE TABLE fills (
    venue           TEXT    NOT NULL,
    trade_id        TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    order_id        TEXT,
    client_order_id TEXT,
    strategy        TEXT,
    side            TEXT    NOT NULL,
    price           TEXT    NOT NULL,
    qty             TEXT    NOT NULL,
    fee             TEXT    NOT NULL,
    fee_asset       TEXT    NOT NULL,
    liquidity       TEXT    NOT NULL,
    ts              INTEGER NOT NULL,
    recv_ts         INTEGER NOT NULL,
    PRIMARY KEY (venue, trade_id)
) WITHOUT ROWID;
CREATE INDEX fills_account_ts ON fills (account, ts);
CREATE INDEX fills_order ON fills (account, client_order_id);
CREATE INDEX fills_venue_ts ON fills (venue, ts);

CREATE TABLE journal (
    seq             INTEGER PRIMARY KEY,  -- append-only
    ts              INTEGER NOT NULL,
    kind            TEXT    NOT NULL,     -- intent.place, intent.cancel, intent.amend, transition, ...
    account         TEXT    NOT NULL,
    client_order_id TEXT,
    data            TEXT    NOT NULL      -- JSON
);
CREATE INDEX journal_order ON journal (account, client_order_id);
"""

_V2 = """
CREATE TABLE brackets (
    bracket_id      TEXT    NOT NULL PRIMARY KEY,
    account         TEXT    NOT NULL,
    strategy        TEXT,               -- who placed it (its orders are placed as this strategy)
    symbol          TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    is_open         INTEGER NOT NULL,   -- 1 while the state is not terminal
    version         INTEGER NOT NULL,
    created_ts      INTEGER NOT NULL,
    updated_ts      INTEGER NOT NULL,
    record          TEXT    NOT NULL    -- JSON: Bracket.to_record()
) WITHOUT ROWID;
CREATE INDEX brackets_open ON brackets (account) WHERE is_open = 1;
CREATE INDEX brackets_account_created ON brackets (account, created_ts);
CREATE INDEX brackets_updated ON brackets (updated_ts);

CREATE TABLE bracket_meta (
    key             TEXT    NOT NULL PRIMARY KEY,   -- e.g. watched_ts: until when triggers were watched
    value           TEXT    NOT NULL
) WITHOUT ROWID;
"""

_V3 = """
CREATE TABLE algos (
    algo_id         TEXT    NOT NULL PRIMARY KEY,
    account         TEXT    NOT NULL,
    client_order_id TEXT,               -- the strategy's idempotency key of the parent
    strategy        TEXT,               -- who placed it (its children are placed as this strategy)
    symbol          TEXT    NOT NULL,
    algorithm       TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    is_open         INTEGER NOT NULL,   -- 1 while the state is not terminal
    version         INTEGER NOT NULL,
    created_ts      INTEGER NOT NULL,
    updated_ts      INTEGER NOT NULL,
    record          TEXT    NOT NULL    -- JSON: Algo.to_record() (children included)
) WITHOUT ROWID;
CREATE UNIQUE INDEX algos_client_order_id ON algos (account, client_order_id) WHERE client_order_id IS NOT NULL;
CREATE INDEX algos_open ON algos (account) WHERE is_open = 1;
CREATE INDEX algos_account_created ON algos (account, created_ts);
CREATE INDEX algos_updated ON algos (updated_ts);
"""

_V4 = """
-- The venue's own cumulative fill figures from its order reports (ahead of our fills for a moment when a
-- venue reports FILLED before its trades arrive).
ALTER TABLE orders ADD COLUMN venue_filled_qty TEXT NOT NULL DEFAULT '0';
ALTER TABLE orders ADD COLUMN venue_avg_price TEXT;
"""

_V5 = """
-- Parents executed by a remote algo venue (Quantum Execute): the intent is journaled under its client order
-- id before the create is sent; the venue's master order id and its last reported record follow.
CREATE TABLE remote_algos (
    account         TEXT    NOT NULL,
    algo_key        TEXT    NOT NULL,   -- client_order_id, or '#' || algo_id for a parent placed elsewhere
    client_order_id TEXT,
    algo_id         TEXT,               -- the venue's id, once it answered
    strategy        TEXT,
    symbol          TEXT    NOT NULL,
    state           TEXT    NOT NULL,   -- 'submitting' until the venue answered, then the algo state
    is_open         INTEGER NOT NULL,
    created_ts      INTEGER NOT NULL,
    updated_ts      INTEGER NOT NULL,
    request         TEXT    NOT NULL,   -- JSON: the validated request (idempotency checks)
    record          TEXT,               -- JSON: the parent's last public view
    PRIMARY KEY (account, algo_key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX remote_algos_algo_id ON remote_algos (account, algo_id) WHERE algo_id IS NOT NULL;
CREATE INDEX remote_algos_account_created ON remote_algos (account, created_ts);
"""

_V6 = """
-- The order journal's write-ahead log (persistence.append_log): the last record applied to the tables
-- above, written in the same transaction as the record's rows, so a replay at start applies each once.
CREATE TABLE append_log_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    applied_seq     INTEGER NOT NULL
);
INSERT INTO append_log_state (id, applied_seq) VALUES (1, 0);
"""

_V7 = """
-- Each strategy's net filled position per (account, symbol), the risk book's max_position input, kept with
-- every fill so a start reads it instead of summing every fill ever stored. `strategy` is '' for orders
-- placed without one. A database that had fills before this table is summed once at the next start
-- (`built` = 0 until then: SQLite would sum the TEXT quantities as floats).
CREATE TABLE risk_positions (
    strategy        TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    qty             TEXT    NOT NULL,   -- Decimal as text, signed: buys minus sells
    PRIMARY KEY (strategy, account, symbol)
) WITHOUT ROWID;
CREATE TABLE risk_positions_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    built           INTEGER NOT NULL
);
INSERT INTO risk_positions_state (id, built) SELECT 1, NOT EXISTS (SELECT 1 FROM fills);
"""

MIGRATIONS: list[str] = [_V1, _V2, _V3, _V4, _V5, _V6, _V7]


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply the migrations `conn`'s database lacks, in order. Return the schema version afterwards.

    Raises:
        RuntimeError: the database is newer than this code (a downgrade).
    """
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    await conn.commit()
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    if current > len(MIGRATIONS):
        raise RuntimeError(f"database schema {current} is newer than this gateway ({len(MIGRATIONS)})")
    for version in range(current + 1, len(MIGRATIONS) + 1):
        script = MIGRATIONS[version - 1]
        await conn.executescript(
            f"BEGIN;\n{script}\nINSERT INTO schema_version (version) VALUES ({version});\nCOMMIT;"
        )
    return len(MIGRATIONS)
