"""OKX v5 request signing (fact sheet §1) and the WebSocket login arguments (§6 Login). Pure.

signature = Base64(HMAC-SHA256(secret as UTF-8, timestamp + METHOD + requestPath(+?query) + body)).
The body is the exact JSON text sent; a GET signs its query string as part of the path. REST stamps are
ISO-8601 UTC with milliseconds and ``Z``; the WS login stamp is Unix seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

__all__ = ["Credentials", "iso_timestamp", "login_args", "rest_headers", "sign"]

WS_LOGIN_PATH = "/users/self/verify"


def sign(secret: str, prehash: str) -> str:
    """Return Base64(HMAC-SHA256(`secret`, `prehash`)) — 44 characters, standard alphabet."""
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def iso_timestamp(ms: int) -> str:
    """Return `ms` (Unix epoch ms) as ``2020-12-08T09:08:57.715Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class Credentials:
    """An API key, secret and passphrase. The repr never shows them."""

    __slots__ = ("_key", "_passphrase", "_secret")

    def __init__(self, key: str, secret: str, passphrase: str):
        self._key, self._secret, self._passphrase = key, secret, passphrase

    def __repr__(self) -> str:
        return f"Credentials(key={self._key[:4]}***)"

    @property
    def key(self) -> str:
        return self._key

    @property
    def masked_key(self) -> str:
        return f"{self._key[:4]}***"

    def sign(self, prehash: str) -> str:
        return sign(self._secret, prehash)

    @property
    def passphrase(self) -> str:
        return self._passphrase


def rest_headers(credentials: Credentials, now_ms: int, method: str, request_path: str, body: str,
                 *, demo: bool) -> dict[str, str]:
    """Return the four ``OK-ACCESS-*`` headers (plus Content-Type and the demo flag) of one signed request.

    Args:
        request_path: the path from ``/api/v5/``, with ``?query`` for a GET — exactly what is requested.
        body: the exact JSON text sent ("" for a GET).
    """
    stamp = iso_timestamp(now_ms)
    headers = {
        "OK-ACCESS-KEY": credentials.key,
        "OK-ACCESS-SIGN": credentials.sign(f"{stamp}{method.upper()}{request_path}{body}"),
        "OK-ACCESS-TIMESTAMP": stamp,
        "OK-ACCESS-PASSPHRASE": credentials.passphrase,
        "Content-Type": "application/json",
    }
    if demo:
        headers["x-simulated-trading"] = "1"
    return headers


def login_args(credentials: Credentials, now_ms: int) -> dict[str, str]:
    """Return the argument of ``{"op": "login", "args": [...]}`` (stamp: Unix seconds, as a string)."""
    stamp = str(now_ms // 1000)
    return {"apiKey": credentials.key, "passphrase": credentials.passphrase, "timestamp": stamp,
            "sign": credentials.sign(f"{stamp}GET{WS_LOGIN_PATH}")}
