"""Klines for every interval and a rolling 24h ticker of one symbol, built from its trades. Pure.

Bars open at multiples of their interval. A bar's open is its first trade; a bar without trades shows
the previous close as open, high, low and close with zero volume (a quiet market still advances time). The ticker window is counted in
whole minutes: the last 1,440 one-minute buckets, the current one included.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from gateway.core.events import KLINE_INTERVALS, Kline, Ticker

__all__ = ["CandleSeries"]

_ZERO = Decimal(0)
_MINUTE = 60_000
_DAY_MINUTES = 1_440


class _Bar:
    __slots__ = ("close", "high", "low", "open", "open_ts", "quote_volume", "volume")

    def __init__(self, open_ts: int, price: Decimal):
        self.open_ts = open_ts
        self.open = self.high = self.low = self.close = price
        self.volume = _ZERO
        self.quote_volume = _ZERO

    def add(self, price: Decimal, qty: Decimal) -> None:
        if not self.volume:  # the first trade of a bar sets its open: a quiet bar only carried the close
            self.open = self.high = self.low = price
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.quote_volume += price * qty


class CandleSeries:
    """Klines (the last `keep` per interval) and the 24h ticker of one symbol."""

    def __init__(self, venue: str, symbol: str, intervals: dict[str, int] | None = None, keep: int = 500):
        self.venue = venue
        self.symbol = symbol
        self.intervals = dict(intervals or KLINE_INTERVALS)
        self.bars: dict[str, deque[_Bar]] = {name: deque(maxlen=keep) for name in self.intervals}
        self._minutes: deque[_Bar] = deque(maxlen=_DAY_MINUTES)
        self._closed_high: Decimal | None = None  # over the closed minutes in the window
        self._closed_low: Decimal | None = None
        self._closed_volume = _ZERO
        self._closed_quote_volume = _ZERO
        self.last: Decimal | None = None

    def update(self, now_ms: int, trades: list[tuple[Decimal, Decimal]]) -> list[Kline]:
        """Advance to `now_ms`, add `trades` as (price, qty), and return the klines that changed.

        A bar that ended is returned once with ``closed=True``; the current bar of each interval that
        rolled or traded is returned with ``closed=False``.
        """
        if self.last is None:
            if not trades:
                return []
            self.last = trades[0][0]
        changed: list[Kline] = []
        last = self.last
        for name, span in self.intervals.items():
            bars = self.bars[name]
            open_ts = now_ms - now_ms % span
            current = bars[-1] if bars else None
            touched = bool(trades)
            if current is None or current.open_ts < open_ts:
                if current is not None:
                    changed.append(self._kline(name, current, closed=True))
                current = _Bar(open_ts, last)
                bars.append(current)
                touched = True
            for price, qty in trades:
                current.add(price, qty)
            if touched:
                changed.append(self._kline(name, current, closed=False))
        self._update_ticker(now_ms, last, trades)
        if trades:
            self.last = trades[-1][0]
        return changed

    def _update_ticker(self, now_ms: int, last: Decimal, trades: list[tuple[Decimal, Decimal]]) -> None:
        minutes = self._minutes
        open_ts = now_ms - now_ms % _MINUTE
        if not minutes or minutes[-1].open_ts < open_ts:
            minutes.append(_Bar(open_ts, last))
            self._recount(open_ts)
        current = minutes[-1]
        for price, qty in trades:
            current.add(price, qty)

    def _recount(self, open_ts: int) -> None:
        # Once a minute: drop buckets older than 24h and total the closed ones.
        minutes = self._minutes
        while minutes and minutes[0].open_ts <= open_ts - _DAY_MINUTES * _MINUTE:
            minutes.popleft()
        closed = list(minutes)[:-1]
        self._closed_high = max((b.high for b in closed), default=None)
        self._closed_low = min((b.low for b in closed), default=None)
        self._closed_volume = sum((b.volume for b in closed), _ZERO)
        self._closed_quote_volume = sum((b.quote_volume for b in closed), _ZERO)

    def ticker(self, now_ms: int) -> Ticker | None:
        """Return the rolling 24h ticker, or None before the first trade."""
        if not self._minutes or self.last is None:
            return None
        current = self._minutes[-1]
        high, low = current.high, current.low
        if self._closed_high is not None and self._closed_high > high:
            high = self._closed_high
        if self._closed_low is not None and self._closed_low < low:
            low = self._closed_low
        return Ticker(
            venue=self.venue,
            symbol=self.symbol,
            last=self.last,
            open=self._minutes[0].open,
            high=high,
            low=low,
            volume=self._closed_volume + current.volume,
            quote_volume=self._closed_quote_volume + current.quote_volume,
            ts=now_ms,
        )

    def klines(self, interval: str, limit: int, start: int | None = None, end: int | None = None) -> list[Kline]:
        """Return up to `limit` klines of `interval` (oldest first; the last is the open one)."""
        bars = self.bars.get(interval)
        if bars is None:
            raise KeyError(interval)
        newest = bars[-1].open_ts if bars else None
        found = [
            self._kline(interval, b, closed=b.open_ts != newest)
            for b in bars
            if (start is None or b.open_ts >= start) and (end is None or b.open_ts <= end)
        ]
        return found[-limit:] if limit > 0 else []

    def _kline(self, interval: str, bar: _Bar, closed: bool) -> Kline:
        return Kline(
            venue=self.venue,
            symbol=self.symbol,
            interval=interval,
            open_ts=bar.open_ts,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            closed=closed,
        )
