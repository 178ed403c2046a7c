#!/usr/bin/env python3
"""Smoke-test a running gateway through its published ports: ready, auth, market data, an order, metrics.

    python scripts/docker_smoke.py --ws ws://127.0.0.1:8765/ws --http http://127.0.0.1:8080 --key-file KEYFILE

Prints one line per step and exits 0 when every step passed (a step the build does not serve yet, such
as `order.place` answering UNKNOWN_METHOD, is reported as skipped), 1 otherwise. Needs `websockets`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from decimal import ROUND_DOWN, Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

TIMEOUT_S = 10.0


class SmokeFailure(Exception):
    pass


def step(message: str) -> None:
    print(f"  {message}", flush=True)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Client:
    """A minimal JSON-over-WebSocket client that counts the pushes it skips while awaiting answers."""

    def __init__(self, ws: ClientConnection):
        self._ws = ws
        self._next_id = 0
        self.pushes: dict[str, int] = {}

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        await self._ws.send(json.dumps({"id": request_id, "method": method, "params": params or {}}))
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                message = json.loads(await self._ws.recv())
                if "stream" in message:
                    self._count(message)
                elif message.get("id") == request_id:
                    return message

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        answer = await self.request(method, params)
        if "error" in answer:
            raise SmokeFailure(f"{method}: {answer['error']}")
        return answer["result"]

    async def wait_pushes(self, stream: str, count: int) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(TIMEOUT_S):
            while len(seen) < count:
                message = json.loads(await self._ws.recv())
                if "stream" in message:
                    self._count(message)
                    if message["stream"] == stream:
                        seen.append(message["data"])
        return seen

    def _count(self, message: dict[str, Any]) -> None:
        self.pushes[message["stream"]] = self.pushes.get(message["stream"], 0) + 1


async def trade(client: Client, account: str, symbol: str) -> None:
    """Place a resting limit buy far below the market, then cancel it."""
    bbo = await client.call("bbo", {"venue": account, "symbol": symbol})
    price = (Decimal(str(bbo["bid"])) * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    client_order_id = f"smoke{int(time.time() * 1000)}"
    params = {
        "account": account,
        "symbol": symbol,
        "side": "buy",
        "type": "limit",
        "qty": "0.001",
        "price": str(price),
        "tif": "gtc",
        "client_order_id": client_order_id,
    }
    answer = await client.request("order.place", params)
    if answer.get("error", {}).get("code") == "UNKNOWN_METHOD":
        step("SKIP order.place: the server answered UNKNOWN_METHOD (the order API is not in this build)")
        return
    if "error" in answer:
        raise SmokeFailure(f"order.place: {answer['error']}")
    order = answer["result"]
    step(
        f"order.place -> order_id={order.get('order_id')} status={order.get('status')} price={order['price']}"
    )
    canceled = await client.call("order.cancel", {"account": account, "client_order_id": client_order_id})
    step(f"order.cancel -> status={canceled.get('status')}")
    if canceled.get("status") not in ("canceled", "pending_cancel"):
        raise SmokeFailure(f"order.cancel left the order {canceled.get('status')}")


async def smoke(args: argparse.Namespace, key: str) -> None:
    status, body = http_get(f"{args.http}/ready")
    step(f"GET /ready -> {status} {body.decode(errors='replace').strip()}")
    if status != 200:
        raise SmokeFailure("the gateway is not ready")

    stream = f"{args.account}:{args.symbol}@trade"
    async with connect(args.ws, open_timeout=TIMEOUT_S) as ws:
        client = Client(ws)
        auth = await client.call("auth", {"api_key": key})
        step(f"auth -> strategy={auth.get('strategy')} permissions={auth.get('permissions')}")
        subscribed = await client.call("subscribe", {"streams": [stream]})
        step(f"subscribe -> {subscribed.get('streams')}")
        trades = await client.wait_pushes(stream, args.pushes)
        last = trades[-1]
        step(f"received {len(trades)} pushes on {stream}; last: price={last['price']} qty={last['qty']}")
        await trade(client, args.account, args.symbol)

    status, body = http_get(f"{args.http}/metrics")
    if status == 200:
        lines = body.decode().splitlines()
        families = sorted({line.split()[2] for line in lines if line.startswith("# TYPE gateway_")})
        received = next(
            (line for line in lines if line.startswith("gateway_market_messages_received_total")), ""
        )
        step(f"GET /metrics -> 200, {len(families)} gateway_* families; {received}")
    else:
        step(f"GET /metrics -> {status} (not wired into this build yet)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", default="ws://127.0.0.1:8765/ws")
    parser.add_argument("--http", default="http://127.0.0.1:8080")
    parser.add_argument("--key-file", required=True, help="file holding the strategy API key")
    parser.add_argument("--account", default="sim")
    parser.add_argument("--symbol", default="BTC/USDT")
    parser.add_argument("--pushes", type=int, default=5)
    args = parser.parse_args()
    try:
        with open(args.key_file, encoding="utf-8") as key_file:
            key = key_file.read().strip()
        asyncio.run(smoke(args, key))
    except (SmokeFailure, OSError, TimeoutError, WebSocketException) as exc:
        print(f"FAIL: {type(exc).__name__}: {exc}", flush=True)
        return 1
    print("OK: smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
