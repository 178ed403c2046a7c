"""The bracket record (a virtual order: entry + take-profit + stop-loss), its states and transition table.

A `Bracket` is mutable and has one writer: the functions of `machine.py` (and `reconcile.py`, which works on
copies). Everything else sees `to_public()` (the strategy API's bracket shape; Decimals stay `Decimal`, the
API encoder stringifies them) or `to_record()` (plain data for SQLite; `from_record()` reads it back).

Quantities of a bracket:

    filled_qty = entry.filled_qty                     what the entry bought (or sold)
    closed_qty = take_profit.filled_qty + stop_loss.filled_qty
    open_qty   = max(filled_qty - closed_qty, 0)      what the legs protect; no leg is ever armed for more

Client order ids are deterministic (`<bracket_id>-en`, `<bracket_id>-tp<gen>`, `<bracket_id>-sl<gen>`): a
re-placed leg gets the next generation, so a repair never re-sends an id the venue has already seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, GatewayError, RequestError

__all__ = [
    "ALLOWED_BRACKET_TRANSITIONS",
    "Bracket",
    "BracketState",
    "EntryOrder",
    "InvalidBracket",
    "InvalidBracketTransition",
    "LIVE_LEG_STATUSES",
    "Leg",
    "LegMode",
    "LegName",
    "LegStatus",
    "RECORD_SCHEMA",
    "TERMINAL_BRACKET_STATES",
    "TriggerSource",
    "ZERO",
    "transition",
]

ZERO: Final = Decimal(0)
RECORD_SCHEMA: Final = 1


class BracketState(StrEnum):
    PENDING_ENTRY = "pending_entry"  # entry working, nothing filled, no legs
    ACTIVE = "active"  # entry (partly) filled, legs armed for the open quantity
    PARTIALLY_CLOSED = "partially_closed"  # a leg closed part of the position; legs cover the rest
    CLOSED_BY_TP = "closed_by_tp"
    CLOSED_BY_SL = "closed_by_sl"
    CANCELED = "canceled"  # by request, entry canceled/rejected, or the position closed by something else
    EXPIRED = "expired"  # the entry expired with nothing filled
    NEEDS_ATTENTION = "needs_attention"  # the gateway cannot keep the promise alone (leg rejected, overclose)

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_BRACKET_STATES

    @property
    def has_position(self) -> bool:
        """Whether legs should be in place (the entry filled and the bracket still manages it)."""
        return self in _MANAGED


TERMINAL_BRACKET_STATES: Final = frozenset({
    BracketState.CLOSED_BY_TP, BracketState.CLOSED_BY_SL, BracketState.CANCELED, BracketState.EXPIRED})
_MANAGED = frozenset({BracketState.ACTIVE, BracketState.PARTIALLY_CLOSED})


class LegMode(StrEnum):
    NATIVE = "native"  # the venue's own conditional orders
    EMULATED = "emulated"  # the gateway holds the trigger and fires a reduce-only market/limit order
    AUTO = "auto"  # resolved at placement: native where the venue can, else emulated


class TriggerSource(StrEnum):
    LAST = "last"  # last trade price
    MARK = "mark"  # mark price (perps)
    BBO = "bbo"  # sells watch the bid, buys watch the ask


class LegName(StrEnum):
    TP = "tp"
    SL = "sl"


class LegStatus(StrEnum):
    IDLE = "idle"  # nothing armed or placed (entry not filled yet, or disarmed)
    ARMED = "armed"  # emulated: the trigger is in the gateway's trigger index
    PENDING = "pending"  # an order was requested (native leg, or a fired emulated leg); no venue answer yet
    OPEN = "open"  # the venue holds the order (its id may still be unknown: some venues report it late)
    PENDING_CANCEL = "pending_cancel"  # we asked the venue to cancel the current order
    FILLED = "filled"  # the current order filled completely
    CANCELED = "canceled"  # the current order (or trigger) ended without filling completely
    REJECTED = "rejected"  # the venue refused the leg: the bracket needs attention


LIVE_LEG_STATUSES: Final = frozenset({LegStatus.ARMED, LegStatus.PENDING, LegStatus.OPEN})

# --- the state table -------------------------------------------------------------------------------------
_PE = BracketState.PENDING_ENTRY
_AC = BracketState.ACTIVE
_PC = BracketState.PARTIALLY_CLOSED
_TP = BracketState.CLOSED_BY_TP
_SL = BracketState.CLOSED_BY_SL
_CA = BracketState.CANCELED
_EX = BracketState.EXPIRED
_NA = BracketState.NEEDS_ATTENTION

ALLOWED_BRACKET_TRANSITIONS: Final[frozenset[tuple[BracketState, BracketState]]] = frozenset({
    # --- entry working
    (_PE, _AC),  # first entry fill: legs armed for the filled quantity
    (_PE, _CA),  # canceled by request, or the entry was canceled / rejected with nothing filled
    (_PE, _EX),  # the entry expired with nothing filled (IOC/market with no match, GTD)
    (_PE, _NA),  # the service cannot resolve the entry's outcome
    # --- position open
    (_AC, _PC),  # a leg partially filled
    (_AC, _TP),
    (_AC, _SL),
    (_AC, _CA),  # canceled by request (legs canceled, the position is left to the strategy), or closed elsewhere
    (_AC, _NA),  # a leg was rejected / canceled too often, or an emulated trigger crossed while down (policy)
    (_PC, _TP),
    (_PC, _SL),
    (_PC, _CA),
    (_PC, _NA),
    # --- needs attention: fills and cancels still fold in; an operator may resume
    (_NA, _AC),  # resumed: missing legs re-placed
    (_NA, _PC),  # resumed after a partial close
    (_NA, _PE),  # resumed before any entry fill
    (_NA, _TP),  # a remaining leg closed the position
    (_NA, _SL),
    (_NA, _CA),  # canceled by request, or the position was closed elsewhere
    (_NA, _EX),  # the entry expired with nothing filled
    # --- late reports after an end (races; a position without protection is worse than a reopened record)
    (_CA, _AC),  # an entry fill raced the venue's cancel/expiry of an entry we did not ask to cancel
    (_EX, _AC),  # an entry fill arrived after the entry's expiry report (IOC race): the position needs legs
    (_TP, _PC),  # an entry fill raced the entry cancel that followed a full close by TP: re-arm for it
    (_SL, _PC),  # the same after a full close by SL
    (_CA, _TP),  # a TP fill raced our cancel (or the position report beat the TP's fill report)
    (_CA, _SL),  # a SL fill raced our cancel (or the position report beat the SL's fill report)
    (_TP, _NA),  # overclose: the SL filled too after TP closed the position (no venue reduce-only check)
    (_SL, _NA),  # overclose: the TP filled too after SL closed the position
    (_CA, _NA),  # overclose: a leg filled after the position had been closed elsewhere
})


class InvalidBracketTransition(GatewayError, AssertionError):
    """A state change the table does not allow: a bug in the caller, never a venue fact."""

    code = ErrorCode.INTERNAL


class InvalidBracket(RequestError):
    """A bracket request that cannot be placed (bad quantities, prices on the wrong side, bad id)."""

    code = ErrorCode.INVALID_PARAMS


# --- records ---------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class EntryOrder:
    """The bracket's reference to its entry order (the order manager owns the order itself)."""

    type: OrderType  # limit | market
    price: Decimal | None
    client_order_id: str
    order_id: str | None = None
    status: OrderStatus = OrderStatus.PENDING_NEW
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    requested_ts: int = 0  # when we asked for it (placement); used by reconciliation's time window

    def fingerprint(self) -> tuple[object, ...]:
        return (self.order_id, self.status, self.filled_qty, self.avg_price)


@dataclass(slots=True, eq=False)
class Leg:
    """One protective leg. `generation` counts the orders (or triggers) put in place for it over time."""

    name: LegName
    trigger_price: Decimal
    price: Decimal | None = None  # limit price once triggered; None: market
    status: LegStatus = LegStatus.IDLE
    generation: int = 0
    client_order_id: str | None = None  # of the current generation
    order_id: str | None = None  # venue id of the current generation's order; may be learnt late
    order_type: OrderType | None = None  # type of the current order (None while only a trigger is armed)
    armed_qty: Decimal = ZERO  # what the leg covers now: never more than the bracket's open quantity
    order_qty: Decimal = ZERO  # total size last asked of the current order (armed_qty + its own fills)
    fills: dict[int, Decimal] = field(default_factory=dict)  # cumulative filled qty per generation
    placed_ts: int = 0  # when the current generation was requested (placed, armed or fired)
    requested_ts: int = 0  # when anything was last asked of the venue for this leg (place/resize/cancel)
    replacements: int = 0  # re-placements after the venue dropped the leg (capped by the machine)
    resizing: bool = False  # a ResizeLeg is in flight (amend, or cancel-replace to the next generation)

    @property
    def filled_qty(self) -> Decimal:
        """Return what this leg has closed over all its generations."""
        return sum(self.fills.values(), ZERO)

    @property
    def current_filled(self) -> Decimal:
        return self.fills.get(self.generation, ZERO)

    @property
    def is_live(self) -> bool:
        """Whether the leg can still close position without us asking again (armed, pending or open)."""
        return self.status in LIVE_LEG_STATUSES

    def fingerprint(self) -> tuple[object, ...]:
        return (self.status, self.generation, self.client_order_id, self.order_id, self.order_type,
                self.armed_qty, self.order_qty, tuple(self.fills.items()), self.placed_ts, self.requested_ts,
                self.replacements, self.resizing)

    def copy(self) -> Leg:
        return Leg(self.name, self.trigger_price, self.price, self.status, self.generation, self.client_order_id,
                   self.order_id, self.order_type, self.armed_qty, self.order_qty, dict(self.fills),
                   self.placed_ts, self.requested_ts, self.replacements, self.resizing)


@dataclass(slots=True, eq=False)
class Bracket:
    """A virtual order: an entry and two reduce-only legs sized to the entry's filled quantity."""

    bracket_id: str
    account: str
    venue: str
    symbol: str
    side: Side  # of the entry; the legs take the opposite side
    qty: Decimal
    entry: EntryOrder
    take_profit: Leg
    stop_loss: Leg
    mode: LegMode  # resolved: native | emulated
    trigger_source: TriggerSource
    created_ts: int
    updated_ts: int
    state: BracketState = BracketState.PENDING_ENTRY
    requested_mode: LegMode = LegMode.AUTO
    reason: str | None = None
    cancel_requested: bool = False
    ended_from: BracketState | None = None  # the state the bracket was in when it last ended
    last_fill_ts: int = 0  # venue time of the latest fill folded in (older position reports are stale)
    version: int = 0
    grouped: bool = False  # native legs sent with the entry as one request; the venue sizes them (settle._align)

    @property
    def exit_side(self) -> Side:
        return self.side.opposite

    @property
    def closed_qty(self) -> Decimal:
        return self.take_profit.filled_qty + self.stop_loss.filled_qty

    @property
    def open_qty(self) -> Decimal:
        open_qty = self.entry.filled_qty - self.closed_qty
        return open_qty if open_qty > 0 else ZERO

    @property
    def legs(self) -> tuple[Leg, Leg]:
        return (self.take_profit, self.stop_loss)

    def leg(self, name: LegName | str) -> Leg:
        return self.take_profit if name == LegName.TP else self.stop_loss

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def fingerprint(self) -> tuple[object, ...]:
        """Return every mutable field but the timestamps/version: a change means persist and publish."""
        return (self.state, self.reason, self.cancel_requested, self.ended_from, self.last_fill_ts,
                self.entry.fingerprint(), self.take_profit.fingerprint(), self.stop_loss.fingerprint())

    def copy(self) -> Bracket:
        """Return an independent copy (reconciliation repairs copies, never the caller's records)."""
        e = self.entry
        return Bracket(
            self.bracket_id, self.account, self.venue, self.symbol, self.side, self.qty,
            EntryOrder(e.type, e.price, e.client_order_id, e.order_id, e.status, e.filled_qty, e.avg_price,
                       e.requested_ts),
            self.take_profit.copy(), self.stop_loss.copy(), self.mode, self.trigger_source, self.created_ts,
            self.updated_ts, self.state, self.requested_mode, self.reason, self.cancel_requested,
            self.ended_from, self.last_fill_ts, self.version, self.grouped)

    # --- public shape ------------------------------------------------------------------------------------

    def to_public(self) -> dict[str, Any]:
        """Return the strategy API's bracket shape (docs/strategy-api.md), plus closed/open qty and version."""
        e = self.entry
        entry = self._order_shape(e.client_order_id, e.order_id, self.side, e.type, e.price, None,
                                  self.qty, e.filled_qty, e.avg_price, e.status, reduce_only=False)
        return {
            "bracket_id": self.bracket_id,
            "account": self.account,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side,
            "qty": self.qty,
            "state": self.state,
            "mode": self.mode,
            "grouped": self.grouped,
            "trigger_source": self.trigger_source,
            "entry": entry,
            "take_profit": self._leg_public(self.take_profit),
            "stop_loss": self._leg_public(self.stop_loss),
            "filled_qty": e.filled_qty,
            "closed_qty": self.closed_qty,
            "open_qty": self.open_qty,
            "reason": self.reason,
            "created_ts": self.created_ts,
            "updated_ts": self.updated_ts,
            "version": self.version,
        }

    def _leg_public(self, leg: Leg) -> dict[str, Any]:
        order = None
        if leg.order_type is not None and leg.client_order_id is not None:
            trigger = leg.trigger_price if leg.order_type.is_conditional else None
            price = leg.price if leg.order_type.has_limit_price else None
            order = self._order_shape(leg.client_order_id, leg.order_id, self.exit_side, leg.order_type, price,
                                      trigger, leg.order_qty, leg.current_filled, None,
                                      _LEG_ORDER_STATUS[leg.status], reduce_only=True)
        return {"trigger_price": leg.trigger_price, "price": leg.price, "status": leg.status,
                "armed_qty": leg.armed_qty, "filled_qty": leg.filled_qty, "generation": leg.generation,
                "order": order}

    def _order_shape(self, client_order_id: str | None, order_id: str | None, side: Side, type_: OrderType,
                     price: Decimal | None, trigger_price: Decimal | None, qty: Decimal, filled: Decimal,
                     avg_price: Decimal | None, status: OrderStatus, *, reduce_only: bool) -> dict[str, Any]:
        return {"venue": self.venue, "account": self.account, "symbol": self.symbol, "order_id": order_id,
                "client_order_id": client_order_id, "side": side, "type": type_, "tif": TimeInForce.GTC,
                "price": price, "trigger_price": trigger_price, "qty": qty, "filled_qty": filled,
                "avg_price": avg_price, "status": status, "reduce_only": reduce_only,
                "created_ts": self.created_ts, "updated_ts": self.updated_ts, "reason": None}

    # --- persistence -------------------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        """Return plain data (str/int/bool/None/dict) for SQLite; Decimals become strings."""
        e = self.entry
        return {
            "schema": RECORD_SCHEMA, "bracket_id": self.bracket_id, "account": self.account,
            "venue": self.venue, "symbol": self.symbol, "side": self.side.value, "qty": str(self.qty),
            "mode": self.mode.value, "requested_mode": self.requested_mode.value,
            "trigger_source": self.trigger_source.value, "state": self.state.value, "reason": self.reason,
            "cancel_requested": self.cancel_requested,
            "ended_from": self.ended_from.value if self.ended_from else None,
            "last_fill_ts": self.last_fill_ts, "created_ts": self.created_ts, "updated_ts": self.updated_ts,
            "version": self.version, "grouped": self.grouped,
            "entry": {"type": e.type.value, "price": _s(e.price), "client_order_id": e.client_order_id,
                      "order_id": e.order_id, "status": e.status.value, "filled_qty": str(e.filled_qty),
                      "avg_price": _s(e.avg_price), "requested_ts": e.requested_ts},
            "take_profit": _leg_record(self.take_profit),
            "stop_loss": _leg_record(self.stop_loss),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Bracket:
        """Rebuild a bracket from `to_record()` output.

        Raises:
            ValueError: the record's schema version is not one this code reads.
        """
        if record.get("schema") != RECORD_SCHEMA:
            raise ValueError(f"unsupported bracket record schema: {record.get('schema')!r}")
        e = record["entry"]
        entry = EntryOrder(OrderType(e["type"]), _d(e["price"]), e["client_order_id"], e["order_id"],
                           OrderStatus(e["status"]), Decimal(e["filled_qty"]), _d(e["avg_price"]),
                           e["requested_ts"])
        ended = record["ended_from"]
        return cls(
            record["bracket_id"], record["account"], record["venue"], record["symbol"], Side(record["side"]),
            Decimal(record["qty"]), entry, _leg_from(record["take_profit"]), _leg_from(record["stop_loss"]),
            LegMode(record["mode"]), TriggerSource(record["trigger_source"]), record["created_ts"],
            record["updated_ts"], BracketState(record["state"]), LegMode(record["requested_mode"]),
            record["reason"], record["cancel_requested"], BracketState(ended) if ended else None,
            record["last_fill_ts"], record["version"], record.get("grouped", False))


_LEG_ORDER_STATUS: Final = {
    LegStatus.IDLE: OrderStatus.PENDING_NEW, LegStatus.ARMED: OrderStatus.PENDING_NEW,
    LegStatus.PENDING: OrderStatus.PENDING_NEW, LegStatus.OPEN: OrderStatus.NEW,
    LegStatus.PENDING_CANCEL: OrderStatus.PENDING_CANCEL, LegStatus.FILLED: OrderStatus.FILLED,
    LegStatus.CANCELED: OrderStatus.CANCELED, LegStatus.REJECTED: OrderStatus.REJECTED,
}


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _leg_record(leg: Leg) -> dict[str, Any]:
    return {"name": leg.name.value, "trigger_price": str(leg.trigger_price), "price": _s(leg.price),
            "status": leg.status.value, "generation": leg.generation, "client_order_id": leg.client_order_id,
            "order_id": leg.order_id, "order_type": leg.order_type.value if leg.order_type else None,
            "armed_qty": str(leg.armed_qty), "order_qty": str(leg.order_qty),
            "fills": {str(g): str(q) for g, q in leg.fills.items()}, "placed_ts": leg.placed_ts,
            "requested_ts": leg.requested_ts, "replacements": leg.replacements, "resizing": leg.resizing}


def _leg_from(r: dict[str, Any]) -> Leg:
    return Leg(LegName(r["name"]), Decimal(r["trigger_price"]), _d(r["price"]), LegStatus(r["status"]),
               r["generation"], r["client_order_id"], r["order_id"],
               OrderType(r["order_type"]) if r["order_type"] else None, Decimal(r["armed_qty"]),
               Decimal(r["order_qty"]), {int(g): Decimal(q) for g, q in r["fills"].items()}, r["placed_ts"],
               r["requested_ts"], r["replacements"], r["resizing"])


def transition(bracket: Bracket, to: BracketState, now_ms: int, reason: str | None = None) -> BracketState:
    """Move `bracket` to state `to` at `now_ms`, recording `reason`. Return the previous state.

    Raises:
        InvalidBracketTransition: `(bracket.state, to)` is not in the table (the bracket is left unchanged).
    """
    current = bracket.state
    if (current, to) not in ALLOWED_BRACKET_TRANSITIONS:
        raise InvalidBracketTransition(
            f"bracket {bracket.bracket_id}: {current} -> {to} is not allowed",
            details={"bracket_id": bracket.bracket_id, "from_state": current, "to_state": to})
    if to.is_terminal and not current.is_terminal:
        bracket.ended_from = current
    bracket.state = to
    bracket.updated_ts = now_ms
    if reason is not None:
        bracket.reason = reason
    return current
