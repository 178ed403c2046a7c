"""Orders over the WebSocket APIs and Ed25519 ``session.logon`` (fact sheet §1.5, §5), against the dialect
over real sockets: the adapter's spot ws-api order path with REST as the fallback, logon on both APIs (and
again after a reconnect) with requests then sent unsigned, and the dialect's own logon rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from dialect_helpers import KEY, PERP, SECRET, SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side
from gateway.core.errors import VenueUnavailable
from gateway.core.events import Fill, OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.binance.auth import Ed25519Signer, HmacSigner, sign_ws_params
from gateway.venues.common.ratelimit import HostBudgets

ED_KEY = "ed25519-test-key"
_PRIVATE = Ed25519PrivateKey.generate()  # a throwaway key, made for this test run
ED_PRIVATE_PEM = _PRIVATE.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
ED_PUBLIC_PEM = _PRIVATE.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@asynccontextmanager
async def session(market: str, *, ed25519: bool = False, **overrides: object
                  ) -> AsyncIterator[tuple[BinanceDialect, BinanceAdapter, RecordingSink]]:
    keys = {KEY: SECRET, ED_KEY: ED_PUBLIC_PEM}
    async with BinanceDialect(dialect_settings(api_keys=keys)) as dialect:
        if ed25519:
            overrides.update(api_key=ED_KEY, api_secret=None, ed25519_private_key=ED_PRIVATE_PEM)
        sink = RecordingSink()
        adapter = BinanceAdapter("bn", adapter_settings(dialect, market, orders_over_ws=True, **overrides),
                                 SystemClock(), budgets=HostBudgets(SystemClock()))
        adapter.bind(sink)
        async with adapter:
            await sink.until(lambda: adapter.state is ConnectionState.OPEN)
            assert adapter.ws_orders is not None
            await sink.until(lambda: adapter.ws_orders.is_open)  # type: ignore[union-attr]
            yield dialect, adapter, sink


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds (for state nobody pushes to the sink)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def _symbol(market: str) -> str:
    return PERP if market == "usdm" else SPOT


def _record_sent(adapter: BinanceAdapter) -> list[dict[str, Any]]:
    """Record every request the order connection sends (it still sends them)."""
    ws = adapter.ws_orders
    assert ws is not None
    sent: list[dict[str, Any]] = []
    send = ws.connection.send

    async def recording(text: str) -> None:
        sent.append(orjson.loads(text))
        await send(text)

    ws.connection.send = recording  # type: ignore[method-assign]
    return sent


async def test_spot_orders_over_the_ws_api_with_rest_as_the_fallback() -> None:
    async with session("spot") as (dialect, adapter, sink):
        ws = adapter.ws_orders
        assert ws is not None
        sent = _record_sent(adapter)
        bid = dialect.engine.bbo(SPOT)[0]
        assert bid is not None
        placed = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "sws-1",
                                                        bid - 100))
        assert placed.status is OrderStatus.NEW and placed.order_id
        found = await adapter.get_order(SPOT, client_order_id="sws-1")
        assert found is not None and found.order_id == placed.order_id
        canceled = await adapter.cancel_order(SPOT, placed.order_id)
        assert canceled.status is OrderStatus.CANCELED
        assert [r["method"] for r in sent] == ["order.place", "order.status", "order.cancel"]
        assert all("signature" in r["params"] and r["params"]["apiKey"] == KEY for r in sent)  # HMAC: each signed
        await sink.until(lambda: any(isinstance(e, OrderUpdate) and e.client_order_id == "sws-1"
                                     and e.status is OrderStatus.CANCELED for e in sink.user))

        async def not_connected(text: str) -> None:
            raise VenueUnavailable("not connected", venue="bn")

        ws.connection.send = not_connected  # type: ignore[method-assign]  # while it is down: REST
        fallback = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"),
                                                          "srest-1", bid - 100))
        assert fallback.status is OrderStatus.NEW and ws.fallbacks == 1
        assert {o.client_order_id for o in await adapter.open_orders(SPOT)} == {"srest-1"}


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_ed25519_keys_log_on_once_then_send_unsigned_requests(market: str) -> None:
    async with session(market, ed25519=True) as (dialect, adapter, sink):
        ws = adapter.ws_orders
        assert ws is not None and ws.logged_on and ws.logons == 1
        assert sum(c.logon_key == ED_KEY for c in dialect.user_hub.conns) == (2 if market == "spot" else 1)
        sent = _record_sent(adapter)
        symbol = _symbol(market)
        bid, _, ask, _ = dialect.engine.bbo(symbol)
        assert bid is not None and ask is not None
        resting = await adapter.place_order(OrderRequest(symbol, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "ed-1",
                                                         bid - 100))
        assert (await adapter.cancel_order(symbol, resting.order_id)).status is OrderStatus.CANCELED
        assert sent and all("signature" not in r["params"] and "apiKey" not in r["params"]
                            and "timestamp" in r["params"] for r in sent)
        # The connection drops: it comes back logged on again, and orders still go over it.
        before = ws.logons
        assert dialect.drop_user_streams(market) >= 1
        await eventually(lambda: ws.logons > before and ws.is_open)  # nothing is pushed for the order connection
        taken = await adapter.place_order(OrderRequest(symbol, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "ed-2",
                                                       ask))
        assert taken.client_order_id == "ed-2" and ws.fallbacks == 0
        # The user stream (spot: logon + userDataStream.subscribe) reports the fill.
        await sink.until(lambda: any(isinstance(e, Fill) and e.client_order_id == "ed-2" for e in sink.user))
        if market == "spot":
            assert adapter.user is not None and adapter.user.logons >= 1  # type: ignore[attr-defined]


async def _ask(ws: aiohttp.ClientWebSocketResponse, rid: str, method: str, params: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    await ws.send_str(orjson.dumps({"id": rid, "method": method, "params": params or {}}).decode())
    while True:
        frame = orjson.loads((await ws.receive(timeout=5)).data)
        if frame.get("id") == rid:
            return frame


@pytest.mark.parametrize("path", ["/ws-api/v3", "/ws-fapi/v1"])
async def test_the_dialect_logon_rules(path: str) -> None:
    keys = {KEY: SECRET, ED_KEY: ED_PUBLIC_PEM}
    async with BinanceDialect(dialect_settings(api_keys=keys)) as dialect, aiohttp.ClientSession() as http, \
            http.ws_connect(f"{dialect.ws_url}{path}") as ws:
        now = dialect.now_ms()
        hmac_logon = sign_ws_params({"apiKey": KEY, "timestamp": now}, HmacSigner(SECRET))
        assert (await _ask(ws, "1", "session.logon", hmac_logon))["error"]["code"] == -4056  # Ed25519 only
        unsigned = {"symbol": "BTCUSDT", "orderId": 1, "timestamp": now}
        assert (await _ask(ws, "2", "order.status", unsigned))["error"]["code"] == -2015  # not logged on
        forged = sign_ws_params({"apiKey": ED_KEY, "timestamp": now}, Ed25519Signer(
            Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()))
        assert (await _ask(ws, "3", "session.logon", forged))["error"]["code"] == -1022  # another key's signature
        logon = sign_ws_params({"apiKey": ED_KEY, "timestamp": now}, Ed25519Signer(ED_PRIVATE_PEM))
        answer = await _ask(ws, "4", "session.logon", logon)
        assert answer["status"] == 200 and answer["result"]["apiKey"] == ED_KEY
        assert (await _ask(ws, "5", "session.status"))["result"]["apiKey"] == ED_KEY
        missing = await _ask(ws, "6", "order.status", unsigned)
        assert missing["error"]["code"] == -2013  # authenticated by the logon: the order is what is missing
        stale = {**unsigned, "timestamp": now - 60_000}
        assert (await _ask(ws, "7", "order.status", stale))["error"]["code"] == -1021  # timestamp still checked
        assert (await _ask(ws, "8", "session.logout"))["result"]["apiKey"] is None
        assert (await _ask(ws, "9", "order.status", unsigned))["error"]["code"] == -2015
