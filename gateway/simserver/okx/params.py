"""Request parameters of the OKX dialect: validation with OKX's codes, and the engine's refusals. Pure.

Codes (fact sheet §2): 50014 a required parameter is empty, 51000 a parameter is malformed, 51001 no
such instrument, 51008 insufficient balance, 51016 duplicate clOrdId, 51020 below the minimum size,
51121 not a multiple of the lot size. Two codes come from third-party sources, not the sheet
(**unverified**): 51019 post-only order would take (NautilusTrader's OKX constants) and 51169 a
reduce-only order with no position to reduce.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.venues.sim.records import OrderRefused

__all__ = ["ItemError", "decimal_of", "flag", "id_param", "refused", "required", "text"]

_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_TAG = re.compile(r"^[A-Za-z0-9]{1,16}$")


class ItemError(Exception):
    """One order item failed: its ``sCode`` / ``sMsg`` (or a request's ``code`` / ``msg``)."""

    def __init__(self, code: str, msg: str):
        super().__init__(msg)
        self.code, self.msg = code, msg


def text(p: dict[str, Any], name: str) -> str:
    value = p.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        raise ItemError("51000", f"Parameter {name} error")
    return str(value)


def required(p: dict[str, Any], name: str) -> str:
    value = text(p, name)
    if not value:
        raise ItemError("50014", f"Parameter {name} can not be empty.")
    return value


def decimal_of(p: dict[str, Any], name: str, need: bool = True) -> Decimal | None:
    raw = required(p, name) if need else text(p, name)
    if not raw:
        return None
    if isinstance(p.get(name), float):
        raise ItemError("51000", f"Parameter {name} error")  # OKX sends numbers as strings
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ItemError("51000", f"Parameter {name} error") from None
    if not value.is_finite():
        raise ItemError("51000", f"Parameter {name} error")
    return value


def id_param(p: dict[str, Any], name: str, tag: bool = False) -> str:
    """An optional client id (1-32 alphanumerics; a tag 1-16)."""
    value = text(p, name)
    if value and not (_TAG if tag else _ID).match(value):
        raise ItemError("51000", f"Parameter {name} error")
    return value


def flag(p: dict[str, Any], name: str) -> bool:
    value = p.get(name, False)
    if isinstance(value, bool):
        return value
    if value in ("true", "false", ""):
        return value == "true"
    raise ItemError("51000", f"Parameter {name} error")


def refused(exc: OrderRefused, ccy: str, action: str = "place") -> ItemError:
    """The engine's refusal as OKX's sCode / sMsg."""
    reason = exc.reason
    if reason == "insufficient_balance":
        return ItemError("51008", f"Order failed. Insufficient {ccy} balance in account.")
    if reason == "duplicate_client_order_id":
        return ItemError("51016", "Duplicated clOrdId")
    if reason == "post_only_would_take":
        return ItemError("51019", "Post only order can not be executed as maker.")
    if reason == "qty_off_step":
        return ItemError("51121", "Order quantity must be a multiple of the lot size.")
    if reason == "price_off_tick":
        return ItemError("51000", "Parameter px error")
    if reason == "reduce_only_rejected":
        return ItemError("51169", "Order failed because you don't have any positions in this direction for this "
                                  "contract to reduce or close.")
    if reason in ("order_not_found", "order_not_open"):
        if action == "cancel":
            return ItemError("51400", "Order cancellation failed as the order has been filled, canceled or does "
                                      "not exist.")
        if action == "amend":
            return ItemError("51503", "Order modification failed as the order has been filled, canceled or does "
                                      "not exist.")
        return ItemError("51603", "Order does not exist")
    if reason == "amend_qty_below_filled":
        return ItemError("51000", "Parameter newSz error")
    return ItemError("51000", exc.message)
