"""The order manager: the single writer of order state. Pure: `handle(msg, now_ms) -> Decision`, no I/O.

Commands (place, cancel, modify, kill switch) and venue reports (order updates, fills, answers of the
calls it asked for) are folded in whatever order they arrive. Rules:

- Idempotency: an order is keyed by (account, client_order_id); the same id twice returns the first
  order and never produces a second placement intent.
- Fills are deduplicated by (venue, trade_id); `filled_qty` is the sum of the distinct fills (a sum above
  `qty` is kept and logged as `order.overfill`), `avg_price` their volume-weighted price. Fills on
  terminal orders still count (see `transitions`).
- A placement whose answer was lost becomes UNKNOWN and is resolved by querying the venue by client
  order id (`Tick` issues the queries with exponential backoff). It becomes REJECTED only when the venue
  says it has no such order and the query was asked `unknown_reject_after_ms` after the send.
- A lost cancel answer leaves PENDING_CANCEL; the resolver queries, and re-sends the cancel (cancels are
  idempotent) if the venue still shows the order live.
- Reports of orders the gateway never placed create `external` records: visible, never adopted or canceled.

The account of a venue's reports is the venue's name (the API's rule: the venue name is the account).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import structlog

from gateway.core.enums import OrderStatus
from gateway.core.errors import (
    ErrorCode,
    GatewayError,
    LookupFailed,
    OrderRejected,
    RequestError,
    VenueRateLimited,
    VenueRejected,
    VenueTimeout,
)
from gateway.core.events import Fill, OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.orders.commands import (
    AmendOutcome,
    CancelAll,
    CancelOrder,
    CancelOutcome,
    Decision,
    GroupOutcome,
    JournalEntry,
    ModifyOrder,
    Pending,
    PlaceGroup,
    PlaceOrder,
    PlaceOutcome,
    PlaceParams,
    QueryOutcome,
    Reconciled,
    SendAmend,
    SendGroup,
    SendPlace,
    SetKillSwitch,
    Tick,
    WaiterKey,
)
from gateway.orders.config import OrdersSettings
from gateway.orders.model import Order
from gateway.orders.state import OrderState, _str, settle_place
from gateway.orders.validation import normalize_amend, normalize_place

__all__ = ["OrderManager"]

log = structlog.get_logger("gateway.orders")

_PENDING_NEW = OrderStatus.PENDING_NEW
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_PENDING_CANCEL = OrderStatus.PENDING_CANCEL
_REJECTED = OrderStatus.REJECTED
_UNKNOWN = OrderStatus.UNKNOWN
_LIVE = frozenset({_NEW, _PARTIAL})


class OrderManager(OrderState):
    """The single writer of order state. Call `handle` from one task only."""

    def __init__(self, settings: OrdersSettings, start_ms: int):
        super().__init__(settings, start_ms)
        self._handlers: dict[type, Callable[[Any, int, Decision], None]] = {
            PlaceOrder: self._on_place,
            CancelOrder: self._on_cancel,
            CancelAll: self._on_cancel_all,
            ModifyOrder: self._on_modify,
            SetKillSwitch: self._on_kill_switch,
            Tick: self._on_tick,
            Reconciled: self._on_reconciled,
            PlaceGroup: self._on_place_group,
            PlaceOutcome: self._on_place_outcome,
            GroupOutcome: self._on_group_outcome,
            CancelOutcome: self._on_cancel_outcome,
            AmendOutcome: self._on_amend_outcome,
            QueryOutcome: self._on_query_outcome,
            OrderUpdate: self._on_update,
            Fill: self._on_fill,
        }

    # --- entry points --------------------------------------------------------------------------------

    def handle(self, msg: Any, now: int) -> Decision:
        """Fold one command or venue report into the state at time `now` (ms) and return what to do.

        Raises:
            KeyError: `msg` is of a type the manager does not handle (a bug in the caller).
        """
        decision = Decision()
        self._handlers[type(msg)](msg, now, decision)
        for order in decision.orders:
            decision.events.append((order.account, "order", order.to_public()))
        return decision

    def restore(self, orders: Iterable[Order], trade_ids: Iterable[tuple[str, str]], now: int) -> Decision:
        """Load orders and seen fill ids from the store before any message (call once, at start).

        Placements that were in flight (PENDING_NEW) become UNKNOWN: whether they reached the venue is
        unknown. UNKNOWN and PENDING_CANCEL orders are queued for the resolver.
        """
        decision = Decision()
        for trade in trade_ids:
            self._trades[trade] = now
        for order in orders:
            self._register(order)
            if order.status.is_terminal:
                self._closed.append((order.updated_ts, order))
                continue
            if not order.external:
                self.risk.on_open(order)
            if order.status is _PENDING_NEW:
                self._set_status(order, _UNKNOWN, now, decision, reason="restarted while the placement was in flight")
            elif order.status is _PENDING_CANCEL:
                order.cancel_in_doubt = True
            self._schedule(order, now)
        for order in decision.orders:
            decision.events.append((order.account, "order", order.to_public()))
        return decision

    # --- commands ------------------------------------------------------------------------------------

    def _on_place(self, cmd: PlaceOrder, now: int, d: Decision) -> None:
        client_order_id = cmd.params.client_order_id
        if client_order_id is not None:
            existing = self._orders.get((cmd.account, client_order_id))
            if existing is not None:
                d.reply = self._duplicate(existing, cmd.params, cmd.instrument.symbol)
                return
        made = self._new_order(cmd.strategy, cmd.account, cmd.params, cmd, now, d, check_risk=True)
        if isinstance(made, GatewayError):
            d.reply = made
            return
        order, request = made
        d.intents.append(SendPlace(order.venue, order.account, order.key, request))
        d.reply = Pending((("place", order.account, order.key),))

    def _on_place_group(self, cmd: PlaceGroup, now: int, d: Decision) -> None:
        """An entry and its children in one venue request. All or nothing here: a child refused by the
        checks refuses the group before anything is recorded. The risk limits apply to the entry (the
        children only ever reduce what it opens)."""
        everything = (cmd.entry, *cmd.children)
        if any(p.client_order_id is None for p in everything):
            d.reply = RequestError("every order of a group needs its client_order_id")
            return
        existing = [self._orders.get((cmd.account, p.client_order_id)) for p in everything]  # type: ignore[arg-type]
        if any(o is not None for o in existing):  # the same group again: answer what it became
            for order, params in zip(existing, everything, strict=True):
                reply = None if order is None else self._duplicate(order, params, cmd.instrument.symbol)
                if order is None or isinstance(reply, GatewayError):
                    d.reply = reply or OrderRejected("part of this group was placed before as other orders",
                                                     code=ErrorCode.DUPLICATE_CLIENT_ID)
                    return
            keys = []
            for order in existing:
                assert order is not None
                key = ("place", order.account, order.key)
                keys.append(key)
                if order.status is not _PENDING_NEW:
                    d.settle.append((key, order.to_public()))
            d.reply = Pending(tuple(keys))
            return
        try:
            for child in cmd.children:  # check them all before recording any
                normalize_place(child, cmd.instrument, cmd.capabilities)
        except GatewayError as exc:
            d.reply = exc
            return
        made = self._new_order(cmd.strategy, cmd.account, cmd.entry, cmd, now, d, check_risk=True)
        if isinstance(made, GatewayError):
            d.reply = made
            return
        orders, requests = [made[0]], [made[1]]
        for child in cmd.children:
            order, request = self._new_order(cmd.strategy, cmd.account, child, cmd, now, d,  # type: ignore[misc]
                                             check_risk=False, group=orders[0].key)
            orders.append(order)
            requests.append(request)
        keys = tuple(o.key for o in orders)
        d.intents.append(SendGroup(orders[0].venue, cmd.account, keys, tuple(requests)))
        d.reply = Pending(tuple(("place", cmd.account, key) for key in keys))

    def _new_order(self, strategy: str | None, account: str, params: PlaceParams, cmd: PlaceOrder | PlaceGroup,
                   now: int, d: Decision, *, check_risk: bool, group: str | None = None
                   ) -> tuple[Order, OrderRequest] | GatewayError:
        """Validate, quantize and risk-check `params`; record the order `pending_new` and journal the intent."""
        client_order_id = params.client_order_id
        try:
            norm = normalize_place(params, cmd.instrument, cmd.capabilities)
            if check_risk:
                self.risk.check(strategy, self._settings.limits_for(strategy), account, norm.symbol,
                                norm.side, norm.qty, norm.price or norm.trigger_price, now)
            if client_order_id is None:
                client_order_id = self.ids.next(cmd.capabilities)
        except GatewayError as exc:
            return exc
        venue = cmd.instrument.venue
        order = Order(
            venue=venue, account=account, symbol=norm.symbol, client_order_id=client_order_id, side=norm.side,
            type=norm.type, tif=norm.tif, qty=norm.qty, price=norm.price, trigger_price=norm.trigger_price,
            reduce_only=norm.reduce_only, status=_PENDING_NEW, created_ts=now, updated_ts=now,
            strategy=strategy, sent_at=now,
        )
        self._register(order)
        self.risk.on_open(order)
        self.risk.on_placed(strategy, now)
        request = OrderRequest(norm.symbol, norm.side, norm.type, norm.qty, client_order_id, norm.price,
                               norm.trigger_price, norm.tif, norm.reduce_only)
        d.orders.append(order)
        intent: dict[str, Any] = {
            "strategy": strategy, "venue": venue, "symbol": norm.symbol, "side": norm.side,
            "type": norm.type, "qty": str(norm.qty), "price": _str(norm.price),
            "trigger_price": _str(norm.trigger_price), "tif": norm.tif, "reduce_only": norm.reduce_only,
        }
        if group is not None:
            intent["group"] = group  # sent with (and after) the entry of that key
        d.journal.append(JournalEntry(now, "intent.place", account, client_order_id, intent))
        return order, request

    def _duplicate(self, existing: Order, params: PlaceParams, symbol: str) -> Any:
        if (existing.external or existing.symbol != symbol or existing.side is not params.side
                or existing.type is not params.type):
            return OrderRejected(f"client_order_id {existing.client_order_id!r} is used by another order",
                                 code=ErrorCode.DUPLICATE_CLIENT_ID, details={"order": existing.to_public()})
        if existing.status is _PENDING_NEW:
            return Pending((("place", existing.account, existing.key),))
        return existing.to_public()

    def _on_cancel(self, cmd: CancelOrder, now: int, d: Decision) -> None:
        order = self._find_for_command(cmd.account, cmd.client_order_id, cmd.order_id, d)
        if order is not None:
            d.reply = self._cancel(order, now, d)

    def _on_cancel_all(self, cmd: CancelAll, now: int, d: Decision) -> None:
        keys: list[WaiterKey] = []
        for order in self.open_orders(cmd.account, cmd.symbol):
            if order.external or (cmd.strategy is not None and order.strategy != cmd.strategy):
                continue
            reply = self._cancel(order, now, d)
            if isinstance(reply, Pending):
                keys.extend(reply.keys)
        d.reply = Pending(tuple(keys))

    def _on_modify(self, cmd: ModifyOrder, now: int, d: Decision) -> None:
        order = self._find_for_command(cmd.account, cmd.client_order_id, cmd.order_id, d)
        if order is None:
            return
        try:
            if order.status not in _LIVE:
                raise RequestError(f"order is {order.status}: only new or partially filled orders can be modified")
            if order in self._amending:
                raise RequestError("a modification of this order is already in flight")
            qty, price = normalize_amend(cmd.qty, cmd.price, order.side, cmd.instrument, order.price is not None)
            if qty is not None and qty <= order.known_filled_qty:
                raise RequestError(f"qty must exceed the filled quantity {order.known_filled_qty}", details={"field": "qty"})
            limits = self._settings.limits_for(order.strategy)
            new_price = price if price is not None else order.price
            new_qty = qty if qty is not None else order.qty
            if limits.max_order_notional is not None and new_price is not None:
                if new_price * new_qty > limits.max_order_notional:
                    raise OrderRejected(f"max_order_notional exceeded ({new_price * new_qty})",
                                        code=ErrorCode.RISK_LIMIT, details={"limit": "max_order_notional"})
        except GatewayError as exc:
            d.reply = exc
            return
        self._amending.add(order)
        d.journal.append(JournalEntry(now, "intent.amend", order.account, order.client_order_id,
                                      {"order_id": order.order_id, "qty": _str(qty), "price": _str(price)}))
        d.intents.append(SendAmend(order.venue, order.account, order.key, order.symbol, order.order_id,
                                   order.client_order_id, qty, price))
        d.reply = Pending((("amend", order.account, order.key),))

    def _on_kill_switch(self, cmd: SetKillSwitch, now: int, d: Decision) -> None:
        self.risk.kill_switch = cmd.engaged
        d.journal.append(JournalEntry(now, "kill_switch", "", None, {"engaged": cmd.engaged}))
        log.warning("orders.kill_switch", engaged=cmd.engaged, cancel_open=cmd.cancel_open)
        keys: list[WaiterKey] = []
        if cmd.engaged and cmd.cancel_open:
            for account in list(self._live):
                for order in self.open_orders(account):
                    if not order.external:
                        reply = self._cancel(order, now, d)
                        if isinstance(reply, Pending):
                            keys.extend(reply.keys)
        d.reply = Pending(tuple(keys))

    def _find_for_command(self, account: str, client_order_id: str | None, order_id: str | None,
                          d: Decision) -> Order | None:
        if not client_order_id and not order_id:
            d.reply = RequestError("order_id or client_order_id is required", details={"field": "order_id"})
            return None
        order = self.get(account, client_order_id, order_id)
        if order is not None and client_order_id and order_id and order.order_id != order_id and (
                order.order_id is not None or self.get(account, order_id=order_id) not in (None, order)):
            d.reply = RequestError("order_id and client_order_id name different orders",
                                   details={"order_id": order_id, "client_order_id": client_order_id})
            return None
        if order is None:
            d.reply = LookupFailed("order not found", code=ErrorCode.ORDER_NOT_FOUND,
                                   details={"order_id": order_id, "client_order_id": client_order_id})
        elif order.external:
            d.reply = OrderRejected("external order: the gateway neither adopts nor cancels it",
                                    code=ErrorCode.NOT_SUPPORTED, details={"order": order.to_public()})
            return None
        return order

    def _cancel(self, order: Order, now: int, d: Decision) -> Any:
        status = order.status
        if status.is_terminal:
            return order.to_public()
        key: WaiterKey = ("cancel", order.account, order.key)
        if status is _PENDING_NEW:  # the venue may not know it yet: cancel once the placement is answered
            if not order.cancel_requested:
                order.cancel_requested = True
                d.journal.append(JournalEntry(now, "cancel.deferred", order.account, order.client_order_id, {}))
            return Pending((key,))
        if status is not _PENDING_CANCEL:
            self._send_cancel(order, now, d)
        return Pending((key,))

    # --- outcomes of our own venue calls --------------------------------------------------------------

    def _on_place_outcome(self, msg: PlaceOutcome, now: int, d: Decision) -> None:
        order = self._orders.get((msg.account, msg.key))
        if order is None:
            return
        if msg.update is not None:
            self._apply_update(order, msg.update, now, d)
        elif order.status is _PENDING_NEW:
            error = msg.error
            if isinstance(error, (VenueRejected, VenueRateLimited)):  # the venue said no: nothing was placed
                reason = error.venue_message or error.message
                self._set_status(order, _REJECTED, now, d, reason=reason, error=error)
            else:  # timeout, disconnect, anything else: the venue may have taken it
                reason = f"placement outcome unknown: {error.message if error else 'no answer'}"
                self._set_status(order, _UNKNOWN, now, d, reason=reason)
                log.warning("order.unknown", venue=order.venue, client_order_id=order.client_order_id,
                            error=None if error is None else error.code.value)
        settle_place(order, msg.error, d)

    def _on_group_outcome(self, msg: GroupOutcome, now: int, d: Decision) -> None:
        """One request answered for the whole group: each order settles as if placed on its own."""
        updates: tuple[OrderUpdate | None, ...] = msg.updates if msg.error is None else ()
        for i, key in enumerate(msg.keys):
            update = updates[i] if i < len(updates) else None
            error = msg.error if update is None and msg.error is not None else None
            if update is None and error is None:  # the venue answered but left this order out: unknown
                error = VenueTimeout("the venue's answer to the group did not include this order", venue=msg.account)
            self._on_place_outcome(PlaceOutcome(msg.account, key, update, error), now, d)

    def _on_cancel_outcome(self, msg: CancelOutcome, now: int, d: Decision) -> None:
        order = self._orders.get((msg.account, msg.key))
        if order is None:
            return
        key: WaiterKey = ("cancel", order.account, order.key)
        if msg.update is not None:
            self._apply_update(order, msg.update, now, d)
            order.cancel_in_doubt = False
            if order.status is _PENDING_CANCEL and not msg.update.status.is_terminal:
                d.settle.append((key, order.to_public()))  # accepted, the final report is still to come
        elif order.status is not _PENDING_CANCEL:
            d.settle.append((key, order.to_public()))  # a report settled it meanwhile
        elif isinstance(msg.error, VenueRejected):  # the venue refused: the order is still what it was
            d.settle.append((key, msg.error))
            before = order.status_before_cancel
            back = _UNKNOWN if before is _UNKNOWN else (_PARTIAL if order.known_filled_qty > 0 else _NEW)
            self._set_status(order, back, now, d, reason=f"cancel refused: {msg.error.message}")
        else:  # lost answer: stay PENDING_CANCEL and ask the venue
            order.cancel_in_doubt = True
            self._schedule(order, now)
            d.settle.append((key, order.to_public()))
        self._refresh_doubt(order)

    def _on_amend_outcome(self, msg: AmendOutcome, now: int, d: Decision) -> None:
        order = self._orders.get((msg.account, msg.key))
        if order is None:
            return
        self._amending.discard(order)
        key: WaiterKey = ("amend", order.account, order.key)
        if msg.update is not None:
            self._apply_update(order, msg.update, now, d)
            d.settle.append((key, order.to_public()))
        elif isinstance(msg.error, VenueRejected | VenueRateLimited):
            d.settle.append((key, msg.error))
        else:  # unknown whether the amend applied: the next report or query tells
            order.needs_query = True
            self._schedule(order, now)
            d.settle.append((key, order.to_public()))

    def _on_query_outcome(self, msg: QueryOutcome, now: int, d: Decision) -> None:
        order = self._orders.get((msg.account, msg.key))
        if order is None:
            return
        order.query_in_flight = False
        if msg.error is not None:
            log.info("order.query_failed", client_order_id=order.client_order_id, error=msg.error.code.value)
        elif msg.update is None:
            sent_at = order.sent_at if order.sent_at is not None else order.created_ts
            if order.status is _UNKNOWN and msg.asked_at - sent_at >= self._settings.unknown_reject_after_ms:
                self._set_status(order, _REJECTED, now, d, reason="the venue has no such order")
            elif order.needs_query and order.status in _LIVE:
                log.warning("order.missing_at_venue", venue=order.venue, client_order_id=order.client_order_id)
                order.needs_query = False
        else:
            update = msg.update
            order.needs_query = False
            if order.status is _PENDING_CANCEL and order.cancel_in_doubt and not update.status.is_terminal:
                # Our cancel never took effect (or its answer was lost before it did): cancels are
                # idempotent, so send it again rather than guess.
                self._apply_update(order, update, now, d)
                self._send_cancel(order, now, d)
            else:
                self._apply_update(order, update, now, d)
                if order.status is not _PENDING_CANCEL:
                    order.cancel_in_doubt = False
        self._refresh_doubt(order)
