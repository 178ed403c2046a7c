"""Lighter's integer scaling, client order indexes and the market order's worst price. Pure.

- Sizes and prices travel as integers: ``base_amount = size * 10**size_decimals`` and
  ``price = price * 10**price_decimals`` (fact sheet §4 "Integer scaling"); prices are uint32.
- The gateway's client order ids are strings; Lighter's client order index is an integer in
  1..2**48-1. `client_order_index_of` derives it deterministically (a hash), so the same id maps to the
  same index after a restart; the reverse map is kept by the session (`ClientIndexMap`).
- A market order's price is its worst acceptable (average) price: best ask (buy) or best bid (sell)
  times (1 +- max_slippage), falling back to the last price (the seed falls back to the last 1m close).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from gateway.core.enums import Side
from gateway.venues.lighter.constants import BASE_AMOUNT_MAX, CLIENT_INDEX_MAX, PRICE_MAX

__all__ = [
    "ClientIndexMap",
    "MarketSpec",
    "ScalingError",
    "client_order_index_of",
    "worst_price",
]


class ScalingError(ValueError):
    """A value does not fit Lighter's integer fields (off the scale, or out of range)."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One Lighter market as the session trades it."""

    market_id: int
    symbol: str  # unified
    native: str  # Lighter's market symbol, e.g. ETH
    size_decimals: int
    price_decimals: int
    min_base_amount: Decimal
    min_quote_amount: Decimal

    @property
    def step(self) -> Decimal:
        return Decimal(1).scaleb(-self.size_decimals)

    @property
    def tick(self) -> Decimal:
        return Decimal(1).scaleb(-self.price_decimals)

    def to_base_amount(self, size: Decimal) -> int:
        """Return `size` as Lighter's integer base amount. Raises ScalingError when off the step."""
        scaled = size.scaleb(self.size_decimals)
        if scaled != scaled.to_integral_value():
            raise ScalingError(f"size {size} is not a multiple of {self.step}")
        value = int(scaled)
        if not 0 <= value <= BASE_AMOUNT_MAX:
            raise ScalingError(f"size {size} is out of range")
        return value

    def to_price(self, price: Decimal) -> int:
        """Return `price` as Lighter's uint32 price. Raises ScalingError when off the tick or too large."""
        scaled = price.scaleb(self.price_decimals)
        if scaled != scaled.to_integral_value():
            raise ScalingError(f"price {price} is not a multiple of {self.tick}")
        value = int(scaled)
        if not 1 <= value <= PRICE_MAX:
            raise ScalingError(f"price {price} does not fit a uint32 at {self.price_decimals} decimals")
        return value

    def size_of(self, base_amount: int) -> Decimal:
        return Decimal(base_amount).scaleb(-self.size_decimals)

    def price_of(self, price: int) -> Decimal:
        return Decimal(price).scaleb(-self.price_decimals)


def client_order_index_of(client_order_id: str) -> int:
    """Return the client order index (1..2**48-1) of a gateway client order id.

    A decimal id already in range is used as it is (so an index a user chose stays that index); any other
    id is hashed (BLAKE2b, 6 bytes), which is stable across restarts. Collisions are possible in principle
    (2**48 values) and are caught by the venue as a duplicate.
    """
    if client_order_id.isdigit() and len(client_order_id) <= 15:
        value = int(client_order_id)
        if 1 <= value <= CLIENT_INDEX_MAX:
            return value
    digest = hashlib.blake2b(client_order_id.encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big") or 1


class ClientIndexMap:
    """client order id <-> client order index, for the ids this session has seen (bounded)."""

    def __init__(self, limit: int = 100_000):
        self._by_index: dict[int, str] = {}
        self._limit = limit

    def index_of(self, client_order_id: str) -> int:
        index = client_order_index_of(client_order_id)
        self._by_index[index] = client_order_id
        if len(self._by_index) > self._limit:  # forget the oldest (dicts keep insertion order)
            del self._by_index[next(iter(self._by_index))]
        return index

    def client_order_id_of(self, index: int | None) -> str | None:
        """Return the gateway id of `index`; an index this session never made is its decimal string."""
        if not index:
            return None
        return self._by_index.get(index, str(index))


def worst_price(side: Side, spec: MarketSpec, *, best_bid: Decimal | None, best_ask: Decimal | None,
                last: Decimal | None, max_slippage: Decimal) -> Decimal:
    """Return a market order's worst acceptable price, on the tick, rounded against the taker.

    A buy takes the best ask (else the last price) times (1 + max_slippage), rounded up; a sell takes
    the best bid (else the last price) times (1 - max_slippage), rounded down.

    Raises:
        ScalingError: no reference price is known.
    """
    reference = (best_ask if side is Side.BUY else best_bid) or last
    if reference is None or reference <= 0:
        raise ScalingError("no price to bound the market order with (empty cache, no last price)")
    if side is Side.BUY:
        raw, rounding = reference * (1 + max_slippage), ROUND_CEILING
    else:
        raw, rounding = reference * (1 - max_slippage), ROUND_FLOOR
    tick = spec.tick
    bounded = (raw / tick).to_integral_value(rounding=rounding) * tick
    return max(bounded.quantize(tick), tick)
