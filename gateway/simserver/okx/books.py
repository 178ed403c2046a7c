"""Order-book pushes with OKX sequence ids, from successive full books. Pure.

`BookFeed` holds one instrument's book as last published and its ``seqId`` counter (fact sheet §7:
ids are per instId and the same on every connection). `update` compares a new full book with it and
returns the change as an OKX ``books`` update: ``prevSeqId`` = the previous ``seqId``, ``seqId`` = it
plus the number of changed levels (ids grow, not by one). A subscriber gets `snapshot` first
(``prevSeqId`` -1). `skip` is the gap fault: the change is published (ids spent) but never sent.

The checksum (§7) was retired by OKX: pushes carry ``checksum: 0``. With ``legacy_checksum`` the
dialect fills it with the old CRC32 over the top 25 levels instead, for clients that still verify it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["BookChange", "BookFeed", "checksum", "level_rows"]

Level = tuple[Decimal, Decimal]
Levels = tuple[Level, ...] | list[Level]


@dataclass(frozen=True, slots=True)
class BookChange:
    """One incremental update: its ids and the changed levels (size 0 = the level is gone)."""

    prev_seq_id: int
    seq_id: int
    bids: list[Level]
    asks: list[Level]


class BookFeed:
    """The published book of one instrument and its sequence id.

    Args:
        first_seq_id: the id of the empty starting book.
    """

    def __init__(self, first_seq_id: int = 1_000):
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.seq_id = first_seq_id

    def update(self, bids: Levels, asks: Levels) -> BookChange | None:
        """Publish the full book; return the change from the previous one, or None if it is equal."""
        bid_changes = _changes(self.bids, bids)
        ask_changes = _changes(self.asks, asks)
        count = len(bid_changes) + len(ask_changes)
        if not count:
            return None
        previous = self.seq_id
        self.seq_id = previous + count
        return BookChange(previous, self.seq_id, bid_changes, ask_changes)

    def snapshot(self, limit: int) -> tuple[int, list[Level], list[Level]]:
        """Return (seqId, best `limit` bids, best `limit` asks)."""
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return self.seq_id, bids, asks


def level_rows(levels: Levels) -> list[list[str]]:
    """Render levels as OKX rows ``[px, sz, "0", numOrders]`` (the third field is deprecated, always "0")."""
    return [[_s(px), _s(sz), "0", "1" if sz else "0"] for px, sz in levels]


def checksum(bids: Levels, asks: Levels) -> int:
    """The legacy CRC32 (fact sheet §7): top 25 of each side interleaved bid first, signed 32-bit."""
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += [_s(bids[i][0]), _s(bids[i][1])]
        if i < len(asks):
            parts += [_s(asks[i][0]), _s(asks[i][1])]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _s(value: Decimal) -> str:
    return format(value, "f")


def _changes(levels: dict[Decimal, Decimal], new: Levels) -> list[Level]:
    # Apply `new` (a full side) to `levels` in place; return the changed levels, removals as size 0.
    changes: list[Level] = []
    fresh = dict(new)
    for price in [p for p in levels if p not in fresh]:
        del levels[price]
        changes.append((price, Decimal(0)))
    for price, size in new:
        if levels.get(price) != size:
            levels[price] = size
            changes.append((price, size))
    return changes
