"""The Binance dialect's market-stream connections: subscriptions, control messages and fan-out.

One `StreamHub` per market serves (fact sheet §6.1, §6.2):
- raw ``/ws/<s1>/<s2>`` (payloads as they are) and combined ``/stream?streams=<s1>/<s2>`` (wrapped as
  ``{"stream", "data"}``); for USD-M futures under ``/public`` and ``/market``, which deliver only the
  streams of their tier (depth and bookTicker on public, the rest on market: the 2026 split);
- control messages ``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY`` /
  ``GET_PROPERTY`` ``combined``, answered ``{"result": ..., "id": ...}``; more incoming messages per
  second than the market allows closes the connection;
- server pings (aiohttp heartbeat) and a cut-off at the maximum connection age.

Each client has a bounded outbound queue drained by its own writer; a client that falls behind is
disconnected, as Binance does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import orjson
import structlog
from aiohttp import WSMsgType, web

__all__ = ["StreamHub", "tier_of"]

log = structlog.get_logger("gateway.simserver.binance.streams")

_PUBLIC_CHANNELS = ("depth", "bookTicker", "rpiDepth")


def tier_of(stream: str) -> str:
    """Return ``public`` or ``market``: the USD-M futures path a stream is served on (§6.2)."""
    channel = stream.partition("@")[2]
    return "public" if channel.startswith(_PUBLIC_CHANNELS) else "market"


class _Client:
    __slots__ = ("combined", "queue", "request", "streams", "tier", "times", "writer", "ws")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, tier: str | None, combined: bool,
                 queue_limit: int):
        self.ws = ws
        self.request = request
        self.tier = tier
        self.combined = combined
        self.streams: set[str] = set()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(queue_limit)
        self.times: deque[float] = deque()
        self.writer: asyncio.Task[None] | None = None


class StreamHub:
    """The stream connections of one market.

    Args:
        futures: serve the USD-M tiers (``/public``, ``/market``) instead of spot's single host.
        ping_interval_s: server ping period (None: no pings).
        max_age_s: close connections at this age.
        max_incoming_per_s: incoming messages (control frames) allowed per second.
        queue_limit: outbound messages buffered per client before it is dropped as too slow.
    """

    def __init__(self, futures: bool, *, ping_interval_s: float | None, max_age_s: float | None,
                 max_incoming_per_s: int, queue_limit: int = 10_000):
        self.futures = futures
        self._ping = ping_interval_s
        self._max_age = max_age_s
        self._max_incoming = max_incoming_per_s
        self._queue_limit = queue_limit
        self._subs: dict[str, set[_Client]] = {}
        self.clients: set[_Client] = set()
        self.connections = 0  # accepted, ever
        self.sent = 0

    def has(self, stream: str) -> bool:
        """Return True if anyone is subscribed to `stream`."""
        return bool(self._subs.get(stream))

    def publish(self, stream: str, payload: dict[str, Any]) -> None:
        """Send `payload` to every subscriber of `stream` (on the right tier)."""
        clients = self._subs.get(stream)
        if not clients:
            return
        raw = combined = None
        for client in list(clients):
            if client.tier is not None and client.tier != tier_of(stream):
                continue
            if client.combined:
                if combined is None:
                    combined = orjson.dumps({"stream": stream, "data": payload}).decode()
                message = combined
            else:
                if raw is None:
                    raw = orjson.dumps(payload).decode()
                message = raw
            self._enqueue(client, message)

    def drop_all(self) -> int:
        """Abort every connection without a close frame (a network drop); return how many."""
        dropped = 0
        for client in list(self.clients):
            transport = client.request.transport
            if transport is not None:
                transport.abort()
                dropped += 1
        return dropped

    async def close_all(self, code: int = 1001) -> None:
        """Close every connection with `code` (1001: going away)."""
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                await client.ws.close(code=code)

    async def handle(self, request: web.Request, tier: str | None, streams: list[str], combined: bool
                     ) -> web.WebSocketResponse:
        """Serve one connection subscribed to `streams` from the start."""
        ws = web.WebSocketResponse(heartbeat=self._ping, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = _Client(ws, request, tier, combined, self._queue_limit)
        self.clients.add(client)
        self.connections += 1
        self._subscribe(client, streams)
        client.writer = asyncio.create_task(self._write(client), name="binance-dialect-writer")
        try:
            async with asyncio.timeout(self._max_age):
                async for msg in ws:
                    if msg.type is WSMsgType.TEXT:
                        if not self._within_rate(client):
                            await ws.close(code=1008, message=b"Too many messages")
                            break
                        self._control(client, msg.data)
                    elif msg.type is WSMsgType.ERROR:
                        break
        except TimeoutError:
            await ws.close(code=1000, message=b"max connection age")
        finally:
            self._forget(client)
            client.writer.cancel()
            await asyncio.wait({client.writer})
        return ws

    # --- internals ----------------------------------------------------------------------------------

    def _enqueue(self, client: _Client, message: str) -> None:
        try:
            client.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("dialect.slow_consumer", streams=len(client.streams))
            self._forget(client)
            transport = client.request.transport
            if transport is not None:
                transport.abort()

    async def _write(self, client: _Client) -> None:
        ws = client.ws
        while True:
            message = await client.queue.get()
            if message is None or ws.closed:
                return
            try:
                await ws.send_str(message)
            except (ConnectionError, RuntimeError):
                return
            self.sent += 1

    def _within_rate(self, client: _Client) -> bool:
        now = time.monotonic()
        times = client.times
        times.append(now)
        while times and now - times[0] > 1.0:
            times.popleft()
        return len(times) <= self._max_incoming

    def _subscribe(self, client: _Client, streams: list[str]) -> None:
        for stream in streams:
            client.streams.add(stream)
            self._subs.setdefault(stream, set()).add(client)

    def _unsubscribe(self, client: _Client, streams: list[str]) -> None:
        for stream in streams:
            client.streams.discard(stream)
            subs = self._subs.get(stream)
            if subs is not None:
                subs.discard(client)
                if not subs:
                    del self._subs[stream]

    def _forget(self, client: _Client) -> None:
        self._unsubscribe(client, list(client.streams))
        self.clients.discard(client)

    def _control(self, client: _Client, text: str) -> None:
        # §6.1 "Live Subscribing/Unsubscribing to streams".
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._enqueue(client, _reply_error(None, 3, "Invalid JSON: expected value at line 1 column 1"))
            return
        if not isinstance(request, dict):
            self._enqueue(client, _reply_error(None, 2, "Invalid request: request must be an object"))
            return
        rid = request.get("id")
        if not (rid is None or (isinstance(rid, int) and not isinstance(rid, bool))
                or (isinstance(rid, str) and len(rid) <= 36)):
            self._enqueue(client, _reply_error(None, 2, "Invalid request: invalid 'id'"))
            return
        method, params = request.get("method"), request.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self._enqueue(client, _reply_error(rid, 2, "Invalid request: 'params' must be a list of strings"))
                return
            if method == "SUBSCRIBE":
                if len(client.streams | set(params)) > 1024:
                    self._enqueue(client, _reply_error(rid, 2, "Invalid request: too many streams (1024)"))
                    return
                self._subscribe(client, params)
            else:
                self._unsubscribe(client, params)
            self._enqueue(client, orjson.dumps({"result": None, "id": rid}).decode())
        elif method == "LIST_SUBSCRIPTIONS":
            self._enqueue(client, orjson.dumps({"result": sorted(client.streams), "id": rid}).decode())
        elif method == "SET_PROPERTY" and isinstance(params, list) and len(params) == 2 and params[0] == "combined":
            if not isinstance(params[1], bool):
                self._enqueue(client, _reply_error(rid, 0, "Unknown property"))
                return
            client.combined = params[1]
            self._enqueue(client, orjson.dumps({"result": None, "id": rid}).decode())
        elif method == "GET_PROPERTY" and params == ["combined"]:
            self._enqueue(client, orjson.dumps({"result": client.combined, "id": rid}).decode())
        else:
            self._enqueue(client, _reply_error(rid, 2, f"Invalid request: unknown method {method!r}"))


def _reply_error(rid: object, code: int, msg: str) -> str:
    return orjson.dumps({"error": {"code": code, "msg": msg}, "id": rid}).decode()
