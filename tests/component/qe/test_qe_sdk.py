"""The official QE Python SDK (`qe-connector` 1.3.3, its own client classes, unchanged) against the QE
dialect on loopback, over real sockets: what the SDK covers works, signatures included.

The SDK is blocking (`requests`), so each call runs in a thread (`asyncio.to_thread`); its WebSocket
client runs its own thread and event loop, and its handlers hand what they receive to the test's loop
with `call_soon_threadsafe`.

The SDK's own bugs (fact sheet §8 and §11) are worked around here, never in the dialect:
- `on_fill` is never called, and a fill arrives as an `order_data` push parsed into an `OrderMessage`
  (`fill_qty` = the child's cumulative filled quantity): the test reads fills from `on_order`;
- once an established socket drops, 1.3.3 does not reconnect (the gateway's own client does);
- `WebSocketService.close()` stalls 5 s on a live socket: it schedules `websocket.close()` on the SDK's
  own loop, which ends as soon as the socket is closed, so the result never reaches the waiting future
  (`Timed out closing websocket`). The test ends the socket from the server side first (the dialect's
  `drop_sockets` fault), waits for `on_disconnected`, then calls `close()`, which returns at once;
- `time_offset` does nothing: the dialect's clock and the SDK's are the same host clock here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from qe import APIError, MasterOrderMessage, OrderMessage, WebSocketEventHandlers, WebSocketService
from qe.pub import Pub
from qe.status import Status
from qe.user import User
from qe_helpers import KEY, SECRET, dialect_settings

from gateway.simserver.qe.server import QeDialect

TIMEOUT = 15.0


class Inbox:
    """What the SDK's WebSocket handlers received, readable from the test's loop (they run on the SDK's thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self.masters: list[MasterOrderMessage] = []
        self.orders: list[OrderMessage] = []
        self.raw_ids: list[str] = []
        self.statuses: list[str] = []
        self.errors: list[Exception] = []
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self._changed = asyncio.Condition()

    def handlers(self) -> WebSocketEventHandlers:
        return WebSocketEventHandlers(
            on_master_order=lambda m: self._add(self.masters, m), on_order=lambda o: self._add(self.orders, o),
            on_raw_message=lambda r: self._add(self.raw_ids, r.messageId), on_status=lambda s: self._add(self.statuses, s),
            on_error=lambda e: self._add(self.errors, e),
            on_connected=lambda: self._loop.call_soon_threadsafe(self.connected.set),
            on_disconnected=lambda: self._loop.call_soon_threadsafe(self.disconnected.set))

    def _add(self, into: list[Any], item: Any) -> None:
        with self._lock:
            into.append(item)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._notify()))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            async with self._changed:
                await self._changed.wait_for(lambda: self._locked(predicate))

    def _locked(self, predicate: Callable[[], bool]) -> bool:
        with self._lock:
            return predicate()


@pytest.fixture
async def dialect() -> AsyncIterator[QeDialect]:
    # The SDK insists on executionDurationSeconds > 10, so the TWAPs here last 12 s; the test cancels them.
    async with QeDialect(dialect_settings(min_duration_s=10, slice_ms=200)) as running:
        yield running


def _user(dialect: QeDialect, secret: str = SECRET) -> User:
    # The README's V2 base: the REST host plus /strategy-api (the dialect serves both; fact sheet §1).
    return User(KEY, secret, base_url=f"{dialect.rest_url}/strategy-api", timeout=5)


def _create(user: User, api_key_id: str, client_order_id: str, qty: str = "0.05") -> Any:
    return user.create_master_order_v2(
        apiKeyId=api_key_id, exchange="Binance", marketType="SPOT", symbol="BTCUSDT", side="buy",
        algorithm="TWAP", executionDurationSeconds=12, totalQuantity=qty, clientOrderId=client_order_id,
        upTolerance="0.2", lowTolerance="0.2")


async def test_public_endpoints_answer_the_sdk(dialect: QeDialect) -> None:
    status = Status(base_url=dialect.rest_url, timeout=5)
    assert await asyncio.to_thread(status.ping) == {}
    server_ms = await asyncio.to_thread(status.timestamp)
    assert isinstance(server_ms, int) and abs(server_ms - dialect.now_ms()) < 5_000

    pub = Pub(base_url=dialect.rest_url, timeout=5)
    spot = await asyncio.to_thread(pub.trading_pairs, page=1, pageSize=50, exchange="Binance", marketType="SPOT")
    assert spot["total"] == len(spot["items"]) >= 1
    assert {p["symbol"] for p in spot["items"]} >= {"BTCUSDT"}
    assert all(p["marketType"] == "SPOT" and p["exchange"] == "Binance" for p in spot["items"])
    perp = await asyncio.to_thread(pub.trading_pairs_v2, exchange="Binance", marketType="PERP")
    assert perp["items"] and all(p["marketType"] == "PERP" for p in perp["items"])


async def test_exchange_apis_and_a_wrong_secret(dialect: QeDialect) -> None:
    user = _user(dialect)
    apis = await asyncio.to_thread(user.list_exchange_apis_v2, page=1, pageSize=10)
    assert {a["apiKeyId"] for a in apis["items"]} == {a.api_key_id for a in dialect.settings.accounts}
    binance = await asyncio.to_thread(user.list_exchange_apis_v2, exchange="Binance")
    assert [a["exchange"] for a in binance["items"]] == ["Binance"]
    v1 = await asyncio.to_thread(user.list_exchange_apis, page=1, pageSize=10)  # the V1 path, V1 signing
    assert len(v1["items"]) == len(dialect.settings.accounts)
    v1_key = await asyncio.to_thread(user.create_listen_key)  # V1 listen key: signed query, no body
    assert dialect.is_valid_key(v1_key["listenKey"])

    with pytest.raises(APIError) as refused:
        await asyncio.to_thread(_user(dialect, "not-the-secret").list_exchange_apis_v2)
    assert refused.value.code == 401
    before = len(dialect.book.masters)
    with pytest.raises(APIError) as refused:  # a signed JSON write with the wrong secret changes nothing
        await asyncio.to_thread(_create, _user(dialect, "not-the-secret"), "ak-binance-1", "sdk-bad")
    assert refused.value.code == 401 and len(dialect.book.masters) == before


async def test_a_twap_master_order_through_the_sdk_with_its_websocket(dialect: QeDialect) -> None:
    user = _user(dialect)
    key = await asyncio.to_thread(user.create_listen_key_v2)
    assert key["success"] is True and int(key["expireAt"]) * 1000 > dialect.now_ms()
    inbox = Inbox(asyncio.get_running_loop())
    ws = WebSocketService(user, base_url=dialect.ws_url).set_handlers(inbox.handlers())
    ws.connect(key["listenKey"])
    try:
        await asyncio.wait_for(inbox.connected.wait(), TIMEOUT)
        await inbox.wait_for(lambda: "connected" in inbox.statuses)

        created = await asyncio.to_thread(_create, user, "ak-binance-1", "sdk-twap-1")
        master_id = created["masterOrderId"]
        assert created["clientOrderId"] == "sdk-twap-1" and created["status"] == "NEW"

        listed = await asyncio.to_thread(user.list_master_orders_v2, page=1, pageSize=10, status="NEW")
        assert [m["masterOrderId"] for m in listed["items"]] == [master_id]
        detail = await asyncio.to_thread(user.get_master_order_v2, master_id)
        assert detail["clientOrderId"] == "sdk-twap-1" and detail["totalQuantity"] == "0.05"
        assert detail["apiKeyId"] == "ak-binance-1" and detail["algorithm"] == "TWAP"
        by_client = await asyncio.to_thread(user.get_master_order_by_client_order_id_v2, "sdk-twap-1")
        assert by_client["masterOrderId"] == master_id

        # The pushes reach the SDK's handlers: the master's updates, and its children with their fills.
        await inbox.wait_for(lambda: any(o.master_order_id == master_id and o.fill_qty > 0 for o in inbox.orders))
        assert any(m.master_order_id == master_id and m.client_id == "sdk-twap-1" for m in inbox.masters)

        updated = await asyncio.to_thread(user.update_master_order_v2, master_id, upTolerance="0.3")
        assert updated["success"] is True
        assert dialect.book.masters[master_id].algo.params["up_tolerance"] == "0.3"

        canceled = await asyncio.to_thread(user.cancel_master_order_v2, master_id, reason="sdk test")
        assert canceled["success"] is True
        await inbox.wait_for(lambda: any(m.master_order_id == master_id and m.status == "CANCELLED"
                                         for m in inbox.masters))
        final = await asyncio.to_thread(user.get_master_order_v2, master_id)
        assert final["status"] == "CANCELLED"

        fills = await asyncio.to_thread(user.list_order_fills_v2, masterOrderId=master_id, page=1, pageSize=100)
        filled = sum((Decimal(f["filledQuantity"]) for f in fills["items"]), Decimal(0))
        assert filled > 0 and filled == Decimal(final["cumFilledQty"])
        assert all(f["masterOrderId"] == master_id for f in fills["items"])
        # What the SDK heard last for each child is what REST reports (fill_qty is cumulative per child).
        await inbox.wait_for(lambda: _last_per_child(inbox.orders, master_id) == _rest_per_child(fills["items"]))

        finished = await asyncio.to_thread(user.list_master_orders_v2, status="COMPLETED")
        assert master_id in {m["masterOrderId"] for m in finished["items"]}
        assert len(inbox.raw_ids) == len(set(inbox.raw_ids))  # one push per messageId (no fault asked)
        assert not inbox.errors
    finally:
        dialect.drop_sockets()  # see the module docstring: the SDK's own close() would stall 5 s
        await asyncio.wait_for(inbox.disconnected.wait(), TIMEOUT)
        await asyncio.to_thread(ws.close)


async def test_batch_cancel_and_a_duplicate_client_order_id(dialect: QeDialect) -> None:
    user = _user(dialect)
    first = await asyncio.to_thread(_create, user, "ak-binance-1", "sdk-batch-1")
    second = await asyncio.to_thread(_create, user, "ak-binance-1", "sdk-batch-2")
    with pytest.raises(APIError) as refused:
        await asyncio.to_thread(_create, user, "ak-binance-1", "sdk-batch-1")
    assert refused.value.code == 400 and "already exists" in str(refused.value.message)

    reply = await asyncio.to_thread(user.batch_cancel_master_orders_v2,
                                    [first["masterOrderId"], second["masterOrderId"], "mo-missing"], reason="done")
    assert reply["successCount"] == 2
    assert [f["masterOrderId"] for f in reply["failedOrders"]] == ["mo-missing"]
    for created in (first, second):
        detail = await asyncio.to_thread(user.get_master_order_v2, created["masterOrderId"])
        assert detail["status"] == "CANCELLED"
    with pytest.raises(APIError) as missing:
        await asyncio.to_thread(user.get_master_order_v2, "mo-missing")
    assert missing.value.code == 404


def _last_per_child(orders: list[OrderMessage], master_id: str) -> dict[str, Decimal]:
    last: dict[str, Decimal] = {}
    for o in orders:
        if o.master_order_id == master_id and o.fill_qty > 0:
            last[str(o.order_id)] = Decimal(str(o.fill_qty))
    return last


def _rest_per_child(items: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {str(f["orderId"]): Decimal(f["filledQuantity"]) for f in items if Decimal(f["filledQuantity"]) > 0}
