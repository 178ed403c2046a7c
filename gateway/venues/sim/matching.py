"""The sim exchange's matching engine: price-time priority books, conditional orders, accounts. Pure.

Deterministic: no I/O, no clock (every call takes `now_ms`), no randomness, no iteration over sets.
Each mutating call returns the engine events it caused (see `records`) or raises `OrderRefused`
having changed nothing.

Order rules:
- Prices must be on the tick and sizes on the step (the engine refuses, it never rounds).
- ``market`` orders fill what the book has and expire the rest; ``ioc`` expires the rest of a limit
  order; ``fok`` checks, before any fill, that the whole quantity is available within its limit, else
  expires unfilled; ``post_only`` is refused with ``post_only_would_take`` if it would take.
- Conditional orders rest untriggered until the last trade price (for perps also the mark price)
  crosses the trigger (see `triggers`), then become a market order (stop, take_profit) or a limit order
  (stop_limit, take_profit_limit). One placed with its trigger already crossed triggers at once.
  A triggered order that cannot be funded expires with reason ``insufficient_balance``.
- ``reduce_only`` (perps only) may never increase or flip a position: an order on the side that would
  increase it (or with no position) is refused with ``reduce_only_rejected``; a larger quantity than
  the position is **clipped** to the position when the order is placed or triggered (its reported
  ``qty`` shrinks); a resting reduce-only order that meets a smaller (or vanished) position fills only
  what reduces it and the rest is canceled with reason ``reduce_only``.
- Amend: a smaller quantity at the same price keeps queue priority; a price change or a larger
  quantity re-queues at the back (and takes, if the new price crosses). A quantity not above the
  filled quantity is refused with ``amend_qty_below_filled``.
- Client order ids are unique per account among the orders the engine knows for it
  (``duplicate_client_order_id``). Self-trades are allowed.
- House accounts (see `accounts`) emit no private events unless `house_events` is set, and their
  orders are forgotten once they end.

State export, change tracking and restore (for a durable store) come from `snapshot.EngineSnapshots`.
"""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal

from gateway.core.enums import MarginType, MarketType, OrderType, Side, TimeInForce
from gateway.core.instruments import Instrument
from gateway.venues.sim.book import Book
from gateway.venues.sim.records import (
    BalanceEvent,
    BookEvent,
    EngineEvent,
    FillEvent,
    OrderEvent,
    OrderRefused,
    PositionEvent,
    SimOrder,
    TradeEvent,
)
from gateway.venues.sim.snapshot import EngineSnapshots
from gateway.venues.sim.triggers import TriggerBook

__all__ = [
    "BalanceEvent",
    "BookEvent",
    "EngineEvent",
    "FillEvent",
    "MatchingEngine",
    "OrderEvent",
    "OrderRefused",
    "PositionEvent",
    "TradeEvent",
]


class MatchingEngine(EngineSnapshots):
    """Books, conditional orders and accounts of one sim exchange.

    Args:
        instruments: the symbols traded.
        maker_fee: fee rate of the resting side of a match.
        taker_fee: fee rate of the taking side.
        default_leverage: perp leverage of an account that never set one.
        house_events: also report the private events of house accounts (off: cheaper).
        history_limit: finished orders (and about as many fills) kept per account for queries.
    """

    # --- accounts -----------------------------------------------------------------------------------

    def open_account(self, name: str, balances: dict[str, Decimal] | None = None, house: bool = False) -> None:
        """Create account `name` (idempotent) and credit `balances` to it."""
        self.ledger.open_account(name, balances, house)
        self.ledger.dirty_balances.clear()  # an opening deposit is not an event of any call
        self._open.setdefault(name, {})
        if not house:
            self._history.setdefault(name, {})
            self._fills.setdefault(name, [])

    def transfer(self, account: str, asset: str, amount: Decimal, now_ms: int) -> list[EngineEvent]:
        """Deposit (`amount` > 0) into or withdraw (`amount` < 0) from the free balance of `account`.

        Raises:
            OrderRefused: ``unknown_account``, ``house_account``, ``invalid_amount`` (zero), or
                ``insufficient_balance`` (a withdrawal beyond the free balance); nothing changed.
        """
        if self.ledger.is_house(self._account(account)):
            raise OrderRefused("house_account", f"{account!r} is a house account")
        if not amount:
            raise OrderRefused("invalid_amount", "the amount must not be zero")
        free = self.ledger.balance(account, asset).free
        if amount < 0 and -amount > free:
            raise OrderRefused("insufficient_balance", f"cannot withdraw {-amount} {asset}: {free} is free")
        self._begin(now_ms)
        self.ledger.deposit(account, asset, amount)
        return self._end()

    def set_leverage(self, account: str, symbol: str, leverage: int, now_ms: int) -> list[EngineEvent]:
        """Set `account`'s leverage on perp `symbol` (1..125). Raises `OrderRefused`."""
        instrument = self._instrument(symbol)
        if instrument.type is not MarketType.PERP or not 1 <= leverage <= 125:
            raise OrderRefused("invalid_leverage", f"leverage {leverage} on {symbol}")
        self._begin(now_ms)
        self.ledger.set_leverage(self._account(account), symbol, leverage, instrument)
        self.ledger.dirty_positions[(account, symbol)] = None
        return self._end()

    def set_margin_type(self, account: str, symbol: str, margin_type: MarginType, now_ms: int) -> list[EngineEvent]:
        """Set `account`'s margin type on perp `symbol`. Refused while a position is open."""
        if self._instrument(symbol).type is not MarketType.PERP:
            raise OrderRefused("invalid_symbol", f"{symbol} is not a perp")
        if self.ledger.position(self._account(account), symbol).qty:
            raise OrderRefused("position_open", "close the position before changing margin type")
        self._begin(now_ms)
        self.ledger.set_margin_type(account, symbol, margin_type)
        return self._end()

    # --- instruments --------------------------------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> None:
        """Trade `instrument` from now on, starting with an empty book.

        Raises:
            ValueError: the symbol is traded already.
        """
        symbol = instrument.symbol
        if symbol in self.instruments:
            raise ValueError(f"{symbol!r} is traded already")
        self.instruments[symbol] = instrument
        self.books[symbol] = Book(symbol)
        self.triggers[symbol] = TriggerBook()

    # --- orders -------------------------------------------------------------------------------------

    def place(
        self,
        account: str,
        symbol: str,
        side: Side,
        type: OrderType,
        qty: Decimal,
        now_ms: int,
        *,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> list[EngineEvent]:
        """Place an order. The first event is its ack (``new``) unless it is refused.

        Raises:
            OrderRefused: invalid, unfundable or duplicate; nothing changed.
        """
        instrument = self._instrument(symbol)
        house = self.ledger.is_house(self._account(account))
        if qty <= 0 or not instrument.is_on_step(qty):
            raise OrderRefused("qty_off_step", f"qty {qty} is not a positive multiple of {instrument.step_size}")
        if type.has_limit_price:
            if price is None or price <= 0 or not instrument.is_on_tick(price):
                raise OrderRefused("price_off_tick", f"price {price} is not on tick {instrument.tick_size}")
        else:
            price = None
            if tif is TimeInForce.POST_ONLY:
                raise OrderRefused("invalid_tif", "post_only needs a limit price")
        if type.is_conditional:
            if trigger_price is None or trigger_price <= 0 or not instrument.is_on_tick(trigger_price):
                raise OrderRefused("price_off_tick", f"trigger {trigger_price} is not on tick")
        else:
            trigger_price = None
        if client_order_id is not None and (account, client_order_id) in self._by_client:
            raise OrderRefused("duplicate_client_order_id", f"client order id {client_order_id!r} is in use")
        if reduce_only:
            if instrument.type is not MarketType.PERP:
                raise OrderRefused("reduce_only_rejected", "reduce_only is for perps")
            qty = min(qty, self._reducible(account, symbol, side))
            if not qty:
                raise OrderRefused("reduce_only_rejected", "reduce_only would open or increase a position")
        self._begin(now_ms)
        self._next_order += 1
        order = SimOrder(
            order_id=str(self._next_order), account=account, symbol=symbol, side=side, type=type, tif=tif,
            qty=qty, price=price, trigger_price=trigger_price, reduce_only=reduce_only,
            client_order_id=client_order_id, created_ts=now_ms, updated_ts=now_ms, house=house,
        )
        if type.is_conditional:
            self._token += 1
            order.seq = self._token
            self._register(order)
            last = self.last_prices.get(symbol)
            triggers = self.triggers[symbol]
            if last is not None and triggers.is_crossed(order, last):
                self._emit_order(order)
                self._trigger(order)
            else:
                triggers.add(order)
                self._emit_order(order)
        else:
            self._activate(order, instrument, refuse=True)
        self._run_triggers()
        return self._end()

    def cancel(
        self, account: str, now_ms: int, order_id: str | None = None, client_order_id: str | None = None
    ) -> list[EngineEvent]:
        """Cancel an open order by id or client id. Raises `OrderRefused` (``order_not_found``)."""
        order = self._lookup(account, order_id, client_order_id)
        if not order.is_open:
            raise OrderRefused("order_not_open", f"order {order.order_id} is {order.status}")
        self._begin(now_ms)
        self._cancel(order, None)
        return self._end()

    def cancel_all(self, account: str, now_ms: int, symbol: str | None = None) -> list[EngineEvent]:
        """Cancel every open order of `account` (on `symbol` only, if given)."""
        self._begin(now_ms)
        orders = self._orders
        for order_id in list(self._open.get(self._account(account), ())):
            order = orders[order_id]
            if symbol is None or order.symbol == symbol:
                self._cancel(order, None)
        return self._end()

    def amend(
        self,
        account: str,
        now_ms: int,
        order_id: str | None = None,
        client_order_id: str | None = None,
        qty: Decimal | None = None,
        price: Decimal | None = None,
    ) -> list[EngineEvent]:
        """Change the quantity and/or limit price of an open order (see the module rules).

        Raises:
            OrderRefused: unknown or closed order, bad values, or the new hold is unaffordable.
        """
        order = self._lookup(account, order_id, client_order_id)
        instrument = self.instruments[order.symbol]
        if not order.is_open:
            raise OrderRefused("order_not_open", f"order {order.order_id} is {order.status}")
        if qty is None and price is None:
            raise OrderRefused("nothing_to_amend")
        new_qty = order.qty if qty is None else qty
        new_price = order.price if price is None else price
        if price is not None and not order.type.has_limit_price:
            raise OrderRefused("price_not_amendable", f"a {order.type} order has no limit price")
        if new_qty <= 0 or not instrument.is_on_step(new_qty):
            raise OrderRefused("qty_off_step", f"qty {new_qty} is not on step {instrument.step_size}")
        if new_price is not None and (new_price <= 0 or not instrument.is_on_tick(new_price)):
            raise OrderRefused("price_off_tick", f"price {new_price} is not on tick {instrument.tick_size}")
        if new_qty <= order.filled_qty:
            raise OrderRefused("amend_qty_below_filled", f"qty {new_qty} <= filled {order.filled_qty}")
        book = self.books[order.symbol]
        crosses = new_price is not None and self._crosses(book, order.side, new_price)
        if order.resting:
            if crosses and order.tif is TimeInForce.POST_ONLY:
                raise OrderRefused("post_only_would_take", "the new price would take liquidity")
            self.ledger.rehold(order, instrument, new_qty - order.filled_qty, self._lock_price(order, new_price))
        self._begin(now_ms)
        order.updated_ts = now_ms
        order.reason = "amended"
        if not order.resting:  # untriggered conditional: no queue, no hold
            order.qty, order.price = new_qty, new_price
            self._emit_order(order)
        elif new_price == order.price and new_qty <= order.qty:
            book.side(order.side).reduce(order, order.qty - new_qty)
            order.qty = new_qty
            self._touched[order.symbol] = None
            self._emit_order(order)
        else:
            book.side(order.side).remove(order)
            order.qty, order.price = new_qty, new_price
            self._touched[order.symbol] = None
            if crosses:
                self._emit_order(order)
                self._take(order, instrument)
                self._after_take(order)
            else:
                self._rest(order)
                self._emit_order(order)
        self._run_triggers()
        return self._end()

    # --- market inputs ------------------------------------------------------------------------------

    def on_mark(self, symbol: str, mark: Decimal, now_ms: int) -> list[EngineEvent]:
        """Set a perp's mark price: revalue positions, fire conditional orders the mark crossed."""
        self._begin(now_ms)
        self.mark_prices[symbol] = mark
        for name in self.ledger.mark(symbol, mark):
            self.ledger.dirty_positions[(name, symbol)] = None
        for order_id in self.triggers[symbol].pop_crossed(mark):
            self._trigger(self._orders[order_id])
        self._run_triggers()
        return self._end()

    def apply_funding(self, symbol: str, rate: Decimal, now_ms: int) -> list[EngineEvent]:
        """Exchange funding on perp `symbol` at `rate` and the current mark price."""
        self._begin(now_ms)
        mark = self.mark_prices.get(symbol) or self.last_prices.get(symbol)
        if mark is not None:
            self.ledger.apply_funding(symbol, self.instruments[symbol], rate, mark)
        return self._end()

    # --- queries ------------------------------------------------------------------------------------

    def depth(self, symbol: str, limit: int) -> tuple[tuple[tuple[Decimal, Decimal], ...], tuple[tuple[Decimal, Decimal], ...], int]:
        """Return (bids, asks, seq): up to `limit` (price, qty) levels per side, best first."""
        book = self.books[symbol]
        return book.bids.top(limit), book.asks.top(limit), book.seq

    def bbo(self, symbol: str) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
        """Return (bid, bid_qty, ask, ask_qty), None where a side is empty."""
        book = self.books[symbol]
        bid, ask = book.bids.best(), book.asks.best()
        return (
            bid.price if bid else None, bid.qty if bid else None,
            ask.price if ask else None, ask.qty if ask else None,
        )

    def book_seq(self, symbol: str) -> int:
        return self.books[symbol].seq

    def last_price(self, symbol: str) -> Decimal | None:
        return self.last_prices.get(symbol)

    @property
    def last_order_id(self) -> str:
        """Return the id of the most recently placed order (house orders report no events)."""
        return str(self._next_order)

    def is_open(self, order_id: str) -> bool:
        order = self._orders.get(order_id)
        return order is not None and order.is_open

    def order(self, account: str, order_id: str | None = None, client_order_id: str | None = None) -> OrderEvent | None:
        """Return the state of one of `account`'s orders, or None if unknown."""
        try:
            return self._lookup(account, order_id, client_order_id).snapshot()
        except OrderRefused:
            return None

    def open_orders(self, account: str, symbol: str | None = None) -> list[OrderEvent]:
        orders = self._orders
        found = (orders[i] for i in self._open.get(account, ()))
        return [o.snapshot() for o in found if symbol is None or o.symbol == symbol]

    def orders_since(self, account: str, since_ms: int) -> list[OrderEvent]:
        """Return `account`'s orders updated at or after `since_ms`, oldest first."""
        orders = self._orders
        found = (orders[i] for i in self._history.get(account, ()))
        return sorted((o.snapshot() for o in found if o.updated_ts >= since_ms), key=lambda e: e.ts)

    def fills_since(self, account: str, since_ms: int) -> list[FillEvent]:
        """Return `account`'s fills at or after `since_ms`, oldest first."""
        fills = self._fills.get(account, [])
        return fills[bisect_left(fills, since_ms, key=lambda f: f.ts):]

    def balance_of(self, account: str, asset: str) -> tuple[Decimal, Decimal]:
        """Return (free, locked) of `asset` in `account`."""
        balance = self.ledger.balance(account, asset)
        return balance.free, balance.locked

    def balances(self, account: str, now_ms: int) -> list[BalanceEvent]:
        ledger = self.ledger
        return [ledger.balance_event(account, a, now_ms) for a in ledger.accounts[account].balances]

    def positions(self, account: str, now_ms: int) -> list[PositionEvent]:
        ledger = self.ledger
        return [ledger.position_event(account, s, now_ms) for s in ledger.accounts[account].positions]

