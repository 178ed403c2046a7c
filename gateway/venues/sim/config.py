"""Settings of the embedded simulated exchange (venue kind `sim`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from gateway.core.symbols import parse_symbol

__all__ = ["SimSettings", "SimSymbolSettings"]


class SimSymbolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(description="unified symbol, e.g. BTC/USDT or BTC/USDT:USDT")
    native: str | None = Field(None, description="native alias; default BTCUSDT (spot), BTCUSDT_PERP (perp)")
    start_price: Decimal = Field(gt=0)
    tick_size: Decimal = Field(gt=0)
    step_size: Decimal = Field(gt=0)
    min_qty: Decimal = Field(gt=0)
    min_notional: Decimal = Field(Decimal(5), ge=0)
    volatility: float = Field(0.0002, gt=0, lt=0.1, description="std-dev of the mid's relative step")

    @field_validator("symbol")
    @classmethod
    def _unified(cls, value: str) -> str:
        return str(parse_symbol(value))

    @property
    def native_name(self) -> str:
        if self.native:
            return self.native
        parsed = parse_symbol(self.symbol)
        plain = f"{parsed.base}{parsed.quote}"
        return plain if parsed.settle is None else f"{plain}_PERP"


def _default_symbols() -> list[SimSymbolSettings]:
    return [
        SimSymbolSettings(symbol="BTC/USDT", start_price=Decimal("65000"), tick_size=Decimal("0.01"),
                          step_size=Decimal("0.00001"), min_qty=Decimal("0.00001")),
        SimSymbolSettings(symbol="ETH/USDT", start_price=Decimal("3500"), tick_size=Decimal("0.01"),
                          step_size=Decimal("0.0001"), min_qty=Decimal("0.0001")),
        SimSymbolSettings(symbol="BTC/USDT:USDT", start_price=Decimal("65000"), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.001"), min_qty=Decimal("0.001")),
    ]


class SimSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sim"] = "sim"
    seed: int = 42
    symbols: list[SimSymbolSettings] = Field(default_factory=_default_symbols, min_length=1)
    balances: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDT": Decimal(100_000), "BTC": Decimal(1), "ETH": Decimal(10)}
    )
    maker_fee: Decimal = Field(Decimal("0.0002"), ge=0, lt=1)
    taker_fee: Decimal = Field(Decimal("0.0004"), ge=0, lt=1)
    message_rate: float = Field(20.0, gt=0, le=100_000, description="synthetic market steps per second, per symbol")
    latency_ms: float = Field(0.0, ge=0, le=10_000, description="artificial venue latency on every request")
    answer_latency_ms: float = Field(
        0.0, ge=0, le=10_000, description="artificial latency of an order command's answer, after the venue acted"
    )
    depth_levels: PositiveInt = Field(50, le=500, description="levels the synthetic makers keep per side")
    default_leverage: PositiveInt = Field(10, le=125)
    state_path: str | None = Field(None, description="the sim exchange's own store; None keeps it in memory")
