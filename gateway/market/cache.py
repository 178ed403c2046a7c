"""The market cache: the latest trade, bbo, depth, ticker, klines and mark price per (venue, symbol).

Pure. Each entry remembers when the gateway received it (`recv_ms`); a reader gets `age_ms` and `stale`
against the configured bound. Memory is bounded: a fixed number of trades and klines per symbol.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from gateway.core.events import Bbo, Depth, Kline, MarkPrice, MarketEvent, Ticker, Trade

__all__ = ["MarketCache", "SymbolCache", "Freshness"]

TRADES_KEPT = 1000
KLINES_KEPT = 1000


@dataclass(frozen=True, slots=True)
class Freshness:
    age_ms: int
    stale: bool


@dataclass(slots=True)
class SymbolCache:
    trades: deque[Trade] = field(default_factory=lambda: deque(maxlen=TRADES_KEPT))
    trade_ms: int = 0
    bbo: Bbo | None = None
    bbo_ms: int = 0
    depth: Depth | None = None
    depth_ms: int = 0
    ticker: Ticker | None = None
    ticker_ms: int = 0
    mark: MarkPrice | None = None
    mark_ms: int = 0
    klines: dict[str, deque[Kline]] = field(default_factory=dict)
    kline_ms: dict[str, int] = field(default_factory=dict)
    last_ms: int = 0  # anything received

    def apply(self, event: MarketEvent, now_ms: int) -> None:
        self.last_ms = now_ms
        match event:
            case Trade():
                self.trades.append(event)
                self.trade_ms = now_ms
            case Bbo():
                self.bbo, self.bbo_ms = event, now_ms
            case Depth():
                self.depth, self.depth_ms = event, now_ms
            case Ticker():
                self.ticker, self.ticker_ms = event, now_ms
            case MarkPrice():
                self.mark, self.mark_ms = event, now_ms
            case Kline():
                series = self.klines.get(event.interval)
                if series is None:
                    series = self.klines[event.interval] = deque(maxlen=KLINES_KEPT)
                if series and series[-1].open_ts == event.open_ts:
                    series[-1] = event
                elif not series or series[-1].open_ts < event.open_ts:
                    series.append(event)
                self.kline_ms[event.interval] = now_ms

    def replace_klines(self, interval: str, klines: list[Kline], now_ms: int) -> None:
        self.klines[interval] = deque(sorted(klines, key=lambda k: k.open_ts)[-KLINES_KEPT:], maxlen=KLINES_KEPT)
        self.kline_ms[interval] = now_ms


class MarketCache:
    def __init__(self, stale_after_ms: int):
        self.stale_after_ms = stale_after_ms
        self._symbols: dict[tuple[str, str], SymbolCache] = {}

    def apply(self, event: MarketEvent, now_ms: int) -> None:
        key = (event.venue, event.symbol)
        entry = self._symbols.get(key)
        if entry is None:
            entry = self._symbols[key] = SymbolCache()
        entry.apply(event, now_ms)

    def get(self, venue: str, symbol: str) -> SymbolCache | None:
        return self._symbols.get((venue, symbol))

    def ensure(self, venue: str, symbol: str) -> SymbolCache:
        return self._symbols.setdefault((venue, symbol), SymbolCache())

    def freshness(self, received_ms: int, now_ms: int) -> Freshness:
        age = max(0, now_ms - received_ms) if received_ms else -1
        return Freshness(age, received_ms == 0 or age > self.stale_after_ms)

    def is_warm(self, venue: str, symbol: str, now_ms: int) -> bool:
        """Bbo and depth present and fresh: what `/ready` asks of every configured symbol."""
        entry = self._symbols.get((venue, symbol))
        if entry is None or entry.bbo is None or entry.depth is None:
            return False
        return not (self.freshness(entry.bbo_ms, now_ms).stale or self.freshness(entry.depth_ms, now_ms).stale)

    def items(self) -> list[tuple[tuple[str, str], SymbolCache]]:
        return list(self._symbols.items())
