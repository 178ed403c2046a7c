"""Settings of the order path: per-strategy risk limits, unknown resolution, reconciliation, the journal."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["OrdersSettings", "RiskLimits"]


class RiskLimits(BaseModel):
    """Pre-trade limits of one strategy. Every limit is optional; None means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_order_notional: Decimal | None = Field(None, gt=0, description="price * qty of one order (quote)")
    max_open_orders: int | None = Field(None, ge=0, description="non-terminal orders at once")
    max_position: Decimal | None = Field(
        None, ge=0, description="abs net qty per symbol, counting fills plus the open orders on that side"
    )
    max_orders_per_s: int | None = Field(None, ge=0, description="placements in any 1 s window")


class OrdersSettings(BaseModel):
    """The order manager, its resolver and reconciliation, and the SQLite journal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_file: str = Field("gateway.db", description="SQLite file, relative to the data directory")
    db_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", description="NORMAL: WAL survives process crashes, may lose the last commits on power loss"
    )
    journal_log: bool = Field(
        True,
        description="NORMAL only: each journal batch is durable once appended to `<db_file>-orders.log` (one "
                    "file write), SQLite follows behind; off: each batch is a SQLite commit before anything is sent",
    )
    default_risk: RiskLimits = Field(default_factory=RiskLimits, description="limits of strategies not listed")
    risk: dict[str, RiskLimits] = Field(default_factory=dict, description="limits by strategy name")
    unknown_backoff_base_ms: int = Field(250, gt=0, description="first delay of an unknown-order query")
    unknown_backoff_max_ms: int = Field(10_000, gt=0, description="cap of the query backoff")
    unknown_reject_after_ms: int = Field(
        10_000, gt=0,
        description="a placement the venue still does not know this long after the send is REJECTED",
    )
    resolve_interval_ms: int = Field(100, gt=0, description="how often the resolver looks for due queries")
    reconcile_lookback_ms: int = Field(
        60_000, ge=0, description="catch-up starts this long before the last event we recorded per venue"
    )
    reconcile_interval_ms: int = Field(
        60_000, ge=0, description="a periodic reconciliation with every venue; 0 turns it off"
    )
    reconcile_timeout_s: float = Field(10.0, gt=0, description="deadline of one venue's reconciliation")
    closed_order_retention_ms: int = Field(
        3_600_000, ge=60_000,
        description="terminal orders (and their fill ids) stay in memory this long (at least a minute: far "
                    "longer than SQLite may lag behind the journal's append log, bounded by its 5 s busy timeout)",
    )
    request_timeout_s: float = Field(10.0, gt=0, description="a venue call taking longer is an unknown outcome")
    stop_timeout_s: float = Field(5.0, gt=0, description="deadline to drain the inbox and journal on stop")
    max_batch: int = Field(512, ge=1, description="messages decided per journal transaction at most")

    @model_validator(mode="after")
    def _backoff_order(self) -> OrdersSettings:
        if self.unknown_backoff_max_ms < self.unknown_backoff_base_ms:
            raise ValueError("unknown_backoff_max_ms must be >= unknown_backoff_base_ms")
        return self

    def limits_for(self, strategy: str | None) -> RiskLimits:
        """Return the limits of `strategy` (the default limits when it has none of its own)."""
        if strategy is None:
            return self.default_risk
        return self.risk.get(strategy, self.default_risk)
