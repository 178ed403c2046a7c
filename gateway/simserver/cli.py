"""Serve a venue dialect of the sim exchange from the command line.

``python -m gateway.simserver --dialect binance --host 127.0.0.1 --port 8090 --api-key K --api-secret S``

`add_arguments` and `serve` are what the gateway's ``sim-serve`` subcommand calls; `serve` runs until
`stop` is set (the caller's signal handler sets it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import orjson

from gateway.simserver.binance.server import BinanceDialect, DialectSettings
from gateway.venues.sim.config import SimSettings

__all__ = ["add_arguments", "build_parser", "parse", "serve"]

DIALECTS = ("binance",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the dialect server's options to `parser`."""
    parser.add_argument("--dialect", choices=DIALECTS, default="binance")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed at start)")
    parser.add_argument("--api-key", default=None, help="the funded user's API key")
    parser.add_argument("--api-secret", default=None, help="the funded user's HMAC secret")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rate", type=float, default=20.0, help="market steps per second per symbol")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway.simserver", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return parser


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Serve the dialect `args` name until `stop` is set; print one JSON line with its URLs once listening."""
    keys = {args.api_key: args.api_secret} if args.api_key and args.api_secret else {}
    settings = DialectSettings(sim=SimSettings(seed=args.seed, message_rate=max(args.rate, 1.0)),
                               message_rate=args.rate, api_keys=keys)
    async with BinanceDialect(settings, host=args.host, port=args.port) as dialect:
        line = {"event": "simserver.listening", "dialect": args.dialect, "rest": dialect.rest_url,
                "spot_streams": dialect.ws_url, "usdm_public_streams": f"{dialect.ws_url}/public",
                "usdm_market_streams": f"{dialect.ws_url}/market", "usdm_private_streams": f"{dialect.ws_url}/private",
                "spot_ws_api": f"{dialect.ws_url}/ws-api/v3", "usdm_ws_api": f"{dialect.ws_url}/ws-fapi/v1"}
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
        sys.stdout.flush()
        await stop.wait()
    return 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)
