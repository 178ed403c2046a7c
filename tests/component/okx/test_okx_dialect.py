"""The OKX dialect over real sockets, REST side: signatures, envelopes, sCodes, faults and the CLI."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from gateway.simserver.okx.auth import rest_prehash, sign
from gateway.simserver.okx.server import OkxDialect, OkxDialectSettings
from gateway.venues.sim.config import SimSettings, SimSymbolSettings

KEY, SECRET, PASSPHRASE = "okx-key", "okx-secret", "okx-Phrase1"


def settings(**overrides: Any) -> OkxDialectSettings:
    sim = SimSettings(symbols=[
        SimSymbolSettings(symbol="BTC/USDT", start_price=Decimal(65000), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.0001"), min_qty=Decimal("0.0001")),
        SimSymbolSettings(symbol="BTC/USDT:USDT", start_price=Decimal(65000), tick_size=Decimal("0.1"),
                          step_size=Decimal("0.001"), min_qty=Decimal("0.001")),
    ], depth_levels=20)
    values: dict[str, Any] = {"sim": sim, "message_rate": 0, "api_keys": {KEY: (SECRET, PASSPHRASE)},
                              "prewarm_steps": 20}
    values.update(overrides)
    return OkxDialectSettings(**values)


def stamp(skew_ms: int = 0) -> str:
    now = datetime.now(UTC) + timedelta(milliseconds=skew_ms)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def signed(method: str, path: str, body: str = "", *, secret: str = SECRET, passphrase: str = PASSPHRASE,
           skew_ms: int = 0) -> dict[str, str]:
    ts = stamp(skew_ms)
    return {"OK-ACCESS-KEY": KEY, "OK-ACCESS-PASSPHRASE": passphrase, "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-SIGN": sign(secret, rest_prehash(ts, method, path, body)),
            "Content-Type": "application/json", "x-simulated-trading": "1"}


async def call(session: aiohttp.ClientSession, d: OkxDialect, method: str, path: str, body: Any = None,
               **sign_args: Any) -> tuple[int, dict[str, Any]]:
    text = "" if body is None else orjson.dumps(body).decode()
    headers = signed(method, path, text, **sign_args)
    async with session.request(method, d.rest_url + path, data=text or None, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def test_signature_rejects() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        path = "/api/v5/account/balance?ccy=USDT"
        assert (await call(session, d, "GET", path))[1]["code"] == "0"
        assert await call(session, d, "GET", path, secret="wrong") == (401, {"code": "50113", "msg": "Invalid Sign.",
                                                                           "data": []})
        status, body = await call(session, d, "GET", path, skew_ms=-45_000)
        assert (status, body["code"]) == (401, "50102")
        status, body = await call(session, d, "GET", path, passphrase="nope")
        assert (status, body["code"]) == (401, "50105") and PASSPHRASE not in body["msg"]
        async with session.get(d.rest_url + path) as response:  # unsigned
            assert (response.status, (await response.json())["code"]) == (401, "50103")
        d.shift_clock(60_000)  # the server's clock runs ahead: our fresh stamp is now stale
        assert (await call(session, d, "GET", path))[1]["code"] == "50102"
        assert (await call(session, d, "GET", path, skew_ms=60_000))[1]["code"] == "0"


async def test_envelopes_and_per_order_codes() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        _, ticker = await call(session, d, "GET", "/api/v5/market/ticker?instId=BTC-USDT")
        bid = Decimal(ticker["data"][0]["bidPx"])
        order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
                 "px": str(bid - 100), "sz": "0.01", "clOrdId": "gw1"}
        status, body = await call(session, d, "POST", "/api/v5/trade/order", order)
        assert status == 200 and body["code"] == "0" and body["data"][0]["sCode"] == "0"
        assert {"inTime", "outTime"} <= set(body) and body["data"][0]["clOrdId"] == "gw1"
        ord_id = body["data"][0]["ordId"]
        _, found = await call(session, d, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=gw1")
        assert (found["data"][0]["ordId"], found["data"][0]["state"]) == (ord_id, "live")
        batch = [dict(order, clOrdId="gw2"), dict(order, clOrdId="gw3", sz="0.00015"), dict(order, clOrdId="gw1")]
        _, body = await call(session, d, "POST", "/api/v5/trade/batch-orders", batch)
        assert body["code"] == "2" and [i["sCode"] for i in body["data"]] == ["0", "51121", "51016"]
        _, body = await call(session, d, "POST", "/api/v5/trade/order", dict(order, instId="NOPE-USDT"))
        assert body["code"] == "1" and body["data"][0]["sCode"] == "51001"
        _, body = await call(session, d, "POST", "/api/v5/trade/order", dict(order, tdMode="cross"))
        assert body["data"][0]["sCode"] == "51000"
        _, body = await call(session, d, "POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": ord_id})
        assert body["code"] == "0" and body["data"][0]["ordId"] == ord_id
        _, body = await call(session, d, "POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": ord_id})
        assert body["code"] == "1" and body["data"][0]["sCode"] == "51400"
        status, body = await call(session, d, "GET", "/api/v5/trade/order?instId=BTC-USDT&ordId=999999")
        assert (status, body["code"], body["data"]) == (200, "51603", [])
        _, body = await call(session, d, "GET", "/api/v5/trade/orders-history?instType=SPOT&state=canceled")
        assert [o["ordId"] for o in body["data"]] == [ord_id] and body["data"][0]["cancelSource"] == "1"
        async with session.post(d.rest_url + "/api/v5/trade/order", data="{oops",
                                headers=signed("POST", "/api/v5/trade/order", "{oops")) as response:
            assert (response.status, (await response.json())["code"]) == (400, "50002")


async def test_swap_market_order_fills_and_shows_in_fills_and_positions() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        order = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "0.002"}
        _, body = await call(session, d, "POST", "/api/v5/trade/order", order)
        ord_id = body["data"][0]["ordId"]
        _, fills = await call(session, d, "GET", f"/api/v5/trade/fills?instType=SWAP&ordId={ord_id}")
        assert sum(Decimal(f["fillSz"]) for f in fills["data"]) == Decimal("0.002")
        assert all(f["execType"] == "T" and Decimal(f["fee"]) < 0 for f in fills["data"])
        _, positions = await call(session, d, "GET", "/api/v5/account/positions?instId=BTC-USDT-SWAP")
        assert positions["data"][0]["pos"] == "0.002" and positions["data"][0]["posSide"] == "net"
        _, body = await call(session, d, "POST", "/api/v5/trade/order", dict(order, side="sell", sz="0.005",
                                                                              reduceOnly=True))
        assert body["data"][0]["sCode"] == "0"  # clipped to the position, as OKX closes it
        _, positions = await call(session, d, "GET", "/api/v5/account/positions?instId=BTC-USDT-SWAP")
        assert positions["data"] == []


async def test_rate_limit_and_outcome_unknown_faults() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        d.rate_limit_next(1)
        status, body = await call(session, d, "GET", "/api/v5/account/config")
        assert (status, body["code"]) == (429, "50011")
        assert (await call(session, d, "GET", "/api/v5/account/config"))[1]["data"][0]["posMode"] == "net_mode"
        _, ticker = await call(session, d, "GET", "/api/v5/market/ticker?instId=BTC-USDT")
        order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
                 "px": str(Decimal(ticker["data"][0]["bidPx"]) - 50), "sz": "0.01", "clOrdId": "applied1"}
        d.unknown_outcome_next_order("50004", applied=True)
        status, body = await call(session, d, "POST", "/api/v5/trade/order", order)
        assert (status, body["code"], body["data"]) == (400, "50004", [])
        _, found = await call(session, d, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=applied1")
        assert found["data"][0]["state"] == "live"  # it was placed
        d.unknown_outcome_next_order("51054", applied=False)
        status, body = await call(session, d, "POST", "/api/v5/trade/order", dict(order, clOrdId="lost1"))
        assert (status, body["code"]) == (500, "51054")
        _, found = await call(session, d, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=lost1")
        assert found["code"] == "51603"  # it was not
        _, pending = await call(session, d, "GET", "/api/v5/trade/orders-pending?instType=SPOT")
        assert [o["clOrdId"] for o in pending["data"]] == ["applied1"]


async def test_per_instrument_place_limit() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "1000", "sz": "0.001"}
        codes = [(await call(session, d, "POST", "/api/v5/trade/order", order))[1]["code"] for _ in range(61)]
        assert codes[:60] == ["0"] * 60 and codes[60] == "50011"
        swap = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "px": "1000",
                "sz": "0.001"}
        assert (await call(session, d, "POST", "/api/v5/trade/order", swap))[1]["code"] == "0"  # its own budget


async def test_cli_serves_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "sim-serve", "--dialect", "okx", "--port", "0", "--rate", "5",
        "--api-key", KEY, "--api-secret", SECRET, "--passphrase", PASSPHRASE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert line["event"] == "simserver.listening" and line["dialect"] == "okx"
        assert line["ws_private"].endswith("/ws/v5/private")
        async with aiohttp.ClientSession() as session:
            path = "/api/v5/account/balance"
            async with session.get(line["rest"] + path, headers=signed("GET", path)) as response:
                body = await response.json()
        assert body["code"] == "0" and {d["ccy"] for d in body["data"][0]["details"]} >= {"USDT", "BTC"}
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_public_endpoints_and_trade_pushes() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        async with session.get(d.rest_url + "/api/v5/market/trades?instId=BTC-USDT&limit=3") as response:
            trades = (await response.json())["data"]
        assert len(trades) == 3 and trades[0]["side"] in ("buy", "sell") and int(trades[0]["ts"]) >= int(trades[-1]["ts"])
        async with session.get(d.rest_url + "/api/v5/market/books?instId=BTC-USDT-SWAP&sz=5") as response:
            book = (await response.json())["data"][0]
        _, bids, _ = d.book("BTC-USDT-SWAP")
        assert [Decimal(r[0]) for r in book["bids"]] == [p for p, _ in bids[:5]] and len(book["bids"][0]) == 4
        async with session.get(d.rest_url + "/api/v5/market/candles?instId=BTC-USDT&bar=1H&limit=2") as response:
            candles = (await response.json())["data"]
        assert len(candles) <= 2 and len(candles[0]) == 9 and int(candles[0][0]) % 3_600_000 == 0
        async with session.get(d.rest_url + "/api/v5/market/candles?instId=BTC-USDT&bar=7m") as response:
            assert (await response.json())["code"] == "51000"
        async with session.get(d.rest_url + "/api/v5/public/funding-rate?instId=BTC-USDT-SWAP") as response:
            funding = (await response.json())["data"][0]
        assert int(funding["nextFundingTime"]) > int(funding["fundingTime"])
        async with session.ws_connect(d.ws_public_url) as ws:
            await ws.send_str(orjson.dumps({"op": "subscribe", "args": [
                {"channel": "trades", "instId": "BTC-USDT"}, {"channel": "tickers", "instId": "BTC-USDT"}]}).decode())
            order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "0.01",
                     "tgtCcy": "base_ccy"}
            assert (await call(session, d, "POST", "/api/v5/trade/order", order))[1]["code"] == "0"
            channels: set[str] = set()
            while not {"trades", "tickers"} <= channels:
                msg = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if "data" in msg:
                    channels.add(msg["arg"]["channel"])
                    if msg["arg"]["channel"] == "trades":
                        assert msg["data"][0]["side"] == "buy" and msg["data"][0]["instId"] == "BTC-USDT"
