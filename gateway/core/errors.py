"""Errors with stable codes, raised anywhere and translated to the API's error shape at one boundary.

    GatewayError (code)
    ├── ConfigError                  INTERNAL (never reaches a strategy; fails start-up)
    ├── RequestError                 INVALID_REQUEST / INVALID_PARAMS / UNKNOWN_METHOD / INVALID_JSON
    ├── AccessError                  UNAUTHENTICATED / FORBIDDEN
    ├── LookupFailed                 UNKNOWN_VENUE / UNKNOWN_SYMBOL / ORDER_NOT_FOUND
    ├── OrderRejected                PRECISION / MIN_NOTIONAL / INSUFFICIENT_BALANCE / RISK_LIMIT /
    │                                DUPLICATE_CLIENT_ID / NOT_SUPPORTED
    └── VenueError (venue, venue_code, venue_message)
        ├── VenueUnavailable         VENUE_UNAVAILABLE (network, 5xx; retryable)
        ├── VenueTimeout             TIMEOUT (the outcome is unknown)
        ├── VenueRateLimited         RATE_LIMITED (retry_after_s)
        └── VenueRejected            VENUE_REJECTED (the venue said no; its code in details)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "AccessError",
    "ConfigError",
    "ErrorCode",
    "GatewayError",
    "LookupFailed",
    "OrderRejected",
    "RequestError",
    "VenueError",
    "VenueRateLimited",
    "VenueRejected",
    "VenueTimeout",
    "VenueUnavailable",
]


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    INVALID_JSON = "INVALID_JSON"
    INVALID_REQUEST = "INVALID_REQUEST"
    UNKNOWN_METHOD = "UNKNOWN_METHOD"
    INVALID_PARAMS = "INVALID_PARAMS"
    UNKNOWN_VENUE = "UNKNOWN_VENUE"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    PRECISION = "PRECISION"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    RISK_LIMIT = "RISK_LIMIT"
    DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    VENUE_REJECTED = "VENUE_REJECTED"
    VENUE_UNAVAILABLE = "VENUE_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    TIMEOUT = "TIMEOUT"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    INTERNAL = "INTERNAL"


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose. Carries a stable code and optional details."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, code: ErrorCode | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details or {}


class ConfigError(GatewayError):
    """The settings are invalid; raised before anything starts."""


class RequestError(GatewayError):
    """A request that cannot be understood: bad JSON, bad shape, unknown method, bad params."""

    code = ErrorCode.INVALID_PARAMS


class AccessError(GatewayError):
    """Not authenticated, or the key may not do this."""

    code = ErrorCode.FORBIDDEN


class LookupFailed(GatewayError):
    """A named thing (venue, symbol, order) does not exist."""


class OrderRejected(GatewayError):
    """The gateway refused an order before it reached the venue."""


class VenueError(GatewayError):
    """Something a venue did or failed to do."""

    def __init__(
        self,
        message: str,
        *,
        venue: str,
        venue_code: str | int | None = None,
        venue_message: str | None = None,
        code: ErrorCode | None = None,
    ):
        details: dict[str, Any] = {"venue": venue}
        if venue_code is not None:
            details["venue_code"] = venue_code
        if venue_message is not None:
            details["venue_message"] = venue_message
        super().__init__(message, code=code, details=details)
        self.venue = venue
        self.venue_code = venue_code
        self.venue_message = venue_message


class VenueUnavailable(VenueError):
    """Network failure, 5xx, venue down or reconnecting. Retryable."""

    code = ErrorCode.VENUE_UNAVAILABLE


class VenueTimeout(VenueError, TimeoutError):
    """No answer in time: the outcome of the call is unknown."""

    code = ErrorCode.TIMEOUT


class VenueRateLimited(VenueError):
    """The venue throttled us; retry after `retry_after_s`."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, venue: str, retry_after_s: float | None = None, **kwargs: Any):
        super().__init__(message, venue=venue, **kwargs)
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            self.details["retry_after_s"] = retry_after_s


class VenueRejected(VenueError):
    """The venue refused the request; its own code and message are in `details`."""

    code = ErrorCode.VENUE_REJECTED
