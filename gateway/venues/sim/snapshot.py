"""The exportable state of the sim exchange, for a durable store to save and restore. Pure.

What is exported is what a real exchange keeps about its customers: everything about the non-house
accounts (balances, positions, every order the engine still knows, fills) and the engine's counters,
so ids never repeat after a restore. House (synthetic market) orders are never exported: the market
re-quotes after a restore.

Two shapes:
- `EngineState`: everything, for a first snapshot or a restore (`MatchingEngine.export_state` /
  `MatchingEngine.restore`).
- `StateChanges`: what the calls since the last `MatchingEngine.take_changes` changed, for an
  incremental write. It holds the engine's *live* objects: encode it before the engine runs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from gateway.core.enums import MarginType
from gateway.venues.sim.accounts import AssetBalance, PerpPosition
from gateway.venues.sim.records import FillEvent, SimOrder

__all__ = ["AccountState", "EngineCounters", "EngineState", "PositionState", "StateChanges"]


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
