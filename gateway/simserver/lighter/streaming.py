"""The fake's WebSocket (``/stream``): subscribe / unsubscribe, ping / pong, snapshots then updates."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from gateway.simserver.lighter import txcheck

if TYPE_CHECKING:
    from gateway.simserver.lighter.server import LighterFake

__all__ = ["publish", "serve_stream"]


def _send(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
    from gateway.simserver.lighter.server import dumps

    if not ws.closed:
        task = asyncio.get_running_loop().create_task(ws.send_str(dumps(message)))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _levels(levels: list[tuple[Any, Any]]) -> dict[str, str]:
    return {str(p): str(s) for p, s in levels}


async def serve_stream(fake: LighterFake, request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    fake._subs[ws] = set()
    _send(ws, {"type": "connected"})
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                frame = orjson.loads(msg.data)
                kind, channel = frame.get("type"), str(frame.get("channel", ""))
            except (orjson.JSONDecodeError, AttributeError):
                _send(ws, {"type": "error", "code": 30001, "message": "invalid frame"})
                continue
            if kind == "ping":
                _send(ws, {"type": "pong"})
            elif kind == "unsubscribe":
                fake._subs[ws].discard(channel)
            elif kind == "subscribe":
                _subscribe(fake, ws, channel, frame.get("auth"))
    finally:
        fake._subs.pop(ws, None)
    return ws


def _subscribe(fake: LighterFake, ws: web.WebSocketResponse, channel: str, auth: Any) -> None:
    name, _, rest = channel.partition("/")
    colon = channel.replace("/", ":")
    try:
        target = int(rest)
    except ValueError:
        _send(ws, {"type": "error", "code": 30002, "message": f"invalid channel {channel}"})
        return
    if name == "order_book" and target in fake.markets:
        bids, asks = fake.book_levels(target)
        _send(ws, {"type": "subscribed/order_book", "channel": colon, "order_book": {
            "offset": fake._offset, "bids": [{"price": str(p), "size": str(s)} for p, s in bids],
            "asks": [{"price": str(p), "size": str(s)} for p, s in asks]}})
    elif name in ("account_all_orders", "account_all_trades"):
        try:
            account = txcheck.check_auth_token(auth, fake.keys, int(time.time()))
        except txcheck.ApiError as exc:
            _send(ws, {"type": "error", "code": exc.code, "message": exc.message})
            return
        if account != target:
            _send(ws, {"type": "error", "code": 20001, "message": "auth token is for another account"})
            return
        if name == "account_all_orders":
            orders: dict[str, list[dict[str, Any]]] = {}
            for o in fake.ledger.orders.values():
                if o.account == target and o.is_live:
                    orders.setdefault(str(o.market.market_id), []).append(o.render())
            _send(ws, {"type": "subscribed/account_all_orders", "channel": colon, "orders": orders})
        else:
            _send(ws, {"type": "subscribed/account_all_trades", "channel": colon, "trades": {}})
    else:
        _send(ws, {"type": "error", "code": 30002, "message": f"invalid channel {channel}"})
        return
    fake._subs[ws].add(channel)


def publish(fake: LighterFake) -> None:
    """Send what changed since the last call: book diffs, account orders and trades."""
    changed, trades = fake.ledger.take_changes()
    if not fake._subs:
        fake._published.clear()
        return
    fake._offset += 1
    frames: dict[str, dict[str, Any]] = {}
    for market in fake.markets:
        channel = f"order_book/{market}"
        if not any(channel in subs for subs in fake._subs.values()):
            continue
        bids, asks = fake.book_levels(market)
        new = (_levels(bids), _levels(asks))
        old = fake._published.get(market, ({}, {}))
        fake._published[market] = new
        diff = []
        for side_new, side_old in zip(new, old, strict=True):
            rows = [{"price": p, "size": s} for p, s in side_new.items() if side_old.get(p) != s]
            rows += [{"price": p, "size": "0"} for p in side_old if p not in side_new]
            diff.append(rows)
        if diff[0] or diff[1]:
            frames[channel] = {"type": "update/order_book", "channel": f"order_book:{market}",
                               "order_book": {"offset": fake._offset, "bids": diff[0], "asks": diff[1]}}
    by_account: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for order in changed:
        by_account.setdefault(order.account, {}).setdefault(str(order.market.market_id), []).append(order.render())
    for account, orders in by_account.items():
        frames[f"account_all_orders/{account}"] = {"type": "update/account_all_orders",
                                                   "channel": f"account_all_orders:{account}", "orders": orders}
    trade_frames: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for trade in trades:
        for account in {trade["ask_account_id"], trade["bid_account_id"]} - {0}:
            trade_frames.setdefault(account, {}).setdefault(str(trade["market_id"]), []).append(trade)
    for account, rows in trade_frames.items():
        frames[f"account_all_trades/{account}"] = {"type": "update/account_all_trades",
                                                   "channel": f"account_all_trades:{account}", "trades": rows}
    for ws, subs in list(fake._subs.items()):
        for channel in subs:
            frame = frames.get(channel)
            if frame is not None:
                with contextlib.suppress(Exception):
                    _send(ws, frame)
