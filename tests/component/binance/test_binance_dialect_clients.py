"""The official python-binance client, unchanged, against the Binance dialect over real sockets.

Issue 5 item 6: "existing Binance client libraries, pointed at its URLs, work against it unchanged".
python-binance (1.0.37) builds every URL from class attributes formatted in its constructor, so the
supported way to point it elsewhere is to set them on the instances (its own testnet switch does the
same): ``AsyncClient.API_URL`` / ``FUTURES_URL`` (REST), ``ws_api`` / ``ws_future`` (WebSocket APIs,
rebuilt as ``WebsocketAPI(url=...)``), ``BinanceSocketManager.STREAM_URL`` / ``FSTREAM_URL`` (streams;
the manager appends ``public/``, ``market/`` and ``private/`` itself). Nothing else of the library is
touched. ccxt is not covered: it pins ``urllib3==2.8.0`` against lighter-sdk's ``urllib3<2.1``, so it
does not install beside the project's dependencies.

Each test signs with the library's own signing code (HMAC here), so a signature, a parameter name, an
envelope or a path the dialect got wrong fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException
from binance.ws.reconnecting_websocket import ReconnectingWebsocket
from binance.ws.websocket_api import WebsocketAPI
from dialect_helpers import KEY, SECRET, dialect_settings

from gateway.simserver.binance.server import BinanceDialect

TIMEOUT_S = 10.0


@contextlib.asynccontextmanager
async def client_on(dialect: BinanceDialect) -> AsyncIterator[AsyncClient]:
    """Yield a python-binance AsyncClient whose every URL points at `dialect`."""
    client = AsyncClient(KEY, SECRET)
    client.API_URL = f"{dialect.rest_url}/api"
    client.FUTURES_URL = f"{dialect.rest_url}/fapi"
    client.ws_api = WebsocketAPI(url=f"{dialect.ws_url}/ws-api/v3")
    client.ws_future = WebsocketAPI(url=f"{dialect.ws_url}/ws-fapi/v1")
    try:
        server = await client.get_server_time()
        client.timestamp_offset = server["serverTime"] - dialect.now_ms()
        yield client
    finally:
        await client.ws_future.close()
        await client.close_connection()


def sockets(client: AsyncClient, dialect: BinanceDialect) -> BinanceSocketManager:
    manager = BinanceSocketManager(client)
    manager.STREAM_URL = f"{dialect.ws_url}/"
    manager.FSTREAM_URL = f"{dialect.ws_url}/"
    return manager


@pytest.fixture
async def dialect(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BinanceDialect]:
    # The library's socket read loop polls with ReconnectingWebsocket.TIMEOUT (10 s) and closing a socket
    # waits for that poll to end: a shorter poll keeps each test from idling 10 s on exit. It is also
    # the library's deadline for a WebSocket API answer, which on loopback comes in milliseconds.
    monkeypatch.setattr(ReconnectingWebsocket, "TIMEOUT", 1.0)
    async with BinanceDialect(dialect_settings()) as d:
        yield d


async def test_spot_market_data_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        info = await client.get_exchange_info()
        btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
        filters = {f["filterType"]: f for f in btc["filters"]}
        assert Decimal(filters["PRICE_FILTER"]["tickSize"]) == Decimal("0.01")
        assert Decimal(filters["LOT_SIZE"]["stepSize"]) == Decimal("0.00001")
        assert (await client.get_symbol_info("BTCUSDT"))["symbol"] == "BTCUSDT"  # the library's own lookup
        ticker = await client.get_ticker(symbol="BTCUSDT")
        assert Decimal(ticker["lastPrice"]) > 0
        book = await client.get_order_book(symbol="BTCUSDT", limit=10)
        last_id, bids, _asks = dialect.book("BTC/USDT")
        assert book["lastUpdateId"] == last_id
        assert [Decimal(p) for p, _ in book["bids"]] == [p for p, _ in bids[:10]]
        assert Decimal(book["asks"][0][0]) > Decimal(book["bids"][0][0])
        klines = await client.get_klines(symbol="BTCUSDT", interval=AsyncClient.KLINE_INTERVAL_1MINUTE, limit=5)
        assert 1 <= len(klines) <= 5 and len(klines[0]) == 12
        assert all(Decimal(k[2]) >= Decimal(k[3]) for k in klines)  # high >= low


async def test_spot_account_and_order_lifecycle_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        account = await client.get_account()
        usdt = next(b for b in account["balances"] if b["asset"] == "USDT")
        assert Decimal(usdt["free"]) > 0
        _, bids, _ = dialect.book("BTC/USDT")
        price = format(bids[-1][0] - Decimal(100), "f")  # far below the book: rests
        placed = await client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                           quantity="0.001", price=price, newClientOrderId="pb-spot-1")
        assert placed["status"] == "NEW" and placed["clientOrderId"] == "pb-spot-1"
        found = await client.get_order(symbol="BTCUSDT", origClientOrderId="pb-spot-1")
        assert found["orderId"] == placed["orderId"] and found["price"] == placed["price"]
        canceled = await client.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
        assert canceled["status"] == "CANCELED"
        with pytest.raises(BinanceAPIException) as refused:  # Binance's error envelope, parsed by the library
            await client.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
        assert refused.value.code == -2011


async def test_spot_orders_over_the_websocket_api_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        _, bids, _ = dialect.book("BTC/USDT")
        price = format(bids[-1][0] - Decimal(100), "f")
        placed = await client.ws_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                              quantity="0.001", price=price, newClientOrderId="pb-ws-1")
        assert placed["status"] == "NEW"
        found = await client.ws_get_order(symbol="BTCUSDT", orderId=placed["orderId"])
        assert found["clientOrderId"] == "pb-ws-1"
        canceled = await client.ws_cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
        assert canceled["status"] == "CANCELED"


async def test_spot_user_data_over_the_websocket_api_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        manager = sockets(client, dialect)
        async with manager.user_socket() as user:
            _, _, asks = dialect.book("BTC/USDT")
            await client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                      quantity="0.001", price=format(asks[0][0], "f"), newClientOrderId="pb-fill-1")

            async def report() -> dict:
                while True:
                    event = await user.recv()
                    if event.get("e") == "executionReport" and event.get("X") == "FILLED":
                        return event

            event = await asyncio.wait_for(report(), TIMEOUT_S)
            assert event["c"] == "pb-fill-1" and Decimal(event["z"]) == Decimal("0.001")


async def test_spot_market_stream_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        manager = sockets(client, dialect)
        async with manager.multiplex_socket(["btcusdt@trade", "btcusdt@depth@100ms"]) as stream:
            dialect.step(20)

            async def depth() -> dict:
                while True:
                    message = await stream.recv()
                    if message["stream"] == "btcusdt@depth@100ms":
                        return message["data"]

            diff = await asyncio.wait_for(depth(), TIMEOUT_S)
            assert diff["e"] == "depthUpdate" and diff["u"] >= diff["U"]


async def test_futures_market_data_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        info = await client.futures_exchange_info()
        btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
        assert btc["contractType"] == "PERPETUAL"
        ticker = await client.futures_ticker(symbol="BTCUSDT")
        assert Decimal(ticker["lastPrice"]) > 0
        book = await client.futures_order_book(symbol="BTCUSDT", limit=5)
        assert book["lastUpdateId"] == dialect.book("BTC/USDT:USDT")[0] and len(book["bids"]) == 5
        klines = await client.futures_klines(symbol="BTCUSDT", interval="1m", limit=3)
        assert 1 <= len(klines) <= 3


async def test_futures_account_orders_and_positions_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        account = await client.futures_account()
        assert any(a["asset"] == "USDT" for a in account["assets"])
        changed = await client.futures_change_leverage(symbol="BTCUSDT", leverage=7)
        assert changed["leverage"] == 7
        _, bids, _ = dialect.book("BTC/USDT:USDT")
        resting = await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                    quantity="0.002", price=format(bids[-1][0] - 100, "f"))
        found = await client.futures_get_order(symbol="BTCUSDT", orderId=resting["orderId"])
        assert found["status"] == "NEW"
        canceled = await client.futures_cancel_order(symbol="BTCUSDT", orderId=resting["orderId"])
        assert canceled["status"] == "CANCELED"
        await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.003")
        positions = await client.futures_position_information(symbol="BTCUSDT")  # v3: no leverage field
        position = next(p for p in positions if p["symbol"] == "BTCUSDT")
        assert Decimal(position["positionAmt"]) == Decimal("0.003") and "leverage" not in position
        v2 = await client.futures_position_information(symbol="BTCUSDT", version=2)
        assert next(p for p in v2 if p["symbol"] == "BTCUSDT")["leverage"] == "7"
        # The library routes conditional orders to the algo endpoint itself (fact sheet §0.3), renaming
        # stopPrice to triggerPrice: the dialect must take them there.
        stop = await client.futures_create_order(symbol="BTCUSDT", side="SELL", type="STOP_MARKET", quantity="0.003",
                                                 stopPrice=format(bids[0][0] - 500, "f"), reduceOnly="true")
        assert stop["algoType"] == "CONDITIONAL" and stop["algoStatus"] == "NEW" and stop["orderType"] == "STOP_MARKET"


async def test_futures_user_data_stream_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        manager = sockets(client, dialect)
        async with manager.futures_user_socket() as user:
            order = await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001",
                                                      newClientOrderId="pb-fut-1")

            async def trade_update() -> dict:
                while True:
                    event = await user.recv()
                    if event.get("e") == "ORDER_TRADE_UPDATE" and event["o"]["X"] == "FILLED":
                        return event

            event = await asyncio.wait_for(trade_update(), TIMEOUT_S)
            assert event["o"]["c"] == "pb-fut-1" and event["o"]["i"] == order["orderId"]


async def test_futures_orders_over_ws_fapi_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        _, bids, _ = dialect.book("BTC/USDT:USDT")
        placed = await client.ws_futures_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                      quantity="0.002", price=format(bids[-1][0] - 100, "f"))
        assert placed["status"] == "NEW"
        found = await client.ws_futures_get_order(symbol="BTCUSDT", orderId=placed["orderId"])
        assert found["orderId"] == placed["orderId"]


async def test_futures_market_stream_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        manager = sockets(client, dialect)
        async with manager.futures_multiplex_socket(["btcusdt@aggTrade", "btcusdt@markPrice@1s"]) as stream:
            dialect.step(40)

            async def mark() -> dict:
                while True:
                    message = await stream.recv()
                    if message["stream"] == "btcusdt@markPrice@1s":
                        return message["data"]

            event = await asyncio.wait_for(mark(), TIMEOUT_S)
            assert event["e"] == "markPriceUpdate" and Decimal(event["p"]) > 0


async def test_futures_batch_orders_through_python_binance(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        _, bids, _ = dialect.book("BTC/USDT:USDT")
        low = format(bids[-1][0] - 100, "f")
        answers = await client.futures_place_batch_order(batchOrders=[
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": low, "newClientOrderId": "pb-batch-1"},
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.0001",
             "price": low, "newClientOrderId": "pb-batch-2"},  # off the 0.001 step: refused on its own
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.002",
             "price": low, "newClientOrderId": "pb-batch-3"},
        ])
        assert [a.get("clientOrderId") for a in answers] == ["pb-batch-1", None, "pb-batch-3"]
        assert answers[1]["code"] == -1013 and answers[0]["status"] == answers[2]["status"] == "NEW"
        opened = await client.futures_get_open_orders(symbol="BTCUSDT")
        assert {o["clientOrderId"] for o in opened} == {"pb-batch-1", "pb-batch-3"}


async def test_futures_position_margin_change_pushes_account_update(dialect: BinanceDialect) -> None:
    async with client_on(dialect) as client:
        await client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
        await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002")
        before = next(p for p in await client.futures_position_information(symbol="BTCUSDT", version=2))
        manager = sockets(client, dialect)
        async with manager.futures_user_socket() as user:
            await client.futures_change_position_margin(symbol="BTCUSDT", amount="25", type=1)
            after = next(p for p in await client.futures_position_information(symbol="BTCUSDT", version=2))
            assert Decimal(after["isolatedWallet"]) == Decimal(before["isolatedWallet"]) + 25

            async def account_update() -> dict:
                while True:
                    event = await user.recv()
                    if event.get("e") == "ACCOUNT_UPDATE":
                        return event

            event = await asyncio.wait_for(account_update(), TIMEOUT_S)
            assert event["a"]["m"] == "MARGIN_TRANSFER"
            position = event["a"]["P"][0]
            assert position["s"] == "BTCUSDT" and position["mt"] == "isolated"
            assert Decimal(position["iw"]) == Decimal(after["isolatedWallet"])
            assert Decimal(position["pa"]) == Decimal("0.002")
