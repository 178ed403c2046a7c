"""exchangeInfo -> instruments, unified <-> native symbols, and rate limits. Pure.

Filters (fact sheet §2, §4): tick from ``PRICE_FILTER.tickSize``, step and min qty from
``LOT_SIZE.stepSize`` / ``minQty``, min notional from spot ``NOTIONAL.minNotional`` (or the older
``MIN_NOTIONAL.minNotional``) and from the futures ``MIN_NOTIONAL`` filter's field **``notional``**.

Unified symbols: spot ``BASE/QUOTE``; USD-M perpetuals ``BASE/QUOTE:MARGIN``. Dated futures contracts
have no unified form in the gateway yet and are left out.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.core.enums import MarketType
from gateway.core.instruments import Instrument
from gateway.venues.binance.schemas import RateLimitInfo, SymbolInfo
from gateway.venues.common.ratelimit import RateLimit

__all__ = [
    "SymbolMap",
    "count_interval_ms",
    "interval_ms",
    "to_instrument",
    "to_rate_limits",
    "to_unified",
    "used_weights",
]

_INTERVAL_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_LETTER_MS = {"S": 1_000, "M": 60_000, "H": 3_600_000, "D": 86_400_000}
_WEIGHT_HEADER = "x-mbx-used-weight-"


def to_unified(info: SymbolInfo, market: str) -> str | None:
    """Return the unified symbol of `info` in `market` (spot | usdm), or None if it has none."""
    if market == "spot":
        return f"{info.baseAsset}/{info.quoteAsset}"
    if info.contractType not in ("PERPETUAL", None):
        return None
    return f"{info.baseAsset}/{info.quoteAsset}:{info.marginAsset or info.quoteAsset}"


def _decimal(filters: dict[str, dict[str, object]], kind: str, field: str) -> Decimal | None:
    value = filters.get(kind, {}).get(field)
    return Decimal(str(value)) if value is not None else None


def _clean(value: Decimal) -> Decimal:
    # "0.01000000" -> 0.01 and "10.00000000" -> 10 (never 1E+1: quantizing to it would print exponents).
    normal = value.normalize()
    return normal if normal.as_tuple().exponent <= 0 else value.quantize(Decimal(1))


def to_instrument(info: SymbolInfo, market: str, venue: str) -> Instrument | None:
    """Return the instrument of `info`, or None for a symbol without a unified form or without filters."""
    unified = to_unified(info, market)
    if unified is None:
        return None
    f = info.filters
    tick = _decimal(f, "PRICE_FILTER", "tickSize")
    step = _decimal(f, "LOT_SIZE", "stepSize")
    min_qty = _decimal(f, "LOT_SIZE", "minQty")
    if tick is None or step is None or min_qty is None or not tick or not step:
        return None
    if market == "usdm":
        min_notional = _decimal(f, "MIN_NOTIONAL", "notional")
    else:
        min_notional = _decimal(f, "NOTIONAL", "minNotional") or _decimal(f, "MIN_NOTIONAL", "minNotional")
    perp = market == "usdm"
    return Instrument(
        venue=venue, symbol=unified, native=info.symbol, base=info.baseAsset, quote=info.quoteAsset,
        type=MarketType.PERP if perp else MarketType.SPOT, tick_size=_clean(tick), step_size=_clean(step),
        min_qty=_clean(min_qty), min_notional=_clean(min_notional or Decimal(0)), settle=(info.marginAsset or info.quoteAsset) if perp else None,
        extra={"status": info.status},
    )


class SymbolMap:
    """Unified <-> native names of one market's instruments (native lookups are case-insensitive)."""

    def __init__(self, instruments: list[Instrument]):
        self._native = {i.symbol: i.native for i in instruments}
        self._unified = {i.native.upper(): i.symbol for i in instruments}

    def native(self, unified: str) -> str:
        """Return the native name of `unified`. Raises KeyError if unknown."""
        return self._native[unified]

    def unified(self, native: str) -> str:
        """Return the unified name of `native` (any case). Raises KeyError if unknown."""
        return self._unified[native.upper()]

    def unified_symbols(self) -> list[str]:
        """Return every unified symbol of the map, in configuration order."""
        return list(self._native)

    def __contains__(self, unified: object) -> bool:
        return unified in self._native


def interval_ms(interval: str, num: int) -> int:
    """Return the length of an exchangeInfo interval (``MINUTE``, 1) in ms. Raises KeyError if unknown."""
    return _INTERVAL_MS[interval] * num


def to_rate_limits(infos: list[RateLimitInfo]) -> list[RateLimit]:
    """Convert exchangeInfo ``rateLimits`` (unknown interval kinds are skipped)."""
    return [RateLimit(i.rateLimitType, interval_ms(i.interval, i.intervalNum), i.limit)
            for i in infos if i.interval in _INTERVAL_MS]


def count_interval_ms(spec: str) -> int | None:
    """Return the interval of a header suffix such as ``10S`` or ``1M`` in ms (None if it is not one)."""
    spec = spec.upper()
    if len(spec) < 2 or spec[-1] not in _LETTER_MS or not spec[:-1].isdigit():
        return None
    return int(spec[:-1]) * _LETTER_MS[spec[-1]]


def used_weights(headers: dict[str, str] | object) -> list[tuple[int, int]]:
    """Return (interval ms, used weight) for each ``X-MBX-USED-WEIGHT-<n><S|M|H|D>`` header (§2)."""
    found = []
    for name, value in headers.items():  # type: ignore[attr-defined]
        lower = name.lower()
        if not lower.startswith(_WEIGHT_HEADER):
            continue
        spec = lower[len(_WEIGHT_HEADER):].upper()
        if len(spec) < 2 or spec[-1] not in _LETTER_MS or not spec[:-1].isdigit():
            continue
        try:
            found.append((int(spec[:-1]) * _LETTER_MS[spec[-1]], int(value)))
        except ValueError:
            continue
    return found
