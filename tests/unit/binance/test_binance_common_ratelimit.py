"""The per-host budget: windows, the venue's own count, 429 pauses, 418 bans, one budget per host."""

from __future__ import annotations

import pytest

from gateway.core.clock import TestClock
from gateway.core.errors import VenueRateLimited
from gateway.venues.common.ratelimit import WEIGHT, HostBudget, HostBudgets, RateLimit
from gateway.venues.common.timesync import TimeOffset

MINUTE = 60_000


def budget(limit: int = 100, safety: float = 1.0) -> tuple[HostBudget, TestClock]:
    clock = TestClock(start_ms=10 * MINUTE)
    return HostBudget("api.binance.com", [RateLimit(WEIGHT, MINUTE, limit)], clock, safety=safety), clock


def test_spends_until_the_limit_then_waits_for_the_next_window() -> None:
    b, clock = budget(100)
    now = clock.now_ms() + 15_000
    assert b.reserve({WEIGHT: 60}, now) == 0
    assert b.reserve({WEIGHT: 40}, now) == 0
    assert b.reserve({WEIGHT: 1}, now) == pytest.approx(45.001)
    assert b.reserve({WEIGHT: 1}, 11 * MINUTE) == 0  # a new window


def test_safety_keeps_head_room() -> None:
    b, clock = budget(100, safety=0.9)
    assert b.reserve({WEIGHT: 90}, clock.now_ms()) == 0
    assert b.reserve({WEIGHT: 1}, clock.now_ms()) > 0


def test_the_venues_count_raises_ours() -> None:
    b, clock = budget(100)
    now = clock.now_ms()
    b.observe_used(WEIGHT, MINUTE, 99, now)  # another process on our IP spent it
    assert b.used(WEIGHT, MINUTE, now) == 99
    assert b.reserve({WEIGHT: 5}, now) > 0
    b.observe_used(WEIGHT, MINUTE, 10, now)  # a lower count never lowers ours
    assert b.used(WEIGHT, MINUTE, now) == 99


def test_unknown_limits_and_kinds_are_ignored() -> None:
    b, clock = budget(100)
    b.observe_used(WEIGHT, 1_000, 500, clock.now_ms())
    assert b.reserve({"ORDERS": 5}, clock.now_ms()) == 0


def test_a_429_pauses_every_caller_for_retry_after() -> None:
    b, clock = budget(100)
    now = clock.now_ms()
    b.on_rate_limited(2.5, now)
    assert b.reserve({WEIGHT: 1}, now) == pytest.approx(2.5)
    assert b.reserve({WEIGHT: 1}, now + 2_500) == 0
    assert b.rate_limited == 1


def test_a_418_refuses_every_call_until_the_ban_lifts() -> None:
    b, clock = budget(100)
    now = clock.now_ms()
    b.on_banned(30, now)
    with pytest.raises(VenueRateLimited) as caught:
        b.reserve({WEIGHT: 1}, now + 29_000)
    assert caught.value.details["banned"] is True
    assert caught.value.retry_after_s == pytest.approx(1.0)
    assert b.reserve({WEIGHT: 1}, now + 30_000) == 0


def test_configure_replaces_the_limits() -> None:
    b, clock = budget(100)
    b.configure([RateLimit(WEIGHT, 1_000, 5)])
    now = clock.now_ms()
    assert b.reserve({WEIGHT: 5}, now) == 0
    assert b.reserve({WEIGHT: 1}, now) > 0


def test_the_registry_shares_one_budget_per_host() -> None:
    budgets = HostBudgets(TestClock())
    limits = [RateLimit(WEIGHT, MINUTE, 10)]
    a = budgets.budget("fapi.binance.com", limits)
    assert budgets.budget("fapi.binance.com", []) is a
    assert budgets.budget("api.binance.com", limits) is not a
    assert sorted(budgets.hosts()) == ["api.binance.com", "fapi.binance.com"]


async def test_acquire_waits_for_the_pause() -> None:
    clock = TestClock()
    b = HostBudget("h", [RateLimit(WEIGHT, MINUTE, 10)], clock)
    await b.acquire({WEIGHT: 1})
    assert b.used(WEIGHT, MINUTE, clock.now_ms()) == 1


def test_time_offset_takes_the_median_and_resets() -> None:
    offset = TimeOffset(keep=3)
    assert offset.on_sample(1_000, 3_010, 1_020) == 2_000  # server stamped mid-way
    offset.on_sample(1_000, 3_500, 1_000)
    offset.on_sample(1_000, 2_900, 1_000)
    assert offset.offset_ms == 2_000
    assert offset.server_now(5) == 2_005
    offset.reset()
    assert offset.on_sample(0, -10_000, 0) == -10_000
