"""Sizing and pricing of child orders: Decimal quantities on the step, prices on the tick. Pure.

A child is never larger than what is left of the parent (rounded down to the step at the child's price),
and never smaller than the venue's minimum (quantity and notional), except that nothing is sent then.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from gateway.core.enums import Side
from gateway.core.instruments import Instrument, quantize
from gateway.orders.algo.model import ZERO, Algo, Child

__all__ = ["MarketSnapshot", "SizeRules", "is_outbid", "maker_price", "min_qty_at", "placeable_qty", "size_child",
           "take_price"]


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """What the engine sees of the market (from the market cache): best bid/ask and the last trade."""

    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None = None

    def far(self, side: Side) -> Decimal | None:
        """The price a taker of `side` pays: the ask for a buy, the bid for a sell."""
        return self.ask if side is Side.BUY else self.bid

    def near(self, side: Side) -> Decimal | None:
        return self.bid if side is Side.BUY else self.ask

    def reference(self, side: Side) -> Decimal | None:
        return self.far(side) or self.last or self.near(side)


@dataclass(frozen=True, slots=True)
class SizeRules:
    """The instrument's rules a child must meet."""

    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    contract_size: Decimal = Decimal(1)
    post_only: bool = True

    @classmethod
    def of(cls, instrument: Instrument, post_only: bool = True) -> SizeRules:
        return cls(instrument.tick_size, instrument.step_size, instrument.min_qty, instrument.min_notional,
                   instrument.contract_size, post_only)

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        return quantize(price, self.tick, ROUND_FLOOR if side is Side.BUY else ROUND_CEILING)


# --- sizing ----------------------------------------------------------------------------------------------


def min_qty_at(rules: SizeRules, price: Decimal) -> Decimal:
    """The smallest placeable size at `price`: the minimum quantity and the minimum notional, on the step."""
    by_notional = rules.min_notional / (price * rules.contract_size) if price > 0 else ZERO
    return quantize(max(rules.min_qty, by_notional, rules.step), rules.step, ROUND_CEILING)


def size_child(algo: Algo, want: Decimal, price: Decimal, rules: SizeRules, *, strict: bool, tail: bool
               ) -> Decimal | None:
    """Return the child quantity for `want` (parent units) at `price`, or None to wait.

    Never more than what is left of the parent. With `tail` (QE's tailOrderProtection) a remainder that
    would be left below the venue minimum is merged into this child. Below the minimum: a non-strict
    parent sends the minimum (running ahead by less than one minimum), a strict one waits.
    """
    left = placeable_qty(algo, price, rules)
    minimum = min_qty_at(rules, price)
    qty = min(_round_qty(_to_qty(algo, want, price, rules), rules), left)
    if qty < minimum:
        # Rounding noise of the schedule (a few 1e-15) must not send a whole minimum: bump from half of it.
        if left < minimum or strict or _to_qty(algo, want, price, rules) * 2 < minimum:
            return None
        qty = minimum
    if tail and 0 < left - qty < minimum:
        qty = left
    return qty if qty > 0 else None


def _to_qty(algo: Algo, amount: Decimal, price: Decimal, rules: SizeRules) -> Decimal:
    if amount <= 0:
        return ZERO
    return amount / (price * rules.contract_size) if algo.by_notional else amount


def _round_qty(qty: Decimal, rules: SizeRules) -> Decimal:
    return quantize(qty, rules.step, ROUND_FLOOR) if qty > 0 else ZERO


def placeable_qty(algo: Algo, price: Decimal, rules: SizeRules) -> Decimal:
    """What is left of the parent, as a quantity on the step at `price` (rounded down: never over)."""
    return _round_qty(_to_qty(algo, algo.remaining, price, rules), rules)


# --- prices ------------------------------------------------------------------------------------------------


def take_price(market: MarketSnapshot, side: Side, limit: Decimal) -> Decimal | None:
    price = market.far(side)
    if price is None:
        return None
    if limit > 0 and (price > limit if side is Side.BUY else price < limit):
        return None  # the market is beyond the limit price: no taking
    return price


def maker_price(market: MarketSnapshot, side: Side, limit: Decimal, rules: SizeRules) -> Decimal | None:
    near, far = market.near(side), market.far(side)
    if near is None:
        return None
    price = near
    if far is not None and far - near > rules.tick:  # room inside the spread: be the touch alone
        price = near + rules.tick if side is Side.BUY else near - rules.tick
    if limit > 0:
        price = min(price, limit) if side is Side.BUY else max(price, limit)
    return rules.round_price(price, side)


def is_outbid(child: Child, market: MarketSnapshot) -> bool:
    near = market.near(child.side)
    if near is None:
        return False
    return near > child.price if child.side is Side.BUY else near < child.price
