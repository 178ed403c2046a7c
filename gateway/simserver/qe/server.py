"""`QeDialect`: the sim exchange served as Quantum Execute (REST envelope, signatures, listen keys, WS).

One funded user (API key -> secret) with bound exchange accounts (``apiKeyId``s). Master orders are
checked with QE's rules and executed by the algo engine's pure core as real LIMIT children on the sim's
matching engine (`masters.MasterBook`), while the synthetic market trades against them.

REST (`rest.py`): QE's V2 paths (and the public ones), served both with and without the
``/strategy-api`` prefix (the fact sheet cannot tell which QE needs), every answer in the envelope
``{code, reason, message, traceId, serverTime}``; errors carry ``code != 200`` with HTTP 200 by default
(``error_http_status="mirror"`` answers with the code as HTTP status too).

WebSocket ``/api/ws/v2?listen_key=`` (and ``/api/ws``): a valid, unexpired key is required at the
handshake (401 otherwise). Pushes are ``{type, messageId, userId, data}`` with ``data`` a JSON string:
``master_data`` (MasterOrderV2Info) and ``order_data`` (OrderFillV2Info, cumulative per child).

Faults (methods): `drop_sockets` (abort, no close frame), `expire_listen_keys` (keys stop working; their
sockets get an ``error`` frame and close 4001), `duplicate_next` (the next N pushes are sent twice).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
import structlog
from aiohttp import WSMsgType, web

from gateway.core.clock import Clock, SystemClock
from gateway.orders.algo.engine import Tuning
from gateway.simserver.hosting import DialectHost
from gateway.simserver.qe.masters import BoundAccount, MasterBook, Push
from gateway.simserver.qe.rest import build_app
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import SyntheticMarket, build_engine

__all__ = ["QeDialect", "QeDialectSettings"]

log = structlog.get_logger("gateway.simserver.qe")


@dataclass(frozen=True)
class QeDialectSettings:
    """How the dialect behaves.

    Attributes:
        sim: symbols, seed and balances (the funded user is ``user``).
        message_rate: market steps (and master-order decisions) per second; 0: only `step` moves it.
        api_keys: QE API key -> HMAC secret.
        accounts: the bound exchange accounts.
        listen_key_ttl_s: a listen key's life (QE: 24 h).
        revoke_previous_key: a new key revokes the user's older ones (README: one valid key per user;
            unverified whether at once).
        recv_window_ms: the default recvWindow (unverified; 5000 as Binance).
        error_http_status: ``ok`` (HTTP 200 with code != 200) or ``mirror`` (HTTP status = code).
        min_duration_s: executionDurationSeconds must exceed this (QE: 10; tests lower it).
        slice_ms: target slice length of TWAP / VWAP masters.
        ws_heartbeat_s: server pings on the user socket (None: none).
        prewarm_steps: back-dated market steps at start.
    """

    sim: SimSettings = field(default_factory=lambda: SimSettings(message_rate=20))
    message_rate: float = 20.0
    api_keys: dict[str, str] = field(default_factory=dict)
    accounts: tuple[BoundAccount, ...] = (BoundAccount("ak-binance-1", "Binance", "main"),
                                          BoundAccount("ak-okx-1", "OKX", "okx-main"))
    listen_key_ttl_s: float = 86_400.0
    revoke_previous_key: bool = False
    recv_window_ms: int = 5_000
    error_http_status: str = "ok"
    min_duration_s: int = 10
    slice_ms: int = 30_000
    ws_heartbeat_s: float | None = 20.0
    prewarm_steps: int = 120
    tuning: Tuning = field(default_factory=lambda: Tuning(reprice_ms=1_000, overtime_ms=5_000))


class QeDialect(DialectHost):
    """The QE dialect server (an async context manager). Read `rest_url` / `ws_url` after entering."""

    USER = "user"
    USER_ID = "u-1"

    def __init__(self, settings: QeDialectSettings | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None):
        self.settings = settings or QeDialectSettings()
        self.host = host
        self.port = port
        self.clock = clock or SystemClock()
        s = self.settings
        self.keys = dict(s.api_keys)
        self.engine = build_engine(self.USER, s.sim)
        self.market = SyntheticMarket(self.USER, s.sim, self.engine)
        self.book = MasterBook(self.engine, self.USER, list(s.accounts), tuning=s.tuning, slice_ms=s.slice_ms,
                               min_duration_s=s.min_duration_s)
        self.listen_keys: dict[str, int] = {}  # key -> expires at (ms)
        self.sockets: dict[web.WebSocketResponse, str] = {}  # open user sockets -> their key
        self._transports: dict[web.WebSocketResponse, Any] = {}  # for the drop fault
        self.sent: list[dict[str, Any]] = []  # every push, in order (tests read it)
        self.fills: list[Any] = []  # every engine fill of a child order
        self.requests = 0
        self.duplicates_pending = 0
        self._next_message = 0
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()  # set after every push (tests wait on it)

    async def __aenter__(self) -> Self:
        self.market.prewarm(self.clock.now_ms(), self.settings.prewarm_steps)
        await self._serve(build_app(self), self._run() if self.settings.message_rate > 0 else None,
                          "qe-dialect-market")
        log.info("dialect.listening", dialect="qe", rest=self.rest_url, ws=self.ws_url)
        return self

    async def _close_sockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"server shutdown")

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # --- the market and the masters ------------------------------------------------------------------------

    def step(self, count: int = 1) -> None:
        """Advance the market `count` steps; let every master decide after each; push what changed."""
        for _ in range(count):
            now = self.now_ms()
            for symbol in self.engine.instruments:
                result = self.market.step(symbol, now)
                self.book.on_tape(result.engine_events)
                self.apply(self.book.on_engine(result.engine_events, now), result.engine_events)
            self.apply(self.book.tick(now), [])

    def apply(self, pushes: list[Push], events: list[Any]) -> None:
        """Record the children's fills of `events` (and of child calls) and push `pushes`."""
        events = events + self.book.pending_events
        self.book.pending_events.clear()
        self.fills.extend(self.book.fills_of(events))
        for kind, record in pushes:
            self.push("master_data" if kind == "master" else "order_data", record)

    def push(self, frame_type: str, record: dict[str, Any]) -> None:
        """Send one push to every open socket of the user (twice while `duplicate_next` is pending)."""
        self._next_message += 1
        frame = {"type": frame_type, "messageId": f"m-{self._next_message}", "userId": self.USER_ID,
                 "data": orjson.dumps(record).decode()}
        self.sent.append(frame)
        text = orjson.dumps(frame).decode()
        copies = 1
        if self.duplicates_pending > 0:
            self.duplicates_pending -= 1
            copies = 2
        for ws in list(self.sockets):
            for _ in range(copies):
                if not ws.closed:
                    asyncio.ensure_future(_send(ws, text))
        self.changed.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.settings.message_rate
        while True:
            started = loop.time()
            try:
                self.step()
            except Exception:
                log.exception("dialect.step_failed")
            await asyncio.sleep(max(0.002, period - (loop.time() - started)))  # pacing, not synchronization

    # --- listen keys and sockets ------------------------------------------------------------------------------

    def create_listen_key(self) -> tuple[str, int]:
        now = self.now_ms()
        if self.settings.revoke_previous_key:
            self.listen_keys.clear()
        key = secrets.token_hex(16)
        expire = now + int(self.settings.listen_key_ttl_s * 1000)
        self.listen_keys[key] = expire
        return key, expire

    def is_valid_key(self, key: str) -> bool:
        expire = self.listen_keys.get(key)
        return expire is not None and expire > self.now_ms()

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("listen_key", "")
        if not self.is_valid_key(key):
            raise web.HTTPUnauthorized(text="invalid or expired listen_key")
        ws = web.WebSocketResponse(heartbeat=self.settings.ws_heartbeat_s, autoping=True)
        await ws.prepare(request)
        self.sockets[ws] = key
        self._transports[ws] = request.transport
        await ws.send_str(orjson.dumps({"type": "status", "messageId": f"s-{secrets.token_hex(4)}",
                                        "userId": self.USER_ID, "data": "connected"}).decode())
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT and msg.data.strip().lower() == "ping":
                    await ws.send_str("pong")
        finally:
            self.sockets.pop(ws, None)
            self._transports.pop(ws, None)
        return ws

    # --- faults -----------------------------------------------------------------------------------------

    def drop_sockets(self) -> int:
        """Abort every user socket without a close frame; return how many."""
        count = 0
        for ws in list(self.sockets):
            transport = self._transports.get(ws)
            if transport is not None:
                transport.abort()
                count += 1
        return count

    async def expire_listen_keys(self) -> int:
        """Expire every listen key now; their sockets get an ``error`` frame and close 4001."""
        count = len(self.listen_keys)
        now = self.now_ms()
        for key in self.listen_keys:
            self.listen_keys[key] = now
        for ws in list(self.sockets):
            await _send(ws, orjson.dumps({"type": "error", "messageId": f"e-{secrets.token_hex(4)}",
                                          "userId": self.USER_ID, "data": "listen key expired"}).decode())
            await ws.close(code=4001, message=b"listen key expired")
        return count

    def duplicate_next(self, count: int) -> None:
        """Send each of the next `count` pushes twice (at-least-once delivery)."""
        self.duplicates_pending += count


async def _send(ws: web.WebSocketResponse, text: str) -> None:
    try:
        await ws.send_str(text)
    except (ConnectionError, RuntimeError):
        pass  # the socket went away; the client's catch-up recovers what it missed
