"""The venue side of the order service: making one venue call for an intent, resolving symbols.

`call_venue` never raises: every answer, refusal, timeout or unexpected failure becomes the outcome
message the manager folds in. An unexpected exception is an *unknown* outcome, never a refusal.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from gateway.core.enums import OrderType
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, VenueTimeout, VenueUnavailable
from gateway.core.instruments import Instrument
from gateway.core.ports import GroupedOrderVenue, VenueAdapter
from gateway.orders.commands import (
    AmendOutcome,
    CancelOutcome,
    GroupOutcome,
    Intent,
    PlaceOutcome,
    QueryOutcome,
    SendAmend,
    SendCancel,
    SendGroup,
    SendPlace,
    SendQuery,
)

__all__ = ["call_venue", "resolve_instrument"]

log = structlog.get_logger("gateway.orders")

_TAKE_PROFIT = frozenset({OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT})
_STOP_LOSS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


async def call_venue(
    adapter: VenueAdapter, intent: Intent, timeout_s: float
) -> PlaceOutcome | GroupOutcome | CancelOutcome | AmendOutcome | QueryOutcome:
    """Make the venue call `intent` asks for, within `timeout_s`, and return its outcome message."""
    update: Any = None
    error: GatewayError | None = None
    try:
        async with asyncio.timeout(timeout_s):
            if isinstance(intent, SendPlace):
                update = await adapter.place_order(intent.request)
            elif isinstance(intent, SendGroup):
                if not isinstance(adapter, GroupedOrderVenue):  # the service checks first: a bug if reached
                    raise GatewayError(f"{adapter.name} takes no grouped orders", code=ErrorCode.NOT_SUPPORTED)
                entry, *children = intent.requests
                take_profit = next((r for r in children if r.type in _TAKE_PROFIT), None)
                stop_loss = next((r for r in children if r.type in _STOP_LOSS), None)
                update = await adapter.place_group(entry, take_profit, stop_loss)
            elif isinstance(intent, SendCancel):
                update = await adapter.cancel_order(intent.symbol, intent.order_id, intent.client_order_id)
            elif isinstance(intent, SendAmend):
                update = await adapter.amend_order(intent.symbol, intent.order_id, intent.client_order_id,
                                                   intent.qty, intent.price)
            else:
                update = await adapter.get_order(intent.symbol, intent.order_id, intent.client_order_id)
    except GatewayError as exc:  # before TimeoutError: VenueTimeout is both
        error = exc
    except TimeoutError:
        error = VenueTimeout("no answer in time", venue=intent.venue)
    except Exception as exc:  # the outcome is unknown: never treat it as a refusal
        log.warning("orders.venue_call_failed", venue=intent.venue, call=type(intent).__name__, error=repr(exc))
        error = VenueUnavailable(f"venue call failed: {exc!r}", venue=intent.venue)
    if isinstance(intent, SendPlace):
        return PlaceOutcome(intent.account, intent.key, update, error)
    if isinstance(intent, SendGroup):
        return GroupOutcome(intent.account, intent.keys, _in_request_order(intent, update), error)
    if isinstance(intent, SendCancel):
        return CancelOutcome(intent.account, intent.key, update, error)
    if isinstance(intent, SendAmend):
        return AmendOutcome(intent.account, intent.key, update, error)
    assert isinstance(intent, SendQuery)
    return QueryOutcome(intent.account, intent.key, intent.asked_at, update, error)


def _in_request_order(intent: SendGroup, updates: Any) -> tuple[Any, ...]:
    """The venue answers (entry, tp, sl) for the orders given; line them up with the intent's keys."""
    if not updates:
        return ()
    by_id = {u.client_order_id: u for u in updates if u is not None}
    return tuple(by_id.get(r.client_order_id) for r in intent.requests)


def resolve_instrument(adapter: VenueAdapter, symbol: str, aliases: dict[str, dict[str, str]]) -> Instrument:
    """Return the venue's instrument for a unified symbol or a native alias (case-insensitive).

    `aliases` is the caller's cache (venue -> native alias -> unified symbol), rebuilt when stale.

    Raises:
        LookupFailed: UNKNOWN_SYMBOL.
    """
    instruments = adapter.instruments
    found = instruments.get(symbol)
    if found is not None:
        return found
    known = aliases.get(adapter.name)
    if known is None or len(known) != len(instruments):
        known = aliases[adapter.name] = {i.native.upper(): i.symbol for i in instruments.values()}
    unified = known.get(symbol.upper())
    if unified is None:
        raise LookupFailed(f"unknown symbol {symbol!r} on {adapter.name}", code=ErrorCode.UNKNOWN_SYMBOL,
                           details={"venue": adapter.name, "symbol": symbol})
    return instruments[unified]
