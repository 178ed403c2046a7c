"""Retry or give up: a pure classifier from an error to `Retry(after_s)` or `Fatal`, and the backoff.

Pure: no clock, no I/O; randomness is injected. The classifier is the one place that decides whether a
failed call or connection is worth repeating:

- `VenueRateLimited` -> retry after the venue's ``Retry-After`` (or the backoff when it gave none),
  unless it is a ban (418), which is fatal for the call: the host budget refuses calls until it lifts;
- `VenueUnavailable` (network, 5xx on a read, venue busy) -> retry after the backoff;
- `VenueTimeout` -> fatal: the outcome is unknown, and only the caller may decide (by querying);
- `VenueRejected` -> fatal, except the venue codes listed as transient by the caller;
- connection-level failures (OSError, a closed WebSocket, a handshake refused with 5xx or 429) -> retry;
  a handshake refused with another 4xx, or a bad URI -> fatal;
- anything else -> fatal (a bug is not retried).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass

from gateway.core.errors import VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable

__all__ = ["DEFAULT_BACKOFF", "Backoff", "Fatal", "Retry", "Verdict", "classify", "classify_handshake_status"]


@dataclass(frozen=True, slots=True)
class Retry:
    """Repeat after `after_s` seconds."""

    after_s: float


@dataclass(frozen=True, slots=True)
class Fatal:
    """Do not repeat; `reason` says why."""

    reason: str


Verdict = Retry | Fatal


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter exponential backoff: attempt n (1-based) waits uniform(0, min(cap, base * 2**(n-1))).

    Args:
        base_s: the first attempt's upper bound.
        cap_s: the largest upper bound.
        floor_s: a minimum wait, so a server that accepts then drops at once is never hammered.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    floor_s: float = 0.0

    def delay(self, attempt: int, rng: random.Random | Callable[[], float]) -> float:
        """Return the wait before retry `attempt` (1-based), drawing from `rng`."""
        upper = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        draw = rng.random() if isinstance(rng, random.Random) else rng()
        return max(self.floor_s, draw * upper)


DEFAULT_BACKOFF = Backoff()


def classify_handshake_status(status: int) -> bool:
    """Return True if a WebSocket handshake refused with HTTP `status` is worth retrying."""
    return status >= 500 or status == 429 or status == 408


def classify(
    exc: BaseException,
    attempt: int,
    backoff: Backoff,
    rng: random.Random | Callable[[], float],
    *,
    transient_codes: Collection[int | str] = (),
    max_attempts: int | None = None,
) -> Verdict:
    """Decide whether the `attempt`-th failure (1-based) `exc` is retried, and after how long.

    Args:
        exc: what the call or connection attempt raised.
        attempt: how many consecutive failures so far, this one included.
        backoff: the delay policy.
        rng: the jitter source (a `random.Random`, or a zero-argument function returning [0, 1)).
        transient_codes: venue codes of `VenueRejected` that mean "try again" (e.g. Binance -1001).
        max_attempts: give up after this many failures (None: never, for long-lived connections).
    """
    if max_attempts is not None and attempt >= max_attempts:
        return Fatal(f"gave up after {attempt} attempts: {exc!r}")
    if isinstance(exc, VenueRateLimited):
        if exc.details.get("banned"):
            return Fatal("banned by the venue")
        after = exc.retry_after_s
        return Retry(after if after is not None else backoff.delay(attempt, rng))
    if isinstance(exc, VenueTimeout):
        return Fatal("the outcome is unknown")
    if isinstance(exc, VenueUnavailable):
        return Retry(backoff.delay(attempt, rng))
    if isinstance(exc, VenueRejected):
        if exc.venue_code in transient_codes:
            return Retry(backoff.delay(attempt, rng))
        return Fatal(f"rejected: {exc.venue_code}")
    status = _handshake_status(exc)
    if status is not None:
        if classify_handshake_status(status):
            return Retry(backoff.delay(attempt, rng))
        return Fatal(f"handshake refused with HTTP {status}")
    if isinstance(exc, (OSError, EOFError, ConnectionError, TimeoutError)) or _is_connection_closed(exc):
        return Retry(backoff.delay(attempt, rng))
    return Fatal(f"unexpected error: {exc!r}")


def _handshake_status(exc: BaseException) -> int | None:
    # websockets' InvalidStatus carries the refused response; duck-typed so this module imports no I/O.
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _is_connection_closed(exc: BaseException) -> bool:
    # websockets.exceptions.ConnectionClosed and InvalidMessage / InvalidHandshake (by name: no import).
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionClosed", "InvalidMessage", "InvalidHandshake"}) and "InvalidURI" not in names
