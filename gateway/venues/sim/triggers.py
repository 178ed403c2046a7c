"""Untriggered conditional orders of one symbol, sorted by trigger price for O(log n) crossing checks.

Trigger rule: a stop buy and a take-profit sell fire when the price rises to their trigger
(``price >= trigger``); a stop sell and a take-profit buy when it falls to it (``price <= trigger``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from decimal import Decimal

from gateway.core.enums import OrderType, Side
from gateway.venues.sim.records import SimOrder

__all__ = ["TriggerBook", "fires_on_rise"]

_STOPS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_MAX = 1 << 62

Key = tuple[Decimal, int, str]  # (trigger price, sequence, order id)


def fires_on_rise(order: SimOrder) -> bool:
    """Return True if `order` triggers when the price rises to its trigger, False if when it falls."""
    return (order.type in _STOPS) is (order.side is Side.BUY)


class TriggerBook:
    """Conditional orders waiting for their trigger, split by the direction that fires them."""

    __slots__ = ("_keys", "above", "below")

    def __init__(self) -> None:
        self.above: list[Key] = []  # fire when price >= trigger
        self.below: list[Key] = []  # fire when price <= trigger
        self._keys: dict[str, Key] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, order: SimOrder) -> None:
        assert order.trigger_price is not None
        key = (order.trigger_price, order.seq, order.order_id)
        self._keys[order.order_id] = key
        insort(self.above if fires_on_rise(order) else self.below, key)

    def remove(self, order: SimOrder) -> None:
        key = self._keys.pop(order.order_id)
        keys = self.above if fires_on_rise(order) else self.below
        del keys[bisect_left(keys, key)]

    def is_crossed(self, order: SimOrder, price: Decimal) -> bool:
        """Return True if `order` would fire at `price`."""
        assert order.trigger_price is not None
        return price >= order.trigger_price if fires_on_rise(order) else price <= order.trigger_price

    def pop_crossed(self, price: Decimal) -> list[str]:
        """Remove and return the ids of the orders that fire at `price`, oldest first."""
        fired: list[Key] = []
        cut = bisect_right(self.above, (price, _MAX))
        if cut:
            fired += self.above[:cut]
            del self.above[:cut]
        cut = bisect_left(self.below, (price,))
        if cut < len(self.below):
            fired += self.below[cut:]
            del self.below[cut:]
        if not fired:
            return []
        fired.sort(key=lambda k: k[1])
        for key in fired:
            del self._keys[key[2]]
        return [key[2] for key in fired]
