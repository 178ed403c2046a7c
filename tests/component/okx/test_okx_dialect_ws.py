"""The OKX dialect over real sockets, WebSocket side: ping, login rejects, routing errors, book sequence
continuity and gaps, private order operations and pushes, drops, and algo orders triggering on the sim."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from test_okx_dialect import KEY, PASSPHRASE, SECRET, call, settings

from gateway.simserver.okx.auth import sign, ws_prehash
from gateway.simserver.okx.server import OkxDialect

TIMEOUT_S = 5.0


async def recv(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await asyncio.wait_for(ws.receive(), TIMEOUT_S)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return msg.data if msg.data == "pong" else orjson.loads(msg.data)


async def send(ws: aiohttp.ClientWebSocketResponse, body: Any) -> None:
    await ws.send_str(orjson.dumps(body).decode())


def login_arg(*, secret: str = SECRET, passphrase: str = PASSPHRASE, skew_s: int = 0) -> dict[str, str]:
    ts = str(int(time.time()) + skew_s)
    return {"apiKey": KEY, "passphrase": passphrase, "timestamp": ts, "sign": sign(secret, ws_prehash(ts))}


async def login(ws: aiohttp.ClientWebSocketResponse) -> None:
    await send(ws, {"op": "login", "args": [login_arg()]})
    assert (await recv(ws))["event"] == "login"


async def test_ping_login_rejects_and_routing_errors() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        async with session.ws_connect(d.ws_private_url) as ws:
            await ws.send_str("ping")
            assert await recv(ws) == "pong"
            for arg, code in ((login_arg(secret="bad"), "60007"), (login_arg(passphrase="bad"), "60024"),
                              (login_arg(skew_s=-120), "60006")):
                await send(ws, {"op": "login", "args": [arg]})
                reply = await recv(ws)
                assert (reply["event"], reply["code"]) == ("error", code)
            await send(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]})
            assert (await recv(ws))["code"] == "60011"
            await send(ws, {"id": "o1", "op": "order", "args": [{"instId": "BTC-USDT"}]})
            assert (await recv(ws))["code"] == "60011"
            await ws.send_str("{garbage")
            assert (await recv(ws))["code"] == "60012"  # and the connection stays up
            await login(ws)
            await send(ws, {"op": "login", "args": [login_arg()]})
            assert (await recv(ws))["code"] == "60031"
        async with session.ws_connect(d.ws_public_url) as ws:
            await send(ws, {"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]})
            assert (await recv(ws))["code"] == "64001"
            await send(ws, {"id": "x1", "op": "subscribe", "args": [{"channel": "nope", "instId": "BTC-USDT"}]})
            reply = await recv(ws)
            assert (reply["id"], reply["code"]) == ("x1", "60018")
        async with session.ws_connect(d.ws_business_url) as ws:
            await send(ws, {"op": "subscribe", "args": [{"channel": "tickers", "instId": "BTC-USDT"}]})
            assert (await recv(ws))["code"] == "64002"
            await send(ws, {"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]})
            assert (await recv(ws))["event"] == "subscribe"
            d.step(3)
            push = await recv(ws)
            assert push["arg"]["channel"] == "candle1m" and len(push["data"][0]) == 9


def _apply(side: dict[Decimal, Decimal], rows: list[list[str]]) -> None:
    for px, sz, _, _ in rows:
        if Decimal(sz):
            side[Decimal(px)] = Decimal(sz)
        else:
            side.pop(Decimal(px), None)


async def test_book_snapshot_updates_chain_and_a_skipped_update_is_a_gap() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session, \
            session.ws_connect(d.ws_public_url) as ws:
        await send(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]})
        assert (await recv(ws))["event"] == "subscribe"
        snap = await recv(ws)
        assert snap["action"] == "snapshot" and snap["data"][0]["prevSeqId"] == -1
        assert snap["data"][0]["checksum"] == 0
        bids = {Decimal(r[0]): Decimal(r[1]) for r in snap["data"][0]["bids"]}
        asks = {Decimal(r[0]): Decimal(r[1]) for r in snap["data"][0]["asks"]}
        last = snap["data"][0]["seqId"]
        for _ in range(10):
            d.step()
        seq_id, true_bids, true_asks = d.book("BTC-USDT-SWAP")
        while last != seq_id:
            push = await recv(ws)
            data = push["data"][0]
            assert push["action"] == "update" and data["prevSeqId"] == last and data["seqId"] > last
            _apply(bids, data["bids"])
            _apply(asks, data["asks"])
            last = data["seqId"]
        assert sorted(bids.items(), reverse=True) == true_bids and sorted(asks.items()) == true_asks
        d.skip_book_updates("BTC-USDT-SWAP", 1)
        while d.faults.skipped_book_updates == 0:
            d.step()
        d.step(5)
        while True:  # the next update does not link to the last one we saw
            data = (await recv(ws))["data"][0]
            if data["prevSeqId"] != last:
                break
            last = data["seqId"]
        assert data["prevSeqId"] > last
        await send(ws, {"op": "unsubscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]})
        await send(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]})
        while (reply := await recv(ws)).get("action") != "snapshot":
            pass
        assert reply["data"][0]["seqId"] == d.book("BTC-USDT-SWAP")[0]


async def test_ws_order_ops_push_orders_and_survive_a_drop() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session:
        async with session.ws_connect(d.ws_private_url) as ws:
            await login(ws)
            await send(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"},
                                                        {"channel": "account", "ccy": "USDT"}]})
            assert (await recv(ws))["event"] == "subscribe" and (await recv(ws))["event"] == "subscribe"
            snapshot = await recv(ws)
            assert snapshot["eventType"] == "snapshot" and snapshot["data"][0]["details"][0]["ccy"] == "USDT"
            await send(ws, {"id": "req1", "op": "order", "args": [
                {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "0.003",
                 "clOrdId": "ws1"}]})
            reply, pushes = None, []
            while reply is None or not pushes or pushes[-1]["data"][0]["state"] != "filled":
                message = await recv(ws)
                if message.get("op") == "order":
                    reply = message
                elif message["arg"]["channel"] == "orders":
                    pushes.append(message)
            assert (reply["id"], reply["code"], reply["data"][0]["sCode"]) == ("req1", "0", "0")
            fills = [p["data"][0] for p in pushes if p["data"][0]["tradeId"] and p["data"][0]["fillSz"] != "0"]
            assert sum(Decimal(f["fillSz"]) for f in fills) == Decimal("0.003")
            assert fills[-1]["accFillSz"] == "0.003" and fills[-1]["execType"] == "T" and fills[-1]["clOrdId"] == "ws1"
            await send(ws, {"id": "req2", "op": "cancel-order", "args": [{"instId": "BTC-USDT-SWAP", "clOrdId": "ws1"}]})
            while (reply := await recv(ws)).get("op") != "cancel-order":
                pass
            assert reply["code"] == "1" and reply["data"][0]["sCode"] == "51400"
            assert d.drop_connections("private") == 1
            assert (await asyncio.wait_for(ws.receive(), TIMEOUT_S)).type in (
                aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
        _, fills = await call(session, d, "GET", "/api/v5/trade/fills?instId=BTC-USDT-SWAP")
        assert sum(Decimal(f["fillSz"]) for f in fills["data"]) == Decimal("0.003")  # the REST catch-up sees them


async def test_oco_algo_triggers_on_the_sim_price_and_cancels_its_sibling() -> None:
    async with OkxDialect(settings()) as d, aiohttp.ClientSession() as session, \
            session.ws_connect(d.ws_business_url) as biz, session.ws_connect(d.ws_private_url) as priv:
        await login(biz)
        await login(priv)
        await send(biz, {"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "SWAP"}]})
        await send(priv, {"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
        assert (await recv(biz))["event"] == "subscribe" and (await recv(priv))["event"] == "subscribe"
        entry = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "0.01"}
        assert (await call(session, d, "POST", "/api/v5/trade/order", entry))[1]["code"] == "0"
        last = d.engine.last_price("BTC/USDT:USDT")
        assert last is not None
        oco = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "oco", "sz": "0.01",
               "reduceOnly": True, "algoClOrdId": "br1", "tpTriggerPx": str(last + Decimal("0.1")),
               "tpOrdPx": "-1", "slTriggerPx": str(last - Decimal("0.1")), "slOrdPx": "-1"}
        _, body = await call(session, d, "POST", "/api/v5/trade/order-algo", oco)
        assert body["code"] == "0" and body["data"][0]["sCode"] == "0"
        algo_id = body["data"][0]["algoId"]
        _, pending = await call(session, d, "GET", "/api/v5/trade/orders-algo-pending?ordType=oco")
        assert [a["algoId"] for a in pending["data"]] == [algo_id] and pending["data"][0]["state"] == "live"
        for _ in range(200):
            if d.algos.algos[algo_id].state != "live":
                break
            d.step()
        push = await recv(biz)
        item = push["data"][0]
        assert (item["algoId"], item["state"], item["algoClOrdId"]) == (algo_id, "effective", "br1")
        assert item["actualSide"] in ("tp", "sl") and item["ordId"]
        _, pending = await call(session, d, "GET", "/api/v5/trade/orders-algo-pending?ordType=oco")
        assert pending["data"] == []
        _, history = await call(session, d, "GET", "/api/v5/trade/orders-algo-history?ordType=oco&state=effective")
        assert [a["algoId"] for a in history["data"]] == [algo_id]
        _, positions = await call(session, d, "GET", "/api/v5/account/positions?instId=BTC-USDT-SWAP")
        assert positions["data"] == []  # the fired leg closed the position
        while True:
            order = (await recv(priv))["data"][0]
            if order["algoId"] == algo_id and order["state"] == "filled":
                break
        assert order["ordId"] == item["ordId"] and order["side"] == "sell"
