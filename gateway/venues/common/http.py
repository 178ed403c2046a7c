"""The HTTP transport of venue REST clients, and the one place transport failures become venue errors.

`HttpClient.send` performs one request with a pre-encoded URL (what is signed is exactly what is sent:
aiohttp must not re-encode it) and maps every aiohttp / timeout failure to the gateway's errors:

    aiohttp.ServerTimeoutError, asyncio.TimeoutError  -> VenueTimeout (a write: outcome unknown)
                                                          VenueUnavailable (a read: retryable)
    aiohttp.ClientError (connection, payload), OSError -> VenueUnavailable

`to_venue_error` turns a non-2xx answer into the error the classifier understands:

    429 -> VenueRateLimited(retry_after_s)      418 -> VenueRateLimited(banned, retry_after_s)
    5xx -> VenueUnavailable (read) / VenueTimeout (write: the venue may have acted)
    4xx -> VenueRejected(venue_code, venue_message) as the venue's error decoder reads them
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from gateway.core.errors import VenueError, VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable

__all__ = ["ErrorDecoder", "HttpClient", "HttpResponse", "parse_retry_after", "to_venue_error"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})

# Reads a venue's error body into (venue code, venue message); None when it is not the venue's shape.
ErrorDecoder = Callable[[bytes], tuple[int | str, str] | None]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer: status, headers (case-insensitive) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpClient:
    """Send requests over a shared `aiohttp.ClientSession` on behalf of `venue`.

    Args:
        session: the session to use (owned by the caller).
        venue: the venue name errors carry.
        timeout_s: the default total deadline of one request.
    """

    def __init__(self, session: aiohttp.ClientSession, venue: str, *, timeout_s: float = 10.0):
        self._session = session
        self._venue = venue
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout_s: float | None = None,
    ) -> HttpResponse:
        """Send one request to `url` (already percent-encoded) and return the answer, whatever its status.

        Raises:
            VenueTimeout: no answer in time for a write (the venue may have acted).
            VenueUnavailable: the network failed, or a read timed out.
        """
        timeout = self._timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._session.request(
                method, URL(url, encoded=True), headers=headers, data=body, timeout=timeout
            ) as response:
                data = await response.read()
                return HttpResponse(response.status, response.headers, data)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            if method.upper() in IDEMPOTENT:
                raise VenueUnavailable(f"{method} {_path(url)} timed out", venue=self._venue) from exc
            raise VenueTimeout(f"{method} {_path(url)} timed out; the outcome is unknown", venue=self._venue) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise VenueUnavailable(f"{method} {_path(url)} failed: {exc.__class__.__name__}",
                                   venue=self._venue, venue_message=str(exc)) from exc


def parse_retry_after(value: str | None) -> float | None:
    """Return a ``Retry-After`` header's seconds (fractions accepted), or None if absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def to_venue_error(
    response: HttpResponse, venue: str, method: str, path: str, decode_error: ErrorDecoder
) -> VenueError:
    """Return the error a non-2xx `response` to `method path` means (see the module docstring)."""
    decoded = decode_error(response.body) if response.body else None
    code, message = decoded if decoded is not None else (response.status, response.body[:200].decode(errors="replace"))
    where = f"{method} {path}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if response.status == 429:
        return VenueRateLimited(f"{where}: rate limited (429)", venue=venue, retry_after_s=retry_after,
                                venue_code=code, venue_message=message)
    if response.status == 418:
        error = VenueRateLimited(f"{where}: the venue banned this IP (418)", venue=venue,
                                 retry_after_s=retry_after, venue_code=code, venue_message=message)
        error.details["banned"] = True
        return error
    if response.status >= 500:
        if method.upper() in IDEMPOTENT:
            return VenueUnavailable(f"{where}: venue error {response.status}", venue=venue, venue_code=code,
                                    venue_message=message)
        return VenueTimeout(f"{where}: venue error {response.status}; the outcome is unknown", venue=venue,
                            venue_code=code, venue_message=message)
    return VenueRejected(f"{where}: rejected ({code}) {message}", venue=venue, venue_code=code,
                         venue_message=message)


def _path(url: str) -> str:
    # Never put a query string (it may hold a signature) into an error message.
    return url.split("?", 1)[0]
