"""Settings of the bracket service (virtual TP/SL): reconciliation loops, policies, and a test-only pause."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.orders.brackets.reconcile import CrossedTriggerPolicy, ReconcilePolicy

__all__ = ["BracketsSettings"]


class BracketsSettings(BaseModel):
    """The `brackets:` slice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reconcile_interval_s: float = Field(10.0, gt=0, le=3600, description="period of the background reconcile pass")
    grace_ms: int = Field(
        10_000, ge=0,
        description="a leg request younger than this may still be in flight: not vanished, not an orphan",
    )
    match_window_ms: int = Field(300_000, gt=0, description="time window of the field match for venues without ids")
    crossed_trigger: CrossedTriggerPolicy = Field(
        CrossedTriggerPolicy.FIRE,
        description="an emulated trigger crossed while the gateway was away: fire | needs_attention",
    )
    cancel_unknown: bool = Field(True, description="cancel open orders carrying the id of a bracket we do not hold")
    position_settle_ms: int = Field(
        300, ge=0,
        description="a position report that says flat/flipped is acted on this long after it came (fills race it)",
    )
    ended_retention_ms: int = Field(
        3_600_000, ge=0, description="ended brackets stay in memory this long (their leftovers are orphans)"
    )
    max_lookback_ms: int = Field(
        86_400_000, gt=0, description="reconciliation reads venue orders and fills at most this far back"
    )
    reconcile_timeout_s: float = Field(15.0, gt=0, description="deadline of fetching one venue's view")
    startup_timeout_s: float = Field(20.0, gt=0, description="deadline of the startup pass and its repairs")
    stop_timeout_s: float = Field(5.0, gt=0, description="deadline to drain in-flight bracket work on stop")
    debug_pause_before_legs_ms: int = Field(
        0, ge=0,
        description="TEST ONLY: wait this long (logging bracket.debug_pause) before sending a native leg placement",
    )

    def policy(self, grace_ms: int | None = None) -> ReconcilePolicy:
        """Return the pure reconciliation policy these settings describe (with another grace, if given)."""
        return ReconcilePolicy(match_window_ms=self.match_window_ms,
                               grace_ms=self.grace_ms if grace_ms is None else grace_ms,
                               crossed_trigger=self.crossed_trigger, cancel_unknown=self.cancel_unknown)
