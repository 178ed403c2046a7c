"""Quantum Execute request signing (fact sheet §2-§3). Pure: the dialect verifies with the same functions.

HMAC-SHA256 over a string built from the request's parameters, lowercase hex, sent as query parameter
``signature``; ``timestamp`` (epoch ms) and optional ``recvWindow`` also travel in the query; the API key
travels only in the ``X-MBX-APIKEY`` header and is never signed, nor are the path and the method.

The string to sign (§3): every parameter except ``signature`` with a value (``None`` dropped), each
rendered as text, sorted by key, form-urlencoded (``quote_plus``), then ``%40`` turned back into ``@``.

- V1 style (GETs, listen-key creation): all parameters are in the query; the query sent is the signed
  string plus ``signature`` in its sorted position (what the official SDK sends).
- V2 style (JSON writes): the query holds only ``timestamp``, ``recvWindow`` and ``signature``; the
  business fields go in a JSON body, and the signed string covers the query fields **and** the body's
  top-level fields. Decimals go as JSON strings, so the signed text of each scalar is byte for byte the
  JSON literal sent (the fact sheet's safe rule: Python and Go disagree on floats, which we never send).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus

import orjson

__all__ = [
    "HmacSigner",
    "signed_v1_query",
    "signed_v2_request",
    "string_to_sign",
    "to_sign_text",
    "verify",
]


class HmacSigner:
    """HMAC-SHA256 with the API secret as UTF-8 key; lowercase hex (64 characters)."""

    __slots__ = ("_key",)

    def __init__(self, secret: str):
        self._key = secret.encode()

    def __repr__(self) -> str:  # never show the key
        return "HmacSigner(***)"

    def sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


def to_sign_text(value: Any) -> str:
    """Render one parameter value as the signed text (§3 step 3).

    Strings as they are; bools ``true``/``false``; ints in decimal; Decimals without exponent; lists and
    objects as compact JSON (non-ASCII kept); floats with 15 decimals, trailing zeros removed (the SDK's
    rule; the gateway itself never sends floats).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        text = f"{value:.15f}".rstrip("0").rstrip(".")
        return text or "0"
    if isinstance(value, (list, tuple, dict)):
        return orjson.dumps(value, default=_json_default).decode()
    return str(value)


def string_to_sign(params: Mapping[str, Any]) -> str:
    """Return the string to sign of `params` (``signature`` and ``None`` values left out)."""
    items = sorted((k, to_sign_text(v)) for k, v in params.items()
                   if v is not None and k.lower() != "signature")
    encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in items)
    return encoded.replace("%40", "@")


def signed_v1_query(params: Mapping[str, Any], signer: HmacSigner, timestamp_ms: int,
                    recv_window_ms: int | None = None) -> str:
    """Return the query string of a V1-style signed request: all params, ``timestamp``, ``signature``."""
    full = {**params, "timestamp": timestamp_ms}
    if recv_window_ms is not None:
        full["recvWindow"] = recv_window_ms
    signature = signer.sign(string_to_sign(full))
    # The SDK adds `signature` before encoding, so it lands in its sorted position.
    items = sorted([(k, to_sign_text(v)) for k, v in full.items() if v is not None] + [("signature", signature)])
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in items).replace("%40", "@")


def signed_v2_request(body: Mapping[str, Any], signer: HmacSigner, timestamp_ms: int,
                      recv_window_ms: int | None = None) -> tuple[str, bytes]:
    """Return (query, JSON body bytes) of a V2-style signed write.

    ``None`` fields are left out of the body, so what is signed is exactly what is sent.
    """
    sent = {k: v for k, v in body.items() if v is not None}
    query: dict[str, Any] = {"timestamp": timestamp_ms}
    if recv_window_ms is not None:
        query["recvWindow"] = recv_window_ms
    signature = signer.sign(string_to_sign({**sent, **query}))
    query_text = "&".join(f"{k}={quote_plus(to_sign_text(v))}" for k, v in sorted(query.items()))
    return f"{query_text}&signature={signature}", orjson.dumps(sent, default=_json_default)


def verify(signer: HmacSigner, query: Mapping[str, str], body: Mapping[str, Any] | None, signature: str) -> bool:
    """Whether `signature` signs `query` (decoded, without ``signature``) merged with `body`'s fields."""
    merged: dict[str, Any] = dict(body or {})
    merged.update(query)
    return hmac.compare_digest(signer.sign(string_to_sign(merged)), signature.lower())


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
