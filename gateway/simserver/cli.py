"""Serve a venue dialect of the sim exchange from the command line.

``python -m gateway.simserver --dialect binance --host 127.0.0.1 --port 8090 --api-key K --api-secret S``

`add_arguments` and `serve` are what the gateway's ``sim-serve`` subcommand calls; `serve` runs until
`stop` is set (the caller's signal handler sets it). Each dialect's ``<package>.cli`` module has an
``async serve(args, stop) -> int`` that starts its server and calls `announce` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["DIALECTS", "add_arguments", "announce", "build_parser", "parse", "serve"]

# dialect name -> module with `serve(args, stop)`; adding a dialect is one line here.
DIALECTS: dict[str, str] = {
    "binance": "gateway.simserver.binance.cli",
    "lighter": "gateway.simserver.lighter.cli",
    "okx": "gateway.simserver.okx.cli",
    "qe": "gateway.simserver.qe.cli",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the dialect server's options to `parser`."""
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="binance")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed at start)")
    parser.add_argument("--api-key", default=None, help="the funded user's API key")
    parser.add_argument("--api-secret", default=None, help="the funded user's API secret")
    parser.add_argument("--passphrase", default=None, help="the funded user's API passphrase (OKX)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rate", type=float, default=20.0, help="market steps per second per symbol")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway.simserver", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return parser


def announce(urls: dict[str, Any]) -> None:
    """Print the one JSON line that tells the caller where the dialect listens."""
    sys.stdout.write(orjson.dumps({"event": "simserver.listening", **urls}).decode() + "\n")
    sys.stdout.flush()


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Serve the dialect `args` names until `stop` is set."""
    module = importlib.import_module(DIALECTS[args.dialect])
    return int(await module.serve(args, stop))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)
