"""What the local engine reads of the market each tick: best bid/ask and the tape since the last tick.

Read from the market cache (no venue call on the tick path); a missing or stale best bid/ask starts a
background refresh from the venue, and the tick goes on with what the cache has.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.errors import GatewayError
from gateway.core.events import Trade
from gateway.market.service import MarketService
from gateway.orders.algo.sizing import MarketSnapshot

__all__ = ["MarketView"]

log = structlog.get_logger("gateway.algos")


class MarketView:
    """Snapshots and tape volume per (venue, symbol) for the engine's ticker."""

    def __init__(self, market: MarketService, clock: Clock):
        self._market = market
        self._clock = clock
        self._refreshing: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_trade: dict[tuple[str, str], Trade] = {}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def snapshot(self, venue: str, symbol: str) -> MarketSnapshot | None:
        """Best bid/ask and last price from the cache (None when the cache has no bid/ask yet)."""
        entry = self._market.entry(venue, symbol)
        bbo = entry.bbo if entry is not None else None
        if entry is None or bbo is None or self._market.cache.freshness(entry.bbo_ms, self._clock.now_ms()).stale:
            self._refresh(venue, symbol)
            if entry is None or bbo is None:
                return None
        last = entry.trades[-1].price if entry.trades else None
        return MarketSnapshot(bbo.bid, bbo.ask, last)

    def keep_only(self, keys: set[tuple[str, str]]) -> None:
        """Stop counting the tape of other symbols (a later parent on them starts afresh)."""
        for key in [k for k in self._last_trade if k not in keys]:
            del self._last_trade[key]

    def new_volume(self, key: tuple[str, str]) -> tuple[Decimal, Decimal]:
        """Tape volume (base, quote) since the last call for `key`, from the cache's recent trades."""
        entry = self._market.entry(*key)
        trades = entry.trades if entry is not None else None
        if not trades:
            return Decimal(0), Decimal(0)
        last_seen = self._last_trade.get(key)
        self._last_trade[key] = trades[-1]
        qty = notional = Decimal(0)
        if last_seen is None:
            return qty, notional  # the first look: start counting from here
        for trade in reversed(trades):  # newest first, back to the last trade already counted
            if trade is last_seen:
                break
            qty += trade.qty
            notional += trade.qty * trade.price
        return qty, notional

    def _refresh(self, venue: str, symbol: str) -> None:
        key = (venue, symbol)
        if key in self._refreshing:
            return
        self._refreshing.add(key)

        async def fetch() -> None:
            try:
                await self._market.bbo(venue, symbol)  # refreshes the cache from the venue
            except GatewayError as exc:
                log.warning("algos.bbo_refresh_failed", venue=venue, symbol=symbol, error=exc.message)
            finally:
                self._refreshing.discard(key)

        task = asyncio.create_task(fetch(), name=f"algos.refresh.{venue}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
