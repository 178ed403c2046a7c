"""Schedules of TWAP and VWAP parents, as pure functions of the horizon and the market's history. Pure.

The horizon [start, end) is cut into `n` equal slices. A schedule is the tuple of cumulative target
fractions at the end of each slice (the last is exactly 1): TWAP's are even (k/n), VWAP's follow a
volume profile. During slice k the parent works toward `cum[k]` (what is *due*); what it should have
done already is `cum[k-1]` (*done by now*). Being behind that by more than the low tolerance is what
makes the engine take liquidity.

VWAP's profile is by time of day: each slice is weighted by the average traded volume per millisecond
of the klines that cover the same time of day on earlier days. When the klines do not cover every
slice's time of day (less than a day of history) or traded nothing, there is no profile and the
schedule falls back to TWAP's.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final, NamedTuple

__all__ = [
    "DAY_MS",
    "KlineVolume",
    "due_amounts",
    "even_schedule",
    "linear_fraction",
    "profile_interval",
    "slice_count",
    "slice_index",
    "volume_profile",
    "volume_schedule",
]

DAY_MS: Final = 86_400_000
_PLACES: Final = Decimal("0.000000000001")
_INTERVALS: Final = (("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000), ("4h", 14_400_000))


class KlineVolume(NamedTuple):
    open_ts: int
    interval_ms: int
    volume: Decimal


def slice_count(duration_ms: int, slice_ms: int, max_slices: int, target: Decimal, min_amount: Decimal) -> int:
    """Return how many slices a horizon gets: one per `slice_ms`, at most `max_slices`, and few enough that
    an even slice is at least the venue's minimum amount (`min_amount`, in the parent's unit)."""
    n = max(1, min(max_slices, duration_ms // max(1, slice_ms)))
    if min_amount > 0:
        n = max(1, min(n, int(target / min_amount)))
    return n


def even_schedule(n: int) -> tuple[Decimal, ...]:
    """TWAP: k/n at the end of slice k (the last exactly 1)."""
    return tuple((Decimal(k) / Decimal(n)).quantize(_PLACES) if k < n else Decimal(1) for k in range(1, n + 1))


def volume_schedule(weights: Sequence[Decimal]) -> tuple[Decimal, ...]:
    """The cumulative schedule of per-slice weights (normalized; the last exactly 1)."""
    total = sum(weights, Decimal(0))
    out: list[Decimal] = []
    running = Decimal(0)
    for i, w in enumerate(weights):
        running += w
        out.append(Decimal(1) if i == len(weights) - 1 else (running / total).quantize(_PLACES))
    return tuple(out)


def profile_interval(duration_ms: int) -> tuple[str, int]:
    """The kline interval to build a profile from: about a slice or coarser, and 1000 of them span days."""
    for name, ms in reversed(_INTERVALS):
        if ms * 4 <= duration_ms:
            return name, ms
    return _INTERVALS[0]


def volume_profile(klines: Sequence[KlineVolume], start_ms: int, end_ms: int, n: int) -> list[Decimal] | None:
    """Weight each of the `n` slices of [start, end) by the volume rate at its time of day. None: no profile.

    A slice's weight is the volume-weighted overlap of the klines with the slice's time-of-day window on
    earlier days, divided by the overlap time (a rate, so uneven coverage does not bias it). Klines at or
    after `start_ms` are ignored (the future). Returns None when some slice has no coverage, or the
    klines traded nothing.
    """
    past = [k for k in klines if k.open_ts + k.interval_ms <= start_ms and k.interval_ms > 0]
    if not past or end_ms <= start_ms or n < 1:
        return None
    width = (end_ms - start_ms) / n
    if width > DAY_MS:
        return None
    weights: list[Decimal] = []
    for i in range(n):
        lo = (start_ms + i * width) % DAY_MS
        hi = lo + width
        volume, covered = 0.0, 0.0
        for k in past:
            a = k.open_ts % DAY_MS
            b = a + k.interval_ms
            overlap = sum(max(0.0, min(b, hi + shift) - max(a, lo + shift)) for shift in (-DAY_MS, 0, DAY_MS))
            if overlap > 0:
                covered += overlap
                volume += float(k.volume) * overlap / k.interval_ms
        if covered <= 0:
            return None
        weights.append(Decimal(repr(volume / covered)))  # a weight, never an order size
    if sum(weights, Decimal(0)) <= 0:
        return None
    return weights


def slice_index(n: int, start_ms: int, end_ms: int, now_ms: int) -> int:
    """The slice `now_ms` falls in (0 before the start, n - 1 at or after the end)."""
    if now_ms <= start_ms:
        return 0
    if now_ms >= end_ms:
        return n - 1
    return min(n - 1, (now_ms - start_ms) * n // (end_ms - start_ms))


def due_amounts(schedule: Sequence[Decimal], target: Decimal, start_ms: int, end_ms: int, now_ms: int
                ) -> tuple[Decimal, Decimal]:
    """Return (done_by_now, due_now) in the parent's unit: the schedule at the end of the previous slice and
    at the end of the current one. At or after the end both are the whole target."""
    if now_ms >= end_ms:
        return target, target
    k = slice_index(len(schedule), start_ms, end_ms, now_ms)
    before = schedule[k - 1] if k > 0 else Decimal(0)
    return target * before, target * schedule[k]


def linear_fraction(start_ms: int, end_ms: int, now_ms: int) -> Decimal:
    """The straight-line schedule (for tracking checks): 0 at the start, 1 at the end."""
    if now_ms <= start_ms:
        return Decimal(0)
    if now_ms >= end_ms:
        return Decimal(1)
    return Decimal(now_ms - start_ms) / Decimal(end_ms - start_ms)
