"""The QE user stream: a listen key kept alive, the WebSocket kept connected, a REST catch-up after each
(re)connect, every report folded through one `Tracker` (dedupe) before it is emitted.

Unlike the official SDK (fact sheet §8: it never reconnects an established socket, and reuses the key):

- **Listen key** (§7): there is no refresh endpoint, so a new key is created `renew_before_s` before
  ``expireAt`` and the socket is renewed onto it (break-then-make; the catch-up covers the gap). A
  handshake refused with a 4xx (the key expired or was revoked early) also gets a fresh key.
- **Connection**: `common.ws.ResilientWebSocket` (protocol pings, backoff with jitter, reconnect after
  any drop). The key is read per attempt, so a reconnect after a renewal uses the new one.
- **Catch-up**: `on_open` runs before any frame of the new connection is read (they wait in the
  socket's buffer): running parents and the most recent page of parents are read over REST, and the
  children of every parent that moved; then the buffered frames are folded. The `Tracker` drops what
  either source repeats, so nothing is lost in the gap and nothing is told twice. One unreadable record
  of a page is logged (its first 200 characters), counted (`bad_records`) and skipped.
- **Failures** of the key call (refused, unreadable: `QeRest` maps both to `VenueUnavailable`), of the
  handshake or anything else are logged and backed off; `run` ends only when cancelled.
- **Bad frames** (not JSON, wrong types) are logged with the frame, counted, and trigger a catch-up: the
  update they carried is read back over REST.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from websockets.asyncio.client import ClientConnection

from gateway.core.algo_ports import AlgoEvent
from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import GatewayError, VenueUnavailable
from gateway.venues.common.retry import Backoff
from gateway.venues.common.ws import ResilientWebSocket
from gateway.venues.qe.rest import QeRest
from gateway.venues.qe.schemas import (
    QeFormatError,
    parse_child,
    parse_parent,
    parse_ws_frame,
    ws_payload,
)
from gateway.venues.qe.tracker import Tracker

__all__ = ["QeUserStream"]

_R = TypeVar("_R")

_OPEN_STATUS = "NEW"  # the list filter of running parents (aggregate; §5)


class QeUserStream:
    """Keep one QE user's stream alive and emit what it learns (see the module docstring).

    Args:
        venue: the venue name (logs, errors).
        rest: the session's REST client.
        ws_base: e.g. ``wss://test.quantumexecute.com``.
        ws_path: ``/api/ws/v2``.
        clock: wall-clock time (for the key's expiry).
        tracker: the dedupe / fold state.
        emit: called with every new event; must not block.
        on_state: told OPEN / RECONNECTING.
        renew_before_s: create a new key this long before ``expireAt``.
        backoff: delay policy of reconnects.
        ping_interval_s / ping_timeout_s: protocol pings.
        page_size: pageSize of the catch-up reads.
        max_parents: at most this many running parents per catch-up.
    """

    def __init__(self, venue: str, rest: QeRest, ws_base: str, ws_path: str, clock: Clock, tracker: Tracker,
                 emit: Callable[[AlgoEvent], None], on_state: Callable[[ConnectionState, str | None], None], *,
                 renew_before_s: float = 3_600.0, backoff: Backoff | None = None,
                 ping_interval_s: float | None = 5.0, ping_timeout_s: float | None = 10.0, page_size: int = 100,
                 max_parents: int = 500, rng: random.Random | None = None):
        self.venue = venue
        self._rest = rest
        self._ws_base = ws_base.rstrip("/")
        self._ws_path = ws_path
        self._clock = clock
        self.tracker = tracker
        self._emit = emit
        self._on_state = on_state
        self._renew_before_ms = int(renew_before_s * 1000)
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._page_size = page_size
        self._max_parents = max_parents
        self._key: str | None = None
        self._expire_ms = 0
        self._created_ms = 0
        self._ws = ResilientWebSocket(
            f"{venue}:user", venue, self._url, self._on_message, on_open=self._on_open, on_state=self._state,
            backoff=self._backoff, rng=self._rng, ping_interval_s=ping_interval_s, ping_timeout_s=ping_timeout_s)
        self._catchups: set[asyncio.Task[None]] = set()
        self.keys_created = 0
        self.key_renew_failures = 0
        self.bad_records = 0  # catch-up records that could not be read (logged, skipped)
        self.catchups = 0
        self.bad_frames = 0
        self.error_frames = 0
        self._log = structlog.get_logger("gateway.venues.qe.stream").bind(venue=venue)

    @property
    def is_open(self) -> bool:
        return self._ws.is_open

    @property
    def connections(self) -> int:
        return self._ws.connections

    @property
    def key_expire_ms(self) -> int:
        return self._expire_ms

    async def run(self) -> None:
        """Keep the stream up until cancelled: key, connect, catch up, fold; renew the key ahead of time."""
        keeper = asyncio.create_task(self._keep_key(), name=f"{self.venue}.listen_key")
        failures = 0
        try:
            while True:
                try:
                    if self._key is None:
                        await self._new_key()
                    await self._ws.run()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a refused handshake (key expired / revoked), a failed
                    # or refused key call (QeRest maps an unreadable answer to VenueUnavailable), or a bug:
                    # logged, backed off and retried, never a silently dead stream
                    failures += 1
                    self._key = None  # the next attempt gets a fresh key
                    delay = self._backoff.delay(failures, self._rng)
                    message = exc.message if isinstance(exc, GatewayError) else f"{type(exc).__name__}: {exc}"
                    self._log.warning("stream.restart", error=message[:300], attempt=failures,
                                      delay_s=round(delay, 3), exc_info=not isinstance(exc, GatewayError))
                    self._state(ConnectionState.RECONNECTING, message)
                    await asyncio.sleep(delay)
                else:  # pragma: no cover - ResilientWebSocket.run only returns by raising
                    failures = 0
        finally:
            keeper.cancel()
            for task in (keeper, *self._catchups):
                task.cancel()
            await asyncio.gather(keeper, *self._catchups, return_exceptions=True)

    async def renew_key(self, reason: str) -> None:
        """Create a new listen key now and move the socket onto it."""
        await self._new_key()
        await self._ws.reconnect(reason)

    async def catch_up(self) -> int:
        """Read running and recent parents, and the children of those that moved; fold and emit.

        Returns how many events it emitted.
        """
        self.catchups += 1
        moved: dict[str, bool] = {}
        seen = 0
        page = 1
        while seen < self._max_parents:
            data = await self._rest.list_master_orders(page=page, pageSize=self._page_size, status=_OPEN_STATUS)
            items = _items(data)
            for record in items:
                parent = self._read(parse_parent, record, "parent")
                if parent is None:
                    continue
                moved[parent.parent_id] = True  # running: its children may have moved without it
                self._fold(self.tracker.on_parent(parent))
            seen += len(items)
            if len(items) < self._page_size:
                break
            page += 1
        recent = _items(await self._rest.list_master_orders(page=1, pageSize=self._page_size))
        for record in recent:
            parent = self._read(parse_parent, record, "parent")
            if parent is not None and self._fold(self.tracker.on_parent(parent)):
                moved[parent.parent_id] = True
        emitted = 0
        for parent_id in moved:
            emitted += await self._catch_up_children(parent_id)
        return emitted

    async def _catch_up_children(self, parent_id: str) -> int:
        emitted = 0
        page = 1
        while True:
            data = await self._rest.order_fills(masterOrderId=parent_id, page=page, pageSize=self._page_size)
            items = _items(data)
            for record in items:
                child = self._read(parse_child, record, "child")
                if child is not None:
                    emitted += self._fold(self.tracker.on_child(child))
            if len(items) < self._page_size:
                return emitted
            page += 1

    def _read(self, parser: Callable[[Any], _R], record: Any, kind: str) -> _R | None:
        # One unreadable record of a catch-up page is logged, counted and skipped: the rest of the page
        # (and of the catch-up) goes on, so one bad row cannot fail every reconnect forever.
        try:
            return parser(record)
        except QeFormatError as exc:
            self.bad_records += 1
            self._log.warning("stream.bad_record", kind=kind, error=str(exc)[:200], record=str(record)[:200],
                              bad_records=self.bad_records)
            return None

    # --- the listen key -----------------------------------------------------------------------------------

    async def _new_key(self) -> None:
        key, expire_s = await self._rest.new_listen_key()  # a refused / unreadable answer: VenueUnavailable
        self._key, self._expire_ms, self._created_ms = key, expire_s * 1000, self._clock.now_ms()
        self.keys_created += 1
        self._log.info("stream.listen_key_created", expires_in_s=round((self._expire_ms - self._clock.now_ms()) / 1000))

    async def _keep_key(self) -> None:
        # Scheduling, not synchronization: wake when the key is due for renewal.
        renew_failures = 0
        while True:
            if self._key is None:
                await asyncio.sleep(0.05)
                continue
            # `renew_before_s` ahead of expireAt, but never before half the key's life: a key issued with
            # less life than the margin would otherwise be renewed again at once, in a storm.
            halfway = self._created_ms + (self._expire_ms - self._created_ms) // 2
            due = max(self._expire_ms - self._renew_before_ms, halfway) - self._clock.now_ms()
            if due > 0:
                await asyncio.sleep(min(due / 1000, 60.0))
                continue
            try:
                await self.renew_key("listen key renewal")
                renew_failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the keeper must outlive any one failed renewal
                renew_failures += 1
                self.key_renew_failures += 1
                self._log.warning("stream.listen_key_renew_failed", error=str(exc)[:200], attempt=renew_failures,
                                  exc_info=not isinstance(exc, GatewayError))
                await asyncio.sleep(self._backoff.delay(renew_failures, self._rng) or 0.1)

    def _url(self) -> str:
        return f"{self._ws_base}{self._ws_path}?listen_key={self._key or ''}"

    # --- the connection -----------------------------------------------------------------------------------

    async def _on_open(self, ws: ClientConnection) -> None:
        try:
            emitted = await self.catch_up()
        except (GatewayError, QeFormatError) as exc:
            raise VenueUnavailable(f"catch-up failed: {exc}", venue=self.venue) from exc
        self._log.info("stream.caught_up", emitted=emitted)

    def _state(self, state: ConnectionState, reason: str | None) -> None:
        self._on_state(state, reason)

    def _on_message(self, message: str | bytes) -> None:
        try:
            frame = parse_ws_frame(message)
            if frame is None or not self.tracker.is_new_message(frame.message_id):
                return
            if frame.type == "error":
                self.error_frames += 1
                self._log.warning("stream.error_frame", error=str(frame.data)[:200])
                return
            found = ws_payload(frame)
            if found is None:
                return  # status frames and unknown types carry no order state
            kind, record = found
            if kind == "master":
                self._fold(self.tracker.on_parent(parse_parent(record)))
            elif kind == "order":
                self._fold(self.tracker.on_child(parse_child(record)))
            else:
                self._fold(self.tracker.on_legacy_fill(parse_child(record)))
        except QeFormatError as exc:
            self.bad_frames += 1
            text = message if isinstance(message, str) else message.decode(errors="replace")
            self._log.warning("stream.bad_frame", error=str(exc), frame=text[:500])
            self._schedule_catch_up()

    def _schedule_catch_up(self) -> None:
        if self._catchups:
            return  # one is running; it reads the current state
        task = asyncio.create_task(self._guarded_catch_up(), name=f"{self.venue}.catch_up")
        self._catchups.add(task)
        task.add_done_callback(self._catchups.discard)

    async def _guarded_catch_up(self) -> None:
        try:
            await self.catch_up()
        except (GatewayError, QeFormatError) as exc:
            self._log.warning("stream.catch_up_failed", error=str(exc))
            await self._ws.reconnect("catch-up failed")  # the reconnect's catch-up tries again

    def _fold(self, events: list[AlgoEvent]) -> int:
        for event in events:
            try:
                self._emit(event)
            except Exception:  # noqa: BLE001 - a consumer's bug must not stop the stream
                self._log.exception("stream.emit_failed")
        return len(events)


def _items(data: Any) -> list[Any]:
    if isinstance(data, dict):
        items = data.get("items")
        if items is None:
            return []
        if isinstance(items, list):
            return items
    elif isinstance(data, list):
        return data
    raise QeFormatError("a list answer without an items list")
