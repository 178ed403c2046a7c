"""What the session learns and pushes: stream frames, the REST poller, accepted-but-unseen orders.

- ``order_book`` frames update the market cache (and a Bbo goes to the sink);
- ``account_all_orders`` / ``account_all_trades`` frames become `OrderUpdate` / `Fill` reports;
- the poller, every ``pending_poll_s``: refreshes the cache of every market whose stream entry is stale
  (REST ``orderBookOrders`` + ``recentTrades``: the seed's cache loop, as the fallback), and looks up by
  client order index the orders the venue accepted but has not shown yet and the orders with a cancel
  in flight. An accepted order still unseen after ``pending_reject_after_s`` is reported UNKNOWN (the
  gateway's resolver then asks the venue until it knows; an unknown is never guessed into a reject).
A report that cannot be parsed is logged with its frame and skipped: nothing else is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from gateway.core.enums import OrderStatus
from gateway.core.errors import GatewayError
from gateway.core.events import Bbo, Fill, OrderUpdate
from gateway.venues.lighter import parse
from gateway.venues.lighter.constants import ORDER_INDEX_MIN
from gateway.venues.lighter.execution import accepted_update
from gateway.venues.lighter.stream import flatten

if TYPE_CHECKING:
    from gateway.venues.lighter.adapter import LighterAdapter

__all__ = ["UserFeed"]

log = structlog.get_logger("gateway.venues.lighter")


class UserFeed:
    """The session's inbound side (see the module docstring)."""

    def __init__(self, adapter: LighterAdapter):
        self._a = adapter
        self._watch: dict[int, int] = {}  # client order index or order index -> 0 (insertion-ordered set)
        self.seen_trades: dict[str, None] = {}
        self.bad_reports = 0
        self.polls = 0
        self.poll_failures = 0
        self._next_quote = 0.0
        self._next_markets = 0.0

    # --- conversions ---------------------------------------------------------------------------------

    def to_update(self, order: dict[str, Any]) -> OrderUpdate | None:
        a = self._a
        try:
            update = parse.to_order_update(a.name, order, a.spec_of_market, a.ids.client_order_id_of, a.now_ms())
        except parse.LighterParseError as exc:
            self.bad_reports += 1
            log.warning("lighter.bad_order", venue=a.name, error=str(exc), order=str(order)[:300])
            return None
        index = int(order.get("client_order_index") or 0)
        execution = a.execution
        if execution is not None and index in execution.pending:
            del execution.pending[index]
        if update.qty == 0 and index in a.grouped_sizes:
            # A grouped child waiting for its parent has base amount 0 (the venue sizes it when the parent
            # fills): report the size the gateway asked for, not an order of nothing.
            update = replace(update, qty=a.grouped_sizes[index])
        elif update.qty > 0:
            a.grouped_sizes.pop(index, None)
        return update

    def to_updates(self, orders: list[dict[str, Any]]) -> list[OrderUpdate]:
        return [u for u in (self.to_update(o) for o in orders) if u is not None]

    def to_fill(self, trade: dict[str, Any]) -> Fill | None:
        a = self._a
        try:
            spec = a.spec_of_market(int(trade.get("market_id", -1)))
            if spec is None:
                return None
            return parse.to_fill(a.name, spec, trade, a.settings.account_index, a.ids.client_order_id_of,
                                 a.settings.quote_asset, a.now_ms())
        except (parse.LighterParseError, TypeError, ValueError) as exc:
            self.bad_reports += 1
            log.warning("lighter.bad_trade", venue=a.name, error=str(exc), trade=str(trade)[:300])
            return None

    # --- stream --------------------------------------------------------------------------------------

    def on_frame(self, channel: str, frame: dict[str, Any], snapshot: bool) -> None:
        a = self._a
        if channel == "order_book":
            market = int(str(frame.get("channel", "")).replace(":", "/").split("/")[1])
            spec = a.spec_of_market(market)
            book = frame.get("order_book") or {}
            if spec is None or not isinstance(book, dict):
                return
            entry = a.cache.on_book(spec.symbol, book.get("asks") or [], book.get("bids") or [], a.now_ms(),
                                    snapshot=snapshot, offset=book.get("offset"))
            now = a.now_ms()
            a.sink.on_market(Bbo(a.name, spec.symbol, entry.best_bid, entry.bids.get(entry.best_bid)
                                 if entry.best_bid is not None else None, entry.best_ask,
                                 entry.asks.get(entry.best_ask) if entry.best_ask is not None else None, now, now))
        elif channel == "account_all_orders":
            for update in self.to_updates(flatten(frame.get("orders"))):
                a.sink.on_user(update)
        elif channel == "account_all_trades":
            for trade in flatten(frame.get("trades")):
                fill = self.to_fill(trade)
                if fill is not None and fill.trade_id not in self.seen_trades:
                    self.seen_trades[fill.trade_id] = None
                    if len(self.seen_trades) > 50_000:
                        del self.seen_trades[next(iter(self.seen_trades))]
                    a.cache.on_trade(fill.symbol, fill.price)
                    a.sink.on_user(fill)

    # --- poller --------------------------------------------------------------------------------------

    def watch(self, client_order_index: int | None, order_index: int) -> None:
        """Poll this order until it is terminal (a cancel is in flight)."""
        self._watch[client_order_index or order_index] = 0

    async def poll_quote(self, symbol: str) -> None:
        """Refresh `symbol`'s cache over REST (best bid / ask, last trade)."""
        a = self._a
        assert a.rest is not None
        spec = a.spec(symbol)
        book = await a.rest.get("/api/v1/orderBookOrders", {"market_id": spec.market_id, "limit": 1})
        trades = await a.rest.get("/api/v1/recentTrades", {"market_id": spec.market_id, "limit": 1})
        bids, asks = book.get("bids") or [], book.get("asks") or []
        last = (trades.get("trades") or [{}])[0].get("price")
        a.cache.on_quote(symbol, a.now_ms(), best_bid=Decimal(str(bids[0]["price"])) if bids else None,
                         best_ask=Decimal(str(asks[0]["price"])) if asks else None,
                         last_trade=Decimal(str(last)) if last is not None else None)

    async def run_poller(self) -> None:
        a = self._a
        loop = asyncio.get_running_loop()
        self._next_quote = 0.0
        self._next_markets = loop.time() + a.settings.markets_refresh_s
        while True:
            await asyncio.sleep(a.settings.pending_poll_s)  # scheduling: the poll period
            await self.poll_step(loop.time())

    async def poll_step(self, now_s: float) -> None:
        """One round of the poller. Each part is guarded on its own: a stale quote the venue answers with
        garbage must not keep pending orders unresolved or the account token unrenewed."""
        a = self._a
        if now_s >= self._next_quote:
            self._next_quote = now_s + a.settings.poll_interval_s
            await self._guarded("quotes", self._poll_stale_quotes)
        await self._guarded("orders", self.poll_orders)
        if a.stream is not None and a.is_token_due():
            await self._guarded("token", a.stream.resubscribe_account)  # a fresh token before the old expires
        if now_s >= self._next_markets:
            self._next_markets = now_s + a.settings.markets_refresh_s
            await self._guarded("markets", a.load_markets)

    async def _poll_stale_quotes(self) -> None:
        a = self._a
        now = a.now_ms()
        for symbol in a.specs:
            if not a.cache.is_fresh(symbol, now):
                await self.poll_quote(symbol)

    async def _guarded(self, step: str, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except asyncio.CancelledError:
            raise
        except GatewayError as exc:
            self.poll_failures += 1
            log.warning("lighter.poll_failed", venue=self._a.name, step=step, error=repr(exc)[:300])
        except Exception as exc:  # garbage from the venue (InvalidOperation, KeyError ...), a
            # signing failure or a dropped socket must not end the poller: pending orders would never be
            # resolved and the account token never renewed
            self.poll_failures += 1
            log.exception("lighter.poll_failed", venue=self._a.name, step=step, error=repr(exc)[:300])

    async def poll_orders(self) -> None:
        """Look up the pending and watched orders once; push what the venue says about them."""
        a = self._a
        execution, queries = a.execution, a.queries
        if execution is None or queries is None:
            return
        pending = list(execution.pending.values())
        indexes = [p.client_order_index for p in pending] + [i for i in self._watch if i < ORDER_INDEX_MIN]
        if not indexes:
            return
        self.polls += 1
        found = await queries.orders_by_client_index(indexes)
        for order in found:
            try:
                update = self.to_update(order)
                if update is None:
                    continue
                a.sink.on_user(update)
                if update.status.is_terminal:
                    self._watch.pop(int(order.get("client_order_index") or 0), None)
                    self._watch.pop(int(order.get("order_index") or 0), None)
            except Exception as exc:  # one garbage row must not stop the others (nor the expiry below)
                self.bad_reports += 1
                log.warning("lighter.bad_order", venue=a.name, error=repr(exc)[:200], order=str(order)[:300],
                            exc_info=True)
        now = a.now_ms()
        limit_ms = a.settings.pending_reject_after_s * 1000
        for item in pending:
            if item.client_order_index in execution.pending and now - item.sent_ms > limit_ms:
                del execution.pending[item.client_order_index]
                reason = f"accepted (tx {item.tx_hash[:16]}) but not shown by the venue after {limit_ms} ms"
                a.sink.on_user(replace(accepted_update(a.name, item.request, now, OrderStatus.UNKNOWN, reason)))
