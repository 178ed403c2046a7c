"""Fixtures for the strategy WebSocket: a fake venue, the real server on loopback, a small JSON client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.api.config import ApiSettings, Permission, StrategySettings
from gateway.api.methods import market_methods
from gateway.api.protocol import encode_push
from gateway.api.ws_server import StrategyServer
from gateway.core.bus import StreamBus
from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, MarketType, Side
from gateway.core.events import Depth, Kline, Ticker, Trade
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities
from gateway.market.config import MarketSettings
from gateway.market.service import MarketService
from gateway.venues.registry import VenueDirectory

ALPHA_KEY = "alpha-key-0001"
SCOPED_KEY = "scoped-key-0002"
READONLY_NONE_KEY = "nothing-key-0003"
TIMEOUT = 3.0


def make_instruments(venue: str) -> dict[str, Instrument]:
    spot = Instrument(
        venue,
        "BTC/USDT",
        "BTCUSDT",
        "BTC",
        "USDT",
        MarketType.SPOT,
        Decimal("0.01"),
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal("5"),
    )
    perp = Instrument(
        venue,
        "ETH/USDT:USDT",
        "ETHUSDT",
        "ETH",
        "USDT",
        MarketType.PERP,
        Decimal("0.01"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("5"),
        settle="USDT",
    )
    return {spot.symbol: spot, perp.symbol: perp}


class FakeVenue:
    """The market-data side of a `VenueAdapter`, enough for the API layer. Calls can be held on a gate."""

    kind = "sim"
    capabilities = Capabilities()

    def __init__(self, name: str = "sim"):
        self.name = name
        self._instruments = make_instruments(name)
        self.gate: asyncio.Event | None = None  # when set, fetches wait for it
        self.fetch_started = asyncio.Event()
        self.fail_with: BaseException | None = None
        self.calls: list[str] = []

    @property
    def state(self) -> ConnectionState:
        return ConnectionState.OPEN

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self._instruments

    async def __aenter__(self) -> FakeVenue:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def bind(self, sink: object) -> None:
        return None

    async def _enter(self, call: str) -> None:
        self.calls.append(call)
        self.fetch_started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with

    async def fetch_ticker(self, symbol: str) -> Ticker:
        await self._enter("ticker")
        d = Decimal
        return Ticker(
            self.name, symbol, d("65000.10"), d("64000"), d("66000"), d("63000"), d("12.5"), d("800000"), 1
        )

    async def fetch_depth(self, symbol: str, limit: int) -> Depth:
        await self._enter("depth")
        return make_depth(self.name, symbol, seq=1, levels=limit)

    async def fetch_trades(self, symbol: str, limit: int) -> list[Trade]:
        await self._enter("trades")
        return [make_trade(self.name, symbol, i) for i in range(limit)]

    async def fetch_klines(
        self, symbol: str, interval: str, limit: int, start: int | None = None, end: int | None = None
    ) -> list[Kline]:
        await self._enter("klines")
        d = Decimal
        return [
            Kline(self.name, symbol, interval, 60_000 * i, d("1"), d("2"), d("0.5"), d("1.5"), d("10"), True)
            for i in range(limit)
        ]


def make_trade(venue: str, symbol: str, n: int, price: str = "65000.10") -> Trade:
    return Trade(
        venue,
        symbol,
        str(n),
        Decimal(price),
        Decimal("0.5"),
        Side.BUY,
        1_700_000_000_000 + n,
        1_700_000_000_001 + n,
    )


def make_depth(venue: str, symbol: str, seq: int, levels: int = 20) -> Depth:
    bids = tuple((Decimal("65000.00") - Decimal(i) / 100, Decimal("1.5")) for i in range(levels))
    asks = tuple((Decimal("65000.10") + Decimal(i) / 100, Decimal("2.25")) for i in range(levels))
    return Depth(venue, symbol, bids, asks, seq, 1_700_000_000_000 + seq, 1_700_000_000_001 + seq)


class Client:
    """A JSON client over a real websockets connection: calls by id, pushes in a queue."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.pushes: asyncio.Queue[dict] = asyncio.Queue()
        self._waiting: dict[Any, asyncio.Future[dict]] = {}
        self._next_id = 0
        self.unmatched: asyncio.Queue[dict] = asyncio.Queue()  # responses nobody waits for (id null, ...)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                frame = orjson.loads(raw)
                if "stream" in frame:
                    self.pushes.put_nowait(frame)
                    continue
                future = self._waiting.pop(frame.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(frame)
                else:
                    self.unmatched.put_nowait(frame)

    async def call(self, method: str, params: dict | None = None, timeout: float = TIMEOUT) -> dict:
        """Send a request and return its whole response frame."""
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send(orjson.dumps(message).decode())
        return await asyncio.wait_for(future, timeout)

    async def result(self, method: str, params: dict | None = None) -> Any:
        response = await self.call(method, params)
        assert "result" in response, response
        return response["result"]

    async def error(self, method: str, params: dict | None = None) -> dict:
        response = await self.call(method, params)
        assert "error" in response, response
        return response["error"]

    async def send_raw(self, text: str | bytes) -> dict:
        """Send a raw frame and return the next response that matches no pending call."""
        await self.ws.send(text)
        return await asyncio.wait_for(self.unmatched.get(), TIMEOUT)

    async def push(self, timeout: float = TIMEOUT) -> dict:
        return await asyncio.wait_for(self.pushes.get(), timeout)

    async def closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str | None]:
        """Wait for the connection to close; return the server's close code and reason."""
        await asyncio.wait_for(self.ws.wait_closed(), timeout)
        await asyncio.wait_for(self._reader, timeout)
        return self.ws.close_code, self.ws.close_reason

    async def aclose(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Gateway:
    """The API layer wired as app.py will wire it, around one fake venue."""

    def __init__(self, settings: ApiSettings, venue: FakeVenue):
        self.settings = settings
        self.venue = venue
        self.bus = StreamBus(encode_push)
        self.directory = VenueDirectory({venue.name: venue})
        self.clock = SystemClock()
        self.market = MarketService(self.directory, self.bus, self.clock, MarketSettings())
        self.server = StrategyServer(
            settings,
            directory=self.directory,
            market=self.market,
            bus=self.bus,
            clock=self.clock,
            methods=market_methods(),
        )
        self.clients: list[Client] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}{self.settings.path}"

    async def connect(self, api_key: str | None = ALPHA_KEY, *, auth: bool = True, **kwargs: Any) -> Client:
        """Connect a client; authenticate with `api_key` by the auth method unless told not to."""
        ws = await connect(self.url, max_size=None, **kwargs)
        client = Client(ws)
        self.clients.append(client)
        if auth and api_key is not None:
            await client.result("auth", {"api_key": api_key})
        return client

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Poll a server-side condition (such as a session count) until it holds, or fail."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)


def api_settings(**overrides: Any) -> ApiSettings:
    strategies = [
        StrategySettings(
            name="alpha", api_key=ALPHA_KEY, permissions=frozenset({Permission.READ, Permission.TRADE})
        ),
        StrategySettings(name="scoped", api_key=SCOPED_KEY, accounts=frozenset({"other"})),
        StrategySettings(name="nothing", api_key=READONLY_NONE_KEY, permissions=frozenset()),
    ]
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "strategies": strategies,
        "close_timeout_s": 1.0,
    }
    values.update(overrides)
    return ApiSettings(**values)


@pytest.fixture
async def gateway_factory() -> AsyncIterator[Callable[..., Any]]:
    """Build and start gateways: `await gateway_factory(venue_name="user1", max_queue=16)`."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(venue_name: str = "sim", **overrides: Any) -> Gateway:
            gateway = Gateway(api_settings(**overrides), FakeVenue(venue_name))
            await stack.enter_async_context(gateway.server)
            stack.push_async_callback(_close_clients, gateway)
            return gateway

        yield make


async def _close_clients(gateway: Gateway) -> None:
    for client in gateway.clients:
        with contextlib.suppress(Exception):
            await client.aclose()


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Any]) -> Gateway:
    return await gateway_factory()
