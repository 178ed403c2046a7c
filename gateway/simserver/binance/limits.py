"""Request weight per IP, 429 / 418 escalation, and signed-request checks of the Binance dialect. Pure.

Weight (fact sheet §2): each IP has ``limit`` weight per fixed window; a request that would exceed it
gets 429 with ``Retry-After``. A request from an IP that arrives while its ``Retry-After`` still runs is
a violation (it kept going past a 429), except within ``grace_ms`` of the 429 (requests already in
flight when it was sent); after ``ban_after`` violations the IP is banned: 418 with the ban's
``Retry-After``, for every request until the ban lifts (§2: "IP auto-banned after continuing past
429s"; Binance's tolerance before the ban is not documented, so both are settings here).

Signed requests (§1.1, §1.2): ``X-MBX-APIKEY`` must name a known key; ``signature`` must be the HMAC-SHA256
hex (or, for an Ed25519 key, the base64 Ed25519 signature), in the query string or the form body, of the raw query string without
``&signature=...`` concatenated with the raw body; ``timestamp`` must satisfy
``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

__all__ = ["Admission", "IpLimiter", "OrderCounter", "SignatureCheck", "check_signed", "check_timestamp", "check_ws_signed",
           "interval_name", "is_ed25519_key"]


@dataclass(frozen=True, slots=True)
class Admission:
    """The limiter's verdict: HTTP status (200, 429 or 418), Retry-After seconds, weight used now."""

    status: int
    retry_after_s: float | None
    used: int


@dataclass(slots=True)
class _Ip:
    window: int = -1
    used: int = 0
    penalty_until_ms: int = 0
    penalized_at_ms: int = 0
    violations: int = 0
    banned_until_ms: int = 0


@dataclass
class IpLimiter:
    """Weight accounting and 429 / 418 escalation per client IP."""

    limit: int
    interval_ms: int
    retry_after_s: float = 1.0
    ban_s: float = 120.0
    ban_after: int = 3
    grace_ms: int = 50
    ips: dict[str, _Ip] = field(default_factory=dict)
    answered_429: int = 0
    answered_418: int = 0
    violations: int = 0

    def admit(self, ip: str, weight: int, now_ms: int) -> Admission:
        """Count a request of `weight` from `ip` at `now_ms`; return whether it may proceed."""
        state = self.ips.setdefault(ip, _Ip())
        window = now_ms // self.interval_ms
        if window != state.window:
            state.window, state.used = window, 0
        if now_ms < state.banned_until_ms:
            self.answered_418 += 1
            return Admission(418, (state.banned_until_ms - now_ms) / 1000, state.used)
        if now_ms < state.penalty_until_ms:
            if now_ms - state.penalized_at_ms <= self.grace_ms:  # in flight when the 429 went out
                self.answered_429 += 1
                return Admission(429, (state.penalty_until_ms - now_ms) / 1000, state.used)
            state.violations += 1
            self.violations += 1
            if state.violations >= self.ban_after:
                state.banned_until_ms = now_ms + int(self.ban_s * 1000)
                self.answered_418 += 1
                return Admission(418, self.ban_s, state.used)
            self.answered_429 += 1
            return Admission(429, (state.penalty_until_ms - now_ms) / 1000, state.used)
        if state.used + weight > self.limit:
            return self.penalize(ip, now_ms, self.retry_after_s)
        state.used += weight
        return Admission(200, None, state.used)

    def penalize(self, ip: str, now_ms: int, retry_after_s: float) -> Admission:
        """Answer 429 to `ip` now and start its ``Retry-After`` period (also used by injected 429s)."""
        state = self.ips.setdefault(ip, _Ip())
        state.penalty_until_ms = max(state.penalty_until_ms, now_ms + int(retry_after_s * 1000))
        state.penalized_at_ms = now_ms
        self.answered_429 += 1
        return Admission(429, retry_after_s, state.used)

    def ban(self, ip: str, now_ms: int, ban_s: float) -> Admission:
        """Ban `ip` now for `ban_s` (an injected 418)."""
        state = self.ips.setdefault(ip, _Ip())
        state.banned_until_ms = now_ms + int(ban_s * 1000)
        self.answered_418 += 1
        return Admission(418, ban_s, state.used)


_LETTERS = ((86_400_000, "D"), (3_600_000, "H"), (60_000, "M"), (1_000, "S"))


def interval_name(interval_ms: int) -> str:
    """Return Binance's ``<n><S|M|H|D>`` name of an interval (``10S``, ``1M``) as in the count headers."""
    for unit_ms, letter in _LETTERS:
        if interval_ms % unit_ms == 0:
            return f"{interval_ms // unit_ms}{letter}"
    raise ValueError(f"no Binance name for an interval of {interval_ms} ms")


@dataclass
class OrderCounter:
    """The ORDERS limits of one account (fact sheet §2, §4: counted per account, not per IP).

    Each new order (placement, amend, each order of a batch) counts 1 in every window; an order over a
    limit is refused uncounted (-1015). `counts` are what the ``X-MBX-ORDER-COUNT-<n><unit>`` headers and
    the WebSocket API's ``rateLimits`` report.
    """

    limits: tuple[tuple[int, int], ...]  # (interval ms, limit)
    used: dict[int, tuple[int, int]] = field(default_factory=dict)  # interval -> (window index, count)
    refused: int = 0

    def counts(self, now_ms: int) -> dict[int, int]:
        """Return interval ms -> orders counted in its current window."""
        found = {}
        for interval, _ in self.limits:
            window, count = self.used.get(interval, (-1, 0))
            found[interval] = count if window == now_ms // interval else 0
        return found

    def admit(self, orders: int, now_ms: int) -> str | None:
        """Count `orders` new orders now; return None, or Binance's -1015 message for the limit they break."""
        counts = self.counts(now_ms)
        for interval, limit in self.limits:
            if counts[interval] + orders > limit:
                self.refused += 1
                return f"Too many new orders; current limit is {limit} orders per {interval_name(interval)}."
        for interval, _ in self.limits:
            self.used[interval] = (now_ms // interval, counts[interval] + orders)
        return None

    def headers(self, now_ms: int) -> dict[str, str]:
        """Return the ``X-MBX-ORDER-COUNT-<n><unit>`` headers of an order answer."""
        return {f"X-MBX-ORDER-COUNT-{interval_name(i)}": str(n) for i, n in self.counts(now_ms).items()}

    def rate_limits(self, now_ms: int) -> list[dict[str, object]]:
        """Return the WebSocket API ``rateLimits`` of an order answer: each ORDERS limit and its count."""
        counts = self.counts(now_ms)
        found: list[dict[str, object]] = []
        for interval, limit in self.limits:
            name = interval_name(interval)
            unit = {"S": "SECOND", "M": "MINUTE", "H": "HOUR", "D": "DAY"}[name[-1]]
            found.append({"rateLimitType": "ORDERS", "interval": unit, "intervalNum": int(name[:-1]),
                          "limit": limit, "count": counts[interval]})
        return found


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome of a signed-request check: ``code`` 0 when valid, else the Binance error code."""

    code: int
    msg: str = ""


def check_signed(
    raw_query: str, raw_body: str, api_key: str | None, keys: dict[str, str], now_ms: int, max_recv_window: int = 60_000
) -> SignatureCheck:
    """Check a SIGNED request (see the module docstring).

    Args:
        raw_query: the query string exactly as received (percent-encoded).
        raw_body: the form body exactly as received.
        api_key: the ``X-MBX-APIKEY`` header.
        keys: API key -> HMAC secret, or an Ed25519 public key in PEM.
        now_ms: the server's time.
        max_recv_window: the largest recvWindow accepted.
    """
    if api_key is None or api_key not in keys:
        return SignatureCheck(-2015, "Invalid API-key, IP, or permissions for action.")
    # The signature may travel in the query string or in the form body (§1.1: either may carry any
    # parameter); the signed payload is the query string followed by the body, without the signature.
    query, signature = _split_signature(raw_query)
    body = raw_body
    if signature is None:
        body, signature = _split_signature(raw_body)
        if signature is None:
            return SignatureCheck(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    params = dict(parse_qsl(query + "&" + body if body else query))
    if "timestamp" not in params:
        return SignatureCheck(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    if not _signature_ok(keys[api_key], query + body, unquote(signature)):
        return SignatureCheck(-1022, "Signature for this request is not valid.")
    try:
        timestamp = int(params["timestamp"])
        recv_window = int(float(params.get("recvWindow", "5000")))
    except ValueError:
        return SignatureCheck(-1100, "Illegal characters found in parameter 'timestamp'.")
    if recv_window > max_recv_window:
        return SignatureCheck(-1131, "recvWindow must be less than 60000")
    if timestamp >= now_ms + 1000:
        return SignatureCheck(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - timestamp > recv_window:
        return SignatureCheck(-1021, "Timestamp for this request is outside of the recvWindow.")
    return SignatureCheck(0)


def _split_signature(raw: str) -> tuple[str, str | None]:
    # "a=1&b=2&signature=x" -> ("a=1&b=2", "x"); no signature parameter -> (raw, None).
    payload, sep, signature = raw.rpartition("&signature=")
    if sep:
        return payload, signature
    if raw.startswith("signature="):
        return "", raw[len("signature="):]
    return raw, None


def is_ed25519_key(key: str) -> bool:
    """Return True if `key` (a value of ``DialectSettings.api_keys``) is an Ed25519 public key (PEM)."""
    return key.startswith("-----BEGIN") and isinstance(load_pem_public_key(key.encode()), Ed25519PublicKey)


def _signature_ok(key: str, payload: str, signature: str) -> bool:
    if key.startswith("-----BEGIN"):
        public = load_pem_public_key(key.encode())
        if not isinstance(public, Ed25519PublicKey):
            return False
        try:
            public.verify(base64.b64decode(signature), payload.encode())
        except (InvalidSignature, ValueError):
            return False
        return True
    expected = hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def check_ws_signed(params: dict[str, object], keys: dict[str, str], now_ms: int,
                    max_recv_window: int = 60_000) -> SignatureCheck:
    """Check a signed WebSocket API request (§1.4): every param but ``signature``, sorted by name, ``k=v``
    joined with ``&`` (values as sent: integers as digits, booleans lower-case), signed with the key of
    ``apiKey``; then the same timestamp rules as REST."""
    api_key = params.get("apiKey")
    if not isinstance(api_key, str) or api_key not in keys:
        return SignatureCheck(-2015, "Invalid API-key, IP, or permissions for action.")
    signature = params.get("signature")
    if not isinstance(signature, str):
        return SignatureCheck(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    payload = "&".join(f"{k}={_ws_value(params[k])}" for k in sorted(params) if k != "signature")
    if not _signature_ok(keys[api_key], payload, signature):
        return SignatureCheck(-1022, "Signature for this request is not valid.")
    return check_timestamp(params, now_ms, max_recv_window)


def check_timestamp(params: dict[str, object], now_ms: int, max_recv_window: int = 60_000) -> SignatureCheck:
    """Check ``timestamp`` / ``recvWindow`` of a WebSocket API request (§1.2); after ``session.logon`` this
    is all a request without its own signature is checked for."""
    try:
        timestamp = int(params.get("timestamp"))  # type: ignore[arg-type]
        recv_window = int(float(params.get("recvWindow", 5000)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return SignatureCheck(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    if recv_window > max_recv_window:
        return SignatureCheck(-1131, "recvWindow must be less than 60000")
    if timestamp >= now_ms + 1000:
        return SignatureCheck(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - timestamp > recv_window:
        return SignatureCheck(-1021, "Timestamp for this request is outside of the recvWindow.")
    return SignatureCheck(0)


def _ws_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
