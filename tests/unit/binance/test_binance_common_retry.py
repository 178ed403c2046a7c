"""The retry classifier, as a table: error -> Retry(after) | Fatal."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus, InvalidURI
from websockets.frames import Close
from websockets.http11 import Response

from gateway.core.errors import VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable
from gateway.venues.common.retry import Backoff, Fatal, Retry, classify

BACKOFF = Backoff(base_s=1.0, cap_s=8.0)
HALF = lambda: 0.5


def _banned() -> VenueRateLimited:
    error = VenueRateLimited("banned", venue="b", retry_after_s=120)
    error.details["banned"] = True
    return error


def _handshake(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers()))


@pytest.mark.parametrize(
    ("error", "attempt", "expected"),
    [
        (VenueRateLimited("429", venue="b", retry_after_s=3), 1, Retry(3)),
        (VenueRateLimited("429", venue="b"), 2, Retry(1.0)),  # no Retry-After: backoff 0.5 * 2
        (_banned(), 1, Fatal("banned by the venue")),
        (VenueUnavailable("down", venue="b"), 1, Retry(0.5)),
        (VenueUnavailable("down", venue="b"), 3, Retry(2.0)),
        (VenueUnavailable("down", venue="b"), 10, Retry(4.0)),  # capped at 8 * 0.5
        (VenueTimeout("lost", venue="b"), 1, Fatal("the outcome is unknown")),
        (VenueRejected("bad", venue="b", venue_code=-1121), 1, Fatal("rejected: -1121")),
        (VenueRejected("busy", venue="b", venue_code=-1008), 1, Retry(0.5)),  # listed as transient below
        (ConnectionResetError(), 1, Retry(0.5)),
        (OSError("refused"), 2, Retry(1.0)),
        (TimeoutError(), 1, Retry(0.5)),
        (ConnectionClosedError(Close(1006, ""), None), 1, Retry(0.5)),
        (_handshake(503), 1, Retry(0.5)),
        (_handshake(429), 1, Retry(0.5)),
        (_handshake(404), 1, Fatal("handshake refused with HTTP 404")),
        (InvalidURI("x", "bad"), 1, Fatal("unexpected error: InvalidURI('x', 'bad')")),
        (ValueError("bug"), 1, Fatal("unexpected error: ValueError('bug')")),
    ],
)
def test_classify(error: BaseException, attempt: int, expected: object) -> None:
    assert classify(error, attempt, BACKOFF, HALF, transient_codes={-1008}) == expected


def test_classify_gives_up_after_max_attempts() -> None:
    verdict = classify(VenueUnavailable("down", venue="b"), 3, BACKOFF, HALF, max_attempts=3)
    assert isinstance(verdict, Fatal)


def test_backoff_floor_and_cap() -> None:
    backoff = Backoff(base_s=0.1, cap_s=1.0, floor_s=0.05)
    assert backoff.delay(1, lambda: 0.0) == 0.05
    assert backoff.delay(20, lambda: 0.999) == pytest.approx(0.999)
