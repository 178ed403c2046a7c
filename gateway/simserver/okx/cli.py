"""`sim-serve --dialect okx`: the OKX dialect from the command line (the funded user's key, secret, passphrase)."""

from __future__ import annotations

import argparse
import asyncio

from gateway.simserver.cli import announce
from gateway.simserver.okx.server import OkxDialect, OkxDialectSettings
from gateway.venues.sim.config import SimSettings

__all__ = ["serve"]


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> int:
    keys = {args.api_key: (args.api_secret, args.passphrase or "")} if args.api_key and args.api_secret else {}
    settings = OkxDialectSettings(sim=SimSettings(seed=args.seed, message_rate=max(args.rate, 1.0)),
                                  message_rate=args.rate, api_keys=keys)
    async with OkxDialect(settings, host=args.host, port=args.port) as dialect:
        announce({"dialect": "okx", "rest": dialect.rest_url, "ws_public": dialect.ws_public_url,
                  "ws_private": dialect.ws_private_url, "ws_business": dialect.ws_business_url})
        await stop.wait()
    return 0
