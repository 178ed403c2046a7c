"""The OKX dialect's WebSockets: ``/ws/v5/public``, ``/ws/v5/private`` and ``/ws/v5/business`` (fact sheet §6).

- Text ``ping`` is answered ``pong`` (not JSON); a connection with nothing received or sent for
  ``idle_timeout_s`` is closed with 4004.
- ``login`` (private and business): ``{"event":"login","code":"0"}`` or ``{"event":"error","code":...}``
  (60004 timestamp, 60005 key, 60006 expired, 60007 sign, 60024 passphrase; 60031 a second login).
- ``subscribe`` / ``unsubscribe``: acked ``{"id"?, "event", "arg", "connId"}``; errors
  ``{"event":"error","code","msg"}``: 60018 unknown channel or wrong URL, 64001 a business channel on
  public, 64002 a public channel on business, 60011 a private channel before login, 60012 bad JSON.
  ``books`` pushes a snapshot at once (``prevSeqId`` -1), ``account`` and ``positions`` a snapshot
  (``eventType`` ``snapshot``).
- Order operations on private (login required): ``order``, ``batch-orders``, ``cancel-order``,
  ``batch-cancel-orders``, ``amend-order``, ``batch-amend-orders``, answered ``{"id","op","code","msg",
  "data","inTime","outTime"}`` through `ops.run_items`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import WSMsgType, web

from gateway.simserver.okx.account import balance_data, position_rows
from gateway.simserver.okx.auth import check_ws_login
from gateway.simserver.okx.ops import RATE_LIMIT_MSG, rate_limited, run_items

if TYPE_CHECKING:
    from gateway.simserver.okx.server import OkxDialect

__all__ = ["SocketHub"]

log = structlog.get_logger("gateway.simserver.okx.ws")

PUBLIC = frozenset({"tickers", "books", "books5", "bbo-tbt", "trades", "mark-price", "funding-rate"})
PRIVATE = frozenset({"orders", "account", "positions"})
BUSINESS_PRIVATE = frozenset({"orders-algo"})
OPS = {"order": ("place", 1, "trade/order"), "batch-orders": ("place", 20, "trade/batch-orders"),
       "cancel-order": ("cancel", 1, "trade/cancel-order"),
       "batch-cancel-orders": ("cancel", 20, "trade/cancel-batch-orders"),
       "amend-order": ("amend", 1, "trade/amend-order"), "batch-amend-orders": ("amend", 20, "trade/amend-batch-orders")}
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_conn_ids = itertools.count(1)


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    kind: str
    conn_id: str
    api_key: str | None = None
    subs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, instId|instType) -> arg
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(10_000))
    activity: asyncio.Event = field(default_factory=asyncio.Event)


class SocketHub:
    """Every WebSocket connection of the dialect, their subscriptions and the pushes to them."""

    def __init__(self, dialect: OkxDialect):
        self._d = dialect
        self.conns: set[_Conn] = set()
        self._public: dict[tuple[str, str], set[_Conn]] = {}  # (channel, instId) -> subscribers
        self.connections = 0
        self.sent = 0

    # --- pushes -------------------------------------------------------------------------------------

    def has(self, channel: str, inst_id: str) -> bool:
        return bool(self._public.get((channel, inst_id)))

    def push_public(self, channel: str, inst_id: str, item: Any, action: str | None = None) -> None:
        """Push one data item of a market channel to its subscribers."""
        conns = self._public.get((channel, inst_id))
        if not conns:
            return
        message: dict[str, Any] = {"arg": {"channel": channel, "instId": inst_id}}
        if action is not None:
            message["action"] = action
        message["data"] = [item]
        text = orjson.dumps(message).decode()
        for conn in list(conns):
            self._send(conn, text)

    def push_private(self, channel: str, item: dict[str, Any], event_type: str | None = None) -> None:
        """Push one item of a private channel to the logged-in connections whose subscription matches it."""
        if self._d.faults.mute_private:
            return
        for conn in list(self.conns):
            if conn.api_key is None:
                continue
            for (name, _), arg in conn.subs.items():
                if name == channel and _matches(arg, item):
                    self._send(conn, self._private_message(conn, arg, item, event_type))
                    break

    def _private_message(self, conn: _Conn, arg: dict[str, Any], item: dict[str, Any], event_type: str | None) -> str:
        message: dict[str, Any] = {"arg": {**arg, "uid": self._d.settings.uid}}
        if arg["channel"] in ("account", "positions"):
            message["eventType"] = event_type or "event_update"
            message["curPage"], message["lastPage"] = 1, True
        message["data"] = [item]
        return orjson.dumps(message).decode()

    def drop(self, kind: str | None = None) -> int:
        """Abort connections (of `kind`) without a close frame, as a network drop does; return how many."""
        dropped = 0
        for conn in list(self.conns):
            if kind in (None, conn.kind) and conn.request.transport is not None:
                conn.request.transport.abort()
                dropped += 1
        return dropped

    async def close_all(self, code: int = 1001) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=code)

    # --- connections --------------------------------------------------------------------------------

    def handler(self, kind: str) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, kind)

        return handle

    async def _serve(self, request: web.Request, kind: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Conn(ws, request, kind, str(next(_conn_ids)))
        self.conns.add(conn)
        self.connections += 1
        tasks = {asyncio.create_task(self._write(conn), name="okx-dialect-writer")}
        if self._d.settings.idle_timeout_s:
            tasks.add(asyncio.create_task(self._idle(conn, self._d.settings.idle_timeout_s), name="okx-dialect-idle"))
        try:
            async for msg in ws:
                conn.activity.set()
                if msg.type is WSMsgType.TEXT:
                    if msg.data == "ping":
                        self._send(conn, "pong")
                    else:
                        await self._on_text(conn, msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._forget(conn)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        return ws

    async def _idle(self, conn: _Conn, timeout_s: float) -> None:
        while True:
            conn.activity.clear()
            try:
                await asyncio.wait_for(conn.activity.wait(), timeout_s)
            except TimeoutError:
                await conn.ws.close(code=4004, message=b"No data received in 30s.")
                return

    async def _write(self, conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            conn.activity.set()
            self.sent += 1

    def _send(self, conn: _Conn, text: str) -> None:
        try:
            conn.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("dialect.slow_consumer", kind=conn.kind)
            self._forget(conn)
            if conn.request.transport is not None:
                conn.request.transport.abort()

    def _forget(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        for key in list(conn.subs):
            self._public.get(key, set()).discard(conn)
        conn.subs.clear()

    def _error(self, conn: _Conn, code: str, msg: str, rid: Any = None) -> None:
        body: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}
        if rid is not None:
            body = {"id": rid, **body}
        self._send(conn, orjson.dumps(body).decode())

    # --- requests -----------------------------------------------------------------------------------

    async def _on_text(self, conn: _Conn, text: str) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(conn, "60012", f"Invalid request: {text[:200]}")
            return
        if not isinstance(request, dict) or not isinstance(request.get("args", []), list):
            self._error(conn, "60012", f"Invalid request: {text[:200]}")
            return
        op, args, rid = request.get("op"), request.get("args", []), request.get("id")
        if op == "login":
            self._login(conn, args)
        elif op in ("subscribe", "unsubscribe"):
            for arg in args:
                self._subscribe(conn, str(op), arg, rid)
        elif op in OPS:
            self._operate(conn, str(op), args, rid)
        else:
            self._error(conn, "60012", f"Invalid request: {text[:200]}", rid)

    def _login(self, conn: _Conn, args: list[Any]) -> None:
        if conn.kind == "public":
            self._error(conn, "60018", "Login is not needed on the public channel.")  # books-l2-tbt is not served
            return
        if conn.api_key is not None:
            self._error(conn, "60031", "The WS login attempt is invalid: already logged in.")
            return
        result = check_ws_login(args[0] if len(args) == 1 else None, self._d.keys, self._d.now_ms())
        if not result.ok:
            self._error(conn, result.code, result.msg)
            return
        conn.api_key = result.api_key
        self._send(conn, orjson.dumps({"event": "login", "code": "0", "msg": "", "connId": conn.conn_id}).decode())

    def _subscribe(self, conn: _Conn, op: str, arg: Any, rid: Any) -> None:
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            self._error(conn, "60012", f"Invalid request: {orjson.dumps(arg).decode()[:200]}", rid)
            return
        channel = arg["channel"]
        business = channel.startswith("candle") or channel in BUSINESS_PRIVATE
        public = channel in PUBLIC
        if not (business or public or channel in PRIVATE):
            self._error(conn, "60018", f"Wrong URL or channel:{channel} doesn't exist.", rid)
            return
        if business and conn.kind != "business":
            self._error(conn, "64001" if conn.kind == "public" else "60018",
                        "This channel has been migrated to the '/business' URL. Please subscribe using the new URL.",
                        rid)
            return
        if public and conn.kind == "business":
            self._error(conn, "64002", "This channel is not supported by business URL.", rid)
            return
        if (channel in PRIVATE and conn.kind != "private") or (channel in PUBLIC and conn.kind == "private"):
            self._error(conn, "60018", f"Wrong URL or channel:{channel} doesn't exist.", rid)
            return
        private = channel in PRIVATE or channel in BUSINESS_PRIVATE
        if private and conn.api_key is None:
            self._error(conn, "60011", "Please log in.", rid)
            return
        d = self._d
        if private:
            if channel != "account" and arg.get("instType") not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"):
                self._error(conn, "60013", f"Invalid args: {orjson.dumps(arg).decode()}", rid)
                return
            key = (channel, str(arg.get("instId") or arg.get("instType") or arg.get("ccy") or ""))
        else:
            inst_id = arg.get("instId")
            bar = channel.removeprefix("candle")
            if inst_id not in d.insts or (channel.startswith("candle") and bar not in _bars()):
                self._error(conn, "60018", f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist.", rid)
                return
            key = (channel, inst_id)
        ack: dict[str, Any] = {"event": op, "arg": arg, "connId": conn.conn_id}
        self._send(conn, orjson.dumps({"id": rid, **ack} if rid is not None else ack).decode())
        if op == "unsubscribe":
            conn.subs.pop(key, None)
            self._public.get(key, set()).discard(conn)
            return
        conn.subs[key] = dict(arg)
        if not private:
            self._public.setdefault(key, set()).add(conn)
        self._snapshot(conn, channel, arg)

    def _snapshot(self, conn: _Conn, channel: str, arg: dict[str, Any]) -> None:
        d = self._d
        now = d.now_ms()
        if channel == "books":
            message = {"arg": arg, "action": "snapshot", "data": [d.book_snapshot_item(arg["instId"], d.settings.book_levels)]}
            self._send(conn, orjson.dumps(message).decode())
        elif channel == "account":
            ccy = arg.get("ccy")
            item = balance_data(d.engine, d.USER, d.by_symbol, now, {ccy} if ccy else None)
            self._send(conn, self._private_message(conn, arg, item, "snapshot"))
        elif channel == "positions":
            rows = [r for r in position_rows(d.engine, d.USER, d.by_symbol, now, long_short=d.desk.long_short) if _matches(arg, r)]
            message = {"arg": {**arg, "uid": d.settings.uid}, "eventType": "snapshot", "curPage": 1,
                       "lastPage": True, "data": rows}
            self._send(conn, orjson.dumps(message).decode())

    def _operate(self, conn: _Conn, op: str, args: list[Any], rid: Any) -> None:
        d = self._d
        in_time = str(d.now_ms() * 1000)

        def answer(code: str, msg: str, data: list[Any]) -> None:
            self._send(conn, orjson.dumps({"id": rid, "op": op, "code": code, "msg": msg, "data": data,
                                           "inTime": in_time, "outTime": str(d.now_ms() * 1000)}).decode())

        if not isinstance(rid, str) or not _ID.match(rid):
            self._error(conn, "60013", "Invalid args: id", rid)
            return
        if conn.kind != "private" or conn.api_key is None:
            self._error(conn, "60011", "Please log in.", rid)
            return
        desk_op, max_items, endpoint = OPS[op]
        items = [a for a in args if isinstance(a, dict)]
        if rate_limited(d, endpoint, conn.api_key, items, d.now_ms()):
            answer("50011", RATE_LIMIT_MSG, [])
            return
        try:
            outcome = run_items(d, desk_op, items, max_items)
        except Exception:  # a dialect bug must not leave the client waiting: answer "system error", log it
            log.exception("dialect.ws_op_failed", op=op)
            outcome = ("50026", "System error. Try again later.", [])
        answer(*outcome)


def _bars() -> frozenset[str]:
    from gateway.simserver.okx.render import BARS

    return frozenset(BARS)


def _matches(arg: dict[str, Any], item: dict[str, Any]) -> bool:
    """Does a private push `item` fall under subscription `arg` (instType / instId / ccy filters)?"""
    if arg.get("channel") == "account":
        ccy = arg.get("ccy")
        return not ccy or any(d.get("ccy") == ccy for d in item.get("details", []))
    inst_type = arg.get("instType")
    if inst_type not in (None, "", "ANY") and item.get("instType") != inst_type:
        return False
    inst_id = arg.get("instId")
    return not inst_id or item.get("instId") == inst_id
