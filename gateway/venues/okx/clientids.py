"""Gateway client order ids <-> OKX ``clOrdId`` / ``algoClOrdId``. Pure.

OKX allows 1-32 letters and digits only (fact sheet §5 Place order). The gateway's own ids may hold
``-`` and ``_`` (bracket legs are ``<bracket>-tp1``), so they are escaped reversibly with ``z``:
``-`` -> ``z0``, ``_`` -> ``z1``, ``z`` -> ``z2``. The session's capabilities leave ``z`` out of the
strategy alphabet (and the gateway's generated ids are alphanumeric), so those go out unchanged; an id
that does not fit 32 characters once escaped (each ``-`` / ``_`` counts twice) is refused with
INVALID_PARAMS before anything is sent.
"""

from __future__ import annotations

from gateway.core.errors import ErrorCode, OrderRejected

__all__ = ["MAX_LEN", "STRATEGY_ALPHABET", "from_okx", "to_okx"]

MAX_LEN = 32
STRATEGY_ALPHABET = "A-Za-y0-9_-"  # what strategies may use (no z: it is the escape)
_ESCAPE = {"-": "z0", "_": "z1", "z": "z2"}
_UNESCAPE = {v[1]: k for k, v in _ESCAPE.items()}


def to_okx(client_order_id: str) -> str:
    """Return the clOrdId of a gateway client order id.

    Raises:
        OrderRejected: INVALID_PARAMS when the id holds other characters or is too long once escaped.
    """
    out = []
    for char in client_order_id:
        if char in _ESCAPE:
            out.append(_ESCAPE[char])
        elif char.isascii() and char.isalnum():
            out.append(char)
        else:
            raise OrderRejected(f"client_order_id {client_order_id!r}: OKX accepts letters, digits, '-' and '_'",
                                code=ErrorCode.INVALID_PARAMS, details={"field": "client_order_id"})
    encoded = "".join(out)
    if not 1 <= len(encoded) <= MAX_LEN:
        raise OrderRejected(f"client_order_id {client_order_id!r} is {len(encoded)} characters for OKX "
                            f"(max {MAX_LEN}; '-', '_' and 'z' count twice)",
                            code=ErrorCode.INVALID_PARAMS, details={"field": "client_order_id"})
    return encoded


def from_okx(cl_ord_id: str | None) -> str | None:
    """Return the gateway client order id of a clOrdId ("" and None: None). Unknown escapes stay as they are."""
    if not cl_ord_id:
        return None
    if "z" not in cl_ord_id:
        return cl_ord_id
    out = []
    i = 0
    while i < len(cl_ord_id):
        char = cl_ord_id[i]
        if char == "z" and i + 1 < len(cl_ord_id) and cl_ord_id[i + 1] in _UNESCAPE:
            out.append(_UNESCAPE[cl_ord_id[i + 1]])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)
