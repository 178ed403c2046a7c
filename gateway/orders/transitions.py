"""The order state machine: an explicit table of allowed status changes, and the one function that applies them.

Reports reach the manager in whatever order the venue and the network deliver them, so the table holds
the real-world races, each commented. A status that does not change is not a transition.

Late fills after a terminal status (decided here, applied by the manager): a fill is a fact about money
and is *always* counted (recorded, published, added to `filled_qty`), whatever the order's status. Only
the status is governed by this table: a late fill that completes the order moves CANCELED/EXPIRED to
FILLED (the venue's cancel or expiry report raced the final match); a late *partial* fill leaves the
terminal status as it is, and the manager logs `order.late_fill`. A terminal order never becomes live
again: CANCELED -> PARTIALLY_FILLED is not allowed.
"""

from __future__ import annotations

from typing import Final

import structlog

from gateway.core.enums import OrderStatus
from gateway.core.errors import ErrorCode, GatewayError
from gateway.orders.model import Order

__all__ = ["ALLOWED", "InvalidTransition", "is_allowed", "transition"]

log = structlog.get_logger("gateway.orders")

_PENDING_NEW = OrderStatus.PENDING_NEW
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_PENDING_CANCEL = OrderStatus.PENDING_CANCEL
_CANCELED = OrderStatus.CANCELED
_REJECTED = OrderStatus.REJECTED
_EXPIRED = OrderStatus.EXPIRED
_UNKNOWN = OrderStatus.UNKNOWN

ALLOWED: Final[frozenset[tuple[OrderStatus, OrderStatus]]] = frozenset({
    # --- placement answered (a cancel asked for before the answer waits for it: no PENDING_NEW -> PENDING_CANCEL)
    (_PENDING_NEW, _NEW),
    (_PENDING_NEW, _REJECTED),
    (_PENDING_NEW, _PARTIAL),  # fill before ack: the user stream's fill beat the REST/WS answer
    (_PENDING_NEW, _FILLED),  # fill before ack, or a marketable order answered as already filled
    (_PENDING_NEW, _CANCELED),  # IOC with nothing to match, answered (or streamed) as canceled
    (_PENDING_NEW, _EXPIRED),  # IOC/FOK/post-only answered as expired
    (_PENDING_NEW, _UNKNOWN),  # the answer was lost (timeout, disconnect), or we restarted mid-flight
    # --- live
    (_NEW, _PARTIAL),
    (_NEW, _FILLED),
    (_NEW, _PENDING_CANCEL),
    (_NEW, _CANCELED),  # canceled by the venue or out of band (another session, the venue's UI)
    (_NEW, _EXPIRED),  # GTD / self-trade prevention / venue housekeeping
    (_PARTIAL, _FILLED),
    (_PARTIAL, _PENDING_CANCEL),
    (_PARTIAL, _CANCELED),  # out-of-band cancel of the remainder
    (_PARTIAL, _EXPIRED),  # IOC remainder expired after a partial match
    # --- cancel in flight: PENDING_CANCEL stays until the venue says otherwise (a timeout changes nothing)
    (_PENDING_CANCEL, _CANCELED),
    (_PENDING_CANCEL, _FILLED),  # fill raced our cancel
    (_PENDING_CANCEL, _EXPIRED),  # expired while our cancel was in flight
    (_PENDING_CANCEL, _NEW),  # the venue refused the cancel; the order is still live, nothing filled
    (_PENDING_CANCEL, _PARTIAL),  # the venue refused the cancel; the order is still live, partly filled
    (_PENDING_CANCEL, _UNKNOWN),  # a cancel of an unresolved placement found nothing: still unresolved
    # --- late reports after a terminal status
    (_CANCELED, _FILLED),  # late fill report after the cancel ack, completing the quantity
    (_EXPIRED, _FILLED),  # late fill report after an IOC expiry, completing the quantity
    # --- unknown: resolved only by venue evidence (a query answer, a report, a fill)
    (_UNKNOWN, _NEW),
    (_UNKNOWN, _PARTIAL),
    (_UNKNOWN, _FILLED),
    (_UNKNOWN, _CANCELED),
    (_UNKNOWN, _EXPIRED),
    (_UNKNOWN, _REJECTED),  # the venue has no such order, asked long enough after the send
    (_UNKNOWN, _PENDING_CANCEL),  # cancel by client order id while unresolved: safe, unlike a re-send
})


class InvalidTransition(GatewayError, AssertionError):
    """A status change the table does not allow: a bug in the caller, never a venue fact."""

    code = ErrorCode.INTERNAL


def is_allowed(current: OrderStatus, to: OrderStatus) -> bool:
    """Return whether `current -> to` is in the table."""
    return (current, to) in ALLOWED


def transition(order: Order, to: OrderStatus, now: int) -> OrderStatus:
    """Move `order` to status `to` at time `now` (ms) and log it. Return the previous status.

    Raises:
        InvalidTransition: `(order.status, to)` is not in `ALLOWED` (the order is left unchanged).
    """
    current = order.status
    if (current, to) not in ALLOWED:
        raise InvalidTransition(
            f"order {order.key}: {current} -> {to} is not allowed",
            details={"client_order_id": order.client_order_id, "from_status": current, "to_status": to},
        )
    order.status = to
    order.updated_ts = now
    if current is _PENDING_NEW and order.sent_at is not None:
        log.info(
            "order.transition", venue=order.venue, account=order.account, symbol=order.symbol,
            client_order_id=order.client_order_id, order_id=order.order_id, from_status=current.value,
            to_status=to.value, latency_ms=now - order.sent_at,
        )
    else:
        log.info(
            "order.transition", venue=order.venue, account=order.account, symbol=order.symbol,
            client_order_id=order.client_order_id, order_id=order.order_id, from_status=current.value,
            to_status=to.value,
        )
    return current
