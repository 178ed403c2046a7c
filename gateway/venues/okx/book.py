"""The local order book of one instId, kept from OKX ``books`` pushes (fact sheet §7). Pure.

- A snapshot (``action: snapshot``, ``prevSeqId: -1``) replaces the book and starts the sequence.
- An update applies when its ``prevSeqId`` equals the last ``seqId``; that includes the keep-alive
  (``prevSeqId == seqId``, no levels) and the reset after maintenance (``seqId < prevSeqId``).
- Anything else is a gap: the book is invalid (`is_synced` False), further updates are dropped, and the
  step says ``gap`` exactly once, so the shell re-subscribes once (OKX sends a snapshot only on
  subscribe) — no resubscribe storm while the new snapshot is on its way.
- An update (or snapshot) with an unreadable level is refused whole, before anything is applied, and
  treated like a gap (re-subscribe for a snapshot): the book is never half-applied.
- The checksum is deprecated (always 0 since June 2026): it is checked only when non-zero, with the
  legacy CRC32 over the top 25 levels as received, and a mismatch is treated like a gap.

Levels keep the venue's strings (the checksum needs them) next to their Decimal values.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["BookStep", "BookSync", "checksum_of"]

Level = list[str]  # [px, sz, "0", numOrders] as received


@dataclass(frozen=True, slots=True)
class BookStep:
    applied: bool  # the book changed (or was confirmed): publish it
    gap: bool = False  # the book just became invalid: re-subscribe (reported once per gap)
    reason: str | None = None


def checksum_of(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """Return OKX's legacy book checksum: signed CRC32 of ``bid1px:bid1sz:ask1px:ask1sz:...`` over 25 levels."""
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= (1 << 31) else value


class BookSync:
    """The book of one instId and its sequence state."""

    def __init__(self, *, validate_checksum: bool = True):
        self._validate = validate_checksum
        self._bids: dict[Decimal, tuple[str, str]] = {}
        self._asks: dict[Decimal, tuple[str, str]] = {}
        self.seq_id: int | None = None
        self.synced = False
        self.resyncing = False
        self.gaps = 0
        self.ts = 0

    @property
    def is_synced(self) -> bool:
        return self.synced

    def on_snapshot(self, seq_id: int, bids: list[Level], asks: list[Level], checksum: int, ts: int) -> BookStep:
        """Replace the book with a snapshot (an unreadable one leaves the book invalid: a gap)."""
        try:
            bid_levels, ask_levels = _parse(bids), _parse(asks)
        except ValueError as exc:
            self.synced = False
            self.resyncing = False  # this snapshot is unusable: ask for another one
            return self._gap(f"unreadable snapshot: {exc}")
        self._bids.clear()
        self._asks.clear()
        _apply(self._bids, bid_levels)
        _apply(self._asks, ask_levels)
        self.seq_id, self.ts = seq_id, ts
        self.synced, self.resyncing = True, False
        return self._check(checksum)

    def on_update(self, seq_id: int, prev_seq_id: int, bids: list[Level], asks: list[Level], checksum: int,
                  ts: int) -> BookStep:
        """Apply an incremental update, or detect a gap."""
        if not self.synced:
            return BookStep(False)  # waiting for the snapshot of a resubscribe: drop
        if prev_seq_id != self.seq_id:
            return self._gap(f"prevSeqId {prev_seq_id} != last seqId {self.seq_id}")
        try:  # the whole update is read before anything is applied: never a half-applied book
            bid_levels, ask_levels = _parse(bids), _parse(asks)
        except ValueError as exc:
            return self._gap(f"unreadable update {seq_id}: {exc}")  # it is lost: re-snapshot
        _apply(self._bids, bid_levels)
        _apply(self._asks, ask_levels)
        self.seq_id, self.ts = seq_id, ts
        return self._check(checksum)

    def invalidate(self, reason: str) -> BookStep:
        """Mark the book invalid (e.g. its connection dropped); a new snapshot must come."""
        return self._gap(reason)

    def _check(self, checksum: int) -> BookStep:
        if checksum and self._validate:
            bids, asks = self.top(25)
            expected = checksum_of([raw for _, _, raw in bids], [raw for _, _, raw in asks])
            if expected != checksum:
                return self._gap(f"checksum {checksum} != computed {expected}")
        return BookStep(True)

    def _gap(self, reason: str) -> BookStep:
        self.synced = False
        if self.resyncing:
            return BookStep(False)
        self.resyncing = True
        self.gaps += 1
        return BookStep(False, gap=True, reason=reason)

    def top(self, depth: int) -> tuple[list[tuple[Decimal, Decimal, tuple[str, str]]],
                                        list[tuple[Decimal, Decimal, tuple[str, str]]]]:
        """Return the best `depth` levels per side as (price, size, raw strings), best first."""
        bid_prices = sorted(self._bids, reverse=True)[:depth]
        ask_prices = sorted(self._asks)[:depth]
        return ([(p, Decimal(self._bids[p][1]), self._bids[p]) for p in bid_prices],
                [(p, Decimal(self._asks[p][1]), self._asks[p]) for p in ask_prices])

    def levels(self, depth: int) -> tuple[tuple[tuple[Decimal, Decimal], ...], tuple[tuple[Decimal, Decimal], ...]]:
        """Return the best `depth` (price, size) levels per side, best first."""
        bids, asks = self.top(depth)
        return tuple((p, s) for p, s, _ in bids), tuple((p, s) for p, s, _ in asks)


_Parsed = list[tuple[Decimal, str, str, bool]]  # (price, px, sz, delete?)


def _parse(levels: object) -> _Parsed:
    """Read every level of one side, or raise ValueError naming the first bad one (nothing is applied)."""
    if not isinstance(levels, list):
        raise ValueError(f"levels are not a list: {str(levels)[:100]}")  # noqa: TRY004 - one error type for a bad update
    out: _Parsed = []
    for level in levels:
        try:
            px, sz = str(level[0]), str(level[1])
            price, size = Decimal(px), Decimal(sz)
        except (TypeError, IndexError, KeyError, ArithmeticError):  # ArithmeticError: decimal.InvalidOperation
            raise ValueError(f"bad level {str(level)[:100]}") from None
        if not price.is_finite() or not size.is_finite() or price <= 0 or size < 0:
            raise ValueError(f"bad level {str(level)[:100]}")
        out.append((price, px, sz, size == 0))
    return out


def _apply(side: dict[Decimal, tuple[str, str]], levels: _Parsed) -> None:
    for price, px, sz, delete in levels:
        if delete:
            side.pop(price, None)
        else:
            side[price] = (px, sz)
