"""The exportable state of the sim exchange, for a durable store to save and restore. Pure.

What is exported is what a real exchange keeps about its customers: everything about the non-house
accounts (balances, positions, every order the engine still knows, fills) and the engine's counters,
so ids never repeat after a restore. House (synthetic market) orders are never exported: the market
re-quotes after a restore.

Two shapes:
- `EngineState`: everything, for a first snapshot or a restore (`export_state` / `restore`).
- `StateChanges`: what the calls since the last `take_changes` changed (once `track_changes` is on),
  for an incremental write. It holds the engine's *live* objects: encode it before the engine runs again.

Restore rules: counters continue (never lower); the accounts get their saved balances and positions;
every saved order is known again (lookups by id and client id, history, fills); open orders rejoin the
books at their price with their remaining qty, in their saved queue-token order, so among themselves
and against orders queued later they keep their time priority; untriggered conditional orders rejoin
the trigger lists. Restoring emits no events. A restore can be split so the synthetic market is
pre-warmed in between: `restore_counters`, then the market, then `restore_account` (house quotes that
would cross a restored order are withdrawn).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from decimal import Decimal

from gateway.core.enums import MarginType, OrderStatus
from gateway.venues.sim.accounts import Account, AssetBalance, PerpPosition
from gateway.venues.sim.execution import EngineCore
from gateway.venues.sim.records import FillEvent, SimOrder

__all__ = ["AccountState", "EngineCounters", "EngineSnapshots", "EngineState", "PositionState", "StateChanges"]


@dataclass(slots=True)
class EngineCounters:
    """The engine's id counters and last prices. Ids are ``str(counter)`` after an increment."""

    next_order: int = 0  # the last order id handed out
    next_trade: int = 0  # the last trade id handed out
    token: int = 0  # the last queue token (a resting order's time priority; see `book`)
    book_seqs: dict[str, int] = field(default_factory=dict)  # symbol -> book sequence number
    last_prices: dict[str, Decimal] = field(default_factory=dict)  # symbol -> last trade price
    mark_prices: dict[str, Decimal] = field(default_factory=dict)  # perp symbol -> mark price


@dataclass(slots=True)
class PositionState:
    """One perp symbol of an account: its position and the settings chosen for it (None: never set)."""

    position: PerpPosition
    leverage: int | None
    margin_type: MarginType | None


@dataclass(slots=True)
class AccountState:
    """Everything the engine knows about one non-house account."""

    name: str
    balances: dict[str, AssetBalance] = field(default_factory=dict)
    positions: dict[str, PositionState] = field(default_factory=dict)
    orders: list[SimOrder] = field(default_factory=list)  # open and finished, any order
    fills: list[FillEvent] = field(default_factory=list)  # in the order they happened


@dataclass(slots=True)
class EngineState:
    counters: EngineCounters
    accounts: list[AccountState]


@dataclass(slots=True)
class StateChanges:
    """What changed for non-house accounts since the last `take_changes`, plus the counters now.

    Every collection holds the engine's live objects (orders, balances, positions): encode them before
    the engine's next call. Apply in this order: upsert `orders`, `balances`, `positions`, append
    `fills`, then delete `forgotten` and trim fills to `fills_kept`.
    """

    counters: EngineCounters
    orders: list[SimOrder] = field(default_factory=list)
    fills: list[FillEvent] = field(default_factory=list)
    balances: dict[tuple[str, str], AssetBalance] = field(default_factory=dict)  # (account, asset)
    positions: dict[tuple[str, str], PositionState] = field(default_factory=dict)  # (account, symbol)
    forgotten: list[str] = field(default_factory=list)  # order ids dropped from the history
    fills_kept: dict[str, FillEvent] = field(default_factory=dict)  # account -> oldest fill still kept


class EngineSnapshots(EngineCore):
    """Export, change tracking and restore of the engine state (a base of `MatchingEngine`)."""

    def export_counters(self) -> EngineCounters:
        """Return the id counters, book sequence numbers and last prices now."""
        return EngineCounters(
            next_order=self._next_order, next_trade=self._next_trade, token=self._token,
            book_seqs={s: b.seq for s, b in self.books.items()}, last_prices=dict(self.last_prices),
            mark_prices=dict(self.mark_prices),
        )

    def export_state(self) -> EngineState:
        """Return a copy of the state of every non-house account, and the counters."""
        accounts = [self._export_account(n) for n, a in self.ledger.accounts.items() if not a.house]
        return EngineState(self.export_counters(), accounts)

    def track_changes(self) -> None:
        """Start recording what each call changes for non-house accounts (read with `take_changes`)."""
        self._track = True
        self.take_changes()

    def take_changes(self) -> StateChanges:
        """Return the non-house orders, fills, balances and positions changed since the last call.

        The result holds live engine objects: encode it before the engine's next call.
        """
        ledger = self.ledger
        accounts = ledger.accounts
        changes = StateChanges(
            counters=self.export_counters(),
            orders=list(self._changed_orders.values()),
            fills=self._changed_fills,
            balances={k: ledger.balance(*k) for k in self._changed_balances},
            positions={k: self._position_state(accounts[k[0]], k[1]) for k in self._changed_positions},
            forgotten=self._forgotten,
            fills_kept=self._fills_kept,
        )
        self._changed_orders = {}
        self._changed_fills = []
        self._changed_balances = {}
        self._changed_positions = {}
        self._forgotten = []
        self._fills_kept = {}
        return changes

    def restore(self, state: EngineState) -> None:
        """Load `state` into this fresh engine: counters first, then every account (`restore_account`)."""
        self.restore_counters(state.counters)
        for account in state.accounts:
            self.restore_account(account)

    def restore_counters(self, counters: EngineCounters) -> None:
        """Continue the saved counters (ids never repeat) and take the saved last and mark prices.

        Call on a fresh engine, before any order. Symbols no longer traded are ignored.
        """
        self._next_order = max(self._next_order, counters.next_order)
        self._next_trade = max(self._next_trade, counters.next_trade)
        self._token = max(self._token, counters.token)
        for symbol, seq in counters.book_seqs.items():
            if symbol in self.books:
                self.books[symbol].seq = max(self.books[symbol].seq, seq)
        self.last_prices.update((s, p) for s, p in counters.last_prices.items() if s in self.instruments)
        for symbol, mark in counters.mark_prices.items():
            if symbol in self.instruments:
                self.mark_prices[symbol] = mark
                self.ledger.mark(symbol, mark)

    def restore_account(self, state: AccountState) -> None:
        """Load a saved non-house account: balances, positions, orders, fills; emits nothing.

        Its open orders go back in the books (or trigger lists) in their saved queue order through
        `restore_order`; the account's orders must not be in this engine yet. The engine takes the
        saved `SimOrder` objects as they are (no copies).

        Raises:
            ValueError: an order or position is on a symbol this engine does not trade, or the account
                is a house account.
        """
        name = state.name
        unknown = {o.symbol for o in state.orders} - self.instruments.keys()
        unknown |= state.positions.keys() - self.instruments.keys()
        if unknown:
            raise ValueError(f"account {name!r} has orders or positions on unknown symbols {sorted(unknown)}")
        self.ledger.restore_account(
            name, state.balances, {s: p.position for s, p in state.positions.items()},
            {s: p.leverage for s, p in state.positions.items() if p.leverage is not None},
            {s: p.margin_type for s, p in state.positions.items() if p.margin_type is not None},
        )
        self._open.setdefault(name, {})
        self._history.setdefault(name, {})
        finished: list[SimOrder] = []
        waiting: list[SimOrder] = []
        for order in state.orders:
            order.house = False
            self._next_order = max(self._next_order, int(order.order_id))
            self._register(order)
            if order.is_open:
                waiting.append(order)
            else:
                self._open[name].pop(order.order_id, None)
                finished.append(order)
        finished.sort(key=lambda o: o.updated_ts)  # stable: placement order among equal times
        self._finished[name] = deque(o.order_id for o in finished)
        self._fills[name] = list(state.fills)
        for order in sorted(waiting, key=lambda o: o.seq):
            self.restore_order(order)

    def restore_order(self, order: SimOrder) -> None:
        """Put a registered open order back where it waits; emits nothing.

        A resting order rejoins its book at its price with its remaining qty, at its queue token's place
        (ahead of orders queued after it); an untriggered conditional order rejoins its trigger list.
        House orders it would cross are withdrawn (the synthetic market re-quotes).

        Raises:
            ValueError: a non-house order on the other side crosses it (the saved state is inconsistent).
        """
        self._token = max(self._token, order.seq)
        if order.type.is_conditional and not order.triggered:
            order.resting = False
            self.triggers[order.symbol].add(order)
            return
        assert order.price is not None, "a resting order has a limit price"
        book = self.books[order.symbol]
        opposite = book.opposite(order.side)
        while self._crosses(book, order.side, order.price):
            level = opposite.best()
            assert level is not None
            for maker in level.live():
                if not maker.house:
                    raise ValueError(f"order {order.order_id} crosses order {maker.order_id}")
                opposite.remove(maker)
                self._close(maker, OrderStatus.CANCELED, "withdrawn", emit=False)
                book.seq += 1
        order.resting = False
        # otherwise the book's seq is left alone: the book is again as it was when that seq was reported
        book.side(order.side).insert(order, order.seq)

    def _export_account(self, name: str) -> AccountState:
        account = self.ledger.accounts[name]
        orders = self._orders
        symbols = dict.fromkeys([*account.positions, *account.leverage, *account.margin_type])
        positions = {}
        for symbol in symbols:
            saved = self._position_state(account, symbol)
            saved.position = replace(saved.position)
            positions[symbol] = saved
        return AccountState(
            name=name,
            balances={a: AssetBalance(b.free, b.locked) for a, b in account.balances.items()},
            positions=positions,
            orders=[replace(orders[i]) for i in self._history.get(name, ())],
            fills=list(self._fills.get(name, ())),
        )

    def _position_state(self, account: Account, symbol: str) -> PositionState:
        return PositionState(self.ledger.position(account.name, symbol), account.leverage.get(symbol),
                             account.margin_type.get(symbol))
