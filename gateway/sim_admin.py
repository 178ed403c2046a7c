"""Admin operations on the sim venues of a running gateway: symbols, users, deposits and withdrawals.

The embedded exchange (`gateway.embedded`) and the ops server's `/admin/sim/*` routes both use them.

- A **user** is one more account of a sim venue's exchange: a venue named after the user (the venue
  name is the account name), sharing that exchange's books, market and tape with every other account
  on it, plus a strategy key of the same name with ``read`` and ``trade`` permissions scoped to that
  one account. The key is fresh and random; it is returned once and never logged.
- **Symbols** are added to an exchange, so to every account on it. Unified (``BTC/USDT``,
  ``BTC/USDT:USDT``) or native (``BTCUSDT``) with base and quote; tick, step and minimum sizes default
  to the sim's own for its default symbols, else are derived from the start price.
- **Deposits and withdrawals** change an account's free balance (any sim account: users and configured
  sim venues); a withdrawal beyond the free balance is refused.

Users and symbols live as long as the gateway runs, so they are refused on a durable sim exchange
(``state_path``): they would not survive its restart.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from gateway.api.config import Permission, StrategySettings
from gateway.api.session import KeyRing
from gateway.config import format_errors
from gateway.core.errors import ErrorCode, GatewayError
from gateway.core.instruments import Instrument
from gateway.core.ports import VenueAdapter
from gateway.core.symbols import parse_symbol
from gateway.venues.sim.adapter import SimAdapter
from gateway.venues.sim.config import SimSettings, SimSymbolSettings
from gateway.venues.sim.matching import OrderRefused

__all__ = ["SimAdmin", "SimAdminError", "SimUser", "symbol_spec"]

DEFAULT_PERMISSIONS = frozenset({Permission.READ, Permission.TRADE})
DEFAULT_START_PRICE = Decimal(100)
# Quote assets recognised at the end of a native symbol given without base and quote, longest first.
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB")
_DEFAULT_SPECS = {spec.symbol: spec for spec in SimSettings().symbols}
_SPEC_OVERRIDES = ("start_price", "tick_size", "step_size", "min_qty", "min_notional", "volatility")


class SimAdminError(GatewayError, ValueError):
    """A sim admin operation was refused; `code` says why (e.g. ``INSUFFICIENT_BALANCE``)."""

    code = ErrorCode.INVALID_PARAMS


@dataclass(frozen=True, slots=True)
class SimUser:
    """A user of a sim exchange: its account (= venue = strategy name) and its API key."""

    user: str  # the user id: its account, venue and strategy name
    name: str  # a display name
    exchange: str  # the sim venue whose exchange it trades on
    api_key: str
    permissions: frozenset[Permission]

    def to_public(self, with_key: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {"user": self.user, "name": self.name, "account": self.user,
                                 "exchange": self.exchange, "permissions": sorted(self.permissions)}
        if with_key:
            found["api_key"] = self.api_key
        return found


class SimAdmin:
    """The admin operations of the sim venues of one gateway.

    Args:
        venues: the gateway's venue sessions by name (the live mapping: added venues appear in it).
        add_venue: enters a venue session into the running gateway and reconciles it (`Gateway.add_venue`).
        keys: the strategy key ring every front door authenticates against.
        default_venue: the sim venue whose exchange is meant when an operation names none.
    """

    def __init__(self, venues: Mapping[str, VenueAdapter], add_venue: Callable[[VenueAdapter], Awaitable[bool]],
                 keys: KeyRing, default_venue: str | None = None):
        self._venues = venues
        self._add_venue = add_venue
        self._keys = keys
        self._default = default_venue
        self._users: dict[str, SimUser] = {}

    # --- symbols --------------------------------------------------------------------------------------

    def register_symbol(self, symbol: str, base: str | None = None, quote: str | None = None, *,
                        venue: str | None = None, native: str | None = None, **overrides: Any) -> Instrument:
        """List a symbol on a sim exchange (every account on it); return its instrument on `venue`.

        Args:
            symbol: unified (``BTC/USDT``, ``BTC/USDT:USDT``) or native (``BTCUSDT``).
            base, quote: the assets, when `symbol` is native (else recognised from its end).
            venue: the sim venue whose exchange lists it (default: the default sim venue).
            native: the native alias (default: `symbol` when given native, else ``BTCUSDT``).
            overrides: ``start_price, tick_size, step_size, min_qty, min_notional, volatility``.

        Registering a symbol listed already with no overrides returns it unchanged.

        Raises:
            SimAdminError: invalid values, a conflicting listing, or a durable exchange.
        """
        adapter = self._exchange_venue(venue)
        spec = symbol_spec(symbol, base, quote, native=native, **overrides)
        exchange = adapter.exchange
        if exchange.is_durable:
            raise SimAdminError(f"sim venue {adapter.name!r} keeps its state (state_path): it lists only its "
                                "configured symbols", code=ErrorCode.NOT_SUPPORTED)
        listed = next((s for s in exchange.symbols if s.symbol == spec.symbol), None)
        if listed is not None and not any(v is not None for v in overrides.values()) and native in (None, listed.native):
            return adapter.instruments[listed.symbol]
        try:
            exchange.add_symbol(spec)
        except ValueError as exc:
            raise SimAdminError(str(exc), details={"symbol": spec.symbol}) from None
        return adapter.instruments[spec.symbol]

    # --- users ----------------------------------------------------------------------------------------

    async def create_user(self, user: str, name: str | None = None, *, venue: str | None = None,
                          api_key: str | None = None, permissions: Iterable[Permission | str] | None = None,
                          balances: Mapping[str, Any] | None = None) -> SimUser:
        """Open account `user` on a sim exchange and give it an API key scoped to that account.

        Args:
            user: the user id: the account, venue and strategy name (letters, digits, ``-``, ``_``, ``.``).
            name: a display name (default: `user`).
            venue: the sim venue whose exchange the account opens on (default: the default sim venue).
            api_key: the key (default: a fresh random one; at least 8 characters).
            permissions: default ``read`` and ``trade``.
            balances: opening balances (default none: deposit).

        Raises:
            SimAdminError: a bad or taken id or key, a durable exchange, bad balances.
        """
        adapter = self._exchange_venue(venue)
        exchange = adapter.exchange
        if exchange.is_durable:
            raise SimAdminError(f"sim venue {adapter.name!r} keeps its state (state_path): users are only for an "
                                "in-memory sim exchange", code=ErrorCode.NOT_SUPPORTED)
        if not user or len(user) > 64 or not all(c.isalnum() or c in "-_." for c in user) or user == "gateway":
            raise SimAdminError(f"invalid user id {user!r}: 1-64 letters, digits, '-', '_' or '.'",
                                details={"user": user})
        if user.upper() in {spec.native_name.upper() for spec in exchange.symbols}:
            raise SimAdminError(f"user id {user!r} is a symbol's name", details={"user": user})
        if user in self._venues or exchange.view(user) is not None or self._keys.principal(user) is not None:
            raise SimAdminError(f"user {user!r} exists already (as an account or a strategy)", details={"user": user})
        opening = {_asset(a): _amount(v, positive=False) for a, v in (balances or {}).items()}
        key = api_key if api_key is not None else secrets.token_urlsafe(24)
        try:
            strategy = StrategySettings(
                name=user, api_key=key, permissions=frozenset(permissions or DEFAULT_PERMISSIONS),
                accounts=frozenset({user}),
            )
        except ValidationError as exc:
            raise SimAdminError(format_errors(exc)) from None
        if self._keys.authenticate(key) is not None:
            raise SimAdminError("another strategy has that api_key")
        account = SimAdapter.attached(user, exchange, opening)
        try:
            await self._add_venue(account)
        except BaseException:
            exchange.detach(account)
            raise
        self._keys.add(strategy)  # after the venue is listed: the key never names an unknown account
        found = SimUser(user, name or user, adapter.name, key, strategy.permissions)
        self._users[user] = found
        return found

    def users(self) -> list[SimUser]:
        """The users created so far (with their keys: keep the result to yourself)."""
        return list(self._users.values())

    def user(self, user: str) -> SimUser:
        found = self._users.get(user)
        if found is None:
            raise SimAdminError(f"unknown user {user!r}", code=ErrorCode.UNKNOWN_VENUE, details={"user": user})
        return found

    # --- funds ----------------------------------------------------------------------------------------

    async def deposit(self, account: str, asset: str, amount: Any) -> dict[str, Any]:
        """Credit `amount` (> 0) of `asset` to the free balance of sim account `account`; return the balance.

        Raises:
            SimAdminError: unknown account, bad asset or amount.
        """
        return await self._transfer(account, asset, _amount(amount))

    async def withdraw(self, account: str, asset: str, amount: Any) -> dict[str, Any]:
        """Debit `amount` (> 0) of `asset` from the free balance of `account`; return the balance.

        Raises:
            SimAdminError: ``INSUFFICIENT_BALANCE`` beyond the free balance (nothing changes); unknown
                account, bad asset or amount.
        """
        return await self._transfer(account, asset, -_amount(amount))

    def balances(self, account: str) -> dict[str, dict[str, Decimal]]:
        """Return ``{asset: {"free": ..., "locked": ...}}`` of sim account `account`."""
        adapter = self._sim(account)
        ledger = adapter.engine.ledger
        held = ledger.accounts[account].balances if account in ledger.accounts else {}
        return {asset: {"free": b.free, "locked": b.locked} for asset, b in held.items()}

    async def _transfer(self, account: str, asset: str, amount: Decimal) -> dict[str, Any]:
        adapter = self._sim(account)
        asset = _asset(asset)
        try:
            free, locked = await adapter.exchange.transfer(account, asset, amount)
        except OrderRefused as exc:
            code = ErrorCode.INSUFFICIENT_BALANCE if exc.reason == "insufficient_balance" else ErrorCode.INVALID_PARAMS
            raise SimAdminError(f"{account}: {exc.message}", code=code,
                                details={"account": account, "asset": asset, "reason": exc.reason}) from None
        return {"account": account, "asset": asset, "free": free, "locked": locked}

    # --- lookups --------------------------------------------------------------------------------------

    def _sim(self, account: str) -> SimAdapter:
        adapter = self._venues.get(account)
        if not isinstance(adapter, SimAdapter):
            raise SimAdminError(f"{account!r} is not a sim account", code=ErrorCode.UNKNOWN_VENUE,
                                details={"account": account})
        return adapter

    def _exchange_venue(self, venue: str | None) -> SimAdapter:
        if venue:
            return self._sim(venue)
        if self._default is not None and isinstance(self._venues.get(self._default), SimAdapter):
            return self._sim(self._default)
        owners = [a for a in self._venues.values() if isinstance(a, SimAdapter) and a.owns_exchange]
        if len(owners) != 1:
            raise SimAdminError("name the sim venue (param venue): there is no default one",
                                code=ErrorCode.UNKNOWN_VENUE)
        return owners[0]


def symbol_spec(symbol: str, base: str | None = None, quote: str | None = None, *, native: str | None = None,
                **overrides: Any) -> SimSymbolSettings:
    """Return the sim listing of `symbol` (see `SimAdmin.register_symbol`) with the defaults filled in.

    Raises:
        SimAdminError: an unknown override, an unparsable symbol, or invalid values.
    """
    unknown = set(overrides) - set(_SPEC_OVERRIDES)
    if unknown:
        raise SimAdminError(f"unknown symbol settings {sorted(unknown)}; known: {', '.join(_SPEC_OVERRIDES)}")
    symbol = symbol.strip() if isinstance(symbol, str) else ""
    try:
        if "/" in symbol:
            unified = str(parse_symbol(symbol))
        else:
            if base is None or quote is None:
                base, quote = _split_native(symbol)
            unified = str(parse_symbol(f"{base}/{quote}"))
            native = native or symbol.upper()
    except ValueError as exc:
        raise SimAdminError(str(exc), code=ErrorCode.UNKNOWN_SYMBOL, details={"symbol": symbol}) from None
    known = _DEFAULT_SPECS.get(unified)
    values: dict[str, Any] = {"symbol": unified, "native": native}
    if known is not None:
        values.update(known.model_dump(exclude={"symbol", "native"}))
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update({k: str(v) if isinstance(v, float) else v for k, v in given.items()})
    if known is None:  # sizes follow the start price
        try:
            price = Decimal(str(values.setdefault("start_price", DEFAULT_START_PRICE)))
        except InvalidOperation:
            raise SimAdminError(f"invalid start_price {values['start_price']!r}") from None
        if price.is_finite() and price > 0:
            tick, step = _default_sizes(price)
            for key, default in (("tick_size", tick), ("step_size", step), ("min_qty", step)):
                values.setdefault(key, default)
    try:
        return SimSymbolSettings(**values)
    except ValidationError as exc:
        raise SimAdminError(format_errors(exc), details={"symbol": unified}) from None


def _default_sizes(price: Decimal) -> tuple[Decimal, Decimal]:
    # About 6-7 significant digits of price, and a smallest size worth about 0.1-1 quote units.
    magnitude = price.adjusted()  # floor(log10(price))
    return _plain(Decimal(1).scaleb(magnitude - 6)), _plain(Decimal(1).scaleb(-(magnitude + 1)))


def _plain(value: Decimal) -> Decimal:
    return Decimal(format(value, "f"))


def _split_native(symbol: str) -> tuple[str, str]:
    upper = symbol.upper()
    for quote in _QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)], quote
    raise SimAdminError(f"cannot tell base and quote of {symbol!r}: give them (base=..., quote=...)",
                        code=ErrorCode.UNKNOWN_SYMBOL, details={"symbol": symbol})


def _asset(asset: Any) -> str:
    if not isinstance(asset, str) or not asset or len(asset) > 20 or not asset.isalnum():
        raise SimAdminError(f"invalid asset {asset!r}", details={"asset": str(asset)[:40]})
    return asset.upper()


def _amount(value: Any, positive: bool = True) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise SimAdminError(f"invalid amount {value!r}: a number or a decimal string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise SimAdminError(f"invalid amount {value!r}: a number or a decimal string") from None
    if not amount.is_finite() or amount < 0 or (positive and amount == 0):
        raise SimAdminError(f"invalid amount {value!r}: must be {'> 0' if positive else '>= 0'}")
    return amount
