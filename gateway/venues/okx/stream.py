"""One OKX WebSocket connection (public, private or business): login, subscriptions, text ping/pong,
request/reply operations. Built on the shared `ResilientWebSocket` (reconnect with backoff).

Fact sheet §6:
- after each connect: ``login`` (private / business; the ack is awaited before anything else), then
  every subscription is sent again (OKX keeps no subscription across connections);
- heartbeat: OKX drops a connection silent for 30 s and does not rely on protocol pings; after
  ``ping_after_s`` without a message the literal text ``ping`` is sent, and if still nothing (not even
  ``pong``) arrives within another ``ping_after_s`` the connection is renewed;
- ``{"event":"notice","code":"64008"}`` announces a service-upgrade disconnect: renew at once;
- order operations (``op`` order / cancel-order / amend-order / batch-...) carry an ``id``; the reply
  with that id resolves the caller. A reply that never comes, or a drop while waiting, raises
  `VenueTimeout` (the outcome is unknown); an ``event: error`` without an id fails nothing pending.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
import structlog
from websockets.asyncio.client import ClientConnection

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import VenueRejected, VenueTimeout, VenueUnavailable
from gateway.venues.common.retry import Backoff
from gateway.venues.common.ws import ResilientWebSocket
from gateway.venues.okx.auth import Credentials, login_args

__all__ = ["OkxSocket"]

PushHandler = Callable[[dict[str, Any]], None]
OpenedHook = Callable[[bool], Awaitable[None]]  # (reconnected) -> None


def _key(arg: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in arg.items()))


class OkxSocket:
    """Keep one OKX WebSocket connection logged in and subscribed.

    Args:
        name: ``public`` | ``private`` | ``business`` (for logs and states).
        venue: the venue name errors carry.
        url: the connection URL.
        on_push: called with every data push (``{"arg": ..., "data": [...]}``); must not block.
        clock: local time (login stamp), with `offset_ms` server time = local + offset.
        credentials: log in after each connect (None: a public connection).
        on_state: told (name, state, reason) on each open and drop.
        on_opened: awaited after login and resubscription with ``reconnected`` (False the first time).
    """

    def __init__(self, name: str, venue: str, url: str, on_push: PushHandler, clock: Clock, *,
                 offset_ms: Callable[[], int] = lambda: 0, credentials: Credentials | None = None,
                 on_state: Callable[[str, ConnectionState, str | None], None] | None = None,
                 on_opened: OpenedHook | None = None, backoff: Backoff | None = None,
                 rng: random.Random | None = None, ping_after_s: float = 20.0, login_timeout_s: float = 10.0):
        self.name = name
        self.venue = venue
        self._url = url
        self._on_push = on_push
        self._clock = clock
        self._offset_ms = offset_ms
        self._credentials = credentials
        self._on_state = on_state or (lambda n, s, r: None)
        self._on_opened = on_opened
        self._ping_after = ping_after_s
        self._login_timeout = login_timeout_s
        self._subscriptions: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._last_rx = 0.0
        self._opened_once = False
        self.logged_in = False
        self.bad_frames = 0
        self.errors: list[dict[str, Any]] = []  # the last error events (bounded), for status and tests
        self._tasks: set[asyncio.Task[None]] = set()  # on_opened hooks and renewals in flight
        self.task_failures = 0
        self.connection = ResilientWebSocket(
            f"okx:{name}", venue, lambda: self._url, self._on_raw, on_open=self._opened, on_state=self._state,
            backoff=backoff or Backoff(), rng=rng, ping_interval_s=None, ping_timeout_s=None)
        self._log = structlog.get_logger("gateway.venues.okx.stream").bind(venue=venue, connection=name)

    @property
    def is_open(self) -> bool:
        return self.connection.is_open

    async def run(self) -> None:
        """Keep the connection (and its heartbeat) up until cancelled."""
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"okx-heartbeat:{self.venue}:{self.name}")
        try:
            await self.connection.run()
        finally:
            heartbeat.cancel()
            self._fail_pending("the connection closed")
            tasks, self._tasks = [heartbeat, *self._tasks], set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- subscriptions ------------------------------------------------------------------------------

    def add_subscription(self, arg: dict[str, Any]) -> None:
        """Remember `arg` (sent at the next connect; use `subscribe` to send it now too)."""
        self._subscriptions[_key(arg)] = arg

    async def subscribe(self, args: list[dict[str, Any]]) -> None:
        for arg in args:
            self.add_subscription(arg)
        if self.is_open:
            await self._send({"op": "subscribe", "args": args})

    async def resubscribe(self, arg: dict[str, Any]) -> None:
        """Unsubscribe and subscribe `arg` again: OKX answers a subscribe with a fresh snapshot."""
        if not self.is_open:
            return  # the next connect subscribes anyway
        await self._send({"op": "unsubscribe", "args": [arg]})
        await self._send({"op": "subscribe", "args": [arg]})

    # --- operations ---------------------------------------------------------------------------------

    async def request(self, op: str, args: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
        """Send ``{"id", "op", "args"}`` and return the reply with that id.

        Raises:
            VenueUnavailable: not connected (nothing was sent).
            VenueTimeout: sent, but no reply in time or the connection dropped (outcome unknown).
        """
        if not self.is_open or (self._credentials is not None and not self.logged_in):
            raise VenueUnavailable(f"okx:{self.name} is not connected", venue=self.venue)
        request_id = f"{op.replace('-', '')[:12]}{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._send({"id": request_id, "op": op, "args": args})
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise VenueTimeout(f"okx:{self.name} {op}: no reply in {timeout_s}s; the outcome is unknown",
                               venue=self.venue) from None
        finally:
            self._pending.pop(request_id, None)

    async def _send(self, message: dict[str, Any]) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    # --- connection life ----------------------------------------------------------------------------

    async def _opened(self, ws: ClientConnection) -> None:
        self._last_rx = asyncio.get_running_loop().time()
        self.logged_in = False
        if self._credentials is not None:
            await self._login(ws)
        if self._subscriptions:
            await ws.send(orjson.dumps({"op": "subscribe", "args": list(self._subscriptions.values())}).decode())
        reconnected, self._opened_once = self._opened_once, True
        if self._on_opened is not None:
            self._spawn(self._on_opened(reconnected), f"okx-opened:{self.venue}:{self.name}")

    async def _login(self, ws: ClientConnection) -> None:
        assert self._credentials is not None
        now = self._clock.now_ms() + self._offset_ms()
        await ws.send(orjson.dumps({"op": "login", "args": [login_args(self._credentials, now)]}).decode())
        try:
            async with asyncio.timeout(self._login_timeout):
                while True:
                    raw = await ws.recv()
                    if raw == "pong":
                        continue
                    try:
                        frame = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        self.bad_frames += 1
                        continue
                    event = frame.get("event") if isinstance(frame, dict) else None
                    if event == "login" and str(frame.get("code", "0")) == "0":
                        self.logged_in = True
                        self._log.info("ws.logged_in", conn_id=frame.get("connId"))
                        return
                    if event == "error":
                        self._remember_error(frame)
                        raise VenueUnavailable(f"okx:{self.name} login failed: {frame.get('code')} "
                                               f"{frame.get('msg')}", venue=self.venue)
                    if isinstance(frame, dict):
                        self._dispatch(frame)
        except TimeoutError:
            raise VenueUnavailable(f"okx:{self.name}: no login answer in {self._login_timeout}s",
                                   venue=self.venue) from None

    def _state(self, state: ConnectionState, reason: str | None) -> None:
        if state is not ConnectionState.OPEN:
            self.logged_in = False
            self._fail_pending(reason or "dropped")
        self._on_state(self.name, state, reason)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(VenueTimeout(f"okx:{self.name} dropped before the reply ({reason}); the "
                                                  "outcome is unknown", venue=self.venue))

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        pinged = False
        while True:
            await asyncio.sleep(self._ping_after / 2)
            if not self.is_open:
                pinged = False
                continue
            idle = loop.time() - self._last_rx
            if idle >= 2 * self._ping_after and pinged:
                self._log.warning("ws.silent", idle_s=round(idle, 1))
                pinged = False
                await self.connection.reconnect("no pong")
            elif idle >= self._ping_after and not pinged:
                try:
                    await self.connection.send("ping")
                    pinged = True
                except VenueUnavailable:
                    pinged = False
            elif idle < self._ping_after:
                pinged = False

    # --- inbound ------------------------------------------------------------------------------------

    def _on_raw(self, raw: str | bytes) -> None:
        self._last_rx = asyncio.get_running_loop().time()
        if raw == "pong" or raw == b"pong":
            return
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.bad_frames += 1
            self._log.warning("ws.bad_frame", frame=str(raw)[:300])
            return
        if not isinstance(frame, dict):
            self.bad_frames += 1
            self._log.warning("ws.bad_frame", frame=str(raw)[:300])
            return
        self._dispatch(frame)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        event = frame.get("event")
        if "data" in frame and "arg" in frame and event is None:
            self._on_push(frame)
            return
        request_id = frame.get("id")
        if request_id is not None and ("op" in frame or event == "error"):
            future = self._pending.get(str(request_id))
            if future is not None and not future.done():
                future.set_result(frame)
            return
        if event == "error":
            self._remember_error(frame)
            self._log.warning("ws.error_event", code=frame.get("code"), msg=str(frame.get("msg"))[:200])
        elif event == "notice" and str(frame.get("code")) == "64008":
            self._log.info("ws.service_upgrade_notice")
            self._spawn(self.connection.reconnect("service upgrade notice"), f"okx-renew:{self.venue}:{self.name}")
        elif event not in ("subscribe", "unsubscribe", "login", "channel-conn-count", "notice"):
            self._log.debug("ws.unhandled", frame=str(frame)[:200])

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        # Kept until done (a task only the loop references may be collected mid-flight), cancelled when the
        # socket stops, and a failure is logged rather than lost in "exception was never retrieved".
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.task_failures += 1
            self._log.error("ws.task_failed", task=task.get_name(), exc_info=task.exception())

    def _remember_error(self, frame: dict[str, Any]) -> None:
        self.errors = [*self.errors[-19:], frame]


def reply_error(venue: str, op: str, reply: dict[str, Any]) -> VenueRejected | None:
    """Return the error of a request-level failed reply (``code`` not 0/1/2, e.g. 60013), else None."""
    code = str(reply.get("code", "0"))
    if code in ("0", "1", "2"):
        return None
    return VenueRejected(f"okx ws {op}: {code} {reply.get('msg')}", venue=venue, venue_code=code,
                         venue_message=str(reply.get("msg") or ""))
