"""Settings of the market cache and its fallback poller."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MarketSettings"]


class MarketSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stale_after_ms: int = Field(5_000, gt=0, description="a cached snapshot older than this is stale")
    poll_interval_ms: int = Field(1_000, gt=0, description="fallback polling period while a stream is down")
    venue_timeout_ms: int = Field(5_000, gt=0, description="deadline of an on-demand venue fetch")
