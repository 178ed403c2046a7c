"""Unified symbols: `BTC/USDT` (spot) and `BTC/USDT:USDT` (linear perpetual settled in USDT)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.enums import MarketType

__all__ = ["Symbol", "parse_symbol"]


@dataclass(frozen=True, slots=True)
class Symbol:
    base: str
    quote: str
    settle: str | None = None  # set for derivatives

    @property
    def market_type(self) -> MarketType:
        return MarketType.SPOT if self.settle is None else MarketType.PERP

    def __str__(self) -> str:
        unified = f"{self.base}/{self.quote}"
        return unified if self.settle is None else f"{unified}:{self.settle}"


def parse_symbol(text: str) -> Symbol:
    """Parse a unified symbol. Raises ValueError for anything else (native aliases are resolved elsewhere)."""
    pair, _, settle = text.partition(":")
    base, slash, quote = pair.partition("/")
    if not slash or not base or not quote or (":" in text and not settle):
        raise ValueError(f"not a unified symbol: {text!r}")
    for part in (base, quote, settle):
        if part and not part.isalnum():
            raise ValueError(f"not a unified symbol: {text!r}")
    return Symbol(base.upper(), quote.upper(), settle.upper() or None)
