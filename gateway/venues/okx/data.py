"""The market-data half of an OKX session: the public (and business, for candles) connections and books.

Subscriptions per instrument (fact sheet §6): ``books`` (or ``books5`` / ``bbo-tbt`` by setting),
``tickers``, ``trades``, and for swaps ``mark-price`` and ``funding-rate`` on ``/public``; ``candle<bar>``
on ``/business``. Each book push goes through the instrument's pure `BookSync`; a gap (or a non-zero
checksum that does not match) re-subscribes that one channel once, which makes OKX send a new snapshot.
A dropped public connection invalidates every book; the snapshots of the resubscription rebuild them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.events import Depth
from gateway.core.ports import VenueSink
from gateway.venues.okx.book import BookSync
from gateway.venues.okx.config import OkxSettings
from gateway.venues.okx.instruments import SymbolMap
from gateway.venues.okx.parse import (
    BARS,
    MalformedRow,
    bbo_from_levels,
    to_bbo,
    to_kline,
    to_mark_price,
    to_ticker,
    to_trade,
)
from gateway.venues.okx.stream import OkxSocket

__all__ = ["MarketData"]

_INTERVAL_OF_CHANNEL = {f"candle{bar}": interval for interval, bar in BARS.items()}


class MarketData:
    """Public streams and local books of one OKX session."""

    def __init__(self, venue: str, settings: OkxSettings, symbols: Callable[[], SymbolMap], clock: Clock,
                 sink: Callable[[], VenueSink], make_socket: Callable[..., OkxSocket]):
        self.venue = venue
        self._settings = settings
        self._symbols = symbols
        self._clock = clock
        self._sink = sink
        self.books: dict[str, BookSync] = {}  # by instId
        self._funding: dict[str, dict[str, Any]] = {}
        self.bad_rows = 0
        self.resubscribes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.public = make_socket("public", self._on_push, on_state=self._on_public_state)
        self.business = make_socket("business_public", self._on_push) if settings.kline_intervals else None
        swap = settings.market == "swap"
        for inst_id in symbols().natives():
            if settings.books_channel == "books":
                self.books[inst_id] = BookSync(validate_checksum=settings.validate_checksum)
            for channel in (settings.books_channel, "tickers", "trades", *(("mark-price", "funding-rate") if swap
                                                                          else ())):
                self.public.add_subscription({"channel": channel, "instId": inst_id})
            if self.business is not None:
                for interval in settings.kline_intervals:
                    self.business.add_subscription({"channel": f"candle{BARS[interval]}", "instId": inst_id})
        self._log = structlog.get_logger("gateway.venues.okx.data").bind(venue=venue)

    def sockets(self) -> list[OkxSocket]:
        return [s for s in (self.public, self.business) if s is not None]

    def _on_public_state(self, name: str, state: ConnectionState, reason: str | None) -> None:
        if state is not ConnectionState.OPEN:
            for book in self.books.values():
                book.invalidate(f"connection {reason}")
            for book in self.books.values():  # the resubscription of the next connect brings snapshots
                book.resyncing = True

    def _on_push(self, frame: dict[str, Any]) -> None:
        arg = frame.get("arg") or {}
        channel, inst_id = arg.get("channel"), arg.get("instId")
        symbol = self._symbols().unified(str(inst_id))
        rows = frame.get("data")
        if symbol is None or not isinstance(rows, list):
            return
        now = self._clock.now_ms()
        sink = self._sink()
        try:
            if channel == "books" and self.books:
                self._on_books(frame, str(inst_id), symbol, rows, now)
            elif channel in ("bbo-tbt", "books5"):
                for row in rows:
                    sink.on_market(bbo_from_levels(row, self.venue, symbol, now))
            elif channel == "tickers":
                for row in rows:
                    sink.on_market(to_ticker(row, self.venue, symbol))
                    sink.on_market(to_bbo(row, self.venue, symbol, now))
            elif channel == "trades":
                for row in rows:
                    sink.on_market(to_trade(row, self.venue, symbol, now))
            elif channel == "funding-rate":
                if rows:
                    self._funding[str(inst_id)] = rows[-1]
            elif channel == "mark-price":
                for row in rows:
                    sink.on_market(to_mark_price(row, self.venue, symbol, self._funding.get(str(inst_id))))
            elif channel in _INTERVAL_OF_CHANNEL:
                for row in rows:
                    sink.on_market(to_kline(row, self.venue, symbol, _INTERVAL_OF_CHANNEL[channel]))
        except (MalformedRow, KeyError, TypeError, ValueError, IndexError, ArithmeticError) as exc:
            # ArithmeticError: decimal.InvalidOperation of a garbage number (a book update is refused whole
            # by BookSync before this, and re-snapshotted)
            self.bad_rows += 1
            self._log.warning("data.bad_push", channel=channel, error=str(exc)[:200], frame=str(frame)[:300])

    def _on_books(self, frame: dict[str, Any], inst_id: str, symbol: str, rows: list[Any], now: int) -> None:
        book = self.books.get(inst_id)
        if book is None:
            return
        action = frame.get("action")
        for row in rows:
            seq, prev = int(row.get("seqId", -1)), int(row.get("prevSeqId", -1))
            checksum = int(row.get("checksum") or 0)
            bids, asks, ts = row.get("bids") or [], row.get("asks") or [], int(row.get("ts") or now)
            if action == "snapshot":
                step = book.on_snapshot(seq, bids, asks, checksum, ts)
            else:
                step = book.on_update(seq, prev, bids, asks, checksum, ts)
            if step.gap:
                self.resubscribes += 1
                self._log.warning("book.gap", inst_id=inst_id, reason=step.reason, gaps=book.gaps)
                self._spawn(self.public.resubscribe({"channel": "books", "instId": inst_id}))
            if step.applied:
                bid_levels, ask_levels = book.levels(self._settings.published_depth)
                self._sink().on_market(Depth(self.venue, symbol, bid_levels, ask_levels, book.seq_id or 0, ts, now))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.warning("book.resubscribe_failed", error=repr(task.exception())[:200])
