"""`sim-serve --dialect binance`: the Binance dialect from the command line."""

from __future__ import annotations

import argparse
import asyncio

from gateway.simserver.binance.server import BinanceDialect, DialectSettings
from gateway.simserver.cli import announce
from gateway.venues.sim.config import SimSettings

__all__ = ["serve"]


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> int:
    keys = {args.api_key: args.api_secret} if args.api_key and args.api_secret else {}
    settings = DialectSettings(sim=SimSettings(seed=args.seed, message_rate=max(args.rate, 1.0)),
                               message_rate=args.rate, api_keys=keys)
    async with BinanceDialect(settings, host=args.host, port=args.port) as dialect:
        announce({"dialect": "binance", "rest": dialect.rest_url,
                  "spot_streams": dialect.ws_url, "usdm_public_streams": f"{dialect.ws_url}/public",
                  "usdm_market_streams": f"{dialect.ws_url}/market", "usdm_private_streams": f"{dialect.ws_url}/private",
                  "spot_ws_api": f"{dialect.ws_url}/ws-api/v3", "usdm_ws_api": f"{dialect.ws_url}/ws-fapi/v1"})
        await stop.wait()
    return 0
