"""The fake's sequencer state: Lighter orders (by index and client index), groups, trades. Pure.

A tx the API server accepted is executed here later (`execute`), when the fake's sequencer gets to it:
only then does an order get its order index (2**48 + n), as on the real exchange (fact sheet §8).
Orders map onto the sim engine's (a market order is a limit IOC at its worst price; SL / TP are the
engine's stop / take-profit). What Lighter does beyond the engine is done here:
- a refusal at execution is a "rejection after acceptance": the order exists, with a ``canceled-*``
  status (margin, reduce-only, post-only), and the nonce stays consumed;
- grouped orders: OTO / OTOCO children wait (``pending``, trigger_status ``parent-order``) until the
  parent has filled, then rest for the parent's executed size; OCO siblings cancel each other
  (``canceled-oco``); children of a parent canceled unfilled end ``canceled-child``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.core.enums import MarginType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.instruments import Instrument
from gateway.venues.sim.matching import EngineEvent, FillEvent, MatchingEngine, OrderEvent, OrderRefused

__all__ = ["FakeOrder", "Ledger", "MarketInfo"]

ORDER_INDEX_BASE = 2**48
_ENGINE_TYPES = {0: OrderType.LIMIT, 1: OrderType.LIMIT, 2: OrderType.STOP, 3: OrderType.STOP_LIMIT,
                 4: OrderType.TAKE_PROFIT, 5: OrderType.TAKE_PROFIT_LIMIT}
_TYPE_NAMES = {0: "limit", 1: "market", 2: "stop-loss", 3: "stop-loss-limit", 4: "take-profit", 5: "take-profit-limit"}
_TIF_NAMES = {0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}
_REFUSALS = {"insufficient_balance": "canceled-margin-not-allowed", "reduce_only_rejected": "canceled-reduce-only",
             "post_only_would_take": "canceled-post-only"}


@dataclass(frozen=True, slots=True)
class MarketInfo:
    market_id: int
    instrument: Instrument
    size_decimals: int
    price_decimals: int


@dataclass
class FakeOrder:
    order_index: int
    account: int
    market: MarketInfo
    client_order_index: int
    type_code: int
    tif_code: int
    is_ask: bool
    reduce_only: bool
    base_amount: int
    price: int
    trigger_price: int
    order_expiry: int
    nonce: int
    created_ms: int
    status: str = "open"
    filled: Decimal = Decimal(0)
    filled_quote: Decimal = Decimal(0)
    engine_id: str | None = None
    parent: int | None = None  # parent order index (grouped children)
    children: list[int] = field(default_factory=list)
    sibling: int | None = None  # OCO partner
    updated_ms: int = 0

    @property
    def is_live(self) -> bool:
        return self.status in ("open", "pending")

    def size(self) -> Decimal:
        return Decimal(self.base_amount).scaleb(-self.market.size_decimals)

    def price_decimal(self, value: int) -> Decimal:
        return Decimal(value).scaleb(-self.market.price_decimals)

    def render(self) -> dict[str, Any]:
        m, size = self.market, self.size()
        size_q = Decimal(1).scaleb(-m.size_decimals)
        price_q = Decimal(1).scaleb(-m.price_decimals)
        return {
            "order_index": self.order_index, "order_id": str(self.order_index),
            "client_order_index": self.client_order_index, "client_order_id": str(self.client_order_index),
            "market_index": m.market_id, "owner_account_index": self.account, "nonce": self.nonce,
            "initial_base_amount": str(size.quantize(size_q)),
            "remaining_base_amount": str(max(size - self.filled, Decimal(0)).quantize(size_q)),
            "filled_base_amount": str(self.filled.quantize(size_q)),
            "filled_quote_amount": str(self.filled_quote.quantize(Decimal("0.000001"))),
            "price": str(self.price_decimal(self.price).quantize(price_q)),
            "trigger_price": str(self.price_decimal(self.trigger_price).quantize(price_q)),
            "is_ask": self.is_ask, "side": "sell" if self.is_ask else "buy", "reduce_only": self.reduce_only,
            "type": _TYPE_NAMES[self.type_code], "time_in_force": _TIF_NAMES[self.tif_code], "status": self.status,
            "trigger_status": "parent-order" if self.status == "pending" and self.parent else
            ("mark-price" if self.trigger_price else "na"),
            "parent_order_index": self.parent or 0, "order_expiry": self.order_expiry,
            "timestamp": self.created_ms, "created_at": self.created_ms, "updated_at": self.updated_ms or self.created_ms,
        }


class Ledger:
    """Orders, groups and trades of the fake, over one matching engine."""

    def __init__(self, engine: MatchingEngine, markets: dict[int, MarketInfo]):
        self.engine = engine
        self.markets = markets
        self.orders: dict[int, FakeOrder] = {}
        self.by_client: dict[tuple[int, int], int] = {}
        self.by_engine: dict[str, int] = {}
        self.trades: list[dict[str, Any]] = []
        self._next_index = ORDER_INDEX_BASE
        self._next_trade = 0
        self.changed: list[FakeOrder] = []  # orders changed since the last `take_changes`
        self.new_trades: list[dict[str, Any]] = []

    def take_changes(self) -> tuple[list[FakeOrder], list[dict[str, Any]]]:
        changed, trades = self.changed, self.new_trades
        self.changed, self.new_trades = [], []
        return changed, trades

    # --- execution of accepted txs ------------------------------------------------------------------

    def create(self, account: int, info: dict[str, Any], nonce: int, now: int, *, reject: str | None = None,
               parent: FakeOrder | None = None) -> tuple[FakeOrder, list[EngineEvent]]:
        """Execute one CreateOrder (or a group's leg): assign its index, place it, or refuse it."""
        self._next_index += 1
        order = FakeOrder(self._next_index, account, self.markets[info["MarketIndex"]], info["ClientOrderIndex"],
                          info["Type"], info["TimeInForce"], bool(info["IsAsk"]), bool(info["ReduceOnly"]),
                          info["BaseAmount"], info["Price"], info["TriggerPrice"], info["OrderExpiry"], nonce, now,
                          updated_ms=now)
        self.orders[order.order_index] = order
        if order.client_order_index:
            self.by_client[(account, order.client_order_index)] = order.order_index
        self._touch(order)
        if reject is not None:
            order.status = reject
            return order, []
        if parent is not None:
            order.parent, order.status = parent.order_index, "pending"
            parent.children.append(order.order_index)
            return order, []
        return order, self._place(order, order.base_amount, now)

    def _place(self, order: FakeOrder, base_amount: int, now: int) -> list[EngineEvent]:
        m = order.market
        engine_type = _ENGINE_TYPES[order.type_code]
        tif = {0: TimeInForce.IOC, 1: TimeInForce.GTC, 2: TimeInForce.POST_ONLY}[order.tif_code]
        if engine_type in (OrderType.STOP, OrderType.TAKE_PROFIT):
            tif = TimeInForce.GTC
        try:
            events = self.engine.place(
                str(order.account), m.instrument.symbol, Side.SELL if order.is_ask else Side.BUY, engine_type,
                Decimal(base_amount).scaleb(-m.size_decimals), now,
                price=order.price_decimal(order.price) if engine_type.has_limit_price else None,
                trigger_price=order.price_decimal(order.trigger_price) if engine_type.is_conditional else None,
                tif=tif, reduce_only=order.reduce_only, client_order_id=f"lx{order.order_index}")
        except OrderRefused as exc:
            order.status = _REFUSALS.get(exc.reason, "canceled-invalid-balance")
            self._touch(order)
            return []
        order.base_amount = base_amount
        first = events[0] if events and type(events[0]) is OrderEvent else None
        if first is not None:
            order.engine_id = first.order_id
            self.by_engine[first.order_id] = order.order_index
        return events

    def cancel(self, account: int, index: int, now: int, reason: str = "canceled") -> list[EngineEvent]:
        """Cancel by order index or client order index; an unknown or finished order changes nothing."""
        order_index = index if index >= ORDER_INDEX_BASE else self.by_client.get((account, index))
        order = self.orders.get(order_index or 0)
        if order is None or order.account != account or not order.is_live:
            return []
        return self._cancel(order, now, reason)

    def _cancel(self, order: FakeOrder, now: int, reason: str) -> list[EngineEvent]:
        if order.engine_id is not None and self.engine.is_open(order.engine_id):
            try:
                events = self.engine.cancel(str(order.account), now, order_id=order.engine_id)
            except OrderRefused:
                return []
            order.status = reason
            self._touch(order)
            return events
        order.status = reason
        self._touch(order)
        for child in order.children:
            self._cancel_child(child, now)
        return []

    def cancel_all(self, account: int, now: int) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        for order in list(self.orders.values()):
            if order.account == account and order.is_live:
                events += self._cancel(order, now, "canceled")
        return events

    def set_leverage(self, account: int, market_id: int, fraction: int, mode: int, now: int) -> list[EngineEvent]:
        symbol = self.markets[market_id].instrument.symbol
        events = self.engine.set_leverage(str(account), symbol, max(1, 10_000 // max(fraction, 1)), now)
        return events + self.engine.set_margin_type(str(account), symbol,
                                                     MarginType.ISOLATED if mode == 1 else MarginType.CROSS, now)

    # --- what the engine reports ----------------------------------------------------------------------

    def on_engine(self, events: list[EngineEvent], now: int) -> list[EngineEvent]:
        """Fold engine events into the Lighter orders; return engine events caused in turn (groups)."""
        more: list[EngineEvent] = []
        for event in events:
            kind = type(event)
            if kind is OrderEvent:
                more += self._on_order(event, now)  # type: ignore[arg-type]
            elif kind is FillEvent:
                self._on_fill(event)  # type: ignore[arg-type]
        return more

    def _on_order(self, event: OrderEvent, now: int) -> list[EngineEvent]:
        index = self.by_engine.get(event.order_id)
        order = self.orders.get(index or 0)
        if order is None:
            return []
        order.filled = event.filled_qty
        order.filled_quote = (event.avg_price or Decimal(0)) * event.filled_qty
        order.updated_ms = event.ts
        status = event.status
        if status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            order.status = "pending" if order.trigger_price and not event.triggered else "open"
        elif status is OrderStatus.FILLED:
            order.status = "filled"
        elif order.is_live:  # canceled / expired by the engine
            if event.reason == "reduce_only":
                order.status = "canceled-reduce-only"
            elif status is OrderStatus.EXPIRED:
                order.status = "canceled-not-enough-liquidity" if order.filled == 0 else "canceled"
            else:
                order.status = "canceled"
        self._touch(order)
        more: list[EngineEvent] = []
        if not order.is_live or event.triggered:
            if order.children and order.filled > 0 and not order.is_live:
                more += self._activate_children(order, now)
            elif order.children and not order.is_live:
                for child in order.children:
                    self._cancel_child(child, now)
            sibling = self.orders.get(order.sibling or 0)
            if sibling is not None and sibling.is_live and (order.filled > 0 or event.triggered):
                more += self._cancel(sibling, now, "canceled-oco")
        return more

    def _activate_children(self, parent: FakeOrder, now: int) -> list[EngineEvent]:
        # Children rest for the parent's executed size (fact sheet §4 grouped orders).
        base = int(parent.filled.scaleb(parent.market.size_decimals))
        events: list[EngineEvent] = []
        live = [self.orders[c] for c in parent.children if self.orders[c].status == "pending"]
        for child in live:
            child.status = "open"
            events += self._place(child, base, now)
        if len(live) == 2:
            live[0].sibling, live[1].sibling = live[1].order_index, live[0].order_index
        return events

    def _cancel_child(self, index: int, now: int) -> None:
        child = self.orders[index]
        if child.status == "pending":
            child.status = "canceled-child"
            child.updated_ms = now
            self._touch(child)

    def _on_fill(self, fill: FillEvent) -> None:
        index = self.by_engine.get(fill.order_id)
        order = self.orders.get(index or 0)
        if order is None:
            return
        self._next_trade += 1
        ours_ask = fill.side is Side.SELL
        maker = fill.liquidity.value == "maker"
        trade = {
            "trade_id": self._next_trade, "trade_id_str": str(self._next_trade), "tx_hash": "", "type": "trade",
            "market_id": order.market.market_id, "size": str(fill.qty), "price": str(fill.price),
            "usd_amount": str(fill.qty * fill.price),
            "ask_id": order.order_index if ours_ask else 0, "bid_id": 0 if ours_ask else order.order_index,
            "ask_client_id": order.client_order_index if ours_ask else 0,
            "bid_client_id": 0 if ours_ask else order.client_order_index,
            "ask_account_id": order.account if ours_ask else 0, "bid_account_id": 0 if ours_ask else order.account,
            "is_maker_ask": maker if ours_ask else not maker,
            "taker_fee": "0" if maker else str(fill.fee), "maker_fee": str(fill.fee) if maker else "0",
            "timestamp": fill.ts, "block_height": self._next_trade,
        }
        self.trades.append(trade)
        self.new_trades.append(trade)

    def _touch(self, order: FakeOrder) -> None:
        if not self.changed or self.changed[-1] is not order:
            self.changed.append(order)
