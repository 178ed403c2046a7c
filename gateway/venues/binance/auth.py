"""Binance request signing (fact sheet §1). Pure.

REST (§1.1): the payload is the percent-encoded query string concatenated, with no separator, to the
percent-encoded body; the signature is HMAC-SHA256 in hex (HMAC keys) or Ed25519 in base64 (Ed25519
keys), added as parameter ``signature`` (percent-encoded: base64 has ``+ / =``). Since 2026-01-15 the
signature must cover exactly the bytes sent (§0.2), so `encode_params` produces the one string that is
both signed and sent.

WebSocket API (§1.4): every param except ``signature``, sorted by name, joined ``k=v`` with ``&``, values
as they are (not percent-encoded: they travel in JSON).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = [
    "Ed25519Signer",
    "HmacSigner",
    "Signer",
    "encode_params",
    "encode_value",
    "sign_ws_params",
    "signed_query",
    "ws_api_payload",
]


class Signer(Protocol):
    def sign(self, payload: str) -> str: ...


class HmacSigner:
    """HMAC-SHA256 keys: hex signature (case-insensitive at Binance)."""

    def __init__(self, secret: str):
        self._key = secret.encode()

    def sign(self, payload: str) -> str:
        """Return hex(HMAC-SHA256(secret, payload))."""
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


class Ed25519Signer:
    """Ed25519 keys: base64 signature of the payload's UTF-8 bytes.

    Args:
        private_key_pem: the PKCS#8 PEM text of the private key.

    Raises:
        ValueError: the PEM cannot be read.
        TypeError: the PEM holds another kind of key.
    """

    def __init__(self, private_key_pem: str):
        key = load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError("not an Ed25519 private key")
        self._key = key

    def sign(self, payload: str) -> str:
        """Return base64(Ed25519(payload))."""
        return base64.b64encode(self._key.sign(payload.encode())).decode()


def encode_value(value: object) -> str:
    """Render a parameter value as Binance expects it: booleans lower-case, Decimals without exponent."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):  # e.g. batchOrders orderIdList: a compact JSON array
        return "[" + ",".join(f'"{v}"' if isinstance(v, str) else encode_value(v) for v in value) + "]"
    return str(value)


def encode_params(params: Sequence[tuple[str, object]] | Mapping[str, object]) -> str:
    """Return ``k=v&...`` in the given order, keys and values percent-encoded (UTF-8; only unreserved kept)."""
    items = params.items() if isinstance(params, Mapping) else params
    return "&".join(f"{quote(k, safe='')}={quote(encode_value(v), safe='')}" for k, v in items if v is not None)


def signed_query(
    params: Sequence[tuple[str, object]] | Mapping[str, object],
    signer: Signer,
    timestamp_ms: int,
    recv_window_ms: int | None,
    body: str = "",
) -> str:
    """Return the query string to send: `params`, ``recvWindow``, ``timestamp``, then ``signature``.

    The signature covers the query string followed directly by `body` (empty for GET).
    """
    items = list(params.items() if isinstance(params, Mapping) else params)
    if recv_window_ms is not None:
        items.append(("recvWindow", recv_window_ms))
    items.append(("timestamp", timestamp_ms))
    query = encode_params(items)
    signature = signer.sign(query + body)
    return f"{query}&signature={quote(signature, safe='')}"


def ws_api_payload(params: Mapping[str, object]) -> str:
    """Return the WebSocket API signature payload: params but ``signature``, sorted, raw values."""
    return "&".join(f"{k}={encode_value(params[k])}" for k in sorted(params) if k != "signature")


def sign_ws_params(params: Mapping[str, object], signer: Signer) -> dict[str, object]:
    """Return `params` with ``signature`` added (they must already hold apiKey and timestamp)."""
    return {**params, "signature": signer.sign(ws_api_payload(params))}
