"""Decoding and checking a signed ``tx_info`` as Lighter's API server does before it accepts a tx. Pure.

What is checked (fact sheet §4 "Validation rules", §5 "Format of the signed tx_info", §4 "Nonces"):
- the JSON shape of the tx type and the integer types of its fields;
- the account exists and the api key index is registered for it;
- ``Sig`` is base64 of 80 bytes (a Schnorr signature over ECgFp5: 40 + 40 bytes) and ``ExpiredAt`` is in
  the future. The signature itself is *not* verified cryptographically: that needs Poseidon2 and the
  ECgFp5 curve, which the SDK does not expose (it only signs). This is said in docs/venues/lighter.md;
- ``Nonce`` equals the key's next nonce (else code 21104 "invalid nonce", the nonce not consumed);
- the order rules the Go signer enforces (ranges, type / time-in-force / expiry combinations, groups).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["ApiError", "Tx", "check_auth_token", "check_order", "check_tx"]

CREATE_ORDER, CANCEL_ORDER, CANCEL_ALL, UPDATE_LEVERAGE, GROUPED = 14, 15, 16, 20, 28
_KNOWN = {CREATE_ORDER, CANCEL_ORDER, CANCEL_ALL, UPDATE_LEVERAGE, GROUPED}
_ORDER_FIELDS = ("MarketIndex", "ClientOrderIndex", "BaseAmount", "Price", "IsAsk", "Type", "TimeInForce",
                 "ReduceOnly", "TriggerPrice", "OrderExpiry")
_COMMON = ("AccountIndex", "ApiKeyIndex", "ExpiredAt", "Nonce", "Sig")
_FIELDS = {
    CREATE_ORDER: _COMMON + _ORDER_FIELDS,
    CANCEL_ORDER: (*_COMMON, "MarketIndex", "Index"),
    CANCEL_ALL: (*_COMMON, "TimeInForce", "Time"),
    UPDATE_LEVERAGE: (*_COMMON, "MarketIndex", "InitialMarginFraction", "MarginMode"),
    GROUPED: (*_COMMON, "GroupingType", "Orders"),
}
U48, U32 = 2**48 - 1, 2**32 - 1
CODE_INVALID_TX, CODE_INVALID_NONCE, CODE_EXPIRED, CODE_BAD_SIG, CODE_UNKNOWN_KEY = 21100, 21104, 21105, 21120, 21109


class ApiError(Exception):
    """An answer other than 200: HTTP status, Lighter code and message."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Tx:
    """A decoded, checked tx."""

    tx_type: int
    info: dict[str, Any]
    account: int
    key: int
    nonce: int


def _fail(message: str, code: int = CODE_INVALID_TX) -> ApiError:
    return ApiError(400, code, message)


def _ints(obj: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name == "Sig" or name == "Orders":
            continue
        value = obj.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(f"{name} must be an integer")


def check_order(order: dict[str, Any], markets: set[int], *, child: bool = False) -> None:
    """The per-order rules of the Go signer (the server enforces the same)."""
    _ints(order, _ORDER_FIELDS)
    if order["MarketIndex"] not in markets:
        raise _fail(f"unknown market {order['MarketIndex']}")
    if not 0 <= order["ClientOrderIndex"] <= U48:
        raise _fail("ClientOrderIndex out of range")
    base_ok = 1 <= order["BaseAmount"] <= U48 or (order["BaseAmount"] == 0 and (order["ReduceOnly"] or child))
    if not base_ok:
        raise _fail("BaseAmount out of range")
    if not 1 <= order["Price"] <= U32 or not 0 <= order["TriggerPrice"] <= U32:
        raise _fail("Price out of range")
    kind, tif, expiry, trigger = order["Type"], order["TimeInForce"], order["OrderExpiry"], order["TriggerPrice"]
    if kind == 1 and (tif != 0 or expiry != 0 or trigger):
        raise _fail("a market order needs IOC, expiry 0 and no trigger")
    if kind == 0 and (trigger or (tif == 0) != (expiry == 0)):
        raise _fail("limit order time-in-force / expiry mismatch")
    if kind in (2, 3, 4, 5) and (not trigger or expiry == 0):
        raise _fail("a stop / take-profit order needs a trigger price and an expiry")
    if kind not in (0, 1, 2, 3, 4, 5) or tif not in (0, 1, 2):
        raise _fail("unsupported order type or time in force")


def check_tx(tx_type: int, tx_info: str, *, keys: dict[tuple[int, int], str], next_nonce: dict[tuple[int, int], int],
             markets: set[int], now_ms: int) -> Tx:
    """Decode and check one tx (see the module docstring). Raises ApiError with Lighter's code."""
    if tx_type not in _KNOWN:
        raise _fail(f"unsupported tx_type {tx_type}")
    try:
        info = orjson.loads(tx_info)
    except orjson.JSONDecodeError as exc:
        raise _fail("tx_info is not JSON") from exc
    if not isinstance(info, dict):
        raise _fail("tx_info is not an object")
    missing = [f for f in _FIELDS[tx_type] if f not in info]
    if missing:
        raise _fail(f"tx_info misses {missing}")
    _ints(info, _FIELDS[tx_type])
    pair = (info["AccountIndex"], info["ApiKeyIndex"])
    if pair not in keys:
        raise ApiError(400, CODE_UNKNOWN_KEY, f"api key {pair[1]} is not registered for account {pair[0]}")
    try:
        signature = base64.b64decode(str(info["Sig"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, CODE_BAD_SIG, "invalid signature encoding") from exc
    if len(signature) != 80:
        raise ApiError(400, CODE_BAD_SIG, "invalid signature length")
    if info["ExpiredAt"] <= now_ms:
        raise ApiError(400, CODE_EXPIRED, "transaction expired")
    if info["Nonce"] != next_nonce.get(pair, 0):
        raise ApiError(400, CODE_INVALID_NONCE, "invalid nonce")
    if tx_type == CREATE_ORDER:
        check_order(info, markets)
    elif tx_type == GROUPED:
        orders = info["Orders"]
        if not isinstance(orders, list) or not 1 <= len(orders) <= 3 or not all(isinstance(o, dict) for o in orders):
            raise _fail("Orders must be 1..3 orders")
        grouping = info["GroupingType"]
        for i, order in enumerate(orders):
            check_order(order, markets, child=grouping != 2 and i > 0)
        if len({o["MarketIndex"] for o in orders}) != 1:
            raise _fail("grouped orders must share one market")
        if grouping == 2 and (len(orders) != 2 or not all(o["ReduceOnly"] for o in orders)):
            raise _fail("OCO needs two reduce-only orders")
        if grouping in (1, 3) and (len(orders) != (2 if grouping == 1 else 3) or orders[0]["Type"] not in (0, 1)):
            raise _fail("OTO / OTOCO need a LIMIT or MARKET parent and their children")
        if grouping in (1, 3) and any(o["IsAsk"] == orders[0]["IsAsk"] or o["BaseAmount"] for o in orders[1:]):
            raise _fail("children must be on the opposite side with base amount 0")
    elif tx_type == CANCEL_ORDER and not 1 <= info["Index"] <= 2**60 - 1:
        raise _fail("Index out of range")
    return Tx(tx_type, info, pair[0], pair[1], info["Nonce"])


def check_auth_token(token: str | None, keys: dict[tuple[int, int], str], now_s: int) -> int:
    """Return the account an auth token (``deadline:account:key:hexsig``) is for. Raises ApiError 401."""
    parts = (token or "").split(":")
    try:
        deadline, account, key = int(parts[0]), int(parts[1]), int(parts[2])
        bytes.fromhex(parts[3])
    except (IndexError, ValueError) as exc:
        raise ApiError(401, 20001, "invalid auth token") from exc
    if deadline <= now_s or (account, key) not in keys or len(parts[3]) < 64:
        raise ApiError(401, 20001, "invalid or expired auth token")
    return account

