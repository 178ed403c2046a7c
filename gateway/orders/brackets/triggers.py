"""The trigger index of emulated legs: which legs fire on a price, in O(log n + fired) per tick.

Which price a leg watches, and which way (`watch_rule`): a leg is a reduce-only order on the side opposite
the entry. For a long (exit side SELL) the take-profit fires when the price rises to its trigger and the
stop-loss when it falls to it; for a short (exit side BUY) it is mirrored:

    exit side   leg   fires when           bbo source watches
    SELL        tp    price >= trigger     the bid (what a sell would get)
    SELL        sl    price <= trigger     the bid
    BUY         tp    price <= trigger     the ask (what a buy would pay)
    BUY         sl    price >= trigger     the ask

With the `last` source the price is the last trade, with `mark` the mark price; both sides watch it.

Layout: one book per (venue, symbol, source); per book one ladder per (watched price, direction). A ladder
keeps its levels in a sorted list (`bisect`) arranged so that the levels a price fires are always a *tail*
of the list: RISE ladders store negated levels. A tick that fires nothing costs one dict lookup and one
comparison per ladder; a tick that fires k legs costs one bisect and a tail cut. Removal is lazy (a
tombstone checked when the entry reaches the tail; the ladder is compacted when tombstones dominate).
Insertion is a bisect plus a list insert (a C memmove, negligible at these sizes). No floats anywhere.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable
from decimal import Decimal
from enum import StrEnum
from typing import Final

from gateway.core.enums import Side
from gateway.orders.brackets.model import LegName, TriggerSource

__all__ = ["TriggerDirection", "TriggerIndex", "Watch", "is_crossed", "watch_rule", "watched_price"]


class TriggerDirection(StrEnum):
    RISE = "rise"  # fire when price >= trigger
    FALL = "fall"  # fire when price <= trigger


class Watch(StrEnum):
    PRICE = "price"  # the source's single price (last trade or mark)
    BID = "bid"
    ASK = "ask"


def watch_rule(exit_side: Side, leg: LegName | str) -> TriggerDirection:
    """Return which way the price must move to fire `leg` of a bracket whose legs trade `exit_side`."""
    take_profit = leg == LegName.TP
    if exit_side is Side.SELL:
        return TriggerDirection.RISE if take_profit else TriggerDirection.FALL
    return TriggerDirection.FALL if take_profit else TriggerDirection.RISE


def watched_price(source: TriggerSource, exit_side: Side) -> Watch:
    """Return the price a leg trading `exit_side` watches for `source` (bbo: sells the bid, buys the ask)."""
    if source is TriggerSource.BBO:
        return Watch.BID if exit_side is Side.SELL else Watch.ASK
    return Watch.PRICE


def is_crossed(direction: TriggerDirection, trigger_price: Decimal, price: Decimal) -> bool:
    """Return whether `price` fires a trigger at `trigger_price` moving in `direction` (inclusive)."""
    return price >= trigger_price if direction is TriggerDirection.RISE else price <= trigger_price


class _Ladder:
    """Sorted trigger levels of one (book, watched price, direction); fired levels are always a tail."""

    __slots__ = ("levels", "tokens", "negate", "dead")

    def __init__(self, negate: bool):
        self.levels: list[Decimal] = []  # ascending; negated for RISE so that fired levels are a tail
        self.tokens: list[tuple[int, Hashable]] = []  # aligned with `levels`: (token, leg key)
        self.negate = negate
        self.dead = 0  # tombstones still in the lists

    def insert(self, level: Decimal, token: int, key: Hashable) -> None:
        k = -level if self.negate else level
        i = bisect_right(self.levels, k)
        self.levels.insert(i, k)
        self.tokens.insert(i, (token, key))

    def cut(self, price: Decimal) -> list[tuple[int, Hashable]]:
        levels = self.levels
        if not levels:
            return []
        k = -price if self.negate else price
        if levels[-1] < k:  # the fast path: the nearest level is not reached
            return []
        i = bisect_left(levels, k)
        fired = self.tokens[i:]
        del levels[i:]
        del self.tokens[i:]
        return fired


_LADDERS: Final = ((Watch.PRICE, TriggerDirection.RISE), (Watch.PRICE, TriggerDirection.FALL),
                   (Watch.BID, TriggerDirection.RISE), (Watch.BID, TriggerDirection.FALL),
                   (Watch.ASK, TriggerDirection.RISE), (Watch.ASK, TriggerDirection.FALL))
_COMPACT_MIN: Final = 64


class TriggerIndex:
    """Armed emulated legs by (venue, symbol, source), fired by prices. Not thread-safe; one owner.

    A key (any hashable; the machine uses `(bracket_id, leg)`) is in the index at most once: adding it
    again moves it. A key is forgotten when it fires or is removed; removing an absent key is a no-op.
    """

    def __init__(self) -> None:
        self._books: dict[tuple[str, str, TriggerSource], dict[tuple[Watch, TriggerDirection], _Ladder]] = {}
        self._where: dict[Hashable, tuple[_Ladder, int]] = {}  # key -> (its ladder, its live token)
        self._next_token = 0

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._where

    def add(self, key: Hashable, *, venue: str, symbol: str, source: TriggerSource, exit_side: Side,
            direction: TriggerDirection, trigger_price: Decimal) -> None:
        """Arm `key`: fire it when the price `source` gives for `exit_side` crosses `trigger_price`."""
        self.remove(key)
        book = self._books.setdefault((venue, symbol, source), {})
        slot = (watched_price(source, exit_side), direction)
        ladder = book.get(slot)
        if ladder is None:
            ladder = book[slot] = _Ladder(negate=direction is TriggerDirection.RISE)
        self._next_token += 1
        ladder.insert(trigger_price, self._next_token, key)
        self._where[key] = (ladder, self._next_token)

    def remove(self, key: Hashable) -> bool:
        """Disarm `key`. Return whether it was armed."""
        found = self._where.pop(key, None)
        if found is None:
            return False
        ladder = found[0]
        ladder.dead += 1
        if ladder.dead > _COMPACT_MIN and ladder.dead * 2 > len(ladder.levels):
            self._compact(ladder)
        return True

    def on_price(self, venue: str, symbol: str, source: TriggerSource, price: Decimal) -> list[Hashable]:
        """Return (and forget) the keys a `last` or `mark` price fires.

        Raises:
            ValueError: `source` is `bbo`; use `on_bbo`.
        """
        if source is TriggerSource.BBO:
            raise ValueError("bbo triggers fire from on_bbo(bid, ask)")
        book = self._books.get((venue, symbol, source))
        if book is None:
            return []
        fired: list[Hashable] = []
        for slot in _LADDERS[:2]:
            ladder = book.get(slot)
            if ladder is not None and ladder.levels:
                self._collect(ladder, ladder.cut(price), fired)
        return fired

    def on_bbo(self, venue: str, symbol: str, bid: Decimal | None, ask: Decimal | None) -> list[Hashable]:
        """Return (and forget) the keys a best bid/ask fires: sells watch the bid, buys the ask."""
        book = self._books.get((venue, symbol, TriggerSource.BBO))
        if book is None:
            return []
        fired: list[Hashable] = []
        for watch, price in ((Watch.BID, bid), (Watch.ASK, ask)):
            if price is None:
                continue
            for direction in (TriggerDirection.RISE, TriggerDirection.FALL):
                ladder = book.get((watch, direction))
                if ladder is not None and ladder.levels:
                    self._collect(ladder, ladder.cut(price), fired)
        return fired

    def _collect(self, ladder: _Ladder, cut: list[tuple[int, Hashable]], fired: list[Hashable]) -> None:
        where = self._where
        for token, key in cut:
            found = where.get(key)
            if found is not None and found[1] == token:
                del where[key]
                fired.append(key)
            else:
                ladder.dead -= 1  # a tombstone left the list

    def _compact(self, ladder: _Ladder) -> None:
        where = self._where
        keep = [(lv, tk) for lv, tk in zip(ladder.levels, ladder.tokens)
                if (found := where.get(tk[1])) is not None and found[1] == tk[0]]
        ladder.levels = [lv for lv, _ in keep]
        ladder.tokens = [tk for _, tk in keep]
        ladder.dead = 0
