"""Checks shared by the venue settings slices: unified symbols, kline intervals, symbols of the market. Pure."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from gateway.core.events import KLINE_INTERVALS
from gateway.core.symbols import parse_symbol

__all__ = ["KlineIntervals", "UnifiedSymbols", "check_market_symbols", "known_intervals", "unified_symbols"]


def unified_symbols(value: list[str]) -> list[str]:
    """Return the symbols in their unified spelling. Raises ValueError on one that is not a symbol."""
    return [str(parse_symbol(s)) for s in value]


def known_intervals(value: list[str]) -> list[str]:
    """Return the kline intervals if every one is known. Raises ValueError naming the unknown ones."""
    unknown = [i for i in value if i not in KLINE_INTERVALS]
    if unknown:
        raise ValueError(f"unknown kline intervals {unknown}; known: {sorted(KLINE_INTERVALS)}")
    return value


def check_market_symbols(symbols: list[str], perpetual: bool, market: str) -> None:
    """Raise ValueError if a symbol is a perpetual on a spot market, or spot on a perpetual one."""
    for symbol in symbols:
        if (parse_symbol(symbol).settle is not None) != perpetual:
            raise ValueError(f"symbol {symbol!r} does not belong to market {market!r}")


UnifiedSymbols = Annotated[list[str], AfterValidator(unified_symbols)]
KlineIntervals = Annotated[list[str], AfterValidator(known_intervals)]
