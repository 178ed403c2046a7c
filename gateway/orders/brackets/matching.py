"""Matching our orders to venue orders that carry no usable client id, the way the seed does (pure).

Some venues do not echo our client order id, or report an order's venue id only later (Lighter's order
index). The seed (`LighterWrapper.reconcile_virtual_orders`) pairs its virtual orders with the venue's
real ones by side, reduce-only, price, trigger price and a time window; we do the same, and add size,
symbol and order type. Each of our orders takes the closest candidate in time, and one venue order is
never given to two of ours: pairs are assigned greedily in order of time distance (then venue id, so the
result does not depend on input order).

Time window: a venue order must not predate ours by more than the window (clock skew), and an order still
open must not be younger than ours by more than the window. A closed order's time is when it last changed
(a stop may fill days after it was placed), so it has no upper bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from gateway.core.enums import OrderType, Side
from gateway.core.events import OrderUpdate

__all__ = ["Wanted", "match_orders"]

# What a triggered conditional order may be reported as once the venue has released it.
_RELEASED: Final = {OrderType.STOP: OrderType.MARKET, OrderType.TAKE_PROFIT: OrderType.MARKET,
                    OrderType.STOP_LIMIT: OrderType.LIMIT, OrderType.TAKE_PROFIT_LIMIT: OrderType.LIMIT}


@dataclass(frozen=True, slots=True)
class Wanted:
    """One of our orders whose venue order is not known: what the venue order must look like.

    `price` None means any price matches (market orders: some venues report a worst-acceptable price).
    """

    tag: object  # the caller's handle, returned with the match
    symbol: str
    side: Side
    reduce_only: bool
    type: OrderType
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    requested_ts: int


def _compatible(w: Wanted, o: OrderUpdate, window_ms: int) -> bool:
    if o.symbol != w.symbol or o.side is not w.side or o.reduce_only is not w.reduce_only or o.qty != w.qty:
        return False
    released = o.type is not w.type
    if released and _RELEASED.get(w.type) is not o.type:
        return False
    if w.price is not None and o.price != w.price:
        return False
    if w.trigger_price is None:
        if o.trigger_price is not None:
            return False
    elif o.trigger_price is not None:
        if o.trigger_price != w.trigger_price:
            return False
    elif not released:
        return False
    if o.ts < w.requested_ts - window_ms:
        return False
    return o.status.is_terminal or o.ts <= w.requested_ts + window_ms


def match_orders(wanted: Sequence[Wanted], candidates: Iterable[OrderUpdate],
                 window_ms: int) -> dict[object, OrderUpdate]:
    """Return, by `Wanted.tag`, the venue order matched to each of `wanted` (unmatched ones are absent)."""
    if not wanted:
        return {}
    by_key: dict[tuple[str, Side, bool], list[OrderUpdate]] = {}
    for order in candidates:
        by_key.setdefault((order.symbol, order.side, order.reduce_only), []).append(order)
    pairs: list[tuple[int, str, int, int]] = []  # (time distance, venue id, wanted index, candidate index)
    pool: list[OrderUpdate] = []
    seen: dict[int, int] = {}
    for wi, w in enumerate(wanted):
        for order in by_key.get((w.symbol, w.side, w.reduce_only), ()):
            if _compatible(w, order, window_ms):
                ci = seen.setdefault(id(order), len(pool))
                if ci == len(pool):
                    pool.append(order)
                pairs.append((abs(order.ts - w.requested_ts), order.order_id or "", wi, ci))
    pairs.sort()
    taken_w: set[int] = set()
    taken_c: set[int] = set()
    found: dict[object, OrderUpdate] = {}
    for _, _, wi, ci in pairs:
        if wi in taken_w or ci in taken_c:
            continue
        taken_w.add(wi)
        taken_c.add(ci)
        found[wanted[wi].tag] = pool[ci]
    return found
