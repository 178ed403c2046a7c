"""What the bracket machine asks of the async service: intents, and the Decision that carries them.

The service runs a Decision in a fixed order: persist the bracket record (`decision.bracket.to_record()`)
when `decision.changed`, then publish, then send the venue intents in the order given (cancels and
shrinks come before placements and growths, so no moment has more armed than the position). Every intent
is self-contained (venue, account, symbol, ids, sizes) and absolute (it says the size wanted, not a
delta), so replaying one is harmless and a later one for the same leg supersedes an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.orders.brackets.model import BracketState, LegName, TriggerSource
from gateway.orders.brackets.triggers import TriggerDirection

if TYPE_CHECKING:
    from gateway.orders.brackets.model import Bracket

__all__ = [
    "ArmTrigger",
    "CancelEntry",
    "CancelLeg",
    "Decision",
    "DisarmTrigger",
    "FireLeg",
    "Intent",
    "LegKey",
    "PlaceEntry",
    "PlaceGrouped",
    "PlaceLeg",
    "Publish",
    "ResizeLeg",
    "VENUE_INTENTS",
]

LegKey = tuple[str, LegName]  # (bracket_id, leg): the key of an emulated leg in the TriggerIndex


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceEntry:
    """Place the entry order through the order manager."""

    bracket_id: str
    venue: str
    account: str
    symbol: str
    client_order_id: str
    side: Side
    type: OrderType  # limit | market
    qty: Decimal
    price: Decimal | None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceGrouped:
    """Place the entry and both native legs as one venue request (a venue with grouped TP/SL orders).

    The legs are reduce-only conditional orders on the exit side for the entry's size; the venue sizes them
    to what the entry executes and cancels one when the other fills.
    """

    entry: PlaceEntry
    take_profit: PlaceLeg
    stop_loss: PlaceLeg

    @property
    def bracket_id(self) -> str:
        return self.entry.bracket_id


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelEntry:
    """Cancel what is left of the entry order (the bracket ended, or was canceled)."""

    bracket_id: str
    venue: str
    account: str
    symbol: str
    client_order_id: str
    order_id: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceLeg:
    """Place a native leg: the venue's own conditional order (stop/stop_limit, take_profit/_limit)."""

    bracket_id: str
    leg: LegName
    venue: str
    account: str
    symbol: str
    client_order_id: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal
    trigger_source: TriggerSource  # which price the venue should trigger on, where it lets us choose
    reduce_only: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ResizeLeg:
    """Make the leg's live order cover exactly `qty` (still to be filled).

    Amend in place where the venue can: the order's new total size is `amend_qty` (`qty` plus what this
    order already filled). Otherwise cancel `client_order_id`/`order_id` and place `replace_client_order_id`
    for `qty` with the same side, type, prices and reduce-only flag; report both outcomes back.
    """

    bracket_id: str
    leg: LegName
    venue: str
    account: str
    symbol: str
    client_order_id: str
    order_id: str | None
    replace_client_order_id: str
    side: Side
    type: OrderType
    qty: Decimal
    amend_qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    trigger_source: TriggerSource
    reduce_only: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelLeg:
    """Cancel a leg's order at the venue (the sibling filled, the bracket ended, or an orphan)."""

    bracket_id: str
    leg: LegName
    venue: str
    account: str
    symbol: str
    client_order_id: str | None
    order_id: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FireLeg:
    """An emulated leg's trigger was crossed: send a reduce-only market order (limit at `price` if given)."""

    bracket_id: str
    leg: LegName
    venue: str
    account: str
    symbol: str
    client_order_id: str
    side: Side
    type: OrderType  # market | limit
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal  # for the log line and latency measurement; not sent
    reduce_only: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmTrigger:
    """Put an emulated leg in the TriggerIndex (`TriggerIndex.add(key, ...)`)."""

    key: LegKey
    bracket_id: str
    leg: LegName
    venue: str
    symbol: str
    source: TriggerSource
    exit_side: Side
    direction: TriggerDirection
    trigger_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class DisarmTrigger:
    """Take an emulated leg out of the TriggerIndex (a no-op when it is not there)."""

    key: LegKey
    bracket_id: str
    leg: LegName


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    """Publish the bracket (its `to_public()`) on `<account>@bracket`, with the reason of the change."""

    bracket_id: str
    reason: str


Intent = (PlaceEntry | PlaceGrouped | CancelEntry | PlaceLeg | ResizeLeg | CancelLeg | FireLeg | ArmTrigger
          | DisarmTrigger | Publish)
VENUE_INTENTS = (PlaceEntry, PlaceGrouped, CancelEntry, PlaceLeg, ResizeLeg, CancelLeg, FireLeg)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one machine step.

    Attributes:
        bracket: the (mutated) bracket record.
        previous: its state before the step.
        state: its state after the step.
        intents: what to do, in order (a `Publish` first when anything changed).
        changed: whether the record changed (persist it before running the intents).
    """

    bracket: Bracket
    previous: BracketState
    state: BracketState
    intents: tuple[Intent, ...]
    changed: bool

    @property
    def reason(self) -> str | None:
        """Return the reason of the change (the `Publish` intent's), if any."""
        for intent in self.intents:
            if isinstance(intent, Publish):
                return intent.reason
        return None
