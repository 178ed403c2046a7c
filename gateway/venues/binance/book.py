"""The official Binance local order book algorithm, spot (U/u) and USD-M futures (pu). Pure.

Fact sheet §6.1 (spot) and §6.2 (futures); the steps, as implemented by `BookSync`:

1. Diffs are buffered until a snapshot arrives (`on_diff` while not synced).
2. The shell fetches a snapshot (`wants_snapshot`) and hands it to `on_snapshot`.
3. Buffered diffs the snapshot already covers are dropped: spot ``u <= lastUpdateId``, futures
   ``u < lastUpdateId``.
4. The first remaining diff must bridge the snapshot: spot ``U <= lastUpdateId + 1 <= u``; futures
   ``U <= lastUpdateId <= u``, or ``pu == lastUpdateId`` (it continues exactly from the snapshot; an
   extension of the documented rule that saves a snapshot when the bridging diff itself was lost).
   If it starts later, the snapshot is older than the buffer: the buffer is kept and another
   snapshot is wanted.
5. Every later diff must continue the previous one: spot ``U == previous u + 1`` (``U <= u_prev + 1``
   with ``u > u_prev``), futures ``pu == previous u``. A diff entirely older than the book is ignored.
6. On a gap the book is dropped, **the diff that revealed the gap is kept as the start of a new buffer**
   (and every diff after it), and a snapshot is wanted: nothing received is lost, and the new snapshot
   is bridged exactly as in step 4. A crossed book after a diff counts as a gap.
7. Quantities are absolute; 0 removes the level (removing an unknown level is normal).

The buffer holds at most `buffer_limit` diffs; the oldest go first (a later snapshot still bridges).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from gateway.core.book import L2Book, SequenceGap

__all__ = ["APPLIED", "BUFFERED", "IGNORED", "NEEDS_SNAPSHOT", "BookDiff", "BookStep", "BookSync"]

Levels = list[tuple[Decimal, Decimal]]


@dataclass(frozen=True, slots=True)
class BookDiff:
    """One diff-depth event with its levels as Decimals (parsed once, at arrival)."""

    U: int  # first update id
    u: int  # final update id
    pu: int | None  # futures: the previous event's final update id
    bids: Levels
    asks: Levels


@dataclass(frozen=True, slots=True)
class BookStep:
    """What a call did: `changed` (push the book), `needs_snapshot` (fetch one)."""

    changed: bool
    needs_snapshot: bool


APPLIED = BookStep(True, False)
IGNORED = BookStep(False, False)
BUFFERED = BookStep(False, False)
NEEDS_SNAPSHOT = BookStep(False, True)
_SYNCED_AND_CHANGED = BookStep(True, False)


class BookSync:
    """Keep one symbol's local book in step with Binance's diff-depth stream.

    Args:
        futures: chain diffs by ``pu`` (USD-M futures) instead of by ``U`` (spot).
        buffer_limit: the most diffs kept while waiting for a snapshot.
    """

    def __init__(self, futures: bool, buffer_limit: int = 10_000):
        self.futures = futures
        self.book = L2Book()
        self._buffer: deque[BookDiff] = deque(maxlen=buffer_limit)
        self._bridging = False  # futures: synced from a snapshot, the bridging diff not seen yet
        self.gaps = 0  # gaps detected while synced
        self.snapshots = 0  # snapshots applied
        self.stale_snapshots = 0  # snapshots older than the buffer

    @property
    def is_synced(self) -> bool:
        return self.book.is_synced

    @property
    def wants_snapshot(self) -> bool:
        return not self.book.is_synced

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        """Forget the book and the buffer (a new connection): the next snapshot starts afresh."""
        self.book.reset()
        self._buffer.clear()
        self._bridging = False

    def on_diff(self, diff: BookDiff) -> BookStep:
        """Apply (or buffer) one diff; see the module docstring."""
        if not self.book.is_synced:
            self._buffer.append(diff)
            return BUFFERED
        if self._bridging:
            return self._bridge(diff)
        return self._continue(diff)

    def on_snapshot(self, last_update_id: int, bids: Levels, asks: Levels) -> BookStep:
        """Start the book from a snapshot and replay the buffer on top; see the module docstring."""
        if self.book.is_synced:
            return IGNORED  # an answer to a request that a later snapshot already satisfied
        buffer = self._buffer
        covered = (lambda d: d.u < last_update_id) if self.futures else (lambda d: d.u <= last_update_id)
        while buffer and covered(buffer[0]):
            buffer.popleft()
        if buffer and not self._bridges(buffer[0], last_update_id):
            self.stale_snapshots += 1
            return NEEDS_SNAPSHOT  # older than what we hold: keep the buffer, ask again
        self.book.apply_snapshot(bids, asks, last_update_id)
        self.snapshots += 1
        self._bridging = self.futures
        pending = list(buffer)
        buffer.clear()
        for i, diff in enumerate(pending):
            step = self._bridge(diff) if self._bridging else self._continue(diff)
            if step.needs_snapshot:  # a gap inside the buffer: keep it and what follows
                buffer.extend(pending[i + 1:])
                return NEEDS_SNAPSHOT
        return _SYNCED_AND_CHANGED

    # --- internals ----------------------------------------------------------------------------------

    def _bridges(self, diff: BookDiff, last_update_id: int) -> bool:
        if self.futures:
            return diff.U <= last_update_id <= diff.u or diff.pu == last_update_id
        return diff.U <= last_update_id + 1 <= diff.u

    def _bridge(self, diff: BookDiff) -> BookStep:
        # Futures, first diff after the snapshot: it must bridge lastUpdateId (step 4).
        seq = self.book.seq
        assert seq is not None
        if diff.u < seq:
            return IGNORED
        if not self._bridges(diff, seq):
            return self._gap(diff)
        self._bridging = False
        try:
            self.book.apply_diff(diff.bids, diff.asks, diff.U if diff.U <= seq else seq + 1, diff.u)
        except SequenceGap:
            return self._gap(None)
        return APPLIED

    def _continue(self, diff: BookDiff) -> BookStep:
        book = self.book
        try:
            if self.futures:
                seq = book.seq
                if seq is not None and diff.u <= seq:
                    return IGNORED
                changed = book.apply_diff(diff.bids, diff.asks, diff.U, diff.u, prev_seq=diff.pu)
            else:
                changed = book.apply_diff(diff.bids, diff.asks, diff.U, diff.u)
        except SequenceGap:
            # A crossed book (L2Book clears its seq) has consumed the diff; a sequence gap has not, and
            # the diff starts the new buffer.
            return self._gap(None if book.seq is None else diff)
        return APPLIED if changed else IGNORED

    def _gap(self, diff: BookDiff | None) -> BookStep:
        self.gaps += 1
        self.book.reset()
        self._bridging = False
        self._buffer.clear()
        if diff is not None:
            self._buffer.append(diff)
        return NEEDS_SNAPSHOT
