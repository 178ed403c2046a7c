"""Build a venue session from its settings slice: the one place that knows every venue kind."""

from __future__ import annotations

from gateway.core.clock import Clock
from gateway.core.ports import VenueAdapter
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.lighter.config import LighterSettings
from gateway.venues.okx.config import OkxSettings
from gateway.venues.qe.config import QeSettings
from gateway.venues.sim.config import SimSettings

__all__ = ["build_venue"]


def build_venue(name: str, settings: SimSettings | BinanceSettings | OkxSettings | QeSettings | LighterSettings,
                clock: Clock, budgets: HostBudgets) -> VenueAdapter:
    """Build one venue session. `budgets` is the process's per-host request budgets: a venue's limits are
    per IP, so every session calling one host must share one budget (ANCHORS item 9)."""
    if isinstance(settings, SimSettings):
        from gateway.venues.sim.adapter import SimAdapter

        return SimAdapter(name, settings, clock)
    if isinstance(settings, BinanceSettings):
        from gateway.venues.binance.adapter import BinanceAdapter

        return BinanceAdapter(name, settings, clock, budgets=budgets)
    if isinstance(settings, OkxSettings):
        from gateway.venues.okx.adapter import OkxAdapter

        return OkxAdapter(name, settings, clock, budgets=budgets)
    if isinstance(settings, QeSettings):
        from gateway.venues.qe.adapter import QeAdapter

        return QeAdapter(name, settings, clock, budgets=budgets)
    if isinstance(settings, LighterSettings):
        from gateway.venues.lighter.adapter import LighterAdapter

        return LighterAdapter(name, settings, clock)
    raise ValueError(f"unsupported venue kind {getattr(settings, 'kind', '?')!r}")
