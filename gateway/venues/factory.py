"""Build a venue session from its settings slice: the one place that knows every venue kind."""

from __future__ import annotations

from gateway.core.clock import Clock
from gateway.core.ports import VenueAdapter
from gateway.venues.sim.config import SimSettings

__all__ = ["build_venue"]


def build_venue(name: str, settings: SimSettings, clock: Clock) -> VenueAdapter:
    if isinstance(settings, SimSettings):
        from gateway.venues.sim.adapter import SimAdapter

        return SimAdapter(name, settings, clock)
    raise ValueError(f"unsupported venue kind {getattr(settings, 'kind', '?')!r}")
