"""The sim's instruments as OKX instruments. Pure.

Mapping (documented in docs/venues/okx.md, "The OKX dialect"): a sim spot symbol ``BTC/USDT`` is the SPOT instrument
``BTC-USDT`` (sizes in base currency: ``lotSz`` = the sim step, ``minSz`` = the sim minimum); a sim
perpetual ``BTC/USDT:USDT`` is the linear SWAP ``BTC-USDT-SWAP`` whose sizes are contracts of ``ctVal``
base currency each. ``ctVal`` defaults to the sim instrument's contract size (1) and can be set per
instId; ``lotSz`` = step / ctVal and ``minSz`` = minimum / ctVal, so one contract-size order maps to
exactly one engine quantity (``sz * ctVal``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.core.enums import MarketType
from gateway.core.instruments import Instrument

__all__ = ["OkxInstrument", "build_okx_instruments", "inst_id_of"]


def inst_id_of(instrument: Instrument) -> str:
    plain = f"{instrument.base}-{instrument.quote}"
    return f"{plain}-SWAP" if instrument.type is MarketType.PERP else plain


@dataclass(frozen=True, slots=True)
class OkxInstrument:
    """One sim instrument as OKX lists it."""

    inst_id: str
    inst_type: str  # SPOT | SWAP
    instrument: Instrument
    ct_val: Decimal  # base per contract (SWAP); 1 on SPOT

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def is_swap(self) -> bool:
        return self.inst_type == "SWAP"

    @property
    def lot_sz(self) -> Decimal:
        return (self.instrument.step_size / self.ct_val).normalize()

    @property
    def min_sz(self) -> Decimal:
        return (self.instrument.min_qty / self.ct_val).normalize()

    def to_qty(self, sz: Decimal) -> Decimal:
        """Wire size (contracts or base) -> engine quantity (base)."""
        return sz * self.ct_val

    def to_sz(self, qty: Decimal) -> Decimal:
        """Engine quantity (base) -> wire size (contracts or base)."""
        return (qty / self.ct_val).normalize() if self.ct_val != 1 else qty

    def row(self, max_leverage: int) -> dict[str, Any]:
        """The ``GET /api/v5/public/instruments`` item (fact sheet §3)."""
        i = self.instrument
        swap = self.is_swap
        return {
            "instType": self.inst_type, "instId": self.inst_id,
            "instFamily": f"{i.base}-{i.quote}" if swap else "", "uly": f"{i.base}-{i.quote}" if swap else "",
            "baseCcy": "" if swap else i.base, "quoteCcy": "" if swap else i.quote,
            "settleCcy": (i.settle or i.quote) if swap else "",
            "ctVal": _s(self.ct_val) if swap else "", "ctMult": "1" if swap else "",
            "ctValCcy": i.base if swap else "", "ctType": "linear" if swap else "",
            "tickSz": _s(i.tick_size), "lotSz": _s(self.lot_sz), "minSz": _s(self.min_sz),
            "lever": str(max_leverage) if swap else "", "state": "live", "ruleType": "normal",
            "listTime": "1600000000000", "expTime": "", "alias": "", "optType": "", "stk": "",
            "maxLmtSz": "100000000", "maxMktSz": "1000000", "maxLmtAmt": "20000000", "maxMktAmt": "1000000",
            "maxTriggerSz": "100000000", "maxStopSz": "1000000", "maxTwapSz": "", "maxIcebergSz": "",
            "instIdCode": zlib.crc32(self.inst_id.encode()) % 1_000_000, "upcChg": [],
        }


def build_okx_instruments(instruments: Mapping[str, Instrument], ct_vals: Mapping[str, Decimal]
                          ) -> dict[str, OkxInstrument]:
    """Return instId -> OKX instrument for every sim instrument (`ct_vals`: instId -> ctVal overrides)."""
    found: dict[str, OkxInstrument] = {}
    for instrument in instruments.values():
        inst_id = inst_id_of(instrument)
        swap = instrument.type is MarketType.PERP
        ct_val = Decimal(ct_vals.get(inst_id, instrument.contract_size)) if swap else Decimal(1)
        found[inst_id] = OkxInstrument(inst_id, "SWAP" if swap else "SPOT", instrument, ct_val)
    return found


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f")
