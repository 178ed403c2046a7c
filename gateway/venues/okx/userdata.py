"""The private half of an OKX session: the ``/private`` connection (orders, account, positions; also the
order operations) and the ``/business`` connection (orders-algo), both logged in (fact sheet §6).

Pushes become user events (`user_parse`) pushed to the sink. After a *re*connect of either connection,
a REST catch-up reads the orders and fills since the last event seen (minus a margin) and pushes them
too, so a fill that happened while the socket was down is not lost; fills are de-duplicated by trade id
(a bounded memory), so one seen on the stream is not pushed again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog

from gateway.core.clock import Clock
from gateway.core.errors import GatewayError
from gateway.core.events import Fill
from gateway.core.ports import VenueSink
from gateway.venues.okx.config import OkxSettings
from gateway.venues.okx.execution import OkxExecution
from gateway.venues.okx.instruments import SymbolMap, inst_type
from gateway.venues.okx.parse import MalformedRow
from gateway.venues.okx.stream import OkxSocket
from gateway.venues.okx.user_parse import algo_update, to_balances, to_order_events, to_position

__all__ = ["UserData"]

_CATCHUP_MARGIN_MS = 5_000
_SEEN_FILLS = 20_000


class UserData:
    """Private and business connections of one OKX session."""

    def __init__(self, venue: str, settings: OkxSettings, symbols: Callable[[], SymbolMap], clock: Clock,
                 sink: Callable[[], VenueSink], execution: OkxExecution, make_socket: Callable[..., OkxSocket]):
        self.venue = venue
        self._symbols = symbols
        self._clock = clock
        self._sink = sink
        self._execution = execution
        self.last_event_ms = clock.now_ms()
        self.catchups = 0  # completed catch-ups
        self.catchup_failures = 0
        self.caught_up_fills = 0
        self.bad_rows = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        kind = inst_type(settings.market)
        self.private = make_socket("private", self._on_push, on_opened=self._opened, login=True)
        self.private.add_subscription({"channel": "orders", "instType": kind})
        self.private.add_subscription({"channel": "account"})
        if settings.market == "swap":
            self.private.add_subscription({"channel": "positions", "instType": kind})
        self.business = make_socket("business", self._on_push, on_opened=self._opened, login=True)
        self.business.add_subscription({"channel": "orders-algo", "instType": kind})
        self._log = structlog.get_logger("gateway.venues.okx.user").bind(venue=venue)

    def sockets(self) -> list[OkxSocket]:
        return [self.private, self.business]

    def _on_push(self, frame: dict[str, Any]) -> None:
        channel = (frame.get("arg") or {}).get("channel")
        now = self._clock.now_ms()
        sink = self._sink()
        for row in frame.get("data") or []:
            try:
                if not isinstance(row, dict):
                    raise MalformedRow(f"row is not an object: {str(row)[:100]}")
                if channel == "account":
                    for balance in to_balances(row, self.venue):
                        sink.on_user(balance)
                    continue
                symbol = self._symbols().unified(str(row.get("instId")))
                if symbol is None:
                    continue
                if channel == "orders":
                    update, fill = to_order_events(row, self.venue, symbol, now)
                    self.last_event_ms = max(self.last_event_ms, update.ts)
                    sink.on_user(update)
                    if fill is not None and self._is_new(fill):
                        sink.on_user(fill)
                elif channel == "orders-algo":
                    algo = algo_update(row, self.venue, symbol, now)
                    if algo is not None:
                        sink.on_user(algo)
                elif channel == "positions":
                    sink.on_user(to_position(row, self.venue, symbol))
            except (MalformedRow, KeyError, TypeError, ValueError) as exc:
                self.bad_rows += 1
                self._log.warning("user.bad_push", channel=channel, error=str(exc)[:200], row=str(row)[:300])

    def _is_new(self, fill: Fill) -> bool:
        if fill.trade_id in self._seen:
            return False
        self._seen[fill.trade_id] = None
        if len(self._seen) > _SEEN_FILLS:
            self._seen.popitem(last=False)
        return True

    async def _opened(self, reconnected: bool) -> None:
        if reconnected:
            await self.catch_up()

    async def catch_up(self) -> None:
        """Push the orders and fills since the last event seen (REST), skipping fills already pushed."""
        since = self.last_event_ms - _CATCHUP_MARGIN_MS
        try:
            orders = await self._execution.orders_since(since)
            fills = await self._execution.fills_since(since)
        except GatewayError as exc:
            self.catchup_failures += 1
            self._log.warning("user.catchup_failed", error=exc.message)
            return
        sink = self._sink()
        for update in orders:
            sink.on_user(update)
        for fill in fills:
            if self._is_new(fill):
                self.caught_up_fills += 1
                sink.on_user(fill)
        self.catchups += 1  # counted once everything it read was pushed (tests wait on it)
        self._log.info("user.caught_up", since_ms=since, orders=len(orders), fills=len(fills),
                       new_fills=self.caught_up_fills)
