"""Lighter's REST API over the shared `HttpClient`: JSON reads, form-encoded sendTx (fact sheet §3).

Every answer has ``code`` (200 = OK) and maybe ``message``; an HTTP error's body is ``{code, message}``.
Both refusals become `VenueRejected` with Lighter's code (e.g. 21104 "invalid nonce"); transport and
5xx failures are mapped by `common.http` (a sendTx that times out is `VenueTimeout`: outcome unknown, and so
is a sendTx whose connection broke once made: the server may have taken the tx before it was lost).
Reads are retried after 5xx / network errors with the injected backoff; sendTx never is.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from gateway.core.errors import VenueRejected, VenueTimeout, VenueUnavailable
from gateway.venues.common.http import HttpClient, to_venue_error
from gateway.venues.common.retry import Backoff, Retry, classify
from gateway.venues.lighter.constants import CODE_OK

__all__ = ["LighterRest", "decode_error"]


def decode_error(body: bytes) -> tuple[int | str, str] | None:
    """Read Lighter's ``{code, message}`` error body (None: not that shape)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and "code" in data:
        return data["code"], str(data.get("message", ""))
    return None


class LighterRest:
    """Lighter REST calls for one session.

    Args:
        http: the transport.
        base_url: e.g. https://mainnet.zklighter.elliot.ai
        venue: the venue name errors carry.
        backoff / max_retries / rng: the retry policy of reads.
    """

    def __init__(self, http: HttpClient, base_url: str, venue: str, *, backoff: Backoff, max_retries: int,
                 rng: random.Random | None = None, auth_in_query: bool = False):
        self._http = http
        self._base = base_url.rstrip("/")
        self._venue = venue
        self._backoff = backoff
        self._max_retries = max_retries
        self._rng = rng or random.Random()
        self._auth_in_query = auth_in_query
        self.requests = 0

    async def get(self, path: str, params: dict[str, Any] | None = None, *, auth: str | None = None) -> dict[str, Any]:
        """GET `path` with `params` (None values dropped); return the decoded answer.

        Raises:
            VenueRejected: the venue refused (its code and message in the error).
            VenueUnavailable: network or 5xx, after the retries.
        """
        query = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        headers = {}
        if auth is not None:
            if self._auth_in_query:
                query["auth"] = auth
            else:
                headers["authorization"] = auth
        url = f"{self._base}{path}" + (f"?{urlencode(query)}" if query else "")
        attempt = 0
        while True:
            try:
                return await self._call("GET", path, url, headers, None)
            except (VenueUnavailable, VenueRejected) as exc:
                attempt += 1
                verdict = classify(exc, attempt, self._backoff, self._rng)
                if not isinstance(verdict, Retry) or attempt > self._max_retries:
                    raise
                await asyncio.sleep(verdict.after_s)

    async def send_tx(self, tx_type: int, tx_info: str, price_protection: bool | None = None) -> dict[str, Any]:
        """POST /api/v1/sendTx as a form (tx_type, tx_info[, price_protection]); return RespSendTx."""
        form: dict[str, str] = {"tx_type": str(tx_type), "tx_info": tx_info}
        if price_protection is not None:
            form["price_protection"] = "true" if price_protection else "false"
        try:
            return await self._call("POST", "/api/v1/sendTx", f"{self._base}/api/v1/sendTx",
                                    {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(form).encode())
        except VenueUnavailable as exc:
            cause = exc.__cause__
            if not isinstance(cause, aiohttp.ClientError | OSError) or isinstance(cause, aiohttp.ClientConnectorError):
                raise  # an HTTP answer (5xx), or no connection was made: the tx was not taken
            # The connection broke after the form may have been sent: the API server may have taken the tx.
            raise VenueTimeout(f"POST /api/v1/sendTx: the answer was lost ({exc}); the outcome is unknown",
                               venue=self._venue) from exc

    async def _call(self, method: str, path: str, url: str, headers: dict[str, str],
                    body: bytes | None) -> dict[str, Any]:
        self.requests += 1
        response = await self._http.send(method, url, headers=headers, body=body)
        if response.status >= 300:
            raise to_venue_error(response, self._venue, method, path, decode_error)
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise VenueUnavailable(f"{method} {path}: the answer is not JSON", venue=self._venue,
                                   venue_message=response.body[:200].decode(errors="replace")) from exc
        if not isinstance(data, dict):
            raise VenueUnavailable(f"{method} {path}: the answer is not an object", venue=self._venue)
        code = data.get("code", CODE_OK)
        if code != CODE_OK:
            raise VenueRejected(f"{method} {path}: rejected ({code}) {data.get('message', '')}", venue=self._venue,
                                venue_code=code, venue_message=str(data.get("message", "")))
        return data


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
