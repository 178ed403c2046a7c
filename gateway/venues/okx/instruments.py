"""``/api/v5/public/instruments`` rows -> instruments; unified <-> OKX instId. Pure.

Fact sheet §3. SPOT ``BTC-USDT`` is unified ``BTC/USDT``; a linear SWAP ``BTC-USDT-SWAP`` settled in USDT
is ``BTC/USDT:USDT`` (the gateway's perpetual form, as Binance's ``BTCUSDT`` perpetual). Inverse swaps,
expiry futures and options have no unified form yet and are left out.

Units: sizes stay in OKX's own units — base currency for SPOT, **contracts** for SWAP — so ``step_size``
is ``lotSz``, ``min_qty`` is ``minSz`` and ``contract_size`` is ``ctVal`` (a SWAP order's base amount is
qty x ctVal). OKX has no minimum notional: ``min_notional`` is 0.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.core.enums import MarketType
from gateway.core.instruments import Instrument

__all__ = ["SymbolMap", "inst_type", "to_instrument", "to_native", "to_unified"]


def inst_type(market: str) -> str:
    """Return OKX's instType of a session market (spot | swap)."""
    return "SWAP" if market == "swap" else "SPOT"


def to_unified(row: dict[str, Any]) -> str | None:
    """Return the unified symbol of an instruments row, or None if it has none (inverse, futures, options)."""
    kind, inst_id = row.get("instType"), str(row.get("instId") or "")
    parts = inst_id.split("-")
    if kind == "SPOT" and len(parts) == 2:
        return f"{row.get('baseCcy') or parts[0]}/{row.get('quoteCcy') or parts[1]}"
    if kind == "SWAP" and len(parts) == 3 and parts[2] == "SWAP" and row.get("ctType", "linear") == "linear":
        settle = row.get("settleCcy") or parts[1]
        return f"{parts[0]}/{parts[1]}:{settle}"
    return None


def to_native(unified: str) -> str:
    """Return the OKX instId of a unified symbol (``BTC/USDT`` -> ``BTC-USDT``, ``BTC/USDT:USDT`` -> ``BTC-USDT-SWAP``)."""
    pair, _, settle = unified.partition(":")
    base, _, quote = pair.partition("/")
    return f"{base}-{quote}-SWAP" if settle else f"{base}-{quote}"


def _decimal(row: dict[str, Any], field: str) -> Decimal | None:
    try:
        value = Decimal(str(row.get(field) or ""))
    except InvalidOperation:
        return None
    return value if value > 0 else None


def _clean(value: Decimal) -> Decimal:
    normal = value.normalize()
    return normal if normal.as_tuple().exponent <= 0 else value.quantize(Decimal(1))


def to_instrument(row: dict[str, Any], venue: str) -> Instrument | None:
    """Return the instrument of an instruments row, or None without a unified form or valid sizes."""
    unified = to_unified(row)
    tick, lot, min_size = _decimal(row, "tickSz"), _decimal(row, "lotSz"), _decimal(row, "minSz")
    if unified is None or tick is None or lot is None or min_size is None:
        return None
    swap = row.get("instType") == "SWAP"
    pair, _, settle = unified.partition(":")
    base, _, quote = pair.partition("/")
    ct_val = _decimal(row, "ctVal") if swap else None
    return Instrument(
        venue=venue, symbol=unified, native=str(row["instId"]), base=base, quote=quote,
        type=MarketType.PERP if swap else MarketType.SPOT, tick_size=_clean(tick), step_size=_clean(lot),
        min_qty=_clean(min_size), min_notional=Decimal(0),
        contract_size=_clean(ct_val) if ct_val is not None else Decimal(1), settle=settle or None,
        extra={"state": str(row.get("state") or ""), "instType": str(row.get("instType"))},
    )


class SymbolMap:
    """Unified <-> instId of one session's instruments."""

    def __init__(self, instruments: list[Instrument]):
        self._native = {i.symbol: i.native for i in instruments}
        self._unified = {i.native: i.symbol for i in instruments}

    def native(self, unified: str) -> str:
        """Raises KeyError if unknown."""
        return self._native[unified]

    def unified(self, native: str) -> str | None:
        return self._unified.get(native)

    def unified_symbols(self) -> list[str]:
        return list(self._native)

    def natives(self) -> list[str]:
        return list(self._unified)

    def __contains__(self, unified: object) -> bool:
        return unified in self._native
