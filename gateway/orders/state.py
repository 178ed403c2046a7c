"""Order state: the indexes the manager keeps, the status changes, and the folding of venue reports.

`OrderState` is the base of `OrderManager` (the commands live there); both are pure, one writer.
Fold rules (see also `transitions`):

- Fills are deduplicated by (venue, trade_id); `filled_qty` is the sum of the distinct fills (a sum above
  `qty` is kept and logged as `order.overfill`), `avg_price` their volume-weighted price. Fills on
  terminal orders still count; a late partial fill keeps the terminal status (`order.late_fill`).
- A report older than what we know (a status the table does not allow from here) is ignored; while our
  cancel is in flight, only a terminal report moves the order (the cancel's answer decides the rest).
- Reports of orders the gateway never placed create `external` records: visible, never adopted or canceled.
- The account of a venue's reports is the venue's name (the API's rule: the venue name is the account).
"""

from __future__ import annotations

from collections import deque

import structlog

from gateway.core.enums import OrderStatus
from gateway.core.errors import GatewayError, VenueRateLimited, VenueRejected
from gateway.core.events import Fill, OrderUpdate
from gateway.orders.commands import Decision, JournalEntry, Reconciled, SendCancel, SendQuery, Tick
from gateway.orders.config import OrdersSettings
from gateway.orders.model import FillRecord, Order, order_key
from gateway.orders.risk import RiskBook
from gateway.orders.transitions import is_allowed, transition
from gateway.orders.validation import ClientIdGenerator

__all__ = ["OrderState"]

log = structlog.get_logger("gateway.orders")

_PENDING_NEW = OrderStatus.PENDING_NEW
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_PENDING_CANCEL = OrderStatus.PENDING_CANCEL
_REJECTED = OrderStatus.REJECTED
_UNKNOWN = OrderStatus.UNKNOWN


class OrderState:
    """Orders by key, their indexes and bookkeeping, and how venue reports change them."""

    def __init__(self, settings: OrdersSettings, start_ms: int):
        self._settings = settings
        self._orders: dict[tuple[str, str], Order] = {}  # (account, key)
        self._by_order_id: dict[tuple[str, str], Order] = {}  # (account, venue order id)
        self._live: dict[str, dict[str, Order]] = {}  # account -> key -> non-terminal order
        self._trades: dict[tuple[str, str], int] = {}  # (venue, trade_id) -> when seen (dedup, pruned)
        self._closed: deque[tuple[int, Order]] = deque()  # terminal orders in the order they closed
        self._in_doubt: set[Order] = set()  # orders the resolver must ask the venue about
        self._amending: set[Order] = set()
        self.risk = RiskBook()
        self.ids = ClientIdGenerator(start_ms)

    # --- read-only views (safe between awaits: the manager only changes inside `handle`) --------------

    def get(self, account: str, client_order_id: str | None = None, order_id: str | None = None) -> Order | None:
        if client_order_id:
            found = self._orders.get((account, client_order_id))
            if found is not None or not order_id:
                return found
        if order_id:
            return self._by_order_id.get((account, order_id))
        return None

    def open_orders(self, account: str, symbol: str | None = None) -> list[Order]:
        live = self._live.get(account)
        if not live:
            return []
        return [o for o in live.values() if symbol is None or o.symbol == symbol]

    def in_doubt(self) -> list[Order]:
        return list(self._in_doubt)

    def accounts(self) -> list[str]:
        return list(self._live)

    def _send_cancel(self, order: Order, now: int, d: Decision) -> None:
        if order.status is not _PENDING_CANCEL:
            order.status_before_cancel = order.status
            self._set_status(order, _PENDING_CANCEL, now, d)
        order.cancel_in_doubt = False
        self._refresh_doubt(order)
        d.journal.append(JournalEntry(now, "intent.cancel", order.account, order.client_order_id,
                                      {"order_id": order.order_id}))
        d.intents.append(SendCancel(order.venue, order.account, order.key, order.symbol, order.order_id,
                                    order.client_order_id))

    # --- venue reports --------------------------------------------------------------------------------

    def _on_update(self, update: OrderUpdate, now: int, d: Decision) -> None:
        order = self._find_report(update.venue, update.client_order_id, update.order_id)
        if order is None:
            self._external(update, now, d)
        else:
            self._apply_update(order, update, now, d)

    def _external(self, update: OrderUpdate, now: int, d: Decision) -> Order:
        order = Order(
            venue=update.venue, account=update.venue, symbol=update.symbol,
            client_order_id=update.client_order_id, side=update.side, type=update.type, tif=update.tif,
            qty=update.qty, price=update.price, trigger_price=update.trigger_price,
            reduce_only=update.reduce_only, status=update.status, created_ts=update.ts or now, updated_ts=now,
            order_id=update.order_id, filled_qty=update.filled_qty, avg_price=update.avg_price,
            reason=update.reason, external=True,
        )
        self._register(order)
        if order.status.is_terminal:
            self._closed.append((now, order))
        log.warning("order.external", venue=order.venue, symbol=order.symbol, order_id=order.order_id,
                    client_order_id=order.client_order_id, status=order.status.value)
        d.journal.append(JournalEntry(now, "external", order.account, order.client_order_id,
                                      {"order_id": order.order_id, "status": order.status}))
        d.orders.append(order)
        return order

    def _apply_update(self, order: Order, update: OrderUpdate, now: int, d: Decision) -> None:
        changed = False  # the public view changed
        stored = False  # only what we store changed
        if update.order_id and order.order_id != update.order_id:
            order.order_id = update.order_id
            self._by_order_id[(order.account, update.order_id)] = order
            changed = True
        if update.qty > 0 and update.qty != order.qty:
            order.qty = update.qty  # an amend the venue applied
            changed = True
        if update.price is not None and update.price != order.price:
            order.price = update.price
            changed = True
        if order.external:  # no fill history of ours: mirror the venue's figures
            if update.filled_qty != order.filled_qty or update.avg_price != order.avg_price:
                order.filled_qty, order.avg_price = update.filled_qty, update.avg_price
                changed = True
        elif update.filled_qty > order.venue_filled_qty:  # the venue's cumulative figures (may lead our fills)
            order.venue_filled_qty, order.venue_avg_price = update.filled_qty, update.avg_price
            if update.filled_qty > order.filled_qty:
                changed = True  # the venue is ahead of our fills: the public figures are its
            else:
                stored = True  # it confirms fills we already have and published
        target = update.status
        current = order.status
        if target is not current:
            if current is _PENDING_CANCEL and not target.is_terminal:
                pass  # a live report while our cancel is in flight: the cancel's answer decides
            elif is_allowed(current, target):
                self._set_status(order, target, now, d, reason=update.reason)
                changed = False
            else:
                log.debug("order.stale_report", client_order_id=order.client_order_id, status=current.value,
                          reported=target.value)
        if changed:
            order.updated_ts = now
            self._touch(order, d)
        elif stored:
            self._touch(order, d, published=False)

    def _on_fill(self, fill: Fill, now: int, d: Decision) -> None:
        trade = (fill.venue, fill.trade_id)
        if trade in self._trades:
            return  # a replay (reconnect, reconciliation): counted once already
        self._trades[trade] = now
        order = self._find_report(fill.venue, fill.client_order_id, fill.order_id)
        record = FillRecord.from_event(fill, order.account if order else fill.venue, order)
        d.fills.append(record)
        d.events.append((record.account, "fill", record.to_public()))
        if order is None:
            log.warning("fill.unmatched", venue=fill.venue, trade_id=fill.trade_id, order_id=fill.order_id,
                        client_order_id=fill.client_order_id)
            d.journal.append(JournalEntry(now, "fill.unmatched", fill.venue, fill.client_order_id,
                                          {"trade_id": fill.trade_id, "order_id": fill.order_id}))
            return
        if fill.trade_id in order.fill_ids:
            return
        order.fill_ids.add(fill.trade_id)
        learned_id = order.order_id is None and bool(fill.order_id)
        if learned_id:
            order.order_id = fill.order_id
            self._by_order_id[(order.account, fill.order_id)] = order
        order.updated_ts = now
        if order.external:  # the fill is recorded and published; the order itself mirrors the venue's reports
            self._touch(order, d, published=learned_id)
            return
        order.filled_qty += fill.qty
        order.notional += fill.price * fill.qty
        order.avg_price = order.notional / order.filled_qty
        # A fill the venue's report already counted changes nothing public (a new status publishes anyway)
        self._touch(order, d, published=learned_id or order.filled_qty > order.venue_filled_qty)
        position = self.risk.on_fill(order.strategy, order.account, order.symbol, order.side, fill.qty)
        d.positions.append((order.strategy, order.account, order.symbol, position))
        if order.filled_qty > order.qty:
            log.warning("order.overfill", venue=order.venue, client_order_id=order.client_order_id,
                        qty=str(order.qty), filled_qty=str(order.filled_qty), trade_id=fill.trade_id)
        current = order.status
        if order.filled_qty >= order.qty:
            target: OrderStatus | None = _FILLED
        elif current is _PENDING_NEW or current is _NEW or current is _UNKNOWN:
            target = _PARTIAL
        else:
            target = None
        if target is not None and target is not current and is_allowed(current, target):
            self._set_status(order, target, now, d)
        elif current.is_terminal and order.filled_qty > order.venue_filled_qty:  # not a fill the venue reported
            log.warning("order.late_fill", venue=order.venue, client_order_id=order.client_order_id,
                        status=current.value, trade_id=fill.trade_id, filled_qty=str(order.filled_qty))

    def _on_reconciled(self, msg: Reconciled, now: int, d: Decision) -> None:
        seen: set[str] = set()
        for update in (*msg.orders, *msg.open_orders):
            self._on_update(update, now, d)
            found = self._find_report(update.venue, update.client_order_id, update.order_id)
            if found is not None:
                seen.add(found.key)
        for fill in msg.fills:
            self._on_fill(fill, now, d)
        for order in self.open_orders(msg.venue):
            if order.key not in seen and not order.external and order.status is not _PENDING_NEW:
                order.needs_query = True  # open here, not open there, no report: ask
                self._schedule(order, now)
                self._refresh_doubt(order)
        d.journal.append(JournalEntry(now, "reconciled", msg.venue, None, {
            "open_orders": len(msg.open_orders), "orders": len(msg.orders), "fills": len(msg.fills)}))

    # --- time ---------------------------------------------------------------------------------------------

    def _on_tick(self, msg: Tick, now: int, d: Decision) -> None:
        settings = self._settings
        for order in list(self._in_doubt):
            if order.query_in_flight or order.next_query_ms > now:
                continue
            order.query_in_flight = True
            order.query_attempts += 1
            delay = min(settings.unknown_backoff_base_ms << min(order.query_attempts - 1, 30),
                        settings.unknown_backoff_max_ms)
            order.next_query_ms = now + delay
            d.intents.append(SendQuery(order.venue, order.account, order.key, order.symbol, order.order_id,
                                       order.client_order_id, now))
        horizon = now - settings.closed_order_retention_ms
        trades = self._trades
        while trades:
            trade, seen_at = next(iter(trades.items()))
            if seen_at > horizon:
                break
            del trades[trade]
        closed = self._closed
        while closed and closed[0][0] <= horizon:
            _, order = closed.popleft()
            if order.status.is_terminal and self._orders.get((order.account, order.key)) is order:
                del self._orders[(order.account, order.key)]
                if order.order_id:
                    self._by_order_id.pop((order.account, order.order_id), None)

    # --- internals ----------------------------------------------------------------------------------------

    def _register(self, order: Order) -> None:
        self._orders[(order.account, order.key)] = order
        if order.order_id:
            self._by_order_id[(order.account, order.order_id)] = order
        if not order.status.is_terminal:
            self._live.setdefault(order.account, {})[order.key] = order

    def _find_report(self, venue: str, client_order_id: str | None, order_id: str | None) -> Order | None:
        if client_order_id:
            found = self._orders.get((venue, client_order_id))
            if found is not None:
                return found
        if order_id:
            found = self._by_order_id.get((venue, order_id))
            if found is not None:
                return found
            if not client_order_id:
                return self._orders.get((venue, order_key(None, order_id)))
        return None

    def _touch(self, order: Order, d: Decision, published: bool = True) -> None:
        """Mark `order` for the journal, and (`published`) for a publication of its public view."""
        if order in d.orders:
            return
        if published:
            d.orders.append(order)
        elif order not in d.unpublished:
            d.unpublished.append(order)

    def _schedule(self, order: Order, now: int) -> None:
        order.query_attempts = 0
        order.next_query_ms = now + (0 if order.needs_query else self._settings.unknown_backoff_base_ms)
        self._refresh_doubt(order)

    def _refresh_doubt(self, order: Order) -> None:
        status = order.status
        if status is _UNKNOWN or (status is _PENDING_CANCEL and order.cancel_in_doubt) or (
                order.needs_query and not status.is_terminal):
            self._in_doubt.add(order)
        else:
            self._in_doubt.discard(order)
            order.needs_query = False

    def _set_status(self, order: Order, to: OrderStatus, now: int, d: Decision, reason: str | None = None,
                    error: VenueRejected | VenueRateLimited | None = None) -> None:
        previous = transition(order, to, now)
        if reason is not None:
            order.reason = reason
        d.journal.append(JournalEntry(now, "transition", order.account, order.client_order_id,
                                      {"from": previous, "to": to, "order_id": order.order_id}))
        self._touch(order, d)
        if to is _UNKNOWN:
            self._schedule(order, now)
        if to.is_terminal:
            live = self._live.get(order.account)
            if live is not None:
                live.pop(order.key, None)
            self.risk.on_closed(order)
            self._amending.discard(order)
            self._closed.append((now, order))
        elif previous.is_terminal:  # never happens with the table; keep the indexes honest regardless
            self._live.setdefault(order.account, {})[order.key] = order
        # The `place` caller is answered by the placement's outcome (`settle_place`), not here: a venue
        # pushes the ack before its answer arrives, and the answer (e.g. a market order already filled)
        # is what the caller should see.
        if previous is _PENDING_NEW:
            if order.cancel_requested:
                order.cancel_requested = False
                if to.is_terminal:
                    d.settle.append((("cancel", order.account, order.key), order.to_public()))
                else:
                    self._send_cancel(order, now, d)
        if previous is _PENDING_CANCEL and to.is_terminal:
            d.settle.append((("cancel", order.account, order.key), order.to_public()))
        self._refresh_doubt(order)


def settle_place(order: Order, error: GatewayError | None, d: Decision) -> None:
    """Answer the `place` caller with the order as it stands after its placement's outcome."""
    key = ("place", order.account, order.key)
    if order.status is _REJECTED:
        venue_error = error if isinstance(error, (VenueRejected, VenueRateLimited)) else None
        d.settle.append((key, _venue_rejected(order, venue_error)))
    else:
        d.settle.append((key, order.to_public()))


def _venue_rejected(order: Order, error: VenueRejected | VenueRateLimited | None) -> GatewayError:
    if error is None:
        rejected = VenueRejected(order.reason or "the venue rejected the order", venue=order.venue)
    else:
        rejected = type(error)(error.message, venue=order.venue, venue_code=error.venue_code,
                               venue_message=error.venue_message)
    rejected.details["order"] = order.to_public()
    return rejected


def _str(value: object) -> str | None:
    return None if value is None else str(value)
