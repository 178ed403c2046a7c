"""The QE REST client: signed V1 / V2 requests, the envelope parsed once, errors mapped in one place.

Each call waits for the host budget (shared by every session calling the host: QE's limits are
unverified, so the budget is a setting), signs with ``timestamp`` = local time + the server-time offset
(the official SDK applies no offset; the Go SDK does), sends, and parses the envelope (`schemas`).

Error mapping (the one place QE's answers become gateway errors):

    code / HTTP 429                 -> VenueRateLimited (Retry-After when sent)
    code / HTTP >= 500              -> VenueUnavailable on a read, VenueTimeout on a write (it may have acted)
    other code != 200 (HTTP 200 too) -> VenueRejected(venue_code=code, venue_message=message)
    a 2xx answer that is not JSON   -> VenueUnavailable on a read, VenueTimeout on a write
    a listen key / server time answer that is refused (success false) or unreadable -> VenueUnavailable
    network / timeout               -> as `common.http` (VenueUnavailable / VenueTimeout)

Reads are retried after rate limits and transient failures (`common.retry.classify`); writes never are:
an unknown outcome is resolved by the caller, by client order id.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import structlog

from gateway.core.clock import Clock
from gateway.core.errors import VenueError, VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable
from gateway.venues.common.http import IDEMPOTENT, HttpClient, parse_retry_after
from gateway.venues.common.ratelimit import HostBudget
from gateway.venues.common.retry import DEFAULT_BACKOFF, Backoff, Fatal, classify
from gateway.venues.common.timesync import TimeOffset
from gateway.venues.qe.auth import HmacSigner, signed_v1_query, signed_v2_request, string_to_sign
from gateway.venues.qe.schemas import (
    QeApiError,
    QeFormatError,
    QeHttpError,
    decode_envelope,
    parse_listen_key,
    parse_server_time,
)

__all__ = ["REQUESTS", "QeRest"]

_T = TypeVar("_T")

REQUESTS = "REQUESTS"  # the host budget's unit: one per request
_JSON = "application/json;charset=utf-8"


class QeRest:
    """QE REST for one session.

    Args:
        venue: the venue name errors carry.
        http: the transport.
        base_url: REST base, e.g. ``https://api.quantumexecute.com``.
        v2_prefix: prefix of V2 user paths (``/strategy-api``; unverified).
        v1_prefix: prefix of public and V1 paths.
        budget: the host's shared budget.
        clock: local time.
        offset: the server-time offset.
        api_key: sent as ``X-MBX-APIKEY``.
        signer: signs every user request.
        recv_window_ms: ``recvWindow`` (None: not sent).
        max_retries: retries of a read.
        backoff: the delay policy of retried reads.
        rng: the jitter source.
    """

    def __init__(self, venue: str, http: HttpClient, base_url: str, *, v2_prefix: str, v1_prefix: str,
                 budget: HostBudget, clock: Clock, offset: TimeOffset, api_key: str, signer: HmacSigner,
                 recv_window_ms: int | None = 5_000, max_retries: int = 3, backoff: Backoff = DEFAULT_BACKOFF,
                 rng: random.Random | None = None):
        self.venue = venue
        self._http = http
        self._base = base_url.rstrip("/")
        self._v2 = v2_prefix
        self._v1 = v1_prefix
        self.budget = budget
        self._clock = clock
        self.offset = offset
        self._api_key = api_key
        self._signer = signer
        self._recv_window = recv_window_ms
        self._max_retries = max_retries
        self._backoff = backoff
        self._rng = rng or random.Random()
        self.requests = 0
        self.retries = 0
        self._log = structlog.get_logger("gateway.venues.qe.rest").bind(venue=venue)

    def __repr__(self) -> str:
        return f"QeRest({self.venue!r}, {self._base!r})"

    # --- public -------------------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.call("GET", self._v1 + "/ping")

    async def sync_time(self) -> int:
        """Sample ``/timestamp`` once; return the offset (server - local, ms) now in use."""
        sent = self._clock.now_ms()
        payload = await self.call("GET", self._v1 + "/timestamp")
        received = self._clock.now_ms()
        return self.offset.on_sample(sent, self._read("GET /timestamp", parse_server_time, payload), received)

    async def trading_pairs(self, params: Mapping[str, Any]) -> Any:
        return await self.call("GET", self._v1 + "/pub/trading-pairs", params)

    # --- V2 user endpoints (fact sheet §5) ----------------------------------------------------------------

    async def exchange_apis(self, page: int = 1, page_size: int = 100, exchange: str | None = None) -> Any:
        return await self.call("GET", self._v2 + "/user/exchange/v2/exchange-apis",
                               {"page": page, "pageSize": page_size, "exchange": exchange}, signed=True)

    async def create_master_order(self, body: Mapping[str, Any]) -> Any:
        return await self.call("POST", self._v2 + "/user/trading/v2/master-orders", body, signed=True, json=True)

    async def list_master_orders(self, **params: Any) -> Any:
        return await self.call("GET", self._v2 + "/user/trading/v2/master-orders", params, signed=True)

    async def get_master_order(self, master_order_id: str) -> Any:
        return await self.call("GET", f"{self._v2}/user/trading/v2/master-orders/{_seg(master_order_id)}",
                               {}, signed=True)

    async def get_master_order_by_client_id(self, client_order_id: str) -> Any:
        path = f"{self._v2}/user/trading/v2/master-orders/by-client-order-id/{_seg(client_order_id)}"
        return await self.call("GET", path, {}, signed=True)

    async def master_order_action(self, master_order_id: str, action: str, body: Mapping[str, Any]) -> Any:
        """PUT ``.../{id}/<action>`` with a JSON body: action is cancel, pause, resume or update."""
        if action not in ("cancel", "pause", "resume", "update"):
            raise ValueError(f"unknown master order action {action!r}")
        path = f"{self._v2}/user/trading/v2/master-orders/{_seg(master_order_id)}/{action}"
        return await self.call("PUT", path, body, signed=True, json=True)

    async def batch_cancel(self, master_order_ids: list[str], reason: str | None = None) -> Any:
        return await self.call("PUT", self._v2 + "/user/trading/v2/master-orders/batch-cancel",
                               {"masterOrderIds": master_order_ids, "reason": reason}, signed=True, json=True)

    async def order_fills(self, **params: Any) -> Any:
        return await self.call("GET", self._v2 + "/user/trading/v2/order-fills", params, signed=True)

    async def create_listen_key(self) -> Any:
        """POST the V2 listen key: signed V1 style (query only, no body; §7). Returns the raw payload."""
        return await self.call("POST", self._v2 + "/user/trading/v2/listen-key", {}, signed=True)

    async def new_listen_key(self) -> tuple[str, int]:
        """Create a listen key; return (listenKey, expireAt in epoch seconds).

        Raises:
            VenueUnavailable: the answer is refused (``success: false``) or unreadable (logged).
        """
        payload = await self.create_listen_key()
        return self._read("POST listen-key", parse_listen_key, payload)

    def _read(self, where: str, parser: Callable[[Any], _T], payload: Any) -> _T:
        # The one place a payload the parsers cannot read becomes a gateway error (every loop's
        # `except GatewayError` then covers it); the answer is logged, not lost.
        try:
            return parser(payload)
        except QeFormatError as exc:
            self._log.warning("rest.unreadable_payload", where=where, error=str(exc), payload=str(payload)[:200])
            raise VenueUnavailable(f"{where}: unusable answer from QE ({exc})", venue=self.venue) from None

    # --- the call -----------------------------------------------------------------------------------------

    async def call(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
                   signed: bool = False, json: bool = False) -> Any:
        """Send one request (retrying reads as the module docstring says) and return the envelope's payload.

        Raises:
            VenueRejected, VenueRateLimited, VenueUnavailable, VenueTimeout: see the module docstring.
        """
        method = method.upper()
        idempotent = method in IDEMPOTENT
        attempt = 0
        while True:
            await self.budget.acquire({REQUESTS: 1})
            url, body = self._request(path, params or {}, signed, json)
            headers = {"X-MBX-APIKEY": self._api_key, "Content-Type": _JSON} if signed else {"Content-Type": _JSON}
            self.requests += 1
            try:
                response = await self._http.send(method, url, headers=headers, body=body)
                if response.status == 429 or response.status == 418:
                    self.budget.on_rate_limited(parse_retry_after(response.headers.get("Retry-After")),
                                                self._clock.now_ms())
                return self._payload(method, path, response.status, response.body,
                                     response.headers.get("Retry-After"))
            except VenueError as exc:
                error = exc
            attempt += 1
            verdict = classify(error, attempt, self._backoff, self._rng, max_attempts=self._max_retries + 1)
            if isinstance(verdict, Fatal) or not idempotent:
                raise error
            self.retries += 1
            self._log.info("rest.retry", path=path, attempt=attempt, error=error.code.value)
            if not isinstance(error, VenueRateLimited):  # a 429's wait is the budget's pause
                await asyncio.sleep(verdict.after_s)

    def _request(self, path: str, params: Mapping[str, Any], signed: bool, json: bool) -> tuple[str, bytes | None]:
        if not signed:
            query = string_to_sign(params)
            return (f"{self._base}{path}?{query}" if query else f"{self._base}{path}"), None
        timestamp = self.offset.server_now(self._clock.now_ms())
        if json:
            query, body = signed_v2_request(params, self._signer, timestamp, self._recv_window)
            return f"{self._base}{path}?{query}", body
        return f"{self._base}{path}?{signed_v1_query(params, self._signer, timestamp, self._recv_window)}", None

    def _payload(self, method: str, path: str, status: int, body: bytes, retry_after: str | None) -> Any:
        write = method not in IDEMPOTENT
        where = f"{method} {path}"
        try:
            return decode_envelope(status, body)
        except QeApiError as exc:
            code, message = exc.code, exc.message
            details: dict[str, Any] = {"venue_code": code, "venue_message": message}
        except QeHttpError as exc:
            code, message = exc.http_status, exc.text
            details = {"venue_code": code, "venue_message": message}
        except QeFormatError as exc:
            self._log.warning("rest.garbage_answer", path=path, status=status, error=str(exc))
            if write:
                raise VenueTimeout(f"{where}: unreadable answer ({exc}); the outcome is unknown",
                                   venue=self.venue) from None
            raise VenueUnavailable(f"{where}: unreadable answer ({exc})", venue=self.venue) from None
        if code == 429 or status == 429:
            raise VenueRateLimited(f"{where}: rate limited", venue=self.venue,
                                   retry_after_s=parse_retry_after(retry_after), **details)
        if code >= 500 or status >= 500:
            if write:
                raise VenueTimeout(f"{where}: venue error {code}; the outcome is unknown", venue=self.venue, **details)
            raise VenueUnavailable(f"{where}: venue error {code}", venue=self.venue, **details)
        raise VenueRejected(f"{where}: rejected ({code}) {message}", venue=self.venue, **details)


def _seg(value: str) -> str:
    # Path parameters: the SDK inserts them unescaped; we escape, so an id can never change the path.
    return quote(value, safe="")
