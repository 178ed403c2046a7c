"""Placing a bracket: validation, leg-mode resolution, and the record in `pending_entry` (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.core.enums import OrderType, Side
from gateway.core.ports import Capabilities
from gateway.orders.brackets.ids import entry_client_order_id, is_valid_bracket_id, leg_client_order_id
from gateway.orders.brackets.intents import Decision, PlaceEntry, PlaceGrouped, PlaceLeg, Publish
from gateway.orders.brackets.model import (
    Bracket,
    BracketState,
    EntryOrder,
    InvalidBracket,
    Leg,
    LegMode,
    LegName,
    LegStatus,
    TriggerSource,
)
from gateway.orders.brackets.settle import NATIVE_TYPE

__all__ = ["LegSpec", "new_bracket", "resolve_mode"]

_S = BracketState


@dataclass(frozen=True, slots=True)
class LegSpec:
    """A leg as requested: trigger price, and the limit price once triggered (None: market)."""

    trigger_price: Decimal
    price: Decimal | None = None


def resolve_mode(requested: LegMode, capabilities: Capabilities, trigger_source: TriggerSource) -> LegMode:
    """Resolve `auto`: native where the venue has conditional orders and can watch the price, else emulated.

    No venue triggers a native order on the best bid/ask, so `auto` with source `bbo` is emulated.
    """
    if requested is not LegMode.AUTO:
        return requested
    if capabilities.stop_orders and trigger_source is not TriggerSource.BBO:
        return LegMode.NATIVE
    return LegMode.EMULATED


def new_bracket(*, bracket_id: str, account: str, venue: str, symbol: str, side: Side, qty: Decimal,
                entry_type: OrderType, entry_price: Decimal | None, take_profit: LegSpec, stop_loss: LegSpec,
                mode: LegMode, trigger_source: TriggerSource, capabilities: Capabilities,
                now_ms: int) -> Decision:
    """Create a bracket in `pending_entry` and ask for its entry order. Persist it before acknowledging.

    Raises:
        InvalidBracket: a bad id, a non-positive size or price, or legs on the wrong side of each other
            (a long's stop-loss trigger must be below its take-profit trigger, and a limit entry between them).
    """
    _validate(bracket_id, side, qty, entry_type, entry_price, take_profit, stop_loss)
    bracket = Bracket(
        bracket_id=bracket_id, account=account, venue=venue, symbol=symbol, side=side, qty=qty,
        entry=EntryOrder(entry_type, entry_price, entry_client_order_id(bracket_id), requested_ts=now_ms),
        take_profit=Leg(LegName.TP, take_profit.trigger_price, take_profit.price),
        stop_loss=Leg(LegName.SL, stop_loss.trigger_price, stop_loss.price),
        mode=resolve_mode(mode, capabilities, trigger_source), trigger_source=trigger_source,
        created_ts=now_ms, updated_ts=now_ms, requested_mode=mode, reason="placed", version=1)
    entry = PlaceEntry(bracket_id=bracket_id, venue=venue, account=account, symbol=symbol,
                       client_order_id=bracket.entry.client_order_id, side=side, type=entry_type, qty=qty,
                       price=entry_price)
    if bracket.mode is LegMode.NATIVE and capabilities.grouped_tpsl:
        bracket.grouped = True
        tp, sl = (_grouped_leg(bracket, leg, now_ms) for leg in bracket.legs)
        return Decision(bracket, _S.PENDING_ENTRY, _S.PENDING_ENTRY,
                        (Publish(bracket_id=bracket_id, reason="placed"),
                         PlaceGrouped(entry=entry, take_profit=tp, stop_loss=sl)), True)
    return Decision(bracket, _S.PENDING_ENTRY, _S.PENDING_ENTRY,
                    (Publish(bracket_id=bracket_id, reason="placed"), entry), True)


def _grouped_leg(b: Bracket, leg: Leg, now_ms: int) -> PlaceLeg:
    """Request generation 1 of a leg together with the entry: for the entry's whole size, covering nothing yet."""
    leg.generation = 1
    leg.client_order_id = leg_client_order_id(b.bracket_id, leg.name, 1)
    leg.status = LegStatus.PENDING
    leg.order_type = NATIVE_TYPE[(leg.name, leg.price is not None)]
    leg.order_qty = b.qty
    leg.placed_ts = leg.requested_ts = now_ms
    return PlaceLeg(bracket_id=b.bracket_id, leg=leg.name, venue=b.venue, account=b.account, symbol=b.symbol,
                    client_order_id=leg.client_order_id, side=b.exit_side, type=leg.order_type, qty=b.qty,
                    price=leg.price, trigger_price=leg.trigger_price, trigger_source=b.trigger_source)


def _validate(bracket_id: str, side: Side, qty: Decimal, entry_type: OrderType, entry_price: Decimal | None,
              tp: LegSpec, sl: LegSpec) -> None:
    if not is_valid_bracket_id(bracket_id):
        raise InvalidBracket(f"bracket_id must be 1-24 characters of [A-Za-z0-9_]: {bracket_id!r}")
    if not qty > 0:
        raise InvalidBracket("qty must be > 0")
    if entry_type is OrderType.LIMIT:
        if entry_price is None or not entry_price > 0:
            raise InvalidBracket("a limit entry needs a price > 0")
    elif entry_type is OrderType.MARKET:
        if entry_price is not None:
            raise InvalidBracket("a market entry takes no price")
    else:
        raise InvalidBracket(f"entry type must be limit or market, not {entry_type}")
    for name, spec in (("take_profit", tp), ("stop_loss", sl)):
        if not spec.trigger_price > 0 or (spec.price is not None and not spec.price > 0):
            raise InvalidBracket(f"{name} prices must be > 0")
    low, high = (sl.trigger_price, tp.trigger_price) if side is Side.BUY else (tp.trigger_price, sl.trigger_price)
    if not low < high or (entry_price is not None and not low < entry_price < high):
        which = "stop_loss < entry < take_profit" if side is Side.BUY else "take_profit < entry < stop_loss"
        raise InvalidBracket(f"trigger prices must satisfy {which} for a {side} bracket")
