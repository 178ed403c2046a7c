"""The mechanics of the matching engine: activation, matching, triggers and bookkeeping. Pure.

`EngineCore` holds the state and the private steps; `matching.MatchingEngine` adds the validated public
API on top. The rules the mechanics implement are stated in the `matching` module docstring.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal

from gateway.core.enums import Liquidity, MarketType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.instruments import Instrument
from gateway.venues.sim.accounts import Ledger
from gateway.venues.sim.book import Book, BookSide
from gateway.venues.sim.records import (
    ZERO,
    BookEvent,
    EngineEvent,
    FillEvent,
    OrderRefused,
    SimOrder,
    TradeEvent,
)
from gateway.venues.sim.triggers import TriggerBook

__all__ = ["EngineCore"]

_TAKE_ALL = frozenset({OrderType.MARKET, OrderType.STOP, OrderType.TAKE_PROFIT})
_IMMEDIATE = frozenset({TimeInForce.IOC, TimeInForce.FOK})


class EngineCore:
    """The state of one sim exchange and the steps that change it (no public entry points)."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        maker_fee: Decimal,
        taker_fee: Decimal,
        default_leverage: int = 10,
        house_events: bool = False,
        history_limit: int = 100_000,
    ):
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.ledger = Ledger(maker_fee, taker_fee, default_leverage)
        self.house_events = house_events
        self.history_limit = history_limit  # finished orders and fills kept per account
        self.books = {s: Book(s) for s in self.instruments}
        self.triggers = {s: TriggerBook() for s in self.instruments}
        self.last_prices: dict[str, Decimal] = {}
        self.mark_prices: dict[str, Decimal] = {}
        self._orders: dict[str, SimOrder] = {}  # open orders, and the history of non-house accounts
        self._by_client: dict[tuple[str, str], str] = {}
        self._open: dict[str, dict[str, None]] = {}  # account -> open order ids
        self._history: dict[str, dict[str, None]] = {}  # non-house account -> all its order ids
        self._fills: dict[str, list[FillEvent]] = {}
        self._finished: dict[str, deque[str]] = {}  # non-house account -> finished order ids, oldest first
        self._next_order = 0
        self._next_trade = 0
        self._token = 0
        self._now = 0
        self._events: list[EngineEvent] = []
        self._touched: dict[str, None] = {}
        self._moved: dict[str, None] = {}
        # change tracking for a durable store (off unless `track_changes`; see `snapshot.StateChanges`)
        self._track = False
        self._changed_orders: dict[str, SimOrder] = {}
        self._changed_fills: list[FillEvent] = []
        self._changed_balances: dict[tuple[str, str], None] = {}
        self._changed_positions: dict[tuple[str, str], None] = {}
        self._forgotten: list[str] = []
        self._fills_kept: dict[str, FillEvent] = {}


    # --- internals: activation and matching ---------------------------------------------------------

    def _activate(self, order: SimOrder, instrument: Instrument, refuse: bool) -> None:
        # Hold, ack and match a new or just-triggered order. `refuse`: raise instead of expiring.
        book = self.books[order.symbol]
        limit = order.price if order.type.has_limit_price else None
        takes = limit is None or self._crosses(book, order.side, limit)
        try:
            if order.tif is TimeInForce.POST_ONLY and takes:
                raise OrderRefused("post_only_would_take", "a post_only order would take liquidity")
            cost = None
            if order.tif is TimeInForce.FOK or limit is None:
                available, cost = self._walk(book, order, limit)
                if order.tif is TimeInForce.FOK and available < order.remaining:
                    if not order.triggered:
                        self._register(order)
                    self._emit_order(order)
                    self._close(order, OrderStatus.EXPIRED, "fok_not_filled")
                    return
            lock_price = self._lock_price(order, limit) if limit is not None else None
            self.ledger.hold(order, instrument, lock_price, cost)
        except OrderRefused as exc:
            if refuse:
                raise
            self._close(order, OrderStatus.EXPIRED, exc.reason)
            return
        if not order.triggered:
            self._register(order)
        self._emit_order(order)
        if takes:
            self._take(order, instrument)
        self._after_take(order)

    def _after_take(self, order: SimOrder) -> None:
        if not order.is_open:
            return
        if order.type in _TAKE_ALL or order.tif in _IMMEDIATE:
            self._close(order, OrderStatus.EXPIRED, "no_liquidity" if order.type in _TAKE_ALL else "ioc")
        elif not order.resting:
            self._rest(order)

    def _rest(self, order: SimOrder) -> None:
        self._token += 1
        self.books[order.symbol].side(order.side).add(order, self._token)
        self._touched[order.symbol] = None

    def _take(self, taker: SimOrder, instrument: Instrument) -> None:
        book = self.books[taker.symbol]
        opposite = book.opposite(taker.side)
        limit = taker.price if taker.type.has_limit_price else None
        is_buy = taker.side is Side.BUY
        matched = False
        while taker.remaining > 0:
            level = opposite.best()
            if level is None or (limit is not None and (level.price > limit if is_buy else level.price < limit)):
                break
            maker = level.head()
            assert maker is not None, "a level with live orders has a live head"
            qty = min(taker.remaining, maker.remaining)
            if maker.reduce_only:
                qty = min(qty, self._reducible(maker.account, maker.symbol, maker.side))
                if not qty:
                    self._cancel(maker, "reduce_only")
                    continue
            self._match(taker, maker, level.price, qty, instrument, opposite)
            matched = True
            if maker.is_open and maker.reduce_only and not self._reducible(maker.account, maker.symbol, maker.side):
                self._cancel(maker, "reduce_only")
        if matched:
            self._touched[taker.symbol] = None
            self._emit_order(taker)

    def _match(
        self, taker: SimOrder, maker: SimOrder, price: Decimal, qty: Decimal, instrument: Instrument, side: BookSide
    ) -> None:
        self._next_trade += 1
        trade_id = str(self._next_trade)
        now = self._now
        side.reduce(maker, qty)
        for order, liquidity in ((maker, Liquidity.MAKER), (taker, Liquidity.TAKER)):
            order.filled_qty += qty
            order.cost += price * qty
            order.updated_ts = now
            fee, fee_asset, realized = self.ledger.settle(order, instrument, price, qty, liquidity)
            if not order.house or self.house_events:
                fill = FillEvent(
                    account=order.account, symbol=order.symbol, order_id=order.order_id,
                    client_order_id=order.client_order_id, trade_id=trade_id, side=order.side, price=price,
                    qty=qty, fee=fee, fee_asset=fee_asset, liquidity=liquidity, realized_pnl=realized, ts=now,
                )
                self._events.append(fill)
                if not order.house:
                    fills = self._fills[order.account]
                    fills.append(fill)
                    if self._track:
                        self._changed_fills.append(fill)
                    if len(fills) > 2 * self.history_limit:
                        del fills[: -self.history_limit]
                        if self._track:
                            self._fills_kept[order.account] = fills[0]
        self._events.append(TradeEvent(taker.symbol, trade_id, price, qty, taker.side, now))
        self.last_prices[taker.symbol] = price
        self._moved[taker.symbol] = None
        if maker.remaining:
            maker.status = OrderStatus.PARTIALLY_FILLED
            self._emit_order(maker)
        else:
            side.remove(maker)
            self._close(maker, OrderStatus.FILLED, None)
        if taker.remaining:
            taker.status = OrderStatus.PARTIALLY_FILLED
        else:
            self._close(taker, OrderStatus.FILLED, None, emit=False)

    def _walk(self, book: Book, order: SimOrder, limit: Decimal | None) -> tuple[Decimal, Decimal]:
        # Quantity and notional `order` could take now, up to its remaining qty, within `limit`.
        wanted, available, cost = order.remaining, ZERO, ZERO
        is_buy = order.side is Side.BUY
        allowance: dict[str, Decimal] = {}
        for level in book.opposite(order.side).iter_levels():
            if limit is not None and (level.price > limit if is_buy else level.price < limit):
                break
            qty = level.qty
            if level.reduce_only_count:
                qty = ZERO
                for maker in level.live():
                    if maker.reduce_only:
                        left = allowance.setdefault(
                            maker.account, self._reducible(maker.account, maker.symbol, maker.side))
                        take = min(maker.remaining, left)
                        allowance[maker.account] = left - take
                        qty += take
                    else:
                        qty += maker.remaining
            take = min(qty, wanted - available)
            available += take
            cost += take * level.price
            if available >= wanted:
                break
        return available, cost

    # --- internals: conditional orders --------------------------------------------------------------

    def _trigger(self, order: SimOrder) -> None:
        order.triggered = True
        order.updated_ts = self._now
        instrument = self.instruments[order.symbol]
        if order.reduce_only:
            order.qty = min(order.qty, self._reducible(order.account, order.symbol, order.side))
            if not order.qty:
                self._close(order, OrderStatus.EXPIRED, "reduce_only")
                return
        self._activate(order, instrument, refuse=False)

    def _run_triggers(self) -> None:
        moved = self._moved
        while moved:
            symbol = next(iter(moved))
            del moved[symbol]
            last = self.last_prices[symbol]
            for order_id in self.triggers[symbol].pop_crossed(last):
                self._trigger(self._orders[order_id])

    # --- internals: bookkeeping ---------------------------------------------------------------------

    def _register(self, order: SimOrder) -> None:
        self._orders[order.order_id] = order
        self._open[order.account][order.order_id] = None
        if not order.house:
            self._history[order.account][order.order_id] = None
            if order.client_order_id is not None:
                self._by_client[(order.account, order.client_order_id)] = order.order_id

    def _cancel(self, order: SimOrder, reason: str | None) -> None:
        if order.resting:
            self.books[order.symbol].side(order.side).remove(order)
            self._touched[order.symbol] = None
        elif order.type.is_conditional and not order.triggered:
            self.triggers[order.symbol].remove(order)
        self._close(order, OrderStatus.CANCELED, reason)

    def _close(self, order: SimOrder, status: OrderStatus, reason: str | None, emit: bool = True) -> None:
        order.status = status
        order.reason = reason
        order.updated_ts = self._now
        self.ledger.release(order)
        self._open[order.account].pop(order.order_id, None)
        if order.house:
            self._orders.pop(order.order_id, None)
        else:
            self._forget_oldest(order)
        if emit:
            self._emit_order(order)

    def _forget_oldest(self, order: SimOrder) -> None:
        # Keep at most `history_limit` finished orders per account; the oldest go, with their client ids.
        finished = self._finished.setdefault(order.account, deque())
        finished.append(order.order_id)
        if len(finished) > self.history_limit:
            old = self._orders.pop(finished.popleft())
            self._history[old.account].pop(old.order_id, None)
            if self._track:
                self._forgotten.append(old.order_id)
            if old.client_order_id is not None:
                self._by_client.pop((old.account, old.client_order_id), None)

    def _emit_order(self, order: SimOrder) -> None:
        # Every change of an order's state ends here, which makes it the place to track changed orders.
        if not order.house:
            self._events.append(order.snapshot())
            if self._track:
                self._changed_orders[order.order_id] = order
        elif self.house_events:
            self._events.append(order.snapshot())

    def _lookup(self, account: str, order_id: str | None, client_order_id: str | None) -> SimOrder:
        if order_id is None and client_order_id is not None:
            order_id = self._by_client.get((account, client_order_id))
        order = self._orders.get(order_id) if order_id is not None else None
        if order is None or order.account != account:
            raise OrderRefused("order_not_found", f"no order {order_id or client_order_id!r}")
        if client_order_id is not None and order.client_order_id != client_order_id:
            raise OrderRefused("order_not_found", "order id and client order id disagree")
        return order

    def _lock_price(self, order: SimOrder, limit: Decimal | None) -> Decimal | None:
        # A taking perp sell may fill above its limit: hold at the best bid so fills stay covered.
        if limit is not None and order.side is Side.SELL:
            bid = self.books[order.symbol].bids.best_price()
            if bid is not None and bid > limit and self.instruments[order.symbol].type is MarketType.PERP:
                return bid
        return limit

    def _reducible(self, account: str, symbol: str, side: Side) -> Decimal:
        qty = self.ledger.position(account, symbol).qty
        return -qty if side is Side.BUY and qty < 0 else qty if side is Side.SELL and qty > 0 else ZERO

    @staticmethod
    def _crosses(book: Book, side: Side, price: Decimal) -> bool:
        best = book.opposite(side).best_price()
        return best is not None and (best <= price if side is Side.BUY else best >= price)

    def _instrument(self, symbol: str) -> Instrument:
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise OrderRefused("unknown_symbol", f"no symbol {symbol!r}")
        return instrument

    def _account(self, account: str) -> str:
        if account not in self.ledger.accounts:
            raise OrderRefused("unknown_account", f"no account {account!r}")
        return account

    def _begin(self, now_ms: int) -> None:
        self._now = now_ms
        self._events = []
        self._touched.clear()
        self._moved.clear()

    def _end(self) -> list[EngineEvent]:
        events, now, ledger = self._events, self._now, self.ledger
        house = self.house_events
        accounts = ledger.accounts
        for name, asset in ledger.dirty_balances:
            if house or not accounts[name].house:
                events.append(ledger.balance_event(name, asset, now))
        for name, symbol in ledger.dirty_positions:
            if house or not accounts[name].house:
                events.append(ledger.position_event(name, symbol, now))
        if self._track:
            for key in ledger.dirty_balances:
                if not accounts[key[0]].house:
                    self._changed_balances[key] = None
            for key in ledger.dirty_positions:
                if not accounts[key[0]].house:
                    self._changed_positions[key] = None
        ledger.dirty_balances.clear()
        ledger.dirty_positions.clear()
        for symbol in self._touched:
            book = self.books[symbol]
            book.seq += 1
            events.append(BookEvent(symbol, book.seq, now))
        self._touched.clear()
        self._events = []
        return events
