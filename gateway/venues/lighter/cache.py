"""The market cache: best bid / ask and last trade per market, with their age. Pure.

Fed by the ``order_book`` channel (a snapshot, then diffs of ``{price, size}`` where size 0 removes the
level; fact sheet §7) and by the REST polling loop when the stream is down (the seed's
``start_market_cache_loop``). ``get`` answers the seed's ``get_price_cache``: last_trade, best_bid,
best_ask, age_sec and stale. Market orders read their worst price from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["CacheEntry", "MarketCache"]


@dataclass
class CacheEntry:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    last_trade: Decimal | None = None
    updated_ms: int | None = None
    offset: int | None = None  # the channel's offset of the last applied frame
    source: str = ""  # stream | poll


class MarketCache:
    """Best prices per unified symbol, and when they were last refreshed.

    Args:
        stale_ms: an entry older than this reports ``stale``.
    """

    def __init__(self, stale_ms: int):
        self._entries: dict[str, CacheEntry] = {}
        self._stale_ms = stale_ms

    def entry(self, symbol: str) -> CacheEntry:
        found = self._entries.get(symbol)
        if found is None:
            found = self._entries[symbol] = CacheEntry()
        return found

    def on_book(self, symbol: str, asks: list[dict[str, Any]], bids: list[dict[str, Any]], now_ms: int, *,
                snapshot: bool, offset: int | None = None) -> CacheEntry:
        """Apply an ``order_book`` frame (a snapshot replaces the book; a diff updates it)."""
        entry = self.entry(symbol)
        if snapshot:
            entry.bids.clear()
            entry.asks.clear()
        for side, rows in ((entry.bids, bids), (entry.asks, asks)):
            for row in rows:
                price, size = Decimal(str(row["price"])), Decimal(str(row["size"]))
                if size == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        entry.best_bid = max(entry.bids) if entry.bids else None
        entry.best_ask = min(entry.asks) if entry.asks else None
        entry.updated_ms, entry.offset, entry.source = now_ms, offset, "stream"
        return entry

    def on_quote(self, symbol: str, now_ms: int, *, best_bid: Decimal | None = None,
                 best_ask: Decimal | None = None, last_trade: Decimal | None = None, source: str = "poll") -> None:
        """Record polled prices (None leaves a field as it is)."""
        entry = self.entry(symbol)
        if best_bid is not None:
            entry.best_bid = best_bid
        if best_ask is not None:
            entry.best_ask = best_ask
        if last_trade is not None:
            entry.last_trade = last_trade
        entry.updated_ms, entry.source = now_ms, source

    def on_trade(self, symbol: str, price: Decimal) -> None:
        self.entry(symbol).last_trade = price

    def get(self, symbol: str, now_ms: int) -> dict[str, Any] | None:
        """Return the seed's cache view of `symbol` (None: never filled)."""
        entry = self._entries.get(symbol)
        if entry is None or entry.updated_ms is None:
            return None
        age_ms = max(0, now_ms - entry.updated_ms)
        return {"last_trade": entry.last_trade, "best_bid": entry.best_bid, "best_ask": entry.best_ask,
                "age_sec": age_ms / 1000, "stale": age_ms > self._stale_ms, "source": entry.source}

    def is_fresh(self, symbol: str, now_ms: int) -> bool:
        view = self.get(symbol, now_ms)
        return view is not None and not view["stale"]
