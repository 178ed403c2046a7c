"""Request budgets per API host, shared by every session of the daemon (ANCHORS item 9).

A venue's limits are per IP, so two sessions (say two Binance accounts) calling the same host spend one
budget: `HostBudgets` hands out one `HostBudget` per host, and every session of the daemon takes its
budget from the same registry.

A `HostBudget` counts cost per fixed window for each limit (``REQUEST_WEIGHT`` per minute, ...), folds in
what the venue says it has counted (`observe_used`, from response headers), and makes a caller wait:
- until the next window when a call would exceed ``safety`` x the limit;
- until a 429's ``Retry-After`` has passed (`on_rate_limited`), for every session: backing off on the
  first 429 is what keeps an IP from being banned;
- and refuses every call outright while a 418 ban lasts (`on_banned`), logging it at error level.

The decision (`reserve`) takes `now_ms` and is deterministic; only `acquire` sleeps.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from gateway.core.clock import Clock
from gateway.core.errors import VenueRateLimited

__all__ = ["ORDERS", "WEIGHT", "HostBudget", "HostBudgets", "RateLimit"]

WEIGHT = "REQUEST_WEIGHT"
ORDERS = "ORDERS"  # a venue's order-count limits (Binance: per account), budgeted like weight

log = structlog.get_logger("gateway.venues.ratelimit")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One limit of a host: at most `limit` units of `kind` per `interval_ms` window."""

    kind: str
    interval_ms: int
    limit: int


class HostBudget:
    """The request budget of one API host.

    Args:
        host: the host name (for logs and errors).
        limits: the limits in force; replace them with `configure` once the venue has told its own.
        clock: wall-clock time (windows align with the venue's, which are wall-clock minutes).
        safety: the fraction of each limit this daemon allows itself (the rest is head-room for the
            requests in flight and for clock misalignment).
    """

    def __init__(self, host: str, limits: list[RateLimit], clock: Clock, *, safety: float = 0.9):
        self.host = host
        self._clock = clock
        self._safety = safety
        self._limits: dict[tuple[str, int], RateLimit] = {}
        self._used: dict[tuple[str, int], tuple[int, int]] = {}  # (kind, interval) -> (window index, used)
        self.paused_until_ms = 0
        self.banned_until_ms = 0
        self.rate_limited = 0  # 429s seen
        self.bans = 0  # 418s seen
        self.configure(limits)

    def configure(self, limits: list[RateLimit]) -> None:
        """Replace the limits (e.g. with the venue's own, from its exchange info)."""
        self._limits = {(lim.kind, lim.interval_ms): lim for lim in limits}

    @property
    def limits(self) -> list[RateLimit]:
        return list(self._limits.values())

    def used(self, kind: str, interval_ms: int, now_ms: int) -> int:
        """Return the cost counted in the current window of limit (`kind`, `interval_ms`)."""
        window, used = self._used.get((kind, interval_ms), (-1, 0))
        return used if window == now_ms // interval_ms else 0

    def reserve(self, costs: dict[str, int], now_ms: int) -> float:
        """Reserve `costs` (kind -> units) now and return 0, or return the seconds to wait first.

        Raises:
            VenueRateLimited: the host has banned us (418) and the ban has not lifted.
        """
        if now_ms < self.banned_until_ms:
            raise self._ban_error(now_ms)
        if now_ms < self.paused_until_ms:
            return (self.paused_until_ms - now_ms) / 1000
        wait_ms = 0
        for key, limit in self._limits.items():
            cost = costs.get(limit.kind, 0)
            if not cost:
                continue
            used = self.used(limit.kind, limit.interval_ms, now_ms)
            if used and used + cost > limit.limit * self._safety:
                wait_ms = max(wait_ms, limit.interval_ms - now_ms % limit.interval_ms + 1)
        if wait_ms:
            return wait_ms / 1000
        for key, limit in self._limits.items():
            cost = costs.get(limit.kind, 0)
            if cost:
                self._used[key] = (now_ms // limit.interval_ms, self.used(limit.kind, limit.interval_ms, now_ms) + cost)
        return 0.0

    async def acquire(self, costs: dict[str, int]) -> None:
        """Wait until `costs` fit the budget, then spend them.

        Raises:
            VenueRateLimited: the host has banned us; no call goes out until the ban lifts.
        """
        while True:
            wait = self.reserve(costs, self._clock.now_ms())
            if not wait:
                return
            await asyncio.sleep(wait)

    def observe_used(self, kind: str, interval_ms: int, used: int, now_ms: int) -> None:
        """Fold in the venue's own count for the current window (it counts other processes on our IP too)."""
        key = (kind, interval_ms)
        if key not in self._limits:
            return
        window = now_ms // interval_ms
        current = self.used(kind, interval_ms, now_ms)
        if used > current:
            self._used[key] = (window, used)

    def on_rate_limited(self, retry_after_s: float | None, now_ms: int, *, fallback_s: float = 1.0) -> None:
        """A 429: every caller of this host waits `retry_after_s` (or `fallback_s`) before the next call."""
        self.rate_limited += 1
        until = now_ms + int((retry_after_s if retry_after_s is not None else fallback_s) * 1000)
        if until > self.paused_until_ms:
            self.paused_until_ms = until
            log.warning("ratelimit.backing_off", host=self.host, retry_after_s=retry_after_s,
                        paused_until_ms=until)

    def on_banned(self, retry_after_s: float | None, now_ms: int, *, fallback_s: float = 120.0) -> None:
        """A 418: no call to this host goes out until the ban lifts. Logged at error level."""
        self.bans += 1
        until = now_ms + int((retry_after_s if retry_after_s is not None else fallback_s) * 1000)
        if until > self.banned_until_ms:
            self.banned_until_ms = until
            log.error("ratelimit.banned", host=self.host, retry_after_s=retry_after_s, banned_until_ms=until,
                      note="every call to this host is refused until the ban lifts")

    def _ban_error(self, now_ms: int) -> VenueRateLimited:
        remaining = (self.banned_until_ms - now_ms) / 1000
        error = VenueRateLimited(
            f"{self.host} has banned this IP for another {remaining:.1f}s; no call goes out until it lifts",
            venue=self.host, retry_after_s=remaining, venue_code=418,
        )
        error.details["banned"] = True
        return error


class HostBudgets:
    """The registry: one `HostBudget` per host, shared by every session that asks for the same host."""

    def __init__(self, clock: Clock, *, safety: float = 0.9):
        self._clock = clock
        self._safety = safety
        self._budgets: dict[str, HostBudget] = {}

    def budget(self, host: str, default_limits: list[RateLimit]) -> HostBudget:
        """Return the budget of `host`, creating it with `default_limits` the first time."""
        found = self._budgets.get(host)
        if found is None:
            found = self._budgets[host] = HostBudget(host, default_limits, self._clock, safety=self._safety)
        return found

    def hosts(self) -> list[str]:
        return list(self._budgets)
