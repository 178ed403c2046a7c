"""The OKX v5 REST client: signing, the envelope, per-endpoint rate limits, server-time re-sync, retries.

Each call:
1. takes its slot in the endpoint's budget (fact sheet §2 "Rate limits": counted per 2 s per endpoint,
   per IP for public data, per user for private calls, and per user + instrument for order placement,
   amendment and cancellation). The budgets come from the daemon's shared `HostBudgets`, keyed
   ``host|path[|user][|instId]``, so every session on the same host and account spends the same budget;
2. signs (private endpoints) exactly the path + query and the JSON text it sends (§1);
3. reads the ``{code, msg, data}`` envelope once (`envelope`), whatever the HTTP status (§2: most errors
   arrive with HTTP 200);
4. on a throttle answer (50011 / 50013 / HTTP 429) pauses that budget; on 50102 (timestamp expired)
   re-syncs the offset once and retries; a read failing with a throttle, 5xx or network error is retried
   with backoff; a write never is: an unknown-outcome code raises `VenueTimeout` (`envelope.to_error`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson
import structlog

from gateway.core.clock import Clock
from gateway.core.errors import VenueError, VenueRateLimited, VenueRejected, VenueUnavailable
from gateway.venues.common.http import HttpClient, to_venue_error
from gateway.venues.common.ratelimit import HostBudget, HostBudgets, RateLimit
from gateway.venues.common.retry import DEFAULT_BACKOFF, Backoff, Fatal, classify
from gateway.venues.common.timesync import TimeOffset
from gateway.venues.okx.auth import Credentials, rest_headers
from gateway.venues.okx.envelope import BAD_TIMESTAMP, BadAnswer, Envelope, decode_envelope, to_error

__all__ = ["ENDPOINT_LIMITS", "REQUESTS", "OkxRest", "query_string"]

REQUESTS = "REQUESTS"
WINDOW_MS = 2_000
# path -> (requests per 2 s, scope); fact sheet §2 per-endpoint list. scope: ip | user | user+inst.
ENDPOINT_LIMITS: dict[str, tuple[int, str]] = {
    "/api/v5/trade/order": (60, "user+inst"),  # POST place and GET order share the number, not the budget
    "/api/v5/trade/batch-orders": (300, "user+inst"),
    "/api/v5/trade/cancel-order": (60, "user+inst"),
    "/api/v5/trade/cancel-batch-orders": (300, "user+inst"),
    "/api/v5/trade/amend-order": (60, "user+inst"),
    "/api/v5/trade/orders-pending": (60, "user"),
    "/api/v5/trade/orders-history": (40, "user"),
    "/api/v5/trade/orders-history-archive": (20, "user"),
    "/api/v5/trade/fills": (60, "user"),
    "/api/v5/trade/fills-history": (10, "user"),
    "/api/v5/trade/order-algo": (20, "user+inst"),
    "/api/v5/trade/cancel-algos": (20, "user"),
    "/api/v5/trade/amend-algos": (20, "user"),
    "/api/v5/trade/orders-algo-pending": (20, "user"),
    "/api/v5/trade/orders-algo-history": (20, "user"),
    "/api/v5/account/balance": (10, "user"),
    "/api/v5/account/positions": (10, "user"),
    "/api/v5/account/set-leverage": (20, "user"),
    "/api/v5/account/leverage-info": (20, "user"),
    "/api/v5/account/config": (5, "user"),
    "/api/v5/public/instruments": (20, "ip"),
    "/api/v5/public/mark-price": (10, "ip"),
    "/api/v5/public/funding-rate": (10, "ip"),
    "/api/v5/public/time": (10, "ip"),  # not listed: assumed
    "/api/v5/market/ticker": (20, "ip"),
    "/api/v5/market/tickers": (20, "ip"),
    "/api/v5/market/books": (40, "ip"),
    "/api/v5/market/trades": (100, "ip"),
    "/api/v5/market/candles": (40, "ip"),
    "/api/v5/market/history-candles": (20, "ip"),
}
_DEFAULT_LIMIT = (10, "user")  # an endpoint not in the table (raw calls): cautious


def query_string(params: Mapping[str, object] | None) -> str:
    """Encode `params` in the order given, skipping None values (what is signed is exactly this)."""
    if not params:
        return ""
    return "&".join(f"{quote(str(k), safe='')}={quote(_text(v), safe=',')}" for k, v in params.items() if v is not None)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class OkxRest:
    """OKX REST for one session.

    Args:
        venue: the venue name errors carry.
        http: the transport.
        base_url: REST base, e.g. ``https://www.okx.com``.
        budgets: the daemon's shared budgets.
        clock: local time.
        offset: the server-time offset.
        credentials: None: only public endpoints work.
        demo: send ``x-simulated-trading: 1``.
    """

    def __init__(self, venue: str, http: HttpClient, base_url: str, budgets: HostBudgets, clock: Clock,
                 offset: TimeOffset, *, credentials: Credentials | None = None, demo: bool = True,
                 max_retries: int = 4, backoff: Backoff = DEFAULT_BACKOFF, rng: random.Random | None = None):
        self.venue = venue
        self._http = http
        self._base = base_url.rstrip("/")
        self._host = self._base.split("://", 1)[-1].split("/", 1)[0]
        self._budgets = budgets
        self._clock = clock
        self.offset = offset
        self._credentials = credentials
        self._demo = demo
        self._max_retries = max_retries
        self._backoff = backoff
        self._rng = rng or random.Random()
        self.user_scope = credentials.masked_key if credentials else "anonymous"  # replaced by the uid at start
        self.requests = 0
        self.retries = 0
        self.time_resyncs = 0
        self.rate_limited = 0
        self._log = structlog.get_logger("gateway.venues.okx.rest").bind(venue=venue)

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    def budget(self, path: str, inst_id: str | None = None) -> HostBudget:
        """Return the budget a call to `path` (for `inst_id`) spends."""
        limit, scope = ENDPOINT_LIMITS.get(path, _DEFAULT_LIMIT)
        key = f"{self._host}|{path}"
        if scope != "ip":
            key += f"|{self.user_scope}"
        if scope == "user+inst" and inst_id:
            key += f"|{inst_id}"
        return self._budgets.budget(key, [RateLimit(REQUESTS, WINDOW_MS, limit)])

    async def sync_time(self) -> int:
        """Sample ``/api/v5/public/time`` once; fold it into the offset and return the offset in use."""
        sent = self._clock.now_ms()
        envelope = await self.call("GET", "/api/v5/public/time")
        received = self._clock.now_ms()
        try:
            server = int(envelope.data[0]["ts"])
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise VenueUnavailable(f"/api/v5/public/time answered {envelope.data!r:.120}", venue=self.venue) from exc
        return self.offset.on_sample(sent, server, received)

    async def call(self, method: str, path: str, params: Mapping[str, object] | None = None,
                   body: Any = None, *, signed: bool = False, write: bool = False,
                   inst_id: str | None = None, items: bool = False) -> Envelope:
        """Send one request and return its envelope (``code`` "0", or "2" for a partly done batch).

        Args:
            params: the query (GET).
            body: the JSON body (POST): serialized once, signed and sent as the same text.
            signed: a private endpoint.
            write: it changes state (never retried; unknown-outcome codes raise VenueTimeout).
            inst_id: the instrument (per-instrument budgets).
            items: the caller reads each item's ``sCode``: a batch whose items all failed (code "1") is
                returned too, instead of raising the first item's error.

        Raises:
            VenueRejected / VenueRateLimited / VenueUnavailable / VenueTimeout: see the module docstring.
        """
        method = method.upper()
        query = query_string(params)
        request_path = f"{path}?{query}" if query else path
        text = "" if body is None else orjson.dumps(body).decode()
        budget = self.budget(path, inst_id)
        attempt = 0
        resynced = False
        while True:
            await budget.acquire({REQUESTS: 1})
            headers = self._headers(method, request_path, text, signed)
            self.requests += 1
            error: VenueError
            try:
                response = await self._http.send(method, f"{self._base}{request_path}", headers=headers,
                                                 body=text.encode() if text else None)
            except VenueError as exc:
                error = exc
            else:
                envelope: Envelope | None
                try:
                    envelope = decode_envelope(response.body)
                except BadAnswer:
                    envelope = None
                if envelope is not None and response.status < 300 and (
                        envelope.code in ("0", "2") or (items and envelope.code == "1" and envelope.data)):
                    return envelope
                if envelope is not None and response.status < 500:
                    if envelope.code == "1" and envelope.data:  # every item failed: the first item's sCode tells
                        first = envelope.data[0] if isinstance(envelope.data[0], dict) else {}
                        code, msg = str(first.get("sCode") or "1"), str(first.get("sMsg") or envelope.msg)
                    else:
                        code, msg = envelope.code, envelope.msg
                    error = to_error(self.venue, f"{method} {path}", code, msg, write=write)
                else:
                    error = to_venue_error(response, self.venue, method, path, _decode_error)
                if response.status == 429 or isinstance(error, VenueRateLimited):
                    self.rate_limited += 1
                    budget.on_rate_limited(None, self._clock.now_ms(), fallback_s=WINDOW_MS / 1000 / 4)
                if signed and not resynced and isinstance(error, VenueRejected) and error.venue_code in BAD_TIMESTAMP:
                    resynced = True
                    self.time_resyncs += 1
                    self._log.warning("rest.timestamp_rejected", path=path, offset_ms=self.offset.offset_ms)
                    self.offset.reset()
                    await self.sync_time()
                    continue
            attempt += 1
            verdict = classify(error, attempt, self._backoff, self._rng, max_attempts=self._max_retries + 1)
            if write or isinstance(verdict, Fatal):
                raise error
            self.retries += 1
            if not isinstance(error, VenueRateLimited):  # a throttle's wait is the budget's pause
                await asyncio.sleep(verdict.after_s)

    def _headers(self, method: str, request_path: str, text: str, signed: bool) -> dict[str, str]:
        if not signed:
            return {"x-simulated-trading": "1"} if self._demo else {}
        if self._credentials is None:
            raise VenueRejected("this session has no OKX credentials: private endpoints are unavailable",
                                venue=self.venue, venue_code="no_credentials")
        now = self.offset.server_now(self._clock.now_ms())
        return rest_headers(self._credentials, now, method, request_path, text, demo=self._demo)


def _decode_error(body: bytes) -> tuple[str, str] | None:
    try:
        envelope = decode_envelope(body)
    except BadAnswer:
        return None
    return envelope.code, envelope.msg
