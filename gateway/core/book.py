"""An L2 order book that checks sequence continuity. Pure.

Venues that stream diffs apply them here; a gap raises `SequenceGap`, upon which the session must
re-snapshot (and may re-apply its buffered diffs). A crossed book after an update is also a gap.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from decimal import Decimal

__all__ = ["L2Book", "SequenceGap"]


class SequenceGap(Exception):
    """The book missed an update (or became inconsistent) and must be rebuilt from a snapshot."""


class L2Book:
    def __init__(self) -> None:
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_prices: list[Decimal] = []  # ascending; best bid is the last
        self._ask_prices: list[Decimal] = []  # ascending; best ask is the first
        self.seq: int | None = None

    @property
    def is_synced(self) -> bool:
        return self.seq is not None

    def reset(self) -> None:
        self.__init__()

    def apply_snapshot(self, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]], seq: int) -> None:
        self.reset()
        for price, qty in bids:
            if qty > 0:
                self._set(self._bids, self._bid_prices, price, qty)
        for price, qty in asks:
            if qty > 0:
                self._set(self._asks, self._ask_prices, price, qty)
        self.seq = seq

    def apply_diff(
        self,
        bids: list[tuple[Decimal, Decimal]],
        asks: list[tuple[Decimal, Decimal]],
        first_seq: int,
        last_seq: int,
        prev_seq: int | None = None,
    ) -> bool:
        """Apply a diff covering [first_seq, last_seq]. Returns False if it is entirely old (skipped).

        With `prev_seq` (venues that chain updates) continuity means prev_seq == the book's seq;
        otherwise the diff must start at or before seq + 1 and end after seq.
        """
        if self.seq is None:
            raise SequenceGap("book has no snapshot")
        if last_seq <= self.seq:
            return False
        if prev_seq is not None:
            if prev_seq != self.seq:
                raise SequenceGap(f"prev_seq {prev_seq} != book seq {self.seq}")
        elif first_seq > self.seq + 1:
            raise SequenceGap(f"first_seq {first_seq} > book seq {self.seq} + 1")
        for price, qty in bids:
            self._update(self._bids, self._bid_prices, price, qty)
        for price, qty in asks:
            self._update(self._asks, self._ask_prices, price, qty)
        self.seq = last_seq
        if self._bid_prices and self._ask_prices and self._bid_prices[-1] >= self._ask_prices[0]:
            self.seq = None
            raise SequenceGap("crossed book")
        return True

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self._bids[price]

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self._asks[price]

    def top(self, depth: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = [(p, self._bids[p]) for p in reversed(self._bid_prices[-depth:])]
        asks = [(p, self._asks[p]) for p in self._ask_prices[:depth]]
        return bids, asks

    @staticmethod
    def _set(levels: dict[Decimal, Decimal], prices: list[Decimal], price: Decimal, qty: Decimal) -> None:
        if price not in levels:
            insort(prices, price)
        levels[price] = qty

    @classmethod
    def _update(cls, levels: dict[Decimal, Decimal], prices: list[Decimal], price: Decimal, qty: Decimal) -> None:
        if qty > 0:
            cls._set(levels, prices, price, qty)
        elif price in levels:
            del levels[price]
            del prices[bisect_left(prices, price)]
