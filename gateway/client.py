"""An async Python client for strategies: `GatewayClient`.

    async with GatewayClient("ws://127.0.0.1:8765/ws", api_key="local-dev-key") as gw:
        await gw.subscribe(["sim:BTC/USDT@trade", "sim@order"])
        order = await gw.place_order("BTC/USDT", "buy", "limit", qty="0.001", price="60000")
        async for push in gw.pushes():
            ...

The client reconnects on its own (backoff with jitter), authenticates again and re-subscribes to every
stream it held. A call in flight when the connection drops raises `ConnectionLost`: it is never re-sent,
because an order may have reached the venue; query it by its `client_order_id` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Self

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["ApiError", "ConnectionLost", "Fill", "GatewayClient", "Order", "Push"]


class ApiError(Exception):
    """The gateway answered a request with an error."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}


class ConnectionLost(ConnectionError):
    """The connection dropped before the answer came; the request's outcome is unknown."""


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class Order:
    venue: str
    account: str
    symbol: str
    order_id: str | None
    client_order_id: str
    side: str
    type: str
    tif: str
    price: Decimal | None
    trigger_price: Decimal | None
    qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    status: str
    reduce_only: bool
    created_ts: int
    updated_ts: int
    reason: str | None = None
    extra: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Order:
        return _build(cls, data, {"price", "trigger_price", "qty", "filled_qty", "avg_price"})

    @property
    def is_open(self) -> bool:
        return self.status in {"pending_new", "new", "partially_filled", "pending_cancel", "unknown"}


@dataclass(frozen=True, slots=True)
class Fill:
    venue: str
    account: str
    symbol: str
    order_id: str | None
    client_order_id: str | None
    trade_id: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str
    ts: int
    extra: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Fill:
        return _build(cls, data, {"price", "qty", "fee"})


def _build(cls: Any, data: dict[str, Any], decimals: set[str]) -> Any:
    known = {f.name for f in fields(cls)} - {"extra"}
    values = {name: (_dec(data.get(name)) if name in decimals else data.get(name)) for name in known}
    extra = {k: v for k, v in data.items() if k not in known}
    return cls(**values, extra=extra or None)


@dataclass(frozen=True, slots=True)
class Push:
    stream: str
    data: Any


class GatewayClient:
    def __init__(
        self,
        url: str = "ws://127.0.0.1:8765/ws",
        *,
        api_key: str,
        request_timeout_s: float = 10.0,
        reconnect: bool = True,
        max_backoff_s: float = 10.0,
        max_buffered_pushes: int = 100_000,
    ):
        self._url = url
        self._api_key = api_key
        self._timeout = request_timeout_s
        self._reconnect = reconnect
        self._max_backoff = max_backoff_s
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._pushes: asyncio.Queue[Push] = asyncio.Queue(max_buffered_pushes)
        self._streams: list[str] = []
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.dropped_pushes = 0

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Connect and authenticate. Returns the `auth` result."""
        self._ws = await connect(self._url, compression=None, max_size=None)
        self._reader = asyncio.create_task(self._read(self._ws), name="gateway-client-reader")
        self._connected.set()
        return await self.call("auth", {"api_key": self._api_key})

    async def close(self) -> None:
        self._closing = True
        if self._reconnector is not None:
            self._reconnector.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_pending(ConnectionLost("client closed"))

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one request and return its `result`. Raises ApiError, ConnectionLost or TimeoutError."""
        await asyncio.wait_for(self._connected.wait(), self._timeout)
        assert self._ws is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        payload = {"id": request_id, "method": method, "params": _clean(params or {})}
        try:
            await self._ws.send(orjson.dumps(payload, default=str).decode())
            return await asyncio.wait_for(future, self._timeout)
        except ConnectionClosed as exc:
            raise ConnectionLost(str(exc)) from exc
        finally:
            self._pending.pop(request_id, None)

    # --- streams ------------------------------------------------------------------------------------

    async def subscribe(self, streams: Iterable[str]) -> list[str]:
        wanted = list(streams)
        held = (await self.call("subscribe", {"streams": wanted}))["streams"]
        self._streams = list(dict.fromkeys([*self._streams, *wanted]))
        return held

    async def unsubscribe(self, streams: Iterable[str]) -> list[str]:
        dropped = list(streams)
        held = (await self.call("unsubscribe", {"streams": dropped}))["streams"]
        self._streams = [s for s in self._streams if s not in dropped]
        return held

    async def pushes(self) -> AsyncIterator[Push]:
        """Every push, in arrival order, across reconnects."""
        while True:
            yield await self._pushes.get()

    async def next_push(self, stream: str | None = None, timeout: float | None = None) -> Push:
        """The next push (of `stream`, when given); other pushes before it are discarded."""
        async with asyncio.timeout(timeout):
            while True:
                push = await self._pushes.get()
                if stream is None or push.stream == stream:
                    return push

    # --- typed helpers ------------------------------------------------------------------------------

    async def place_order(
        self,
        symbol: str,
        side: str,
        type: str,
        qty: Decimal | str,
        price: Decimal | str | None = None,
        *,
        account: str | None = None,
        trigger_price: Decimal | str | None = None,
        tif: str | None = None,
        reduce_only: bool | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        params = {"account": account, "symbol": symbol, "side": side, "type": type, "qty": qty, "price": price,
                  "trigger_price": trigger_price, "tif": tif, "reduce_only": reduce_only,
                  "client_order_id": client_order_id}
        return Order.from_wire(await self.call("order.place", params))

    async def cancel_order(
        self, *, order_id: str | None = None, client_order_id: str | None = None, account: str | None = None
    ) -> Order:
        params = {"account": account, "order_id": order_id, "client_order_id": client_order_id}
        return Order.from_wire(await self.call("order.cancel", params))

    async def get_order(
        self, *, order_id: str | None = None, client_order_id: str | None = None, account: str | None = None
    ) -> Order:
        params = {"account": account, "order_id": order_id, "client_order_id": client_order_id}
        return Order.from_wire(await self.call("order.get", params))

    async def open_orders(self, symbol: str | None = None, *, account: str | None = None) -> list[Order]:
        return [Order.from_wire(o) for o in await self.call("orders.open", {"account": account, "symbol": symbol})]

    async def fills(self, symbol: str | None = None, *, account: str | None = None, limit: int | None = None) -> list[Fill]:
        result = await self.call("fills", {"account": account, "symbol": symbol, "limit": limit})
        return [Fill.from_wire(f) for f in result]

    # --- internals ----------------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = orjson.loads(raw)
                if "stream" in message:
                    try:
                        self._pushes.put_nowait(Push(message["stream"], message.get("data")))
                    except asyncio.QueueFull:
                        self.dropped_pushes += 1
                    continue
                future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
                if future is None or future.done():
                    continue
                if "error" in message:
                    error = message["error"]
                    future.set_exception(ApiError(error.get("code", "?"), error.get("message", ""), error.get("details")))
                else:
                    future.set_result(message.get("result"))
        except ConnectionClosed:
            pass
        self._connected.clear()
        self._fail_pending(ConnectionLost("connection closed"))
        if self._reconnect and not self._closing:
            self._reconnector = asyncio.create_task(self._reconnect_loop(), name="gateway-client-reconnect")

    async def _reconnect_loop(self) -> None:
        for attempt in itertools.count(1):
            if self._closing:
                return
            await asyncio.sleep(random.uniform(0, min(self._max_backoff, 0.2 * 2**attempt)))
            try:
                await self.connect()
                if self._streams:
                    await self.call("subscribe", {"streams": self._streams})
                self.reconnects += 1
                return
            except (OSError, ConnectionClosed, ConnectionLost, TimeoutError, ApiError):
                continue

    def _fail_pending(self, exc: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in params.items() if v is not None}
