"""Settings of the local algo engine (the `algos:` slice)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.orders.algo.engine import Tuning

__all__ = ["AlgoSettings"]


class AlgoSettings(BaseModel):
    """The `algos:` slice: how the local engine slices TWAP / VWAP / POV parents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick_ms: int = Field(250, ge=10, le=10_000, description="how often every running parent is re-decided")
    slice_ms: int = Field(30_000, ge=100, description="target length of a TWAP/VWAP slice (one child per slice)")
    max_slices: int = Field(500, ge=1, le=100_000, description="at most this many slices per parent")
    min_duration_s: int = Field(10, ge=0, description="execution_duration_s must exceed this (QE: > 10)")
    reprice_ms: int = Field(1_000, ge=0, description="a maker child outbid this long is placed again at the touch")
    overtime_ms: int = Field(5_000, ge=0, description="a must-complete parent keeps taking this long after its end")
    max_rejects: int = Field(10, ge=1, description="consecutive refused children that fail the parent")
    reject_backoff_ms: int = Field(250, ge=0, description="after a refused child, wait this long before the next")
    kline_limit: int = Field(1000, ge=10, le=1000, description="klines read to build a VWAP volume profile")
    ended_retention_ms: int = Field(3_600_000, ge=0, description="ended parents stay in memory this long")
    startup_timeout_s: float = Field(20.0, gt=0, description="deadline of the startup pass over live children")
    stop_timeout_s: float = Field(5.0, gt=0, description="deadline to drain in-flight child calls on stop")

    def tuning(self) -> Tuning:
        return Tuning(reprice_ms=self.reprice_ms, overtime_ms=self.overtime_ms, max_rejects=self.max_rejects,
                      reject_backoff_ms=self.reject_backoff_ms)
