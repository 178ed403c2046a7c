"""A WebSocket connection that stays up: reconnect with backoff and jitter, resubscribe, proactive renewal.

`ResilientWebSocket.run` connects, calls ``on_open`` (resubscribe, resync: whatever a fresh connection
needs), reports `ConnectionState.OPEN`, then hands every message to ``on_message`` until the connection
drops or reaches ``max_age_s``; then it reports `RECONNECTING` and connects again. Connection attempts
that fail are retried after the injected `Backoff` (full jitter) as the pure `retry.classify` decides;
a fatal verdict (a 4xx handshake, a bad URL) ends `run` with `VenueUnavailable`.

Ping / pong: the websockets library answers every server ping with a pong carrying the same payload
(what Binance, OKX and others require); ``ping_interval_s`` adds client pings to detect a dead peer
(None: rely on the server's pings and on TCP).

Proactive renewal: venues cut connections at a fixed age (Binance: 24 h); renewing earlier, at a moment
of our choosing, turns a surprise disconnect into a planned one (the URL is re-read, so streams added
since are included). It is break-then-make: ``on_open`` resyncs what the short gap may have lost.

This is a small loop instead of websockets' ``async for ws in connect(...)`` because the URL is
recomputed per attempt, a drop after a successful open also waits (a server that accepts and drops at
once is never hammered), and the states are reported to the venue session.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.core.enums import ConnectionState
from gateway.core.errors import VenueUnavailable
from gateway.venues.common.retry import DEFAULT_BACKOFF, Backoff, Fatal, classify

__all__ = ["ResilientWebSocket"]

MessageHandler = Callable[[str | bytes], None]
OpenHandler = Callable[[ClientConnection], Awaitable[None]]
StateHandler = Callable[[ConnectionState, str | None], None]


class ResilientWebSocket:
    """Keep one logical WebSocket connection alive.

    Args:
        name: for logs, e.g. ``binance:public``.
        venue: the venue name errors carry.
        url: returns the URL to connect to; called before every attempt.
        on_message: called with every text or binary message; must not block. An exception it raises
            is logged and the message skipped.
        on_open: awaited after each successful connect, before `OPEN` is reported.
        on_state: told `OPEN` after each (re)connect and `RECONNECTING` after each drop.
        backoff: the delay policy between failed attempts, and (attempt 1) after a drop.
        rng: the jitter source.
        ping_interval_s: client ping period (None: no client pings).
        ping_timeout_s: a client ping unanswered this long closes the connection.
        open_timeout_s: the deadline of one connection attempt (TCP + TLS + handshake).
        max_age_s: renew the connection at this age (None: never).
        max_size: the largest message accepted, in bytes.
    """

    def __init__(
        self,
        name: str,
        venue: str,
        url: Callable[[], str],
        on_message: MessageHandler,
        *,
        on_open: OpenHandler | None = None,
        on_state: StateHandler | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        rng: random.Random | None = None,
        ping_interval_s: float | None = 30.0,
        ping_timeout_s: float | None = 30.0,
        open_timeout_s: float = 10.0,
        max_age_s: float | None = None,
        max_size: int = 4 * 1024 * 1024,
    ):
        self.name = name
        self._venue = venue
        self._url = url
        self._on_message = on_message
        self._on_open = on_open
        self._on_state = on_state or (lambda state, reason: None)
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._ping_interval = ping_interval_s
        self._ping_timeout = ping_timeout_s
        self._open_timeout = open_timeout_s
        self._max_age = max_age_s
        self._max_size = max_size
        self._ws: ClientConnection | None = None
        self.connections = 0  # successful opens
        self.renewals = 0  # proactive reconnects at max age
        self.message_errors = 0
        self._log = structlog.get_logger("gateway.venues.ws").bind(venue=venue, connection=name)

    @property
    def is_open(self) -> bool:
        return self._ws is not None

    async def send(self, text: str) -> None:
        """Send `text` on the current connection.

        Raises:
            VenueUnavailable: there is no open connection, or it dropped while sending.
        """
        ws = self._ws
        if ws is None:
            raise VenueUnavailable(f"{self.name} is not connected", venue=self._venue)
        try:
            await ws.send(text)
        except ConnectionClosed as exc:
            raise VenueUnavailable(f"{self.name} dropped while sending", venue=self._venue) from exc

    async def reconnect(self, reason: str) -> None:
        """Close the current connection (if any) so that `run` connects again, re-reading the URL."""
        ws = self._ws
        if ws is not None:
            self._log.info("ws.reconnect_requested", reason=reason)
            await ws.close(code=1000, reason=reason[:120])

    async def run(self) -> None:
        """Connect and keep connecting until cancelled.

        Raises:
            VenueUnavailable: a connection attempt failed in a way that retrying cannot fix.
        """
        attempt = 0
        while True:
            url = self._url()
            try:
                ws = await connect(
                    url, ping_interval=self._ping_interval, ping_timeout=self._ping_timeout,
                    open_timeout=self._open_timeout, max_size=self._max_size, compression=None,
                    close_timeout=2.0, proxy=None,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                verdict = classify(exc, attempt, self._backoff, self._rng)
                if isinstance(verdict, Fatal):
                    self._log.error("ws.connect_failed", url=_safe(url), reason=verdict.reason)
                    raise VenueUnavailable(f"{self.name}: cannot connect ({verdict.reason})", venue=self._venue) from exc
                self._log.warning("ws.connect_retry", url=_safe(url), attempt=attempt,
                                  delay_s=round(verdict.after_s, 3), error=_safe_error(exc))
                await asyncio.sleep(verdict.after_s)
                continue
            attempt = 0
            reason = await self._serve(ws, url)
            self._on_state(ConnectionState.RECONNECTING, reason)
            if reason != "max_age":
                delay = self._backoff.delay(1, self._rng)
                self._log.warning("ws.reconnecting", reason=reason, delay_s=round(delay, 3))
                await asyncio.sleep(delay)
            else:
                self._log.info("ws.renewing", age_s=self._max_age)

    async def _serve(self, ws: ClientConnection, url: str) -> str:
        # One connection's life: resubscribe, report OPEN, pump messages; return why it ended.
        self._ws = ws
        self.connections += 1
        try:
            if self._on_open is not None:
                await self._on_open(ws)
            self._log.info("ws.connected", url=_safe(url), connections=self.connections)
            self._on_state(ConnectionState.OPEN, None)
            try:
                async with asyncio.timeout(self._max_age):
                    await self._pump(ws)
            except TimeoutError:
                self.renewals += 1
                return "max_age"
            return "closed by peer"
        except ConnectionClosed as exc:
            return f"closed: {exc.rcvd.code if exc.rcvd else 'no close frame'}"
        except VenueUnavailable as exc:  # on_open could not complete (e.g. a subscribe failed)
            return f"open failed: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - a bug or garbage in on_open: reconnect, never end the session
            self._log.exception("ws.open_failed", url=_safe(url))
            return f"open failed: {type(exc).__name__}"
        finally:
            self._ws = None
            await ws.close()

    async def _pump(self, ws: ClientConnection) -> None:
        on_message = self._on_message
        async for message in ws:
            try:
                on_message(message)
            except Exception:  # noqa: BLE001 - one bad frame must not end the connection; logged below
                self.message_errors += 1
                if self.message_errors <= 10 or self.message_errors % 1000 == 0:
                    self._log.exception("ws.message_failed", errors=self.message_errors,
                                        message=message[:500] if isinstance(message, str) else None)


def _safe(url: str) -> str:
    # Stream URLs carry no secrets, but a listen key is one: log only scheme, host and path.
    return url.split("?", 1)[0]


def _safe_error(exc: BaseException) -> str:
    """`repr(exc)` without query strings: some connect errors quote the whole URI (a listen key in it)."""
    return re.sub(r"\?[^\s'\"]*", "?…", repr(exc))
