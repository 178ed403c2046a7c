"""Binance user data: the futures listenKey stream and the spot WebSocket-API subscription.

usdm (fact sheet §4.1): ``POST /fapi/v1/listenKey`` gives a key valid 60 min (POST again returns the
active key and extends it); ``PUT`` every ``listen_key_keepalive_s`` keeps it; a PUT answered -1125, or a
``listenKeyExpired`` event, gets a new key from POST and the connection is renewed with it. The stream is
``<stream_private>/ws?listenKey=<key>`` (§0.4: the ``/private`` host since 2026-04-23). Every (re)connect
POSTs first, so a key that expired while the connection was down is replaced before events are trusted.

spot (§3.2): the listenKey is retired; the WebSocket API connection subscribes with
``userDataStream.subscribe.signature`` (apiKey, timestamp, signature over the sorted params: §1.4; any key
type), or, with an Ed25519 key (and ``ws_session_logon``), ``session.logon`` then ``userDataStream.subscribe``
(§1.5, §3.2 option A); events come as ``{"subscriptionId", "event"}``.
``eventStreamTerminated`` renews the connection.

Both report `OPEN` / `RECONNECTING` as connection ``user``; the session tells the gateway, whose order
service then reconciles (open orders, orders and fills since the last event), so nothing that happened
while the stream was down is lost. The watchdog flags a stream silent for ``user_stream_silence_s``
(`UserStream.status`) and, with ``user_stream_silence_action: reconnect``, renews it (which reconciles).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from websockets.asyncio.client import ClientConnection

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.core.errors import GatewayError, VenueRejected, VenueUnavailable
from gateway.core.ports import VenueSink
from gateway.venues.binance.auth import Signer, sign_ws_params
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.binance.instruments import SymbolMap
from gateway.venues.binance.rest import BinanceRest
from gateway.venues.binance.user_parse import (
    AlgoLinks,
    account_update_events,
    algo_event_update,
    execution_report_events,
    futures_order_events,
    outbound_balances,
)
from gateway.venues.binance.user_schemas import (
    AccountConfigUpdate,
    AccountUpdate,
    AlgoUpdate,
    ExecutionReport,
    FuturesOrderUpdate,
    ListenKeyExpired,
    OutboundAccountPosition,
    StreamTerminated,
    decode_user_event,
)
from gateway.venues.binance.wslogon import logon_request, session_logon, uses_session_logon
from gateway.venues.common.retry import Backoff
from gateway.venues.common.timesync import TimeOffset
from gateway.venues.common.ws import ResilientWebSocket

__all__ = ["FuturesUserStream", "SpotUserStream", "UserEvents", "UserStream"]

INVALID_LISTEN_KEY = -1125


class UserEvents:
    """Decoded user-data events -> the gateway's user events, pushed to the sink (the pure parse is in
    `user_parse`; this holds the session's lookups: symbols, algo links, leverage)."""

    def __init__(self, venue: str, symbols: Callable[[], SymbolMap], links: AlgoLinks, leverage: dict[str, int],
                 sink: Callable[[], VenueSink], clock: Clock):
        self._venue = venue
        self._symbols = symbols
        self._links = links
        self._leverage = leverage
        self._sink = sink
        self._clock = clock
        self.events = 0
        self.skipped = 0  # events of symbols outside the configuration

    def handle(self, event: object) -> None:
        recv_ts = self._clock.now_ms()
        on_user = self._sink().on_user
        self.events += 1
        if isinstance(event, ExecutionReport):
            symbol = self._unified(event.s)
            if symbol is not None:
                update, fill = execution_report_events(event, self._venue, symbol, recv_ts)
                on_user(update)
                if fill is not None:
                    on_user(fill)
        elif isinstance(event, FuturesOrderUpdate):
            symbol = self._unified(event.o.s)
            if symbol is not None:
                update, fill = futures_order_events(event, self._venue, symbol, recv_ts)
                on_user(self._links.rewrite(update))  # type: ignore[arg-type]
                if fill is not None:
                    on_user(self._links.rewrite(fill))  # type: ignore[arg-type]
        elif isinstance(event, AlgoUpdate):
            self._links.learn(event.o.ai, event.o.aid, event.o.caid)
            symbol = self._unified(event.o.s)
            update = algo_event_update(event.o, event.T, self._venue, symbol, recv_ts) if symbol else None
            if update is not None:
                on_user(update)
        elif isinstance(event, AccountUpdate):
            natives = {self._symbols().native(s): s for s in self._symbols().unified_symbols()}
            for item in account_update_events(event, self._venue, natives, self._leverage, 0):
                on_user(item)
        elif isinstance(event, AccountConfigUpdate):
            symbol = self._unified(event.s) if event.s else None
            if symbol is not None and event.l:
                self._leverage[symbol] = int(event.l)
        elif isinstance(event, OutboundAccountPosition):
            for balance in outbound_balances(event, self._venue):
                on_user(balance)

    def _unified(self, native: str) -> str | None:
        try:
            return self._symbols().unified(native)
        except KeyError:
            self.skipped += 1
            return None


class UserStream:
    """What both user streams share: the connection, message decoding, the watchdog, the status."""

    def __init__(self, venue: str, settings: BinanceSettings, events: UserEvents, clock: Clock,
                 on_state: Callable[[str, ConnectionState, str | None], None], rng: random.Random):
        self._venue = venue
        self._settings = settings
        self._events = events
        self._clock = clock
        self._on_state_change = on_state
        self._rng = rng
        self.state = ConnectionState.CONNECTING
        self.last_message_ms: int | None = None
        self.silent = False
        self.silences = 0
        self.rotations = 0
        self.bad_frames = 0
        self._log = structlog.get_logger("gateway.venues.binance.userdata").bind(venue=venue)
        self.connection = ResilientWebSocket(
            f"{venue}:user", venue, self.url, self._on_raw, on_open=self._opened, on_state=self._state,
            backoff=Backoff(settings.backoff_base_s, settings.backoff_cap_s, floor_s=min(0.05, settings.backoff_base_s)),
            rng=rng, ping_interval_s=settings.ws_ping_interval_s, ping_timeout_s=settings.ws_ping_timeout_s,
            open_timeout_s=settings.request_timeout_s, max_age_s=settings.ws_max_age_s,
        )

    def url(self) -> str:
        raise NotImplementedError

    async def _opened(self, ws: ClientConnection) -> None:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        """The stream's state for /status: state, last event age, silent flag, counters."""
        now = self._clock.now_ms()
        return {"state": str(self.state), "silent": self.silent, "silences": self.silences,
                "last_message_age_ms": None if self.last_message_ms is None else now - self.last_message_ms,
                "key_rotations": self.rotations, "connections": self.connection.connections,
                "events": self._events.events}

    def _state(self, state: ConnectionState, reason: str | None) -> None:
        self.state = state
        if state is ConnectionState.OPEN:
            self.last_message_ms = self._clock.now_ms()
        self._on_state_change("user", state, reason)

    def _on_raw(self, raw: str | bytes) -> None:
        self.last_message_ms = self._clock.now_ms()
        if self.silent:
            self.silent = False
            self._log.info("userdata.alive_again")
        self._on_frame(orjson.loads(raw))

    def _on_frame(self, frame: dict[str, Any]) -> None:
        self._dispatch(frame)

    def _dispatch(self, data: dict[str, Any]) -> None:
        try:
            event = decode_user_event(data)
        except (KeyError, TypeError, ValueError):
            self.bad_frames += 1
            self._log.warning("userdata.bad_frame", frame=str(data)[:500])
            return
        if isinstance(event, ListenKeyExpired):
            self._log.warning("userdata.listen_key_expired")
            self._on_expired()
        elif isinstance(event, StreamTerminated):
            self._log.warning("userdata.stream_terminated")
            self._on_expired()
        elif event is not None:
            self._events.handle(event)

    def _on_expired(self) -> None:
        raise NotImplementedError

    async def watchdog(self) -> None:
        """Flag (and, per the settings, renew) a stream silent for ``user_stream_silence_s``. Runs forever."""
        limit = self._settings.user_stream_silence_s
        if limit is None:
            return
        period = max(0.05, min(limit / 4, 5.0))
        while True:
            await asyncio.sleep(period)
            last = self.last_message_ms
            if self.state is not ConnectionState.OPEN or last is None or self.silent:
                continue
            if self._clock.now_ms() - last >= limit * 1000:
                self.silent = True
                self.silences += 1
                self._log.warning("userdata.silent", silent_s=limit, action=self._settings.user_stream_silence_action)
                if self._settings.user_stream_silence_action == "reconnect":
                    await self.connection.reconnect("silent user stream")


class FuturesUserStream(UserStream):
    """The usdm listenKey stream (see the module docstring)."""

    def __init__(self, venue: str, settings: BinanceSettings, base_url: str, rest: BinanceRest, events: UserEvents,
                 clock: Clock, on_state: Callable[[str, ConnectionState, str | None], None], rng: random.Random):
        super().__init__(venue, settings, events, clock, on_state, rng)
        self._base = base_url.rstrip("/")
        self._rest = rest
        self.listen_key: str | None = None
        self._rotate = asyncio.Event()

    def url(self) -> str:
        return f"{self._base}/ws?listenKey={self.listen_key}"

    async def run(self) -> None:
        """Get a key, then keep the connection, the keepalive and the watchdog going until cancelled."""
        backoff = Backoff(self._settings.backoff_base_s, self._settings.backoff_cap_s)
        attempt = 0
        while self.listen_key is None:
            try:
                self.listen_key = await self._new_key()
            except GatewayError as exc:
                attempt += 1
                self._log.warning("userdata.listen_key_failed", error=exc.message, attempt=attempt)
                await asyncio.sleep(backoff.delay(attempt, self._rng))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._connection(backoff), name=f"binance-user:{self._venue}")
            tg.create_task(self._keepalive(), name=f"binance-listenkey:{self._venue}")
            tg.create_task(self.watchdog(), name=f"binance-user-watchdog:{self._venue}")

    async def _connection(self, backoff: Backoff) -> None:
        attempt = 0
        while True:
            try:
                await self.connection.run()
            except VenueUnavailable as exc:  # a refused handshake: the key may be gone; get one and retry
                attempt += 1
                self._log.warning("userdata.connect_refused", error=exc.message)
                self._rotate.set()
                await asyncio.sleep(backoff.delay(attempt, self._rng))

    async def _new_key(self) -> str:
        data = await self._rest.call("POST", "/fapi/v1/listenKey", {}, weight=1, api_key_only=True)
        return str(data["listenKey"])

    async def _opened(self, ws: ClientConnection) -> None:
        # POST returns the active key (extended) or a new one: a new one means this connection is stale.
        try:
            key = await self._new_key()
        except GatewayError as exc:
            raise VenueUnavailable(f"listenKey: {exc.message}", venue=self._venue) from exc
        if key != self.listen_key:
            self.listen_key = key
            self.rotations += 1
            raise VenueUnavailable("listen key replaced: reconnecting with the new one", venue=self._venue)

    def _on_expired(self) -> None:
        self._rotate.set()

    async def _keepalive(self) -> None:
        period = self._settings.listen_key_keepalive_s
        while True:
            try:
                await asyncio.wait_for(self._rotate.wait(), period)
            except TimeoutError:
                try:
                    await self._rest.call("PUT", "/fapi/v1/listenKey", {}, weight=1, api_key_only=True)
                    continue
                except VenueRejected as exc:
                    if exc.venue_code != INVALID_LISTEN_KEY:
                        self._log.warning("userdata.keepalive_failed", error=exc.message)
                        continue
                except GatewayError as exc:
                    self._log.warning("userdata.keepalive_failed", error=exc.message)
                    continue
            self._rotate.clear()
            try:
                self.listen_key = await self._new_key()
            except GatewayError as exc:
                self._log.warning("userdata.listen_key_failed", error=exc.message)
                await asyncio.sleep(self._settings.backoff_base_s)
                self._rotate.set()
                continue
            self.rotations += 1
            self._log.info("userdata.listen_key_rotated", rotations=self.rotations)
            await self.connection.reconnect("listen key rotated")


class SpotUserStream(UserStream):
    """The spot WebSocket-API user-data subscription (see the module docstring)."""

    def __init__(self, venue: str, settings: BinanceSettings, ws_api_url: str, api_key: str, signer: Signer,
                 offset: TimeOffset, events: UserEvents, clock: Clock,
                 on_state: Callable[[str, ConnectionState, str | None], None], rng: random.Random,
                 resync_time: Callable[[], Any] | None = None):
        super().__init__(venue, settings, events, clock, on_state, rng)
        self._url = ws_api_url
        self._api_key = api_key
        self._signer = signer
        self._offset = offset
        self._resync = resync_time
        self._ids = itertools.count(1)
        self._renew = asyncio.Event()
        self.subscription_id: int | None = None
        self.logons = 0

    def url(self) -> str:
        return self._url

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.connection.run(), name=f"binance-user:{self._venue}")
            tg.create_task(self.watchdog(), name=f"binance-user-watchdog:{self._venue}")
            tg.create_task(self._renewer(), name=f"binance-user-renew:{self._venue}")

    async def _opened(self, ws: ClientConnection) -> None:
        now = self._offset.server_now(self._clock.now_ms())
        rid = f"sub-{next(self._ids)}"
        if uses_session_logon(self._signer, self._settings.ws_session_logon):  # Ed25519: logon, then subscribe
            logon = logon_request(f"logon-{next(self._ids)}", self._api_key, self._signer, now,
                                  self._settings.recv_window_ms)
            await session_logon(ws, logon, self._venue, self._settings.ws_api_timeout_s, self._on_frame)
            self.logons += 1
            request: dict[str, Any] = {"id": rid, "method": "userDataStream.subscribe"}
        else:
            params: dict[str, object] = {"apiKey": self._api_key, "timestamp": now,
                                         "recvWindow": self._settings.recv_window_ms}
            request = {"id": rid, "method": "userDataStream.subscribe.signature",
                       "params": sign_ws_params(params, self._signer)}
        await ws.send(orjson.dumps(request).decode())
        async with asyncio.timeout(self._settings.ws_api_timeout_s):
            while True:
                frame = orjson.loads(await ws.recv())
                if frame.get("id") != rid:
                    self._on_frame(frame)
                    continue
                if frame.get("status") == 200:
                    self.subscription_id = (frame.get("result") or {}).get("subscriptionId")
                    return
                error = frame.get("error") or {}
                if error.get("code") == -1021 and self._resync is not None:
                    await self._resync()
                raise VenueUnavailable(f"userDataStream.subscribe.signature refused: {error}", venue=self._venue,
                                       venue_code=error.get("code"), venue_message=error.get("msg"))

    def _on_frame(self, frame: dict[str, Any]) -> None:
        event = frame.get("event")
        if isinstance(event, dict):
            self._dispatch(event)

    def _on_expired(self) -> None:
        self._renew.set()

    async def _renewer(self) -> None:
        while True:
            await self._renew.wait()
            self._renew.clear()
            await self.connection.reconnect("user data subscription terminated")
