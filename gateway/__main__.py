"""The command line: `gateway run | check-config | status`. Signal handlers live here and nowhere else."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import urllib.request
from collections.abc import Sequence

__all__ = ["main"]

DEFAULT_CONFIG = "config/gateway.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="An asyncio trading gateway daemon.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML settings file (default {DEFAULT_CONFIG})")
    run.add_argument("--secrets-dir", default=None, help="directory of secret files (default /run/secrets)")
    run.add_argument("--log-format", choices=["auto", "json", "console"], default=None)
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)
    check = sub.add_parser("check-config", help="validate a settings file and print every error by key")
    check.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    check.add_argument("--secrets-dir", default=None)
    status = sub.add_parser("status", help="print a running daemon's /status")
    status.add_argument("--url", default="http://127.0.0.1:8080/status")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.config, args.secrets_dir)
    if args.command == "status":
        try:
            with urllib.request.urlopen(args.url, timeout=5) as response:  # noqa: S310 - operator-given URL
                sys.stdout.write(response.read().decode() + "\n")
            return 0
        except OSError as exc:
            sys.stderr.write(f"gateway status: {exc}\n")
            return 1
    return _run(args)


def _check_config(path: str, secrets_dir: str | None) -> int:
    from gateway.config import load_settings
    from gateway.core.errors import ConfigError

    try:
        settings = load_settings(path, secrets_dir)
    except ConfigError as exc:
        sys.stderr.write(f"{path}: invalid\n{exc.message}\n")
        return 2
    sys.stdout.write(f"{path}: ok ({len(settings.venues)} venue(s): {', '.join(settings.venues)})\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    from gateway.config import collect_secrets, load_settings
    from gateway.core.errors import ConfigError
    from gateway.logconfig import configure_logging

    try:
        settings = load_settings(args.config, args.secrets_dir)
    except ConfigError as exc:
        sys.stderr.write(f"{args.config}: invalid\n{exc.message}\n")
        return 2
    configure_logging(
        level=args.log_level or settings.log.level,
        fmt=args.log_format or settings.log.format,
        secrets=collect_secrets(settings),
    )

    from gateway.app import run

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await run(settings, stop)

    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            return runner.run(serve())
        except Exception:
            import structlog

            structlog.get_logger("gateway").critical("gateway.crashed", exc_info=True)
            return 1


if __name__ == "__main__":
    sys.exit(main())
