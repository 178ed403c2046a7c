"""What the HTTP front doors (REST, FMZ) share with the strategy WebSocket: the method table, run for an
already-authenticated principal, and one mapping of error codes to HTTP statuses.

An HTTP request is not a WebSocket session, but it is served by the same handlers: `MethodCaller.call`
runs a method of the strategy API's `MethodTable` exactly as the WebSocket would (same permission and
account-scope checks, same params validation, same order service), so every front door answers alike.
"""

from __future__ import annotations

import itertools
from typing import Any

from gateway.api.methods import ApiServices, MethodTable
from gateway.api.protocol import Request
from gateway.api.session import OutboundQueue, Principal, Session, TokenBucket
from gateway.core.errors import ErrorCode

__all__ = ["STATUS_OF", "MethodCaller", "http_status"]

# The HTTP status that fits each error code. Nothing a client can send maps to 500: INTERNAL is a bug.
STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_PARAMS: 400,
    ErrorCode.UNKNOWN_SYMBOL: 400,
    ErrorCode.PRECISION: 400,
    ErrorCode.MIN_NOTIONAL: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNKNOWN_METHOD: 404,
    ErrorCode.UNKNOWN_VENUE: 404,
    ErrorCode.ORDER_NOT_FOUND: 404,
    ErrorCode.DUPLICATE_CLIENT_ID: 409,
    ErrorCode.INSUFFICIENT_BALANCE: 422,
    ErrorCode.RISK_LIMIT: 422,
    ErrorCode.VENUE_REJECTED: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.NOT_SUPPORTED: 501,
    ErrorCode.VENUE_UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
}


def http_status(code: ErrorCode | str) -> int:
    """Return the HTTP status for an error code (500 for a code this table does not know)."""
    try:
        return STATUS_OF[ErrorCode(code)]
    except ValueError:
        return 500


class MethodCaller:
    """Run strategy API methods for a principal that an HTTP front door authenticated.

    Args:
        methods: the strategy API's method table (the WebSocket's own).
        services: the services its handlers use (the WebSocket's own `ApiServices`).
        name: a label for the pseudo-sessions' ids in logs (`rest`, `fmz`).
    """

    def __init__(self, methods: MethodTable, services: ApiServices, name: str):
        self.methods = methods
        self.services = services
        self._name = name
        self._ids = itertools.count(1)

    async def call(self, principal: Principal, method: str, params: dict[str, Any], remote: str = "") -> Any:
        """Run `method` with `params` as `principal`; return its result.

        Raises:
            GatewayError: exactly what the WebSocket would answer with (FORBIDDEN, INVALID_PARAMS, ...).
        """
        # One short-lived session per call: HTTP calls hold no subscriptions and push nothing.
        session = Session(
            f"{self._name}-{next(self._ids)}",
            remote,
            self.services.clock.now_ms(),
            OutboundQueue(16, 64, _ignore),
            TokenBucket(1.0),
        )
        session.principal = principal
        return await self.methods.handle(session, self.services, Request(None, method, params))


def _ignore() -> None:
    return None
