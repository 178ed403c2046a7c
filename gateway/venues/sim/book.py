"""The order book of one symbol: price levels kept sorted with `bisect`, a FIFO queue per level.

Removal is lazy: a removed or re-queued order leaves a stale entry in its level's queue, recognised
by a token (`SimOrder.seq`) that no longer matches, and skipped when the queue head is reached. That
keeps cancel and amend O(log levels) instead of O(orders in the level). Each level keeps the total
remaining quantity of its live orders, so depth is read without touching orders.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from decimal import Decimal

from gateway.core.enums import Side
from gateway.venues.sim.records import ZERO, SimOrder

__all__ = ["Book", "BookSide", "Level"]


class Level:
    """The live orders at one price, oldest first."""

    __slots__ = ("count", "orders", "price", "qty", "reduce_only_count")

    def __init__(self, price: Decimal):
        self.price = price
        self.orders: deque[tuple[int, SimOrder]] = deque()
        self.qty = ZERO
        self.count = 0
        self.reduce_only_count = 0

    def head(self) -> SimOrder | None:
        """Return the oldest live order, dropping stale entries on the way."""
        orders = self.orders
        while orders:
            token, order = orders[0]
            if token == order.seq and order.resting:
                return order
            orders.popleft()
        return None

    def live(self) -> list[SimOrder]:
        """Return the live orders in queue order."""
        return [o for t, o in self.orders if t == o.seq and o.resting]


class BookSide:
    """One side of a book. Prices are kept ascending; the best bid is last, the best ask first."""

    __slots__ = ("is_bid", "levels", "prices")

    def __init__(self, is_bid: bool):
        self.is_bid = is_bid
        self.prices: list[Decimal] = []
        self.levels: dict[Decimal, Level] = {}

    def __len__(self) -> int:
        return len(self.prices)

    def best(self) -> Level | None:
        prices = self.prices
        if not prices:
            return None
        return self.levels[prices[-1] if self.is_bid else prices[0]]

    def best_price(self) -> Decimal | None:
        prices = self.prices
        if not prices:
            return None
        return prices[-1] if self.is_bid else prices[0]

    def add(self, order: SimOrder, token: int) -> None:
        """Queue `order` at the back of its price level under queue token `token`."""
        price = order.price
        assert price is not None
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            insort(self.prices, price)
        order.seq = token
        order.resting = True
        level.orders.append((token, order))
        level.qty += order.remaining
        level.count += 1
        if order.reduce_only:
            level.reduce_only_count += 1

    def insert(self, order: SimOrder, token: int) -> None:
        """Queue `order` in its level at the place of queue token `token` (a restore: behind older tokens only)."""
        self.add(order, token)
        orders = self.levels[order.price].orders  # type: ignore[index]
        entry = orders.pop()
        # tokens only grow, so a level's queue is sorted by token and the place is found by bisection
        orders.insert(bisect_left(orders, token, key=lambda e: e[0]), entry)

    def remove(self, order: SimOrder) -> None:
        """Take a resting order out of the book (lazily: its queue entry becomes stale)."""
        level = self.levels[order.price]  # type: ignore[index]
        order.resting = False
        level.qty -= order.remaining
        level.count -= 1
        if order.reduce_only:
            level.reduce_only_count -= 1
        if level.count == 0:
            self._drop(level)

    def reduce(self, order: SimOrder, qty: Decimal) -> None:
        """Account for `qty` of a resting order leaving the book (filled or amended down)."""
        self.levels[order.price].qty -= qty  # type: ignore[index]

    def _drop(self, level: Level) -> None:
        del self.levels[level.price]
        prices = self.prices
        del prices[bisect_left(prices, level.price)]

    def iter_levels(self) -> list[Level]:
        """Return all levels best first."""
        levels = self.levels
        ordered = reversed(self.prices) if self.is_bid else self.prices
        return [levels[p] for p in ordered]

    def top(self, depth: int) -> tuple[tuple[Decimal, Decimal], ...]:
        """Return up to `depth` (price, qty) levels, best first."""
        prices = self.prices
        levels = self.levels
        chosen = prices[-1 : -depth - 1 : -1] if self.is_bid else prices[:depth]
        return tuple((p, levels[p].qty) for p in chosen)


class Book:
    """Both sides of one symbol's book and its sequence number (bumped on every change)."""

    __slots__ = ("asks", "bids", "seq", "symbol")

    def __init__(self, symbol: str):
        self.symbol = symbol
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.seq = 0

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def opposite(self, side: Side) -> BookSide:
        return self.asks if side is Side.BUY else self.bids
