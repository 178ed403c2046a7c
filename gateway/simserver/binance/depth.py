"""Diff-depth events with Binance update ids, from successive full books. Pure.

`DepthFeed` holds the book as last published. `update` compares a new full book with it and returns the
diff as Binance would send it: ``U`` = previous ``u`` + 1, ``u`` = previous ``u`` + the number of changed
levels (ids advance per change, as on Binance), ``pu`` = previous ``u`` (futures). The published book is
the dialect's "true book": a REST snapshot is served from it, with ``lastUpdateId`` = the last ``u``,
so snapshot and stream agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DepthDiff", "DepthFeed"]

Levels = tuple[tuple[Decimal, Decimal], ...]


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """One diff: first and final update id, the previous final id, and the changed levels (qty 0 = gone)."""

    U: int
    u: int
    pu: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


class DepthFeed:
    """The published book of one symbol and its update-id counter.

    Args:
        first_id: the update id of the empty starting book.
    """

    def __init__(self, first_id: int = 1_000):
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_id = first_id

    def update(self, bids: Levels, asks: Levels) -> DepthDiff | None:
        """Publish the full book (`bids`, `asks`); return the diff from the previous one, or None if equal."""
        bid_changes = _changes(self.bids, bids)
        ask_changes = _changes(self.asks, asks)
        count = len(bid_changes) + len(ask_changes)
        if not count:
            return None
        previous = self.last_id
        self.last_id = previous + count
        return DepthDiff(previous + 1, self.last_id, previous, bid_changes, ask_changes)

    def snapshot(self, limit: int) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Return (lastUpdateId, best `limit` bids, best `limit` asks)."""
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return self.last_id, bids, asks


def _changes(levels: dict[Decimal, Decimal], new: Levels) -> list[tuple[Decimal, Decimal]]:
    # Apply `new` (a full side) to `levels` in place; return the changed levels, removals as qty 0.
    changes = []
    fresh = dict(new)
    for price in [p for p in levels if p not in fresh]:
        del levels[price]
        changes.append((price, Decimal(0)))
    for price, qty in new:
        if levels.get(price) != qty:
            levels[price] = qty
            changes.append((price, qty))
    return changes
