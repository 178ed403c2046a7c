"""A small strategy against the gateway's sim venue: quote, trade, watch fills, cancel.

    make run                                   # in one terminal
    .venv/bin/python examples/simple_strategy.py   # in another

It rests a bid below the market, takes a little liquidity with a market order, waits for that fill on
the `sim@fill` stream, then cancels the bid and prints what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal

from gateway.client import GatewayClient


async def run(url: str, api_key: str, symbol: str = "BTC/USDT", qty: str = "0.001") -> dict[str, object]:
    async with GatewayClient(url, api_key=api_key) as gw:
        await gw.subscribe(["sim@order", "sim@fill"])
        bbo = await gw.call("bbo", {"symbol": symbol})
        bid = Decimal(bbo["bid"])
        print(f"{symbol} bid {bbo['bid']} ask {bbo['ask']}")

        resting = await gw.place_order(symbol, "buy", "limit", qty=qty, price=bid * Decimal("0.99"))
        print(f"rested {resting.client_order_id}: {resting.side} {resting.qty} @ {resting.price} -> {resting.status}")

        taken = await gw.place_order(symbol, "buy", "market", qty=qty)
        print(f"market {taken.client_order_id}: filled {taken.filled_qty} @ {taken.avg_price} -> {taken.status}")
        while True:
            fill = await gw.next_push("sim@fill", timeout=10)
            if fill.data["client_order_id"] == taken.client_order_id:
                break
        print(f"fill {fill.data['trade_id']}: {fill.data['qty']} @ {fill.data['price']} fee {fill.data['fee']}")

        canceled = await gw.cancel_order(client_order_id=resting.client_order_id)
        print(f"canceled {canceled.client_order_id} -> {canceled.status}")
        return {"resting": resting.status, "market": taken.status, "canceled": canceled.status,
                "fill_trade_id": fill.data["trade_id"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws")
    parser.add_argument("--key", default="local-dev-key")
    parser.add_argument("--symbol", default="BTC/USDT")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.key, args.symbol))
    return 0


if __name__ == "__main__":
    sys.exit(main())
