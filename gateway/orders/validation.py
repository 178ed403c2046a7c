"""Normalize a place command against the venue's instrument and capabilities. Pure.

Quantization follows `core.instruments`: buy limit prices round down to the tick, sell limit prices up,
trigger prices half-up, sizes down to the step. Checks, in order: shape (INVALID_PARAMS), venue support
(NOT_SUPPORTED), precision (PRECISION), size and notional minimums (MIN_NOTIONAL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, OrderRejected, RequestError
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities
from gateway.orders.commands import PlaceParams

__all__ = ["ClientIdGenerator", "NormalizedOrder", "check_client_order_id", "normalize_place", "normalize_amend"]

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PATTERNS: dict[str, re.Pattern[str]] = {}


@dataclass(frozen=True, slots=True)
class NormalizedOrder:
    """A place command after quantization and checks: ready to become an `OrderRequest`."""

    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    tif: TimeInForce
    reduce_only: bool

    @property
    def notional(self) -> Decimal | None:
        return None if self.price is None else self.price * self.qty


def _pattern(alphabet: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(alphabet)
    if pattern is None:
        pattern = _PATTERNS[alphabet] = re.compile(f"[{alphabet}]+")
    return pattern


def check_client_order_id(client_order_id: str, capabilities: Capabilities) -> None:
    """Check a strategy's client order id against the venue's length and alphabet.

    Raises:
        RequestError: INVALID_PARAMS when it is empty, too long, or uses a character the venue refuses.
    """
    max_len = capabilities.client_order_id_max_len
    if not client_order_id or len(client_order_id) > max_len:
        raise RequestError(
            f"client_order_id must be 1..{max_len} characters", details={"field": "client_order_id"}
        )
    if _pattern(capabilities.client_order_id_alphabet).fullmatch(client_order_id) is None:
        raise RequestError(
            f"client_order_id may only use [{capabilities.client_order_id_alphabet}]",
            details={"field": "client_order_id"},
        )


class ClientIdGenerator:
    """Make client order ids that fit a venue's rules and never repeat, not even across restarts.

    An id is `prefix + start time + counter`, each written in the largest base the venue's alphabet
    allows; the start time has a fixed width, so no two (start, counter) pairs spell the same id.
    """

    def __init__(self, start_ms: int, prefix: str = "gw"):
        self._start_ms = start_ms
        self._prefix = prefix
        self._counter = 0
        self._formats: dict[tuple[int, str], tuple[str, str, int]] = {}

    def next(self, capabilities: Capabilities) -> str:
        """Return a fresh client order id for a venue with these capabilities."""
        spec = (capabilities.client_order_id_max_len, capabilities.client_order_id_alphabet)
        fmt = self._formats.get(spec)
        if fmt is None:
            fmt = self._formats[spec] = self._format(*spec)
        head, digits, max_len = fmt
        self._counter += 1
        candidate = head + _encode(self._counter, digits)
        if len(candidate) > max_len:
            raise RequestError("cannot make a client_order_id that fits the venue; pass one",
                               code=ErrorCode.INVALID_PARAMS)
        return candidate

    def _format(self, max_len: int, alphabet: str) -> tuple[str, str, int]:
        pattern = _pattern(alphabet)
        digits = "".join(c for c in _DIGITS if pattern.fullmatch(c))
        if len(digits) < 2:
            raise RequestError(f"venue client id alphabet [{alphabet}] is too small", code=ErrorCode.INTERNAL)
        prefix = self._prefix if pattern.fullmatch(self._prefix) else ""
        width = 1
        while len(digits) ** width <= self._start_ms * 1000:  # room for ~1000 years of start times
            width += 1
        start = _encode(self._start_ms, digits).rjust(width, digits[0])
        head = prefix + start
        if len(head) + 1 > max_len:  # too long with the prefix and the full start: keep its low digits
            head = start[-max(max_len - 6, 1):]
        return head, digits, max_len


def _encode(value: int, digits: str) -> str:
    base = len(digits)
    out = []
    while True:
        value, rest = divmod(value, base)
        out.append(digits[rest])
        if not value:
            return "".join(reversed(out))


def normalize_place(params: PlaceParams, instrument: Instrument, capabilities: Capabilities) -> NormalizedOrder:
    """Quantize and check a place command.

    Raises:
        RequestError: INVALID_PARAMS (missing price/trigger, non-positive values, bad client id).
        OrderRejected: NOT_SUPPORTED, PRECISION or MIN_NOTIONAL.
    """
    type_ = params.type
    side = params.side
    if params.qty <= 0:
        raise RequestError("qty must be > 0", details={"field": "qty"})
    if type_.has_limit_price:
        if params.price is None:
            raise RequestError(f"price is required for {type_} orders", details={"field": "price"})
        if params.price <= 0:
            raise RequestError("price must be > 0", details={"field": "price"})
    elif params.price is not None:
        raise RequestError(f"price is not allowed for {type_} orders", details={"field": "price"})
    if type_.is_conditional:
        if params.trigger_price is None:
            raise RequestError(f"trigger_price is required for {type_} orders", details={"field": "trigger_price"})
        if params.trigger_price <= 0:
            raise RequestError("trigger_price must be > 0", details={"field": "trigger_price"})
        if not capabilities.stop_orders:
            raise OrderRejected(f"{type_} orders are not supported on {instrument.venue}",
                                code=ErrorCode.NOT_SUPPORTED)
    elif params.trigger_price is not None:
        raise RequestError(f"trigger_price is not allowed for {type_} orders", details={"field": "trigger_price"})
    tif = params.tif
    if tif is TimeInForce.POST_ONLY:
        if not capabilities.post_only:
            raise OrderRejected(f"post_only is not supported on {instrument.venue}", code=ErrorCode.NOT_SUPPORTED)
        if type_ is not OrderType.LIMIT:
            raise RequestError("post_only applies to limit orders only", details={"field": "tif"})
    if params.reduce_only and not capabilities.reduce_only:
        raise OrderRejected(f"reduce_only is not supported on {instrument.venue}", code=ErrorCode.NOT_SUPPORTED)
    if params.client_order_id is not None:
        check_client_order_id(params.client_order_id, capabilities)

    qty = instrument.round_qty(params.qty)
    if qty <= 0:
        raise OrderRejected(f"qty rounds to zero at step {instrument.step_size}", code=ErrorCode.PRECISION,
                            details={"qty": params.qty, "step_size": instrument.step_size})
    price = None if params.price is None else instrument.round_price(params.price, side)
    if price is not None and price <= 0:
        raise OrderRejected(f"price rounds to zero at tick {instrument.tick_size}", code=ErrorCode.PRECISION,
                            details={"price": params.price, "tick_size": instrument.tick_size})
    trigger = None if params.trigger_price is None else instrument.round_trigger(params.trigger_price)
    if trigger is not None and trigger <= 0:
        raise OrderRejected(f"trigger_price rounds to zero at tick {instrument.tick_size}",
                            code=ErrorCode.PRECISION)
    _check_minimums(qty, price if price is not None else trigger, instrument)
    return NormalizedOrder(instrument.symbol, side, type_, qty, price, trigger, tif, params.reduce_only)


def normalize_amend(
    qty: Decimal | None, price: Decimal | None, side: Side, instrument: Instrument, has_price: bool
) -> tuple[Decimal | None, Decimal | None]:
    """Quantize the new qty / price of an amend (the same rules as a placement).

    Raises:
        RequestError: INVALID_PARAMS (nothing to change, non-positive values, price on an unpriced order).
        OrderRejected: PRECISION or MIN_NOTIONAL.
    """
    if qty is None and price is None:
        raise RequestError("modify needs qty or price", details={"field": "qty"})
    if qty is not None:
        if qty <= 0:
            raise RequestError("qty must be > 0", details={"field": "qty"})
        qty = instrument.round_qty(qty)
        if qty <= 0:
            raise OrderRejected(f"qty rounds to zero at step {instrument.step_size}", code=ErrorCode.PRECISION)
    if price is not None:
        if not has_price:
            raise RequestError("this order has no limit price", details={"field": "price"})
        if price <= 0:
            raise RequestError("price must be > 0", details={"field": "price"})
        price = instrument.round_price(price, side)
        if price <= 0:
            raise OrderRejected(f"price rounds to zero at tick {instrument.tick_size}", code=ErrorCode.PRECISION)
    return qty, price


def _check_minimums(qty: Decimal, price: Decimal | None, instrument: Instrument) -> None:
    if qty < instrument.min_qty:
        raise OrderRejected(f"qty {qty} is below the minimum {instrument.min_qty}", code=ErrorCode.MIN_NOTIONAL,
                            details={"qty": qty, "min_qty": instrument.min_qty})
    # A market order's notional is unknown here; the venue checks it against its own price.
    if price is not None and price * qty * instrument.contract_size < instrument.min_notional:
        raise OrderRejected(
            f"notional {price * qty} is below the minimum {instrument.min_notional}",
            code=ErrorCode.MIN_NOTIONAL, details={"notional": price * qty, "min_notional": instrument.min_notional},
        )
