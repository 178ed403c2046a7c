"""The venue directory: configured venue sessions by name, account names, and symbol resolution.

Symbols resolve from the unified form (`BTC/USDT`, `BTC/USDT:USDT`) or the venue's native alias
(`BTCUSDT`), case-insensitively for the alias.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.core.errors import ErrorCode, LookupFailed
from gateway.core.instruments import Instrument
from gateway.core.ports import VenueAdapter

__all__ = ["VenueDirectory"]


class VenueDirectory:
    def __init__(self, venues: dict[str, VenueAdapter], default: str | None = None):
        self._venues = venues
        if default is not None and default not in venues:
            raise ValueError(f"default venue {default!r} is not configured")
        self.default = default if default is not None else (next(iter(venues)) if len(venues) == 1 else None)
        self._aliases: dict[str, dict[str, str]] = {}

    def __iter__(self) -> Iterator[VenueAdapter]:
        return iter(self._venues.values())

    def __len__(self) -> int:
        return len(self._venues)

    def names(self) -> list[str]:
        return list(self._venues)

    def has(self, name: str) -> bool:
        return name in self._venues

    def venue(self, name: str | None) -> VenueAdapter:
        """Return the named venue, or the default one when `name` is None or empty."""
        if not name:
            if self.default is None:
                raise LookupFailed("no default venue: name one", code=ErrorCode.UNKNOWN_VENUE)
            name = self.default
        adapter = self._venues.get(name)
        if adapter is None:
            raise LookupFailed(f"unknown venue {name!r}", code=ErrorCode.UNKNOWN_VENUE, details={"venue": name})
        return adapter

    def instrument(self, venue: str | None, symbol: str) -> Instrument:
        """Resolve a unified symbol or a native alias on a venue."""
        adapter = self.venue(venue)
        instruments = adapter.instruments
        found = instruments.get(symbol)
        if found is not None:
            return found
        aliases = self._aliases.get(adapter.name)
        if aliases is None or len(aliases) != len(instruments):
            aliases = self._aliases[adapter.name] = {i.native.upper(): i.symbol for i in instruments.values()}
        unified = aliases.get(symbol.upper())
        if unified is None:
            raise LookupFailed(
                f"unknown symbol {symbol!r} on {adapter.name}",
                code=ErrorCode.UNKNOWN_SYMBOL,
                details={"venue": adapter.name, "symbol": symbol},
            )
        return instruments[unified]
