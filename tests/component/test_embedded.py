"""The embedded simulated exchange: the seed's quick start and strategy examples, users trading with each
other on one exchange, deposits and withdrawals, users added while running, the blocking facade."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from decimal import Decimal as D
from typing import Any

import pytest
import websockets

from gateway.core.errors import ErrorCode
from gateway.embedded import BackgroundExchange, EmbeddedExchange
from gateway.sim_admin import SimAdminError

TIMEOUT_S = 10.0


class _Response:
    def __init__(self, status_code: int, body: bytes):
        self.status_code = status_code
        self._body = body

    def json(self) -> Any:
        return json.loads(self._body)


class requests:  # lower case: the seed's examples call `requests.get(...)`; this is the little of it they use
    """Just enough of the `requests` library for the seed's examples, on urllib (blocking)."""

    @staticmethod
    def _send(method: str, url: str, headers: dict[str, str] | None, body: Any = None) -> _Response:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return _Response(response.status, response.read())
        except urllib.error.HTTPError as error:
            return _Response(error.code, error.read())

    @classmethod
    def get(cls, url: str, headers: dict[str, str] | None = None) -> _Response:
        return cls._send("GET", url, headers)

    @classmethod
    def post(cls, url: str, headers: dict[str, str] | None = None, json: Any = None) -> _Response:
        return cls._send("POST", url, headers, json)

    @classmethod
    def delete(cls, url: str, headers: dict[str, str] | None = None) -> _Response:
        return cls._send("DELETE", url, headers)


def balances_of(account_info: dict[str, Any]) -> dict[str, tuple[D, D]]:
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in account_info["balances"]}


# --- the seed, with only its URLs and key changed -------------------------------------------------------


def test_the_seeds_quick_start_rest_and_websocket_examples() -> None:
    # 初始化模拟交易所 (the seed's quick start; MockExchange(rest_port=5000, ws_port=8765) -> ports the OS picks)
    exchange = BackgroundExchange(rest_port=0, ws_port=0, log_level=None, prewarm_steps=50)
    exchange.start()
    try:
        exchange.register_symbol("BTCUSDT", "BTC", "USDT")
        api_key = exchange.create_user("user1", "User One")
        exchange.deposit("user1", "BTC", 1.0)
        exchange.deposit("user1", "USDT", 50000.0)

        # 示例：使用requests库访问REST API
        base_url = exchange.rest_url
        headers = {"X-API-KEY": api_key}
        response = requests.get(f"{base_url}/api/v1/account", headers=headers)
        account_info = response.json()
        assert response.status_code == 200, account_info
        assert account_info["account"] == "user1" and account_info["canTrade"] is True
        assert balances_of(account_info) == {"BTC": (D(1), 0), "USDT": (D(50000), 0)}

        order_data = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "0.01",
            "price": "20000",
            "newClientOrderId": "my_order_id_123",
        }
        response = requests.post(f"{base_url}/api/v1/order", headers=headers, json=order_data)
        order_result = response.json()
        assert response.status_code == 200, order_result
        assert order_result["clientOrderId"] == "my_order_id_123" and order_result["status"] == "NEW"
        assert order_result["symbol"] == "BTCUSDT" and order_result["account"] == "user1"
        assert D(order_result["price"]) == 20000 and D(order_result["origQty"]) == D("0.01")
        locked = balances_of(requests.get(f"{base_url}/api/v1/account", headers=headers).json())["USDT"][1]
        assert locked >= 200  # 0.01 x 20000 (+ the taker fee) is held

        # the strategy example's market data calls
        ticker = requests.get(f"{base_url}/api/v1/ticker/price?symbol=BTCUSDT", headers=headers).json()
        depth = requests.get(f"{base_url}/api/v1/depth?symbol=BTCUSDT&limit=10", headers=headers).json()
        assert ticker["symbol"] == "BTCUSDT" and D(ticker["price"]) > 0
        assert depth["bids"] and depth["asks"]

        # 示例：使用websockets库连接WebSocket (the seed's code; it ends with an endless receive loop,
        # here it receives until it has seen each stream, while the order above is cancelled)
        ws_url = exchange.ws_url
        seen: dict[str, list[dict[str, Any]]] = {}
        responses: list[dict[str, Any]] = []

        async def connect_to_websocket() -> None:
            async with websockets.connect(ws_url) as websocket:
                auth_msg = {"method": "auth", "params": {"api_key": api_key}, "id": 1}
                await websocket.send(json.dumps(auth_msg))
                responses.append(json.loads(await websocket.recv()))

                subscribe_msg = {"method": "subscribe", "params": {"streams": ["BTCUSDT@trade", "BTCUSDT@depth"]},
                                 "id": 2}
                await websocket.send(json.dumps(subscribe_msg))
                responses.append(json.loads(await websocket.recv()))

                subscribe_user_msg = {"method": "subscribe", "params": {"streams": ["user1@account", "user1@order"]},
                                      "id": 3}
                await websocket.send(json.dumps(subscribe_user_msg))
                responses.append(json.loads(await websocket.recv()))

                # the strategy example's cancel_order, from its (blocking) trading thread
                params = f"symbol=BTCUSDT&orderId={order_result['orderId']}"
                cancel = asyncio.create_task(asyncio.to_thread(
                    requests.delete, f"{base_url}/api/v1/order?{params}", headers))
                async with asyncio.timeout(TIMEOUT_S):
                    while len(seen) < 4 or all(o["status"] != "canceled" for o in seen.get("user1@order", [])):
                        message = await websocket.recv()
                        data = json.loads(message)
                        seen.setdefault(data["stream"], []).append(data["data"])
                assert (await cancel).json()["status"] == "CANCELED"

        asyncio.run(connect_to_websocket())
        assert [r["id"] for r in responses] == [1, 2, 3] and all("result" in r for r in responses)
        assert responses[0]["result"]["accounts"] == ["user1"]
        assert responses[2]["result"]["streams"] == ["BTCUSDT@trade", "BTCUSDT@depth", "user1@account", "user1@order"]
        assert set(seen) == {"BTCUSDT@trade", "BTCUSDT@depth", "user1@account", "user1@order"}
        assert {o["client_order_id"] for o in seen["user1@order"]} == {"my_order_id_123"}
        assert seen["user1@order"][-1]["status"] == "canceled" and seen["user1@account"][0]["asset"] == "USDT"
        assert seen["BTCUSDT@trade"][0]["symbol"] == "BTC/USDT" and seen["BTCUSDT@depth"][0]["bids"]
    finally:
        exchange.stop()


# --- users on one exchange ------------------------------------------------------------------------------


class Client:
    """A strategy WebSocket connection: requests by id, pushes collected by stream."""

    def __init__(self, ws: Any):
        self.ws = ws
        self.pushes: dict[str, list[dict[str, Any]]] = {}
        self._next = 0

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self._next += 1
        await self.ws.send(json.dumps({"id": self._next, "method": method, "params": params or {}}))
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                frame = json.loads(await self.ws.recv())
                if "stream" in frame:
                    self.pushes.setdefault(frame["stream"], []).append(frame["data"])
                elif frame.get("id") == self._next:
                    if "error" in frame:
                        raise SimAdminError(frame["error"]["message"], code=ErrorCode(frame["error"]["code"]))
                    return frame["result"]

    async def wait_for(self, stream: str, predicate: Any) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                for data in self.pushes.get(stream, []):
                    if predicate(data):
                        return data
                frame = json.loads(await self.ws.recv())
                if "stream" in frame:
                    self.pushes.setdefault(frame["stream"], []).append(frame["data"])


async def connect(exchange: EmbeddedExchange, api_key: str, streams: list[str]) -> Client:
    ws = await websockets.connect(exchange.ws_url)
    client = Client(ws)
    await client.call("auth", {"api_key": api_key})
    await client.call("subscribe", {"streams": streams})
    return client


async def test_one_users_limit_sell_is_filled_by_another_users_market_buy() -> None:
    async with EmbeddedExchange(log_level=None, synthetic_market=False) as exchange:
        await exchange.register_symbol("BTCUSDT", "BTC", "USDT")
        seller_key = await exchange.create_user("user1", "User One", balances={"BTC": "1"})
        buyer_key = await exchange.create_user("user2", "User Two")
        await exchange.deposit("user2", "USDT", "100000")
        seller = await connect(exchange, seller_key, ["user1@fill", "user1@order"])
        buyer = await connect(exchange, buyer_key, ["user2@fill", "BTCUSDT@trade"])
        try:
            sell = await seller.call("order.place", {"symbol": "BTCUSDT", "side": "sell", "type": "limit",
                                                     "qty": "0.5", "price": "60000", "client_order_id": "s-1"})
            assert sell["account"] == "user1" and sell["status"] == "new"
            buy = await buyer.call("order.place", {"symbol": "BTCUSDT", "side": "buy", "type": "market",
                                                   "qty": "0.5", "client_order_id": "b-1"})
            assert buy["account"] == "user2"
            sold = await seller.wait_for("user1@fill", lambda f: f["client_order_id"] == "s-1")
            bought = await buyer.wait_for("user2@fill", lambda f: f["client_order_id"] == "b-1")
            trade = await buyer.wait_for("BTCUSDT@trade", lambda t: True)
            assert sold["trade_id"] == bought["trade_id"] == trade["id"]
            assert (sold["side"], bought["side"], sold["liquidity"], bought["liquidity"]) == (
                "sell", "buy", "maker", "taker")
            assert D(sold["price"]) == D(bought["price"]) == 60000 and D(sold["qty"]) == D(bought["qty"]) == D("0.5")
            await seller.wait_for("user1@order", lambda o: o["client_order_id"] == "s-1" and o["status"] == "filled")
            # the funds moved between the two accounts, less the fees (maker 0.02%, taker 0.04%)
            assert (await exchange.balances("user1"))["BTC"]["free"] == D("0.5")
            assert (await exchange.balances("user1"))["USDT"]["free"] == D(30000) - D(30000) * D("0.0002")
            assert (await exchange.balances("user2"))["BTC"]["free"] == D("0.5")
            assert (await exchange.balances("user2"))["USDT"]["free"] == D(70000) - D(30000) * D("0.0004")
            # a user's key reaches its own account only
            with pytest.raises(SimAdminError) as caught:
                await buyer.call("account.balances", {"account": "user1"})
            assert caught.value.code is ErrorCode.FORBIDDEN
            with pytest.raises(SimAdminError):
                await buyer.call("subscribe", {"streams": ["user1@order"]})
        finally:
            await seller.ws.close()
            await buyer.ws.close()


async def test_a_user_created_while_others_trade_joins_the_same_books() -> None:
    async with EmbeddedExchange(log_level=None, synthetic_market=False, symbols=["ETH/USDT"]) as exchange:
        first_key = await exchange.create_user("alice", balances={"ETH": "2"})
        alice = await connect(exchange, first_key, ["alice@fill"])
        try:
            await alice.call("order.place", {"symbol": "ETH/USDT", "side": "sell", "type": "limit", "qty": "1",
                                             "price": "3000", "client_order_id": "a-1"})
            late_key = await exchange.create_user("bob", "Bob", balances={"USDT": "5000"})
            assert [u.user for u in exchange.users()] == ["alice", "bob"]
            bob = await connect(exchange, late_key, ["bob@fill", "bob@balance"])
            venues = {v["name"] for v in await bob.call("venues")}
            assert venues == {"sim", "alice", "bob"}
            depth = await bob.call("depth", {"symbol": "ETHUSDT"})
            assert [D(p) for p, _ in depth["asks"]] == [D(3000)]
            await bob.call("order.place", {"symbol": "ETHUSDT", "side": "buy", "type": "limit", "qty": "1",
                                           "price": "3000", "tif": "ioc", "client_order_id": "b-1"})
            got = await alice.wait_for("alice@fill", lambda f: f["client_order_id"] == "a-1")
            assert got["trade_id"] == (await bob.wait_for("bob@fill", lambda f: True))["trade_id"]
            await bob.ws.close()
        finally:
            await alice.ws.close()


async def test_deposit_and_withdraw() -> None:
    async with EmbeddedExchange(log_level=None, synthetic_market=False, symbols=["BTCUSDT"]) as exchange:
        key = await exchange.create_user("user1")
        assert await exchange.balances("user1") == {}
        assert (await exchange.deposit("user1", "usdt", 1000.5))["free"] == D("1000.5")
        result = await exchange.withdraw("user1", "USDT", "0.5")
        assert result == {"account": "user1", "asset": "USDT", "free": D(1000), "locked": D(0)}
        with pytest.raises(SimAdminError) as caught:
            await exchange.withdraw("user1", "USDT", "1000.01")
        assert caught.value.code is ErrorCode.INSUFFICIENT_BALANCE and "1000" in caught.value.message
        with pytest.raises(SimAdminError):
            await exchange.withdraw("user1", "BTC", 1)  # nothing of it
        for bad in (0, -1, "abc", "NaN", True, None):
            with pytest.raises(SimAdminError):
                await exchange.deposit("user1", "USDT", bad)
        with pytest.raises(SimAdminError) as caught:
            await exchange.deposit("nobody", "USDT", 1)
        assert caught.value.code is ErrorCode.UNKNOWN_VENUE
        # funds held by an open order are not free
        client = await connect(exchange, key, ["user1@balance"])
        try:
            await client.call("order.place", {"symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01",
                                              "price": "50000", "client_order_id": "hold"})
            free = (await exchange.balances("user1"))["USDT"]["free"]
            assert free < D(500)
            with pytest.raises(SimAdminError):
                await exchange.withdraw("user1", "USDT", 1000)
            assert (await exchange.withdraw("user1", "USDT", free))["free"] == 0
            pushed = await client.wait_for("user1@balance", lambda b: b["asset"] == "USDT" and D(b["free"]) == 0)
            assert D(pushed["locked"]) > 500
        finally:
            await client.ws.close()
        assert (await exchange.balances("user1"))["USDT"]["free"] == 0


async def test_users_and_symbols_are_checked() -> None:
    async with EmbeddedExchange(log_level=None, synthetic_market=False) as exchange:
        instrument = await exchange.register_symbol("BTCUSDT", "BTC", "USDT")
        assert (instrument.symbol, instrument.native, instrument.tick_size, instrument.step_size) == (
            "BTC/USDT", "BTCUSDT", D("0.01"), D("0.00001"))
        assert await exchange.register_symbol("BTCUSDT") == instrument  # listed again: the same
        sol = await exchange.register_symbol("SOLUSDT", start_price="150")
        assert (sol.symbol, sol.tick_size, sol.step_size, sol.min_qty) == ("SOL/USDT", D("0.0001"), D("0.001"), D("0.001"))
        perp = await exchange.register_symbol("BTC/USDT:USDT")
        assert perp.native == "BTCUSDT_PERP"
        with pytest.raises(SimAdminError):
            await exchange.register_symbol("XYZ")  # no base and quote to tell
        with pytest.raises(SimAdminError):
            await exchange.register_symbol("BTC/USDT", tick_size="0.1")  # listed differently already
        await exchange.create_user("user1")
        for bad in ("user1", "sim", "", "a b", "x:y", "BTCUSDT", "gateway"):
            with pytest.raises(SimAdminError):
                await exchange.create_user(bad)
        assert [u.user for u in exchange.users()] == ["user1"]


def test_the_background_exchange_starts_and_stops() -> None:
    exchange = BackgroundExchange(log_level=None, synthetic_market=False, timeout=20)
    exchange.register_symbol("ETHUSDT", "ETH", "USDT")  # before start
    with pytest.raises(RuntimeError):
        exchange.create_user("early")
    with exchange:
        assert exchange.is_running
        port = int(exchange.rest_url.rsplit(":", 1)[1])
        assert requests.get(f"{exchange.rest_url}/health").status_code == 200
        key = exchange.create_user("user1", balances={"USDT": 10})
        assert requests.get(f"{exchange.rest_url}/api/v1/account", {"X-API-KEY": key}).json()["balances"] == [
            {"asset": "USDT", "free": "10", "locked": "0"}]
        assert exchange.balances("user1") == {"USDT": {"free": D(10), "locked": D(0)}}
        with pytest.raises(SimAdminError):
            exchange.withdraw("user1", "USDT", 11)
    assert not exchange.is_running
    exchange.stop()  # again: nothing
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1)
        probe.connect(("127.0.0.1", port))  # nothing listens any more
    with pytest.raises(RuntimeError):
        exchange.start()  # once only
