"""`sim-serve --dialect lighter`: the Lighter fake from the command line.

``--api-key`` is the api key index and ``--api-secret`` its public key (hex; any value: the fake checks
the signature's envelope, not the curve maths). The funded account is 7.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace

from gateway.simserver.cli import announce
from gateway.simserver.lighter.server import FakeSettings, LighterFake

__all__ = ["serve"]


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> int:
    settings = FakeSettings(message_rate=args.rate)
    settings = replace(settings, sim=settings.sim.model_copy(update={"seed": args.seed}))
    if args.api_key:
        settings = replace(settings, api_keys={int(args.api_key): args.api_secret or "00"})
    async with LighterFake(settings, host=args.host, port=args.port) as fake:
        announce({"dialect": "lighter", "rest": fake.rest_url, "stream": fake.stream_url,
                  "account_index": settings.account_index, "api_key_indexes": sorted(settings.api_keys)})
        await stop.wait()
    return 0
