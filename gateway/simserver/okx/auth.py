"""Signature checks of the OKX dialect: REST ``OK-ACCESS-*`` headers and the WebSocket login. Pure.

Fact sheet §1: the prehash is ``timestamp + METHOD + requestPath(+query) + body`` (the exact body bytes
sent), signed Base64(HMAC-SHA256(secret, prehash)); the timestamp is ISO-8601 UTC with milliseconds and
must be within 30 s of server time (50102). The passphrase travels in plain text and must match the
key's (50105). The WebSocket login (§6) signs ``timestamp + "GET" + "/users/self/verify"`` with the
timestamp in epoch seconds, and expires 30 s after it.

Demo trading (§1): ``x-simulated-trading: 1`` names the demo environment. The dialect plays one
environment (a setting): ``demo`` requires the header, ``live`` refuses it (both 50101), ``any`` accepts
either — the default, since paper trading against the dialect is both at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = ["AuthResult", "check_rest", "check_ws_login", "parse_iso_ms", "rest_prehash", "sign", "ws_prehash"]

MAX_SKEW_MS = 30_000
Keys = Mapping[str, tuple[str, str]]  # api key -> (secret, passphrase)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The verdict: ``code`` "0" and the API key when accepted, else OKX's code, message and HTTP status."""

    code: str
    msg: str = ""
    status: int = 200
    api_key: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == "0"


def sign(secret: str, prehash: str) -> str:
    """Return Base64(HMAC-SHA256(secret as UTF-8, prehash as UTF-8))."""
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def rest_prehash(timestamp: str, method: str, path_with_query: str, body: str) -> str:
    return f"{timestamp}{method.upper()}{path_with_query}{body}"


def ws_prehash(timestamp: str) -> str:
    return f"{timestamp}GET/users/self/verify"


def parse_iso_ms(text: str) -> int | None:
    """Return epoch ms of an ``OK-ACCESS-TIMESTAMP`` (``2020-12-08T09:08:57.715Z``), or None if malformed."""
    if not text.endswith("Z") or "T" not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int(parsed.timestamp() * 1000)


def _fail(code: str, msg: str, status: int = 401) -> AuthResult:
    return AuthResult(code, msg, status)


def check_rest(headers: Mapping[str, str], method: str, path_with_query: str, body: str, keys: Keys,
               now_ms: int, environment: str = "any") -> AuthResult:
    """Check a private REST request's headers (codes: fact sheet §2)."""
    key = headers.get("OK-ACCESS-KEY")
    if not key:
        return _fail("50103", "Request header OK-ACCESS-KEY cannot be empty.")
    passphrase = headers.get("OK-ACCESS-PASSPHRASE")
    if not passphrase:
        return _fail("50104", "Request header OK-ACCESS-PASSPHRASE cannot be empty.")
    signature = headers.get("OK-ACCESS-SIGN")
    if not signature:
        return _fail("50106", "Request header OK-ACCESS-SIGN cannot be empty.")
    timestamp = headers.get("OK-ACCESS-TIMESTAMP")
    if not timestamp:
        return _fail("50107", "Request header OK-ACCESS-TIMESTAMP cannot be empty.")
    sent_ms = parse_iso_ms(timestamp)
    if sent_ms is None:
        return _fail("50112", "Invalid OK-ACCESS-TIMESTAMP.")
    if abs(now_ms - sent_ms) > MAX_SKEW_MS:
        return _fail("50102", "Timestamp request expired.")
    found = keys.get(key)
    if found is None:
        return _fail("50111", "Invalid OK-ACCESS-KEY.")
    secret, expected_passphrase = found
    demo = headers.get("x-simulated-trading") == "1"
    if (environment == "demo" and not demo) or (environment == "live" and demo):
        return _fail("50101", "APIKey does not match current environment.")
    if not hmac.compare_digest(passphrase, expected_passphrase):
        return _fail("50105", "Request header OK-ACCESS-PASSPHRASE incorrect.")
    expected = sign(secret, rest_prehash(timestamp, method, path_with_query, body))
    if not hmac.compare_digest(signature, expected):
        return _fail("50113", "Invalid Sign.")
    return AuthResult("0", api_key=key)


def check_ws_login(arg: object, keys: Keys, now_ms: int) -> AuthResult:
    """Check one ``login`` argument ``{apiKey, passphrase, timestamp, sign}`` (codes: fact sheet §2 WS)."""
    if not isinstance(arg, dict):
        return _fail("60009", "Login failed.")
    key, passphrase, timestamp, signature = (arg.get(k) for k in ("apiKey", "passphrase", "timestamp", "sign"))
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)  # python-okx sends an int (fact sheet §6)
    if not isinstance(timestamp, str) or not timestamp.isdigit():
        return _fail("60004", "Invalid timestamp.")
    if abs(now_ms - int(timestamp) * 1000) > MAX_SKEW_MS:
        return _fail("60006", "Timestamp request expired.")
    found = keys.get(key) if isinstance(key, str) else None
    if found is None:
        return _fail("60005", "Invalid apiKey.")
    secret, expected_passphrase = found
    if not isinstance(passphrase, str) or not hmac.compare_digest(passphrase, expected_passphrase):
        return _fail("60024", "Wrong passphrase.")
    if not isinstance(signature, str) or not hmac.compare_digest(signature, sign(secret, ws_prehash(timestamp))):
        return _fail("60007", "Invalid sign.")
    return AuthResult("0", api_key=key)
