"""The Binance dialect's own surface over real sockets: REST envelopes and errors, stream control messages,
the futures tier split, and the CLI entry point."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import orjson
import pytest
from dialect_helpers import dialect_settings

from gateway.simserver.binance.server import BinanceDialect


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, object, dict[str, str]]:
    async with session.get(url) as response:
        return response.status, orjson.loads(await response.read()), dict(response.headers)


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/v3/depth", 400, -1102),
    ("/api/v3/depth?symbol=NOPE", 400, -1121),
    ("/api/v3/klines?symbol=BTCUSDT&interval=2m", 400, -1120),
    ("/fapi/v1/depth?symbol=BTCUSDT&limit=7", 400, -1100),
    ("/fapi/v1/depth?symbol=ETHUSDT", 400, -1121),
    ("/api/v3/account?timestamp=1&signature=x", 401, -2015),
])
async def test_errors_have_binance_shape(path: str, status: int, code: int) -> None:
    async with BinanceDialect(dialect_settings()) as dialect, aiohttp.ClientSession() as session:
        got_status, body, headers = await _get(session, dialect.rest_url + path)
    assert (got_status, body["code"]) == (status, code) and isinstance(body["msg"], str)
    assert "X-MBX-USED-WEIGHT-1M" in headers


async def test_rest_envelopes() -> None:
    async with BinanceDialect(dialect_settings()) as dialect, aiohttp.ClientSession() as session:
        base = dialect.rest_url
        assert (await _get(session, base + "/api/v3/ping"))[1] == {}
        assert "serverTime" in (await _get(session, base + "/fapi/v1/time"))[1]
        info = (await _get(session, base + "/fapi/v1/exchangeInfo"))[1]
        filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
        assert filters["MIN_NOTIONAL"]["notional"] == "5" and info["symbols"][0]["contractType"] == "PERPETUAL"
        spot = (await _get(session, base + "/api/v3/depth?symbol=BTCUSDT&limit=5"))[1]
        futures = (await _get(session, base + "/fapi/v1/depth?symbol=BTCUSDT&limit=5"))[1]
        assert set(spot) == {"lastUpdateId", "bids", "asks"} and {"E", "T"} <= set(futures)
        _, _, headers = await _get(session, base + "/api/v3/depth?symbol=BTCUSDT&limit=1000")
        assert int(headers["X-MBX-USED-WEIGHT-1M"]) == 1 + 5 + 50  # spot only: ping, depth 5, depth 1000


async def test_stream_control_messages_and_the_futures_split() -> None:
    async with BinanceDialect(dialect_settings()) as dialect, aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{dialect.ws_url}/market/stream?streams=btcusdt@depth@100ms") as market, \
                session.ws_connect(f"{dialect.ws_url}/public/ws") as public:
            await public.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}).decode())
            assert orjson.loads((await public.receive()).data) == {"result": None, "id": 1}
            await public.send_str('{"method": "LIST_SUBSCRIPTIONS", "id": "x"}')
            assert orjson.loads((await public.receive()).data) == {"result": ["btcusdt@depth@100ms"], "id": "x"}
            await public.send_str('{"method": "NOPE", "id": 3}')
            assert orjson.loads((await public.receive()).data)["error"]["code"] == 2
            await market.send_str('{"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 9}')
            assert orjson.loads((await market.receive()).data) == {"result": None, "id": 9}
            for _ in range(20):
                dialect.step()
            first = orjson.loads((await public.receive()).data)  # raw /ws: the payload itself
            assert first["e"] == "depthUpdate" and first["pu"] == first["U"] - 1
            frame = orjson.loads((await market.receive()).data)  # depth is not served on /market
            assert frame["stream"] == "btcusdt@aggTrade"


async def test_incoming_message_limit_closes_the_connection() -> None:
    async with BinanceDialect(dialect_settings()) as dialect, aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{dialect.ws_url}/stream") as ws:
            for i in range(8):
                await ws.send_str(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
            messages = [await ws.receive() for _ in range(7)]
    assert messages[-1].type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def test_cli_serves_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "sim-serve", "--dialect", "binance", "--port", "0", "--rate", "5",
        "--api-key", "k", "--api-secret", "s", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert line["event"] == "simserver.listening"
        async with aiohttp.ClientSession() as session:
            status, body, _ = await _get(session, line["rest"] + "/api/v3/time")
        assert status == 200 and "serverTime" in body
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
