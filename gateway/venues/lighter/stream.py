"""Lighter's WebSocket (``/stream``): the market cache's order books and the account's orders and trades.

Frames (fact sheet §7): the server greets with ``{"type":"connected"}``; a client subscribes with
``{"type":"subscribe","channel":"order_book/0"}`` (account channels add ``"auth": <token>``); the
server answers ``subscribed/<channel>`` with a snapshot, then ``update/<channel>`` frames, writing the
channel with a colon (``order_book:0``). It may send ``{"type":"ping"}`` (we answer pong) and idles a
silent connection out after 2 minutes (our client pings).

Routing is on the parsed ``type`` / ``channel`` fields, never on substrings of the raw frame. A frame
that cannot be read is logged (its first 200 characters at debug) and skipped; the connection stays.
The account channels' payloads are keyed by market index per asyncapi's text but shown as lists in its
schema (unverified): both are read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from gateway.core.enums import ConnectionState
from gateway.core.errors import GatewayError, VenueUnavailable
from gateway.venues.common.ws import ResilientWebSocket

__all__ = ["LighterStream", "flatten"]

log = structlog.get_logger("gateway.venues.lighter")

_MAX_ERRORS = 20

Handler = Callable[[str, dict[str, Any], bool], None]  # (channel name, frame, is_snapshot)


def flatten(value: Any) -> list[dict[str, Any]]:
    """Return the items of a list, or of a dict of lists keyed by market (both shapes are seen)."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        out: list[dict[str, Any]] = []
        for item in value.values():
            out += flatten(item)
        return out
    return []


class LighterStream:
    """One WebSocket connection carrying the session's channels.

    Args:
        venue: the venue name.
        url: the stream URL.
        channels: the channels to subscribe, e.g. ``order_book/0``, ``account_all_orders/7``.
        on_frame: called with (channel base name, frame, snapshot?) of every data frame.
        auth: returns a fresh auth token for account channels (None: public channels only).
        on_state: told OPEN / RECONNECTING.
    """

    def __init__(self, venue: str, url: str, channels: list[str], on_frame: Handler, *,
                 auth: Callable[[], Awaitable[str]] | None = None,
                 on_state: Callable[[ConnectionState, str | None], None] | None = None,
                 ping_interval_s: float | None = 30.0):
        self.venue = venue
        self.channels = channels
        self._on_frame = on_frame
        self._auth = auth
        self.frames = 0
        self.bad_frames = 0
        self.errors: list[dict[str, Any]] = []  # the last error frames (at most _MAX_ERRORS), for status and tests
        self.resubscriptions = 0
        self.renewed = asyncio.Event()  # set after each token renewal (status, tests)
        self.opened = asyncio.Event()  # set once a connection has subscribed everything
        self._on_state = on_state
        self.ws = ResilientWebSocket(f"{venue}:stream", venue, lambda: url, self._on_message, on_open=self._on_open,
                                     on_state=self._state, ping_interval_s=ping_interval_s)
        self._conn: ClientConnection | None = None
        self._sends: set[asyncio.Task[None]] = set()  # pongs in flight (kept, cancelled when the stream stops)

    async def run(self) -> None:
        try:
            await self.ws.run()
        finally:
            self._conn = None
            sends, self._sends = list(self._sends), set()
            for task in sends:
                task.cancel()
            await asyncio.gather(*sends, return_exceptions=True)

    def _state(self, state: ConnectionState, reason: str | None) -> None:
        if state is not ConnectionState.OPEN:
            self._conn = None  # the connection dropped: nothing may be sent on it any more
        if self._on_state is not None:
            self._on_state(state, reason)

    async def _on_open(self, conn: ClientConnection) -> None:
        self._conn = conn
        token = None
        for channel in self.channels:
            message: dict[str, Any] = {"type": "subscribe", "channel": channel}
            if channel.startswith("account_") and self._auth is not None:
                try:
                    token = token or await self._auth()
                except (GatewayError, ConnectionClosed):
                    raise
                except Exception as exc:  # e.g. a SigningError: this connection fails, the next one retries
                    log.warning("lighter.stream_auth_failed", error=repr(exc)[:200], exc_info=True)
                    raise VenueUnavailable(f"lighter stream: no auth token ({exc})", venue=self.venue) from exc
                message["auth"] = token
            await conn.send(orjson.dumps(message).decode())
        self.opened.set()

    async def resubscribe_account(self) -> None:
        """Renew the account subscriptions with a fresh token (before the old one expires)."""
        if self._conn is None or self._auth is None:
            return
        token = await self._auth()
        conn = self._conn  # read after the await: the connection may have dropped meanwhile
        if conn is None:
            return  # the next connection subscribes with a fresh token anyway
        self.resubscriptions += 1
        for channel in self.channels:
            if channel.startswith("account_"):
                await conn.send(orjson.dumps({"type": "subscribe", "channel": channel, "auth": token}).decode())
        self.renewed.set()

    def _on_message(self, raw: str | bytes) -> None:
        try:
            frame = orjson.loads(raw)
            if not isinstance(frame, dict):
                raise TypeError("not an object")
            kind = str(frame.get("type", ""))
        except (orjson.JSONDecodeError, TypeError):
            self.bad_frames += 1
            log.warning("lighter.stream_bad_frame", frame=str(raw)[:200])
            return
        if kind == "ping":
            if self._conn is not None:
                self._send_soon('{"type":"pong"}')
            return
        if kind in ("connected", "pong"):
            return
        if kind == "error":
            self.errors = [*self.errors[-(_MAX_ERRORS - 1):], frame]
            log.warning("lighter.stream_error", code=frame.get("code"), message=frame.get("message"))
            return
        prefix, _, _ = kind.partition("/")
        if prefix not in ("subscribed", "update"):
            return
        channel = str(frame.get("channel", ""))
        base = channel.replace(":", "/").split("/", 1)[0]
        self.frames += 1
        try:
            self._on_frame(base, frame, prefix == "subscribed")
        except Exception:
            self.bad_frames += 1
            log.warning("lighter.stream_frame_failed", channel=channel, frame=str(raw)[:200], exc_info=True)

    def _send_soon(self, text: str) -> None:
        conn = self._conn
        if conn is not None:
            task = asyncio.get_running_loop().create_task(_quiet_send(conn, text), name="lighter-stream-send")
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)


async def _quiet_send(conn: ClientConnection, text: str) -> None:
    try:
        await conn.send(text)
    except ConnectionClosed:
        pass  # a pong to a closing connection does not matter
    except Exception:  # logged: a failed send is worth a line, not a dead stream
        log.warning("lighter.stream_send_failed", text=text[:100], exc_info=True)
