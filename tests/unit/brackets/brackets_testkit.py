"""Helpers for the bracket tests: builders, and a tiny venue + service simulator (pure, no event loop)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import OrderUpdate
from gateway.core.ports import Capabilities
from gateway.orders.brackets import (
    VENUE_INTENTS,
    Bracket,
    CancelEntry,
    CancelLeg,
    FireLeg,
    Intent,
    LegMode,
    LegSpec,
    OrderReport,
    PlaceEntry,
    PlaceLeg,
    PriceView,
    ResizeLeg,
    TriggerSource,
    VenueView,
    new_bracket,
    on_order_report,
)

D = Decimal
T0 = 1_700_000_000_000
VENUE = "sim"
SYMBOL = "BTC/USDT:USDT"


def make(bracket_id: str = "b1", *, side: Side = Side.BUY, qty: str = "1", mode: LegMode = LegMode.NATIVE,
         source: TriggerSource = TriggerSource.LAST, entry_type: OrderType = OrderType.LIMIT,
         tp: tuple[str, str | None] | None = None, sl: tuple[str, str | None] | None = None,
         now: int = T0, symbol: str = SYMBOL) -> Bracket:
    """Return a fresh bracket: a long at 100 (TP 110 / SL 95) or a short at 100 (TP 90 / SL 105)."""
    long = side is Side.BUY
    tp = tp or (("110", None) if long else ("90", None))
    sl = sl or (("95", None) if long else ("105", None))
    decision = new_bracket(
        bracket_id=bracket_id, account=VENUE, venue=VENUE, symbol=symbol, side=side, qty=D(qty),
        entry_type=entry_type, entry_price=D(100) if entry_type is OrderType.LIMIT else None,
        take_profit=LegSpec(D(tp[0]), D(tp[1]) if tp[1] else None),
        stop_loss=LegSpec(D(sl[0]), D(sl[1]) if sl[1] else None),
        mode=mode, trigger_source=source, capabilities=Capabilities(stop_orders=True), now_ms=now)
    return decision.bracket


def rep(cid: str | None, status: OrderStatus, filled: str = "0", *, oid: str | None = None, qty: str | None = None,
        ts: int = T0, reason: str | None = None) -> OrderReport:
    return OrderReport(cid, oid, status, D(filled), None, D(qty) if qty is not None else None, ts, reason)


def venue_intents(intents: tuple[Intent, ...] | list[Intent]) -> list[Intent]:
    return [i for i in intents if isinstance(i, VENUE_INTENTS)]


@dataclass
class _VenueOrder:
    update: OrderUpdate
    bracket_id: str


class SimVenue:
    """A venue that holds orders, fills them on request, keeps a position, and can hide ids like Lighter.

    `echo_client_ids=False` reports orders without our client order id (only the venue's id), the way
    Lighter reports orders. `ack_with_id=False` answers placements without the venue id (learnt later).
    """

    def __init__(self, *, echo_client_ids: bool = True, ack_with_id: bool = True, amend: bool = True):
        self.orders: dict[str, _VenueOrder] = {}  # by venue order id
        self.by_cid: dict[str, str] = {}
        self.position: dict[str, Decimal] = {}
        self.echo_client_ids = echo_client_ids
        self.ack_with_id = ack_with_id
        self.amend = amend
        self._seq = 0

    # --- venue actions ---------------------------------------------------------------------------------
    def place(self, *, bracket_id: str, cid: str, symbol: str, side: Side, type_: OrderType, qty: Decimal,
              price: Decimal | None, trigger: Decimal | None, reduce_only: bool, ts: int) -> OrderUpdate:
        self._seq += 1
        oid = f"V{self._seq}"
        update = OrderUpdate(VENUE, symbol, oid, cid, side, type_, TimeInForce.GTC, price, trigger, qty, D(0), None,
                             OrderStatus.NEW, reduce_only, ts, ts)
        self.orders[oid] = _VenueOrder(update, bracket_id)
        self.by_cid[cid] = oid
        return update

    def find(self, cid: str | None, oid: str | None) -> _VenueOrder | None:
        oid = oid or (self.by_cid.get(cid) if cid else None)
        return self.orders.get(oid) if oid else None

    def set_status(self, order: _VenueOrder, status: OrderStatus, ts: int, **changes: object) -> OrderUpdate:
        order.update = replace(order.update, status=status, ts=ts, recv_ts=ts, **changes)
        return order.update

    def fill(self, order: _VenueOrder, qty: Decimal, ts: int) -> OrderUpdate:
        u = order.update
        filled = u.filled_qty + qty
        status = OrderStatus.FILLED if filled >= u.qty else OrderStatus.PARTIALLY_FILLED
        self.position[u.symbol] = self.position.get(u.symbol, D(0)) + qty * u.side.sign
        return self.set_status(order, status, ts, filled_qty=filled)

    def view(self, ts: int, prices: dict[str, PriceView] | None = None) -> VenueView:
        def shown(u: OrderUpdate) -> OrderUpdate:
            return u if self.echo_client_ids else replace(u, client_order_id=None)
        live = [shown(o.update) for o in self.orders.values() if not o.update.status.is_terminal]
        done = [shown(o.update) for o in self.orders.values() if o.update.status.is_terminal]
        return VenueView(VENUE, tuple(live), tuple(done), (), dict(self.position), prices or {}, ts)

    # --- the service's part: run venue intents, fold the answers back --------------------------------
    def apply(self, intent: Intent, ts: int) -> list[OrderReport]:
        """Run one venue intent; return the reports the service would fold (acks, cancels)."""
        if isinstance(intent, (PlaceEntry, PlaceLeg, FireLeg)):
            trigger = intent.trigger_price if isinstance(intent, PlaceLeg) else None
            u = self.place(bracket_id=intent.bracket_id, cid=intent.client_order_id, symbol=intent.symbol,
                           side=intent.side, type_=intent.type, qty=intent.qty, price=intent.price, trigger=trigger,
                           reduce_only=intent.reduce_only, ts=ts)
            return [self._ack(u)]
        if isinstance(intent, (CancelLeg, CancelEntry)):
            order = self.find(intent.client_order_id, intent.order_id)
            if order is None or order.update.status.is_terminal:
                return []
            return [self._ack(self.set_status(order, OrderStatus.CANCELED, ts))]
        if isinstance(intent, ResizeLeg):
            order = self.find(intent.client_order_id, intent.order_id)
            if order is None or order.update.status.is_terminal:
                return []
            if self.amend:
                return [self._ack(self.set_status(order, order.update.status, ts, qty=intent.amend_qty))]
            canceled = self._ack(self.set_status(order, OrderStatus.CANCELED, ts))
            u = order.update
            new = self.place(bracket_id=intent.bracket_id, cid=intent.replace_client_order_id, symbol=u.symbol,
                             side=u.side, type_=u.type, qty=intent.qty, price=u.price, trigger=u.trigger_price,
                             reduce_only=True, ts=ts)
            return [canceled, self._ack(new)]
        return []

    def _ack(self, u: OrderUpdate) -> OrderReport:
        report = OrderReport.from_update(u)
        return report if self.ack_with_id else replace(report, order_id=None)


def run_intents(brackets: dict[str, Bracket], intents: list[Intent], venue: SimVenue, ts: int) -> None:
    """Play the service: run venue intents in order and fold every answer back (which may ask for more)."""
    queue = list(intents)
    while queue:
        intent = queue.pop(0)
        for report in venue.apply(intent, ts):
            b = brackets.get(intent.bracket_id)
            if b is not None:
                queue.extend(venue_intents(on_order_report(b, report, ts).intents))


def entry_intent(b: Bracket) -> PlaceEntry:
    return PlaceEntry(bracket_id=b.bracket_id, venue=b.venue, account=b.account, symbol=b.symbol,
                      client_order_id=b.entry.client_order_id, side=b.side, type=b.entry.type, qty=b.qty,
                      price=b.entry.price)


def open_at(venue: SimVenue, brackets: dict[str, Bracket], b: Bracket, ts: int, *, fill: str | None = None) -> None:
    """Place `b`'s entry at the venue through the service loop, then fill it (`fill` qty) and arm the legs."""
    brackets[b.bracket_id] = b
    run_intents(brackets, [entry_intent(b)], venue, ts)
    if fill is not None:
        order = venue.find(b.entry.client_order_id, None)
        report = venue._ack(venue.fill(order, D(fill), ts))
        run_intents(brackets, venue_intents(on_order_report(b, report, ts).intents), venue, ts)


def apply_repairs(brackets: dict[str, Bracket], repairs: list, venue: SimVenue, ts: int) -> None:
    """Play the service: adopt each repaired record, then run its intents and fold the answers."""
    for r in repairs:
        if r.bracket is not None:
            brackets[r.bracket_id] = r.bracket
    for r in repairs:
        run_intents(brackets, venue_intents(r.intents), venue, ts)
