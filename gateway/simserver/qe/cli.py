"""`sim-serve --dialect qe`: the Quantum Execute dialect from the command line."""

from __future__ import annotations

import argparse
import asyncio

from gateway.simserver.cli import announce
from gateway.simserver.qe.server import QeDialect, QeDialectSettings
from gateway.venues.sim.config import SimSettings

__all__ = ["serve"]


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> int:
    keys = {args.api_key: args.api_secret} if args.api_key and args.api_secret else {}
    settings = QeDialectSettings(sim=SimSettings(seed=args.seed, message_rate=max(args.rate, 1.0)),
                                 message_rate=args.rate, api_keys=keys)
    async with QeDialect(settings, host=args.host, port=args.port) as dialect:
        announce({"dialect": "qe", "rest": dialect.rest_url, "rest_strategy_api": f"{dialect.rest_url}/strategy-api",
                  "ws": f"{dialect.ws_url}/api/ws/v2",
                  "api_key_ids": [a.api_key_id for a in dialect.settings.accounts]})
        await stop.wait()
    return 0
