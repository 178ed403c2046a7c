"""The sim exchange's ledger: spot balances, perp positions and the holds of open orders. Pure.

Rules (the engine relies on them; tests check them):

- **Holds.** A spot buy holds ``qty * price * (1 + taker_fee)`` of the quote asset (a market buy holds
  the exact cost of walking the book, times the same factor); a spot sell holds ``qty`` of the base.
  A perp order holds ``qty * price * (1 / leverage + taker_fee)`` of the settle asset as initial margin
  plus the worst-case fee; a reduce-only perp order holds nothing. A sell that takes on arrival holds at
  the best bid when that is above its limit, so its fills never need more than was held. Conditional
  orders hold nothing until they trigger. Each fill releases its share of the hold; the rest is
  released when the order ends. A hold larger than ``free`` refuses the order with
  ``insufficient_balance``.
- **Fees.** ``price * qty * fee_rate`` (maker or taker rate), always charged in the quote asset on spot
  (the buyer pays in quote too, not in the base it receives) and in the settle asset on perps. Fees are
  exact Decimals and are added to `fees` so balances are conserved: for each asset, the sum over all
  accounts of ``free + locked`` plus ``fees[asset]`` is constant (perps: minus realized PnL and funding,
  which are zero-sum over all accounts together with unrealized PnL).
- **Positions** (perps): signed qty; increasing averages the entry price (weighted by qty); reducing
  realizes ``closed * (price - entry) * sign`` into ``free``; a flip opens the rest at the fill price.
  The position's initial margin ``|qty| * entry / leverage`` sits in ``locked``. Margin type is stored
  and reported; cross and isolated behave alike here, and there is no liquidation.
- **House** accounts (the synthetic market's makers and takers) skip every check, hold nothing and
  keep no margin, so their balances may go negative; they still pay fees and carry positions, which
  keeps the conservation sums above exact over all accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal

from gateway.core.enums import Liquidity, MarginType, MarketType, Side
from gateway.core.instruments import Instrument
from gateway.venues.sim.records import ZERO, BalanceEvent, OrderRefused, PositionEvent, SimOrder

__all__ = ["Account", "AssetBalance", "Ledger", "PerpPosition", "settle_asset"]

_MONEY = Decimal("1e-8")
_ONE = Decimal(1)


def _up(value: Decimal) -> Decimal:
    return value.quantize(_MONEY, rounding=ROUND_UP)


def settle_asset(instrument: Instrument) -> str:
    """Return the asset a perp's margin, PnL and fees are booked in."""
    return instrument.settle or instrument.quote


@dataclass(slots=True)
class AssetBalance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass(slots=True)
class PerpPosition:
    symbol: str
    qty: Decimal = ZERO  # signed: long > 0
    entry_price: Decimal = ZERO
    mark_price: Decimal = ZERO
    margin: Decimal = ZERO  # initial margin held in `locked` of the settle asset
    realized_pnl: Decimal = ZERO  # cumulative, fees excluded
    funding: Decimal = ZERO  # cumulative funding received (negative: paid)

    @property
    def unrealized_pnl(self) -> Decimal:
        if not self.qty or not self.mark_price:
            return ZERO
        return self.qty * (self.mark_price - self.entry_price)


@dataclass(slots=True)
class Account:
    name: str
    house: bool = False
    balances: dict[str, AssetBalance] = field(default_factory=dict)
    positions: dict[str, PerpPosition] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, MarginType] = field(default_factory=dict)


class Ledger:
    """All accounts of one sim exchange. Records what each call touched for the engine to report."""

    def __init__(self, maker_fee: Decimal, taker_fee: Decimal, default_leverage: int = 10):
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.default_leverage = default_leverage
        self.accounts: dict[str, Account] = {}
        self.fees: dict[str, Decimal] = {}
        # insertion-ordered sets (dicts) keep event order independent of string hashing
        self.dirty_balances: dict[tuple[str, str], None] = {}
        self.dirty_positions: dict[tuple[str, str], None] = {}
        self._holders: dict[str, dict[str, None]] = {}  # symbol -> accounts with a position
        self._marks: dict[str, Decimal] = {}

    # --- accounts -----------------------------------------------------------------------------------

    def open_account(self, name: str, balances: dict[str, Decimal] | None = None, house: bool = False) -> Account:
        """Create account `name` (or return it if it exists) and credit `balances` to it."""
        account = self.accounts.get(name)
        if account is None:
            account = self.accounts[name] = Account(name=name, house=house)
        for asset, amount in (balances or {}).items():
            self.deposit(name, asset, Decimal(amount))
        return account

    def restore_account(
        self,
        name: str,
        balances: dict[str, AssetBalance],
        positions: dict[str, PerpPosition],
        leverage: dict[str, int],
        margin_type: dict[str, MarginType],
    ) -> None:
        """Give non-house account `name` (created if needed) copies of saved balances, positions and settings.

        Replaces what the account held.
        """
        account = self.open_account(name)
        if account.house:
            raise ValueError(f"account {name!r} is a house account")
        account.balances = {asset: AssetBalance(b.free, b.locked) for asset, b in balances.items()}
        account.positions = {}
        for symbol, saved in positions.items():
            pos = account.positions[symbol] = PerpPosition(
                symbol=symbol, qty=saved.qty, entry_price=saved.entry_price,
                mark_price=saved.mark_price, margin=saved.margin,
                realized_pnl=saved.realized_pnl, funding=saved.funding,
            )
            holders = self._holders.setdefault(symbol, {})
            if pos.qty:
                holders[name] = None
            else:
                holders.pop(name, None)
        account.leverage = dict(leverage)
        account.margin_type = dict(margin_type)

    def deposit(self, name: str, asset: str, amount: Decimal) -> None:
        """Credit (or, negative, debit) `amount` of `asset` to the free balance of `name`."""
        self._bal(self.accounts[name], asset).free += amount
        self.dirty_balances[(name, asset)] = None

    def balance(self, name: str, asset: str) -> AssetBalance:
        return self.accounts[name].balances.get(asset) or AssetBalance()

    def position(self, name: str, symbol: str) -> PerpPosition:
        return self._pos(self.accounts[name], symbol)

    def leverage_of(self, name: str, symbol: str) -> int:
        return self.accounts[name].leverage.get(symbol, self.default_leverage)

    def margin_type_of(self, name: str, symbol: str) -> MarginType:
        return self.accounts[name].margin_type.get(symbol, MarginType.CROSS)

    def set_leverage(self, name: str, symbol: str, leverage: int, instrument: Instrument) -> None:
        """Set the leverage of `symbol` and re-margin an open position. Open orders keep their holds."""
        account = self.accounts[name]
        pos = account.positions.get(symbol)
        if pos is not None and pos.qty and not account.house:
            margin = _up(abs(pos.qty) * pos.entry_price / leverage)
            bal = self._bal(account, settle_asset(instrument))
            delta = margin - pos.margin
            if delta > bal.free:
                raise OrderRefused("insufficient_balance", "not enough free margin for that leverage")
            bal.free -= delta
            bal.locked += delta
            pos.margin = margin
            self.dirty_balances[(name, settle_asset(instrument))] = None
            self.dirty_positions[(name, symbol)] = None
        account.leverage[symbol] = leverage

    def set_margin_type(self, name: str, symbol: str, margin_type: MarginType) -> None:
        """Set the margin type of `symbol` (stored and reported only)."""
        self.accounts[name].margin_type[symbol] = margin_type
        self.dirty_positions[(name, symbol)] = None

    # --- holds --------------------------------------------------------------------------------------

    def hold(self, order: SimOrder, instrument: Instrument, lock_price: Decimal | None, cost: Decimal | None) -> None:
        """Hold the balance `order` needs for its remaining qty.

        Args:
            order: the order, which records what is held.
            instrument: the order's instrument.
            lock_price: the price the hold is computed at (a limit price, or a higher best bid for a
                taking sell); None for a market order, whose hold is computed from `cost`.
            cost: the notional a market order would trade (walking the book); ignored otherwise.

        Raises:
            OrderRefused: ``insufficient_balance``; nothing was held.
        """
        account = self.accounts[order.account]
        if account.house:
            return
        if instrument.type is MarketType.SPOT:
            if order.side is Side.BUY:
                asset, rate = instrument.quote, _ONE + self.taker_fee
            else:
                asset, rate, lock_price, cost = instrument.base, _ONE, _ONE, None
        else:
            asset = settle_asset(instrument)
            if order.reduce_only:
                order.lock_asset, order.lock_rate, order.lock_price = asset, ZERO, lock_price
                return
            rate = _ONE / self.leverage_of(order.account, order.symbol) + self.taker_fee
        if lock_price is not None:
            amount = order.remaining * lock_price * rate
        else:
            amount = (cost or ZERO) * rate
        if instrument.type is MarketType.PERP:
            amount = _up(amount)
        bal = self._bal(account, asset)
        if amount > bal.free:
            raise OrderRefused("insufficient_balance", f"needs {amount} {asset}, free {bal.free}")
        bal.free -= amount
        bal.locked += amount
        order.locked, order.lock_asset, order.lock_price, order.lock_rate = amount, asset, lock_price, rate
        self.dirty_balances[(order.account, asset)] = None

    def rehold(self, order: SimOrder, instrument: Instrument, new_remaining: Decimal, lock_price: Decimal | None) -> None:
        """Resize the hold of an amended order to `new_remaining` at `lock_price`.

        Raises:
            OrderRefused: ``insufficient_balance``; the hold is unchanged.
        """
        if not order.lock_rate or self.accounts[order.account].house:
            return
        if instrument.type is MarketType.SPOT and order.side is Side.SELL:
            lock_price = _ONE
        amount = new_remaining * (lock_price or ZERO) * order.lock_rate
        if instrument.type is MarketType.PERP:
            amount = _up(amount)
        bal = self._bal(self.accounts[order.account], order.lock_asset)
        delta = amount - order.locked
        if delta > bal.free:
            raise OrderRefused("insufficient_balance", f"needs {delta} more {order.lock_asset}")
        bal.free -= delta
        bal.locked += delta
        order.locked, order.lock_price = amount, lock_price
        self.dirty_balances[(order.account, order.lock_asset)] = None

    def release(self, order: SimOrder) -> None:
        """Release whatever `order` still holds (it ended or left the book)."""
        if order.locked:
            bal = self._bal(self.accounts[order.account], order.lock_asset)
            bal.locked -= order.locked
            bal.free += order.locked
            order.locked = ZERO
            self.dirty_balances[(order.account, order.lock_asset)] = None

    # --- fills --------------------------------------------------------------------------------------

    def settle(
        self, order: SimOrder, instrument: Instrument, price: Decimal, qty: Decimal, liquidity: Liquidity
    ) -> tuple[Decimal, str, Decimal]:
        """Book one fill of `order`: release its hold share, charge the fee, move assets or the position.

        Returns:
            (fee, fee_asset, realized_pnl) of this fill.
        """
        name = order.account
        account = self.accounts[name]
        notional = price * qty
        fee = notional * (self.maker_fee if liquidity is Liquidity.MAKER else self.taker_fee)
        if order.locked:
            share = qty * (order.lock_price or price) * order.lock_rate
            if instrument.type is MarketType.PERP:
                share = _up(share)
            share = min(share, order.locked)
            order.locked -= share
            held = self._bal(account, order.lock_asset)
            held.locked -= share
            held.free += share
        dirty = self.dirty_balances
        if instrument.type is MarketType.SPOT:
            quote = self._bal(account, instrument.quote)
            base = self._bal(account, instrument.base)
            if order.side is Side.BUY:
                quote.free -= notional + fee
                base.free += qty
            else:
                base.free -= qty
                quote.free += notional - fee
            fee_asset = instrument.quote
            dirty[(name, instrument.base)] = None
            dirty[(name, fee_asset)] = None
            realized = ZERO
        else:
            fee_asset = settle_asset(instrument)
            bal = self._bal(account, fee_asset)
            bal.free -= fee
            realized = self._trade_position(account, order.symbol, order.side.sign * qty, price, bal)
            dirty[(name, fee_asset)] = None
            self.dirty_positions[(name, order.symbol)] = None
        self.fees[fee_asset] = self.fees.get(fee_asset, ZERO) + fee
        return fee, fee_asset, realized

    def _trade_position(
        self, account: Account, symbol: str, delta: Decimal, price: Decimal, bal: AssetBalance
    ) -> Decimal:
        pos = self._pos(account, symbol)
        qty, entry = pos.qty, pos.entry_price
        realized = ZERO
        if not qty or (qty > 0) == (delta > 0):
            new_qty = qty + delta
            entry = (abs(qty) * entry + abs(delta) * price) / abs(new_qty)
        else:
            closed = min(abs(delta), abs(qty))
            realized = _up(closed * (price - entry)) if qty > 0 else _up(closed * (entry - price))
            new_qty = qty + delta
            if not new_qty:
                entry = ZERO
            elif (new_qty > 0) != (qty > 0):
                entry = price
        pos.qty, pos.entry_price = new_qty, entry
        pos.realized_pnl += realized
        bal.free += realized
        pos.mark_price = self._marks.get(symbol, price)
        holders = self._holders.setdefault(symbol, {})
        if new_qty:
            holders[account.name] = None
        else:
            holders.pop(account.name, None)
        if not account.house:
            margin = _up(abs(new_qty) * entry / self.leverage_of(account.name, symbol))
            moved = margin - pos.margin
            bal.free -= moved
            bal.locked += moved
            pos.margin = margin
        return realized

    # --- marks and funding --------------------------------------------------------------------------

    def mark(self, symbol: str, price: Decimal) -> list[str]:
        """Set the mark price of `symbol`; return the accounts holding a position in it."""
        self._marks[symbol] = price
        holders = sorted(self._holders.get(symbol, ()))  # by name: the same order after a restore
        accounts = self.accounts
        for name in holders:
            accounts[name].positions[symbol].mark_price = price
        return holders

    def apply_funding(self, symbol: str, instrument: Instrument, rate: Decimal, mark: Decimal) -> list[str]:
        """Pay funding on `symbol`: longs pay ``qty * mark * rate`` to shorts (rate > 0). Zero-sum."""
        asset = settle_asset(instrument)
        holders = sorted(self._holders.get(symbol, ()))
        for name in holders:
            account = self.accounts[name]
            pos = account.positions[symbol]
            payment = pos.qty * mark * rate
            pos.funding -= payment
            self._bal(account, asset).free -= payment
            self.dirty_balances[(name, asset)] = None
            self.dirty_positions[(name, symbol)] = None
        return holders

    # --- reports ------------------------------------------------------------------------------------

    def balance_event(self, name: str, asset: str, ts: int) -> BalanceEvent:
        bal = self.balance(name, asset)
        return BalanceEvent(account=name, asset=asset, free=bal.free, locked=bal.locked, ts=ts)

    def position_event(self, name: str, symbol: str, ts: int) -> PositionEvent:
        pos = self.position(name, symbol)
        return PositionEvent(
            account=name,
            symbol=symbol,
            qty=pos.qty,
            entry_price=pos.entry_price,
            mark_price=pos.mark_price,
            unrealized_pnl=pos.unrealized_pnl,
            realized_pnl=pos.realized_pnl,
            margin=pos.margin,
            leverage=self.leverage_of(name, symbol),
            margin_type=self.margin_type_of(name, symbol),
            ts=ts,
        )

    def is_house(self, name: str) -> bool:
        return self.accounts[name].house

    @staticmethod
    def _bal(account: Account, asset: str) -> AssetBalance:
        bal = account.balances.get(asset)
        if bal is None:
            bal = account.balances[asset] = AssetBalance()
        return bal

    @staticmethod
    def _pos(account: Account, symbol: str) -> PerpPosition:
        pos = account.positions.get(symbol)
        if pos is None:
            pos = account.positions[symbol] = PerpPosition(symbol=symbol)
        return pos
