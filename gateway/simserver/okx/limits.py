"""Per-endpoint request limits of the OKX dialect, in sliding 2-second windows. Pure.

Fact sheet §2 "Rate limits": public endpoints count per IP, private ones per user; the trading
endpoints count per user and instrument (place, cancel and amend each their own budget; a batch counts
its orders against the batch budget). Exceeding a limit answers 50011 (HTTP 429 on REST).
"""

from __future__ import annotations

from collections import deque

__all__ = ["LIMITS", "WindowLimiter"]

WINDOW_MS = 2_000

# endpoint (path under /api/v5, or a WS op) -> requests per 2 s (fact sheet §2)
LIMITS: dict[str, int] = {
    "trade/order": 60, "trade/batch-orders": 300, "trade/cancel-order": 60, "trade/cancel-batch-orders": 300,
    "trade/amend-order": 60, "trade/amend-batch-orders": 300, "trade/orders-pending": 60,
    "trade/orders-history": 40, "trade/orders-history-archive": 20, "trade/fills": 60, "trade/fills-history": 10,
    "trade/order-algo": 20, "trade/cancel-algos": 20, "trade/amend-algos": 20, "trade/orders-algo-pending": 20,
    "trade/orders-algo-history": 20, "account/balance": 10, "account/positions": 10, "account/set-leverage": 20,
    "account/leverage-info": 20, "account/config": 5, "public/instruments": 20, "public/mark-price": 10,
    "public/funding-rate": 10, "market/ticker": 20, "market/tickers": 20, "market/books": 40, "market/trades": 100,
    "market/candles": 40, "market/history-candles": 20, "public/time": 10,
}


class WindowLimiter:
    """Counts requests per key in a sliding window."""

    def __init__(self, window_ms: int = WINDOW_MS):
        self.window_ms = window_ms
        self._hits: dict[tuple[str, ...], deque[int]] = {}

    def admit(self, key: tuple[str, ...], limit: int, now_ms: int, count: int = 1) -> bool:
        """Count `count` requests under `key` if they fit in `limit` per window; return whether they did."""
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now_ms - self.window_ms:
            hits.popleft()
        if len(hits) + count > limit:
            return False
        hits.extend([now_ms] * count)
        return True
