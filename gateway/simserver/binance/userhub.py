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

from gateway.simserver.binance.account import (
    futures_account,
    futures_balance,
    position_risk_v2,
    position_risk_v3,
)
from gateway.simserver.binance.limits import check_ws_signed
from gateway.simserver.binance.market_rest import book_ticker_rows, price_ticker_rows
from gateway.simserver.binance.orders_render import UserReports
from gateway.simserver.binance.render import depth_snapshot
from gateway.simserver.binance.rest import ApiError
from gateway.simserver.binance.trading import amend, cancel, cancel_algo, place, place_algo, query
from gateway.venues.sim.records import EngineEvent

if TYPE_CHECKING:
    from gateway.simserver.binance.server import BinanceDialect

__all__ = ["UserHub"]

log = structlog.get_logger("gateway.simserver.binance.userhub")

LISTEN_KEY_TTL_MS = 60 * 60_000
# ws-fapi's signed methods (fact sheet §5) -> the REST operation answering them.
WS_FAPI = {"order.place": place, "order.cancel": cancel, "order.modify": amend, "order.status": query,
           "algoOrder.place": place_algo, "algoOrder.cancel": cancel_algo,
           "account.balance": futures_balance, "v2/account.balance": futures_balance,
           "account.position": position_risk_v2, "v2/account.position": position_risk_v3,
           "account.status": futures_account, "v2/account.status": futures_account}
WS_FAPI_ORDER_WRITES = frozenset({"order.place", "order.modify", "algoOrder.place"})  # count as ORDERS
_USDM_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


@dataclass(slots=True)
class _Key:
    api_key: str
    expires_ms: int
    expired: bool = False


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    kind: str  # private | spot | usdm
    key: str | None = None  # private: its listenKey
    combined: bool = False
    subscriptions: dict[int, str] = field(default_factory=dict)  # spot: subscription id -> api key
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(10_000))
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class UserHub:
    """User-data connections and listenKeys of the dialect (see the module docstring)."""

    def __init__(self, dialect: BinanceDialect):
        self._d = dialect
        self.keys: dict[str, _Key] = {}
        self._active: dict[str, str] = {}  # api key -> its listenKey
        self.conns: set[_Conn] = set()
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

    async def _open(self, request: web.Request, kind: str, ping_s: float | None) -> _Conn:
        ws = web.WebSocketResponse(heartbeat=ping_s, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Conn(ws, request, kind)
        self.conns.add(conn)
        writer = asyncio.create_task(self._write(conn), name="binance-dialect-user-writer")
        conn.tasks.add(writer)
        return conn

    async def _close(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        for task in list(conn.tasks):
            task.cancel()
        if conn.tasks:
            await asyncio.wait(list(conn.tasks))

    def _send(self, conn: _Conn, text: str) -> None:
        try:
            conn.queue.put_nowait(text)
        except asyncio.QueueFull:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()

    async def _write(self, conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self.delivered += 1

    async def _answer(self, conn: _Conn, text: str) -> None:
        rid: Any = None
        try:
            request = orjson.loads(text)
            rid, method, params = request.get("id"), request.get("method"), request.get("params") or {}
            body = await self._call(conn, str(method), params)
            limits = self._d.order_counters[conn.kind].rate_limits(self._d.now_ms()) \
                if method in WS_FAPI_ORDER_WRITES else []
            answer: dict[str, Any] = {"id": rid, "status": 200, "result": body, "rateLimits": limits}
        except ApiError as exc:
            answer = {"id": rid, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}
        except (orjson.JSONDecodeError, AttributeError):
            answer = {"id": rid, "status": 400, "error": {"code": -1102, "msg": "Invalid request."}}
        self._send(conn, orjson.dumps(answer).decode())

    async def _call(self, conn: _Conn, method: str, params: dict[str, Any]) -> Any:
        d = self._d
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": d.now_ms()}
        if method.startswith("userDataStream.") and method != "userDataStream.subscribe.signature" \
                and conn.kind == "usdm":  # ws-fapi listenKey management: apiKey only
            api_key = params.get("apiKey")
            if api_key not in d.keys:
                raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            verb = {"userDataStream.start": "POST", "userDataStream.ping": "PUT", "userDataStream.stop": "DELETE"}
            if method not in verb:
                raise ApiError(400, -1102, f"Unknown method {method}.")
            return self.listen_key(verb[method], str(api_key))
        if conn.kind == "spot" and method == "userDataStream.unsubscribe":
            wanted = params.get("subscriptionId")
            for sid in [s for s in conn.subscriptions if wanted is None or s == wanted]:
                del conn.subscriptions[sid]
                self._send(conn, orjson.dumps({"subscriptionId": sid, "event": {
                    "e": "eventStreamTerminated", "E": d.now_ms()}}).decode())
            return {}
        if conn.kind == "usdm" and method in ("depth", "ticker.price", "ticker.book"):  # public (§5)
            return self._market(method, params)
        check = check_ws_signed(params, d.keys, d.now_ms())
        if check.code:
            raise ApiError(401 if check.code == -2015 else 400, check.code, check.msg)
        if conn.kind == "spot" and method == "userDataStream.subscribe.signature":
            if str(params["apiKey"]) in conn.subscriptions.values():
                raise ApiError(400, -2035, "User Data Stream subscription already active.")
            self._next_sub += 1
            conn.subscriptions[self._next_sub] = str(params["apiKey"])
            return {"subscriptionId": self._next_sub}
        op = WS_FAPI.get(method) if conn.kind == "usdm" else None
        if op is None:
            raise ApiError(400, -1102, f"Unknown method {method}.")
        values = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()}
        if method in WS_FAPI_ORDER_WRITES:
            d.count_orders("usdm", 1)  # -1015 over the account's ORDERS limits
        return await op(d, "usdm", values)

    def _market(self, method: str, params: dict[str, Any]) -> Any:
        d = self._d
        wanted = params.get("symbol")
        if method == "ticker.price":
            return price_ticker_rows(d, "usdm", str(wanted) if wanted else None)
        if method == "ticker.book":
            return book_ticker_rows(d, "usdm", str(wanted) if wanted else None)
        if not wanted:
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        symbol = d.symbol_of("usdm", str(wanted))
        limit = params.get("limit", 500)
        if limit not in _USDM_DEPTH_LIMITS:
            raise ApiError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is "
                                       "'5, 10, 20, 50, 100, 500, 1000'.")
        last_id, bids, asks = d.feeds[symbol].snapshot(int(limit))
        return depth_snapshot(last_id, bids, asks, True, d.now_ms())
