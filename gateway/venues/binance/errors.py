"""Binance error payloads and codes (fact sheet §2 "Error payload", §4 futures codes). Pure.

The body ``{"code": <int>, "msg": "<text>"}`` is read once, here, into (code, msg); nothing later parses
message strings.
"""

from __future__ import annotations

from typing import Final

import orjson

__all__ = [
    "BAD_SYMBOL",
    "DISCONNECTED",
    "INVALID_SIGNATURE",
    "INVALID_TIMESTAMP",
    "SERVER_BUSY",
    "TIMEOUT",
    "TOO_MANY_REQUESTS",
    "TRANSIENT_READ_CODES",
    "decode_error",
]

DISCONNECTED: Final = -1001  # internal error; unable to process your request, try again
TOO_MANY_REQUESTS: Final = -1003  # too much request weight; also the body of 429 / 418
TIMEOUT: Final = -1007  # backend timeout: the execution status is UNKNOWN
SERVER_BUSY: Final = -1008  # server overloaded; try again
INVALID_TIMESTAMP: Final = -1021  # timestamp outside recvWindow, or 1000 ms ahead of the server
INVALID_SIGNATURE: Final = -1022
BAD_SYMBOL: Final = -1121

# Codes after which a *read* may simply be repeated (a write with -1007 has an unknown outcome).
TRANSIENT_READ_CODES: Final = frozenset({DISCONNECTED, TIMEOUT, SERVER_BUSY})


def decode_error(body: bytes) -> tuple[int, str] | None:
    """Return (code, msg) of a Binance error body, or None if `body` is not one."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("code"), int):
        return obj["code"], str(obj.get("msg", ""))
    return None
