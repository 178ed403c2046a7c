"""The sim user's private pushes, from the engine events of one call or market step. Pure.

Channels (fact sheet §6): ``orders`` gets one item per fill (with the fill fields, cumulative as of
that fill) and one per other change (ack, cancel, expiry, amend), never the same state twice; an
untriggered algo leg is not an order (it shows on ``orders-algo``), a fired one is, with its
``algoId``. ``orders-algo`` gets the algo's state changes; ``account`` the changed currencies;
``positions`` the changed positions (``eventType`` ``event_update``).
"""

from __future__ import annotations

from typing import Any

from gateway.simserver.okx.account import balance_data
from gateway.simserver.okx.algos import Algo, algo_item
from gateway.simserver.okx.orders_render import OrderNotes, order_item, position_item
from gateway.simserver.okx.trading import OrderDesk
from gateway.venues.sim.records import BalanceEvent, EngineEvent, FillEvent, OrderEvent, PositionEvent

__all__ = ["UserReports"]

Push = tuple[str, dict[str, Any]]  # (channel, data item)


class UserReports:
    """Turns the user's engine events into channel pushes, remembering what each order last reported."""

    def __init__(self, desk: OrderDesk):
        self.desk = desk

    def lever(self, symbol: str) -> str:
        return str(self.desk.engine.ledger.leverage_of(self.desk.user, symbol))

    def algo_push(self, algo: Algo) -> Push:
        inst = self.desk.insts[algo.inst_id]
        return "orders-algo", algo_item(algo, inst, self.lever(inst.symbol))

    def render(self, events: list[EngineEvent], now_ms: int) -> list[Push]:
        d = self.desk
        user = d.user
        last: dict[str, OrderEvent] = {}
        for event in events:
            if type(event) is OrderEvent and event.account == user:
                last[event.order_id] = event
        pushes: list[Push] = []
        ccys: set[str] = set()
        for event in events:
            kind = type(event)
            if kind is FillEvent and event.account == user:  # type: ignore[union-attr]
                pushes += self._fill(event, last)  # type: ignore[arg-type]
            elif kind is OrderEvent and event.account == user:  # type: ignore[union-attr]
                pushes += self._order(event)  # type: ignore[arg-type]
            elif kind is BalanceEvent and event.account == user:  # type: ignore[union-attr]
                ccys.add(event.asset)  # type: ignore[union-attr]
            elif kind is PositionEvent and event.account == user:  # type: ignore[union-attr]
                inst = d.by_symbol.get(event.symbol)  # type: ignore[union-attr]
                if inst is not None:
                    pushes.append(("positions", position_item(event, inst, now_ms, d.long_short)))  # type: ignore[arg-type]
        if ccys:
            pushes.append(("account", balance_data(d.engine, user, d.by_symbol, now_ms, ccys)))
        return pushes

    def _fill(self, fill: FillEvent, last: dict[str, OrderEvent]) -> list[Push]:
        d = self.desk
        notes = d.notes.setdefault(fill.order_id, OrderNotes())
        notes.on_fill(fill)
        order = last.get(fill.order_id) or d.engine.order(d.user, fill.order_id)
        inst = d.by_symbol.get(fill.symbol)
        if order is None or inst is None:
            return []
        item = order_item(order, inst, notes, self.lever(order.symbol), fill=fill, acc_fill=notes.acc_fill)
        notes.reported = ("fill", item["state"], notes.acc_fill, order.qty, order.price)
        return [("orders", item)]

    def _order(self, order: OrderEvent) -> list[Push]:
        d = self.desk
        if order.type.is_conditional and not order.triggered:
            return []  # an algo leg waiting for its trigger: reported on orders-algo
        notes = d.notes.setdefault(order.order_id, OrderNotes())
        inst = d.by_symbol.get(order.symbol)
        if inst is None:
            return []
        item = order_item(order, inst, notes, self.lever(order.symbol))
        key = ("fill", item["state"], order.filled_qty, order.qty, order.price)
        if key == notes.reported:
            return []  # the fill push already said this
        state_key = ("order", item["state"], order.filled_qty, order.qty, order.price)
        if state_key == notes.reported:
            return []
        notes.reported = state_key
        return [("orders", item)]
