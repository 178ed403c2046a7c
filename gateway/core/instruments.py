"""Instruments and Decimal quantization to a venue's ticks.

Rounding rule (stated once, used everywhere an order goes to a venue):
- limit prices of buys round down to the tick, of sells up (never pay more or sell for less than asked);
- trigger prices round to the nearest tick (half up);
- sizes round down to the step; a size that rounds to zero is a PRECISION error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from gateway.core.enums import MarketType, Side

__all__ = ["Instrument", "quantize"]


def quantize(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """Round `value` to a whole multiple of `step` with the given Decimal rounding mode."""
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step)


@dataclass(frozen=True, slots=True)
class Instrument:
    venue: str
    symbol: str  # unified, e.g. BTC/USDT:USDT
    native: str  # the venue's own name, e.g. BTCUSDT
    base: str
    quote: str
    type: MarketType
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    contract_size: Decimal = Decimal(1)
    settle: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        return quantize(price, self.tick_size, ROUND_FLOOR if side is Side.BUY else ROUND_CEILING)

    def round_trigger(self, price: Decimal) -> Decimal:
        return quantize(price, self.tick_size, ROUND_HALF_UP)

    def round_qty(self, qty: Decimal) -> Decimal:
        return quantize(qty, self.step_size, ROUND_FLOOR)

    def is_on_tick(self, price: Decimal) -> bool:
        return price % self.tick_size == 0

    def is_on_step(self, qty: Decimal) -> bool:
        return qty % self.step_size == 0

    def to_public(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "native": self.native,
            "base": self.base,
            "quote": self.quote,
            "type": self.type,
            "tick_size": self.tick_size,
            "step_size": self.step_size,
            "min_qty": self.min_qty,
            "min_notional": self.min_notional,
        }
