"""A scriptable in-process venue implementing the `VenueAdapter` methods the order service uses.

Knobs:
- `drop_acks`: the next N placements are accepted, then the call raises `VenueTimeout` (answer lost);
- `lose_places`: the next N placements never reach the venue and the call raises `VenueTimeout`;
- `reject_places`: the next N placements are refused (`VenueRejected`);
- `hold_acks`: an accepted placement waits on this event before answering (a slow ack);
  `accepted` gets each client id the venue accepted, so a test can act while the ack is held;
- `stream_acks`: push each ack through the sink as well as answering it;
- `drop_cancel_acks` / `reject_cancels`: the same for cancels;
- `query_errors`: the next N `get_order` calls time out.
Scripting: `fill`, `cancel_out_of_band`, `push` (any report, in any order), `add_external`.
`placements` counts every accepted placement per client id ("exactly one order on the venue").
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import replace
from decimal import Decimal

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState, Liquidity, MarketType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import VenueRejected, VenueTimeout
from gateway.core.events import Fill, OrderUpdate, UserEvent
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities, OrderRequest, VenueSink

ZERO = Decimal(0)


def instrument(venue: str) -> Instrument:
    return Instrument(venue=venue, symbol="BTC/USDT", native="BTCUSDT", base="BTC", quote="USDT",
                      type=MarketType.SPOT, tick_size=Decimal("0.01"), step_size=Decimal("0.001"),
                      min_qty=Decimal("0.001"), min_notional=Decimal("5"))


class FakeVenue:
    kind = "fake"

    def __init__(self, name: str, clock: Clock, capabilities: Capabilities | None = None):
        self.name = name
        self.capabilities = capabilities or Capabilities(amend=False)
        self._clock = clock
        self._state = ConnectionState.OPEN
        self._instruments = {"BTC/USDT": instrument(name)}
        self.sink: VenueSink | None = None
        self.orders: dict[str, OrderUpdate] = {}  # by client order id: the venue's truth
        self.fills: list[Fill] = []
        self.placements: Counter[str] = Counter()
        self.calls: list[str] = []
        self._ids = itertools.count(1)
        self._trades = itertools.count(1)
        self.drop_acks = 0
        self.lose_places = 0
        self.reject_places = 0
        self.hold_acks: asyncio.Event | None = None
        self.accepted: asyncio.Queue[str] = asyncio.Queue()
        self.stream_acks = False
        self.drop_cancel_acks = 0
        self.reject_cancels = 0
        self.query_errors = 0

    # --- VenueAdapter ---------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    async def __aenter__(self) -> FakeVenue:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def bind(self, sink: VenueSink) -> None:
        self.sink = sink

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        self.calls.append(f"place:{request.client_order_id}")
        if self.lose_places:
            self.lose_places -= 1
            raise VenueTimeout("request lost", venue=self.name)
        if self.reject_places:
            self.reject_places -= 1
            raise VenueRejected("insufficient balance", venue=self.name, venue_code=-2010,
                                venue_message="Account has insufficient balance")
        if request.client_order_id in self.orders:
            raise VenueRejected("duplicate client order id", venue=self.name, venue_code=-2022)
        self.placements[request.client_order_id] += 1
        now = self._clock.now_ms()
        order = OrderUpdate(
            venue=self.name, symbol=request.symbol, order_id=f"V{next(self._ids)}",
            client_order_id=request.client_order_id, side=request.side, type=request.type, tif=request.tif,
            price=request.price, trigger_price=request.trigger_price, qty=request.qty, filled_qty=ZERO,
            avg_price=None, status=OrderStatus.NEW, reduce_only=request.reduce_only, ts=now, recv_ts=now,
        )
        self.orders[request.client_order_id] = order
        self.accepted.put_nowait(request.client_order_id)
        if self.hold_acks is not None:
            await self.hold_acks.wait()  # answers with the state at acceptance: a stale ack
        if self.stream_acks:
            self.push(order)
        if self.drop_acks:
            self.drop_acks -= 1
            raise VenueTimeout("ack lost", venue=self.name)
        return order

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        self.calls.append(f"cancel:{client_order_id or order_id}")
        order = self._find(client_order_id, order_id)
        if self.reject_cancels or order is None or order.status.is_terminal:
            self.reject_cancels = max(self.reject_cancels - 1, 0)
            raise VenueRejected("unknown order", venue=self.name, venue_code=-2011)
        canceled = self._set(order, status=OrderStatus.CANCELED)
        if self.drop_cancel_acks:
            self.drop_cancel_acks -= 1
            raise VenueTimeout("cancel ack lost", venue=self.name)
        return canceled

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        self.calls.append(f"amend:{client_order_id or order_id}")
        order = self._find(client_order_id, order_id)
        if order is None or order.status.is_terminal:
            raise VenueRejected("unknown order", venue=self.name, venue_code=-2011)
        return self._set(order, qty=qty if qty is not None else order.qty,
                         price=price if price is not None else order.price)

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        self.calls.append(f"get:{client_order_id or order_id}")
        if self.query_errors:
            self.query_errors -= 1
            raise VenueTimeout("query timed out", venue=self.name)
        return self._find(client_order_id, order_id)

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        return [o for o in self.orders.values() if o.ts >= since_ms]

    async def fills_since(self, since_ms: int) -> list[Fill]:
        return [f for f in self.fills if f.ts >= since_ms]

    # --- scripting ------------------------------------------------------------------------------------

    def push(self, event: UserEvent) -> None:
        if self.sink is not None:
            self.sink.on_user(event)

    def fill(self, client_order_id: str, qty: str, price: str = "100", trade_id: str | None = None,
             push: bool = True) -> Fill:
        """Match `qty` of the order: update the venue's truth, push the fill and the order update.

        A `trade_id` already used replays that trade (a venue re-sending it): pushed again, counted once.
        """
        order = self.orders[client_order_id]
        replay = trade_id is not None and any(f.trade_id == trade_id for f in self.fills)
        qty_d = Decimal(0) if replay else Decimal(qty)
        now = self._clock.now_ms()
        trade = Fill(venue=self.name, symbol=order.symbol, order_id=order.order_id,
                     client_order_id=client_order_id, trade_id=trade_id or f"T{next(self._trades)}",
                     side=order.side, price=Decimal(price), qty=Decimal(qty), fee=Decimal("0.01"),
                     fee_asset="USDT", liquidity=Liquidity.MAKER, ts=now, recv_ts=now)
        if not replay:
            self.fills.append(trade)
        filled = order.filled_qty + qty_d
        status = OrderStatus.FILLED if filled >= order.qty else OrderStatus.PARTIALLY_FILLED
        if order.status.is_terminal:
            status = order.status
        updated = self._set(order, filled_qty=filled, avg_price=Decimal(price), status=status)
        if push:
            self.push(trade)
            self.push(updated)
        return trade

    def cancel_out_of_band(self, client_order_id: str, push: bool = True) -> OrderUpdate:
        updated = self._set(self.orders[client_order_id], status=OrderStatus.CANCELED)
        if push:
            self.push(updated)
        return updated

    def add_external(self, client_order_id: str | None = "web-1", qty: str = "2") -> OrderUpdate:
        now = self._clock.now_ms()
        order = OrderUpdate(
            venue=self.name, symbol="BTC/USDT", order_id=f"V{next(self._ids)}", client_order_id=client_order_id,
            side=Side.SELL, type=OrderType.LIMIT, tif=TimeInForce.GTC, price=Decimal("120"), trigger_price=None,
            qty=Decimal(qty), filled_qty=ZERO, avg_price=None, status=OrderStatus.NEW, reduce_only=False,
            ts=now, recv_ts=now,
        )
        self.orders[client_order_id or order.order_id] = order  # type: ignore[index]
        return order

    def _find(self, client_order_id: str | None, order_id: str | None) -> OrderUpdate | None:
        if client_order_id and client_order_id in self.orders:
            return self.orders[client_order_id]
        for order in self.orders.values():
            if order_id and order.order_id == order_id:
                return order
        return None

    def _set(self, order: OrderUpdate, **changes: object) -> OrderUpdate:
        now = self._clock.now_ms()
        updated = replace(order, ts=now, recv_ts=now, **changes)  # type: ignore[arg-type]
        self.orders[order.client_order_id or order.order_id] = updated  # type: ignore[index]
        return updated
