"""The Binance dialect's user data and WebSocket APIs: futures listenKeys and the ``/private`` stream, the
spot WebSocket API (``/ws-api/v3``: ``userDataStream.subscribe.signature``) and ws-fapi (``/ws-fapi/v1``:
orders).

Futures (fact sheet §4.1): ``POST /fapi/v1/listenKey`` returns the account's active key (extended 60 min)
or a new one; ``PUT`` extends it, -1125 when there is none; ``DELETE`` closes it. ``/private/ws?listenKey=``
(or ``/private/ws/<key>``, ``/private/stream?listenKey=``) streams the account's events while the key is
valid; a connection on an unknown or expired key is closed at once (1008).

WebSocket API (§3.2, §5): requests ``{"id", "method", "params"}`` are answered ``{"id", "status",
"result" | "error", "rateLimits"}``; signed ones are checked like REST (sorted params, §1.4). Spot events
go to every subscription as ``{"subscriptionId", "event"}``; ws-fapi runs the REST order and account
operations (`WS_FAPI`) and answers ``depth`` / ``ticker.price`` / ``ticker.book`` unsigned; its order writes
count against the account's ORDERS limits and answer ``rateLimits`` with the counts.

Faults: `expire` (the key stops working and ``listenKeyExpired`` is pushed), `drop` (connections aborted
without a close frame), ``faults.mute_user_stream`` (events are not delivered: a silent stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import WSMsgType, web

from gateway.simserver.binance.orders_render import UserReports
from gateway.simserver.binance.rest import ApiError
from gateway.simserver.binance.wsapi import ORDER_WRITES, call
from gateway.venues.sim.records import EngineEvent

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["UserHub", "WsConnection"]

log = structlog.get_logger("gateway.simserver.binance.userhub")

LISTEN_KEY_TTL_MS = 60 * 60_000


@dataclass(slots=True)
class _Key:
    api_key: str
    expires_ms: int
    expired: bool = False


@dataclass(eq=False)
class WsConnection:
    ws: web.WebSocketResponse
    request: web.Request
    kind: str  # private | spot | usdm
    key: str | None = None  # private: its listenKey
    combined: bool = False
    subscriptions: dict[int, str] = field(default_factory=dict)  # spot: subscription id -> api key
    logon_key: str | None = None  # WebSocket API: the key of session.logon (Ed25519), if any
    logon_since: int | None = None
    connected_since: int = 0
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(10_000))
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class UserHub:
    """User-data connections and listenKeys of the dialect (see the module docstring)."""

    def __init__(self, dialect: BinanceDialect):
        self._d = dialect
        self.dialect = dialect
        self.keys: dict[str, _Key] = {}
        self._active: dict[str, str] = {}  # api key -> its listenKey
        self.conns: set[WsConnection] = set()
        self._next_sub = 0
        self.reports = UserReports(lambda s: dialect.market_of_symbol(s) == "usdm", dialect.native_of)
        self.delivered = 0

    # --- listenKeys ---------------------------------------------------------------------------------

    def listen_key(self, method: str, api_key: str) -> dict[str, Any]:
        """``POST / PUT / DELETE /fapi/v1/listenKey`` (and ws-fapi ``userDataStream.*``) for `api_key`."""
        now = self._d.now_ms()
        key = self._active.get(api_key)
        valid = key is not None and self._valid(key, now)
        if method == "POST":
            if not valid:
                key = secrets.token_urlsafe(48)
                self.keys[key] = _Key(api_key, now + LISTEN_KEY_TTL_MS)
                self._active[api_key] = key
            assert key is not None
            self.keys[key].expires_ms = now + LISTEN_KEY_TTL_MS
            return {"listenKey": key}
        if not valid or key is None:
            raise ApiError(400, -1125, "This listenKey does not exist.")
        if method == "PUT":
            self.keys[key].expires_ms = now + LISTEN_KEY_TTL_MS
            return {"listenKey": key}
        self.keys[key].expired = True
        self._active.pop(api_key, None)
        return {}

    def _valid(self, key: str, now: int) -> bool:
        found = self.keys.get(key)
        return found is not None and not found.expired and now < found.expires_ms

    def expire(self) -> int:
        """Expire every active listenKey now and push ``listenKeyExpired`` on it; return how many."""
        now = self._d.now_ms()
        expired = 0
        for api_key, key in list(self._active.items()):
            self.keys[key].expired = True
            del self._active[api_key]
            expired += 1
            event = orjson.dumps({"e": "listenKeyExpired", "E": now, "listenKey": key}).decode()
            for conn in list(self.conns):
                if conn.kind == "private" and conn.key == key:
                    self._send(conn, event)
        return expired

    # --- events -------------------------------------------------------------------------------------

    def on_engine(self, events: list[EngineEvent], now_ms: int) -> None:
        """Render what `events` changed of the user and push it to the user streams."""
        for market, payload in self.reports.render(events, self._d.USER, now_ms):
            self.publish(market, payload)

    def publish(self, market: str, payload: dict[str, Any]) -> None:
        if self._d.faults.mute_user_stream:
            return
        now = self._d.now_ms()
        raw = None
        for conn in list(self.conns):
            if market == "usdm" and conn.kind == "private" and conn.key and self._valid(conn.key, now):
                raw = raw or orjson.dumps(payload).decode()
                self._send(conn, orjson.dumps({"stream": conn.key, "data": payload}).decode() if conn.combined else raw)
            elif market == "spot" and conn.kind == "spot":
                for sid in conn.subscriptions:
                    self._send(conn, orjson.dumps({"subscriptionId": sid, "event": payload}).decode())

    def drop(self, kind: str | None = None) -> int:
        """Abort the connections of `kind` (private | spot | usdm; None: private and spot) without a close frame."""
        dropped = 0
        for conn in list(self.conns):
            if (kind is None and conn.kind in ("private", "spot")) or conn.kind == kind:
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
                    dropped += 1
        return dropped

    async def close_all(self) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)

    # --- connections --------------------------------------------------------------------------------

    async def handle_private(self, request: web.Request) -> web.WebSocketResponse:
        key = request.query.get("listenKey") or request.match_info.get("key")
        conn = await self._open(request, "private", self._d.settings.usdm_ping_s)
        conn.key, conn.combined = key, request.path.endswith("/stream")
        try:
            if not key or not self._valid(key, self._d.now_ms()):
                await conn.ws.close(code=1008, message=b"invalid listenKey")
                return conn.ws
            async for msg in conn.ws:
                if msg.type is WSMsgType.ERROR:
                    break
        finally:
            await self._close(conn)
        return conn.ws

    async def handle_ws_api(self, request: web.Request, market: str) -> web.WebSocketResponse:
        ping = self._d.settings.spot_ping_s if market == "spot" else self._d.settings.usdm_ping_s
        conn = await self._open(request, market, ping)
        try:
            async for msg in conn.ws:
                if msg.type is WSMsgType.TEXT:
                    task = asyncio.create_task(self._answer(conn, msg.data), name="binance-dialect-ws-api")
                    conn.tasks.add(task)
                    task.add_done_callback(conn.tasks.discard)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            await self._close(conn)
        return conn.ws

    async def _open(self, request: web.Request, kind: str, ping_s: float | None) -> WsConnection:
        ws = web.WebSocketResponse(heartbeat=ping_s, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = WsConnection(ws, request, kind, connected_since=self._d.now_ms())
        self.conns.add(conn)
        writer = asyncio.create_task(self._write(conn), name="binance-dialect-user-writer")
        conn.tasks.add(writer)
        return conn

    async def _close(self, conn: WsConnection) -> None:
        self.conns.discard(conn)
        for task in list(conn.tasks):
            task.cancel()
        if conn.tasks:
            await asyncio.wait(list(conn.tasks))

    def _send(self, conn: WsConnection, text: str) -> None:
        try:
            conn.queue.put_nowait(text)
        except asyncio.QueueFull:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()

    async def _write(self, conn: WsConnection) -> None:
        while True:
            text = await conn.queue.get()
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self.delivered += 1

    async def _answer(self, conn: WsConnection, text: str) -> None:
        rid: Any = None
        try:
            request = orjson.loads(text)
            rid, method, params = request.get("id"), request.get("method"), request.get("params") or {}
            body = await call(self, conn, str(method), params)
            limits = self._d.order_counters[conn.kind].rate_limits(self._d.now_ms()) \
                if method in ORDER_WRITES[conn.kind] else []
            answer: dict[str, Any] = {"id": rid, "status": 200, "result": body, "rateLimits": limits}
        except ApiError as exc:
            answer = {"id": rid, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}
        except (orjson.JSONDecodeError, AttributeError):
            answer = {"id": rid, "status": 400, "error": {"code": -1102, "msg": "Invalid request."}}
        self._send(conn, orjson.dumps(answer).decode())

    # --- spot user-data subscriptions (`wsapi.call`) ------------------------------------------------

    def subscribe(self, conn: WsConnection, api_key: str) -> int:
        """Subscribe `conn` to `api_key`'s events; return the subscription id. Raises -2035 if it already is."""
        if api_key in conn.subscriptions.values():
            raise ApiError(400, -2035, "User Data Stream subscription already active.")
        self._next_sub += 1
        conn.subscriptions[self._next_sub] = api_key
        return self._next_sub

    def unsubscribe(self, conn: WsConnection, subscription_id: object) -> None:
        """End `subscription_id` (None: all) of `conn`, each with ``eventStreamTerminated``."""
        for sid in [s for s in conn.subscriptions if subscription_id is None or s == subscription_id]:
            del conn.subscriptions[sid]
            self._send(conn, orjson.dumps({"subscriptionId": sid, "event": {
                "e": "eventStreamTerminated", "E": self._d.now_ms()}}).decode())

    def end_logon_subscription(self, conn: WsConnection) -> None:
        """``session.logout``: end the subscription of the logged-on key (§3.2)."""
        for sid, key in list(conn.subscriptions.items()):
            if key == conn.logon_key:
                self.unsubscribe(conn, sid)
