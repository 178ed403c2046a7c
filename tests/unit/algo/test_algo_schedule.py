"""TWAP and VWAP schedules: even slices, the time-of-day volume profile, its TWAP fallback."""

from __future__ import annotations

from decimal import Decimal

from gateway.orders.algo.schedule import (
    DAY_MS,
    KlineVolume,
    due_amounts,
    even_schedule,
    profile_interval,
    slice_count,
    slice_index,
    volume_profile,
    volume_schedule,
)

D = Decimal
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS + 10 * 3_600_000  # 10:00 UTC


def test_even_schedule_ends_exactly_at_one() -> None:
    s = even_schedule(3)
    assert s[-1] == 1 and s[0] < s[1] < s[2] and abs(s[0] - D(1) / 3) < D("1e-11")


def test_slice_count_respects_the_venue_minimum() -> None:
    assert slice_count(60_000, 5_000, 500, D("1"), D("0.001")) == 12
    assert slice_count(60_000, 5_000, 500, D("0.005"), D("0.001")) == 5  # a slice is at least the minimum
    assert slice_count(60_000, 5_000, 4, D("1"), D("0.001")) == 4
    assert slice_count(1_000, 5_000, 500, D("1"), D("0.001")) == 1


def test_due_amounts_step_per_slice() -> None:
    s = even_schedule(4)
    assert due_amounts(s, D(8), 0, 4_000, 0) == (0, 2)
    assert due_amounts(s, D(8), 0, 4_000, 1_500) == (2, 4)
    assert due_amounts(s, D(8), 0, 4_000, 3_999) == (6, 8)
    assert due_amounts(s, D(8), 0, 4_000, 4_000) == (8, 8)
    assert slice_index(4, 0, 4_000, -5) == 0 and slice_index(4, 0, 4_000, 9_999) == 3


def klines(days: int, interval_ms: int, rate) -> list[KlineVolume]:
    """`days` of history before T0 with volume rate(time of day) per kline."""
    start = T0 - days * DAY_MS
    return [KlineVolume(t, interval_ms, D(rate(t % DAY_MS))) for t in range(start, T0, interval_ms)]


def test_profile_follows_the_time_of_day_volume() -> None:
    # Twice the volume from 11:00: a 10:00-12:00 horizon in 4 slices weights the second hour double.
    history = klines(3, 300_000, lambda tod: 20 if tod >= 11 * 3_600_000 else 10)
    weights = volume_profile(history, T0, T0 + 2 * 3_600_000, 4)
    assert weights is not None
    assert weights[0] == weights[1] and weights[2] == weights[3] and weights[2] == 2 * weights[0]
    s = volume_schedule(weights)
    assert abs(s[1] - D(1) / 3) < D("1e-11") and s[-1] == 1


def test_profile_falls_back_without_a_day_of_history_or_volume() -> None:
    short = klines(1, 300_000, lambda tod: 10)[-100:]  # about 8 hours: the horizon's time of day is not covered
    assert volume_profile(short, T0 + 3_600_000, T0 + 2 * 3_600_000, 4) is None
    assert volume_profile(klines(2, 300_000, lambda tod: 0), T0, T0 + 3_600_000, 4) is None
    assert volume_profile([], T0, T0 + 3_600_000, 4) is None


def test_profile_ignores_the_future() -> None:
    future = [KlineVolume(T0 + i * 300_000, 300_000, D(1000)) for i in range(10)]
    history = klines(2, 300_000, lambda tod: 10)
    assert volume_profile(history + future, T0, T0 + 3_600_000, 2) == volume_profile(history, T0, T0 + 3_600_000, 2)


def test_profile_interval_grows_with_the_horizon() -> None:
    assert profile_interval(10_000)[0] == "5m"
    assert profile_interval(4 * 3_600_000)[0] == "1h"
    assert profile_interval(2 * DAY_MS)[0] == "4h"
