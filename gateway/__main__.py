"""The command line. Signal handlers live here and nowhere else.

    gateway run [--config FILE]            the daemon
    gateway check-config [FILE]            validate settings, print each error by key
    gateway status [--json]                venues, strategies, loops of a running daemon
    gateway orders [--account A] [--json]  open orders of every strategy            (admin key)
    gateway brackets [--account A] [--json] live brackets, their legs and protection (admin key)
    gateway cancel-all [--account A]       cancel every open order                  (admin key)
    gateway kill-switch on|off             refuse every new order / release it      (admin key)
    gateway sim-serve --dialect binance    the sim exchange behind a venue's own API (paper trading, tests)

The ops commands talk to the daemon's ops HTTP server (`--url`, default http://127.0.0.1:8080); the
admin key comes from `--admin-key` or the environment variable GATEWAY_ADMIN_KEY.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

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
    status = sub.add_parser("status", help="venues, strategies and loops of a running daemon")
    orders = sub.add_parser("orders", help="open orders of every strategy (admin key)")
    orders.add_argument("--account")
    orders.add_argument("--symbol")
    brackets = sub.add_parser("brackets", help="live brackets: state, legs and protection (admin key)")
    brackets.add_argument("--account")
    brackets.add_argument("--symbol")
    cancel = sub.add_parser("cancel-all", help="cancel every open order (admin key)")
    cancel.add_argument("--account")
    cancel.add_argument("--symbol")
    kill = sub.add_parser("kill-switch", help="refuse every new order (on) or release (off) (admin key)")
    kill.add_argument("state", choices=["on", "off"])
    kill.add_argument("--cancel-open", action="store_true", help="with on: cancel every open order too")
    from gateway.simserver.cli import add_arguments as add_sim_serve_arguments

    add_sim_serve_arguments(sub.add_parser("sim-serve", help="serve a venue dialect of the sim exchange"))
    for ops in (status, orders, brackets, cancel, kill):
        ops.add_argument("--url", default="http://127.0.0.1:8080", help="the daemon's ops HTTP server")
        ops.add_argument("--admin-key", default=os.environ.get("GATEWAY_ADMIN_KEY"), help=argparse.SUPPRESS)
        ops.add_argument("--json", action="store_true", help="print the raw JSON answer")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.config, args.secrets_dir)
    if args.command in _OPS:
        return _ops(args)
    if args.command == "sim-serve":
        return _sim_serve(args)
    return _run(args)


def _sim_serve(args: argparse.Namespace) -> int:
    from gateway.logconfig import configure_logging
    from gateway.simserver.cli import serve

    # stdout carries the one line with the URLs; logs go to stderr.
    configure_logging("info", "auto", secrets=[args.api_secret] if args.api_secret else (), stream=sys.stderr)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await serve(args, stop)

    return asyncio.run(run())


# --- ops commands: the daemon's ops HTTP server -------------------------------------------------------


def _call(args: argparse.Namespace, method: str, path: str, query: dict[str, Any] | None = None) -> Any:
    query = {k: v for k, v in (query or {}).items() if v not in (None, False)}
    url = args.url.rstrip("/") + path + (("?" + urllib.parse.urlencode(query)) if query else "")
    request = urllib.request.Request(url, method=method)  # noqa: S310 - operator-given URL
    if args.admin_key:
        request.add_header("X-Admin-Key", args.admin_key)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:
            error = json.loads(body).get("error", body)
        except ValueError:
            error = body
        message = error.get("message", error) if isinstance(error, dict) else error
        raise SystemExit(f"gateway {args.command}: {exc.code} {message}") from None
    except OSError as exc:
        raise SystemExit(f"gateway {args.command}: cannot reach {args.url}: {exc}") from None


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


_ORDER_COLUMNS = ["account", "symbol", "side", "type", "qty", "filled_qty", "price", "status", "client_order_id"]
_BRACKET_COLUMNS = ["account", "symbol", "side", "qty", "state", "protection", "open_qty", "entry", "take_profit",
                    "stop_loss", "mode", "bracket_id"]


def _bracket_row(bracket: dict[str, Any]) -> dict[str, Any]:
    # One line per bracket: each order or leg as "price status" (a leg: its trigger price).
    def leg(data: dict[str, Any]) -> str:
        return f"{data['trigger_price']} {data['status']}"

    entry = bracket["entry"]
    return {**bracket, "entry": f"{entry['price'] or entry['type']} {entry['status']}",
            "take_profit": leg(bracket["take_profit"]), "stop_loss": leg(bracket["stop_loss"])}


def _ops(args: argparse.Namespace) -> int:
    if args.command == "status":
        answer = _call(args, "GET", "/status")
        text = (f"ready: {answer['ready']}   uptime: {answer['uptime_s']}s\n\n"
                + _table(answer["venues"], ["name", "kind", "state", "last_message_age_ms"]) + "\n\n"
                + (_table(answer["strategies"], ["strategy", "remote", "subscriptions"]) if answer["strategies"]
                   else "no strategies connected"))
        if "orders" in answer:
            brackets = answer.get("brackets", [])
            exposed = sum(1 for b in brackets if b["protection"] in ("unprotected", "partial", "attention"))
            text += (f"\n\nopen orders: {answer['orders']['open']}   live brackets: {len(brackets)}"
                     + (f" ({exposed} not fully protected)" if exposed else "")
                     + ("   KILL SWITCH ENGAGED" if answer["orders"]["kill_switch"] else ""))
        if answer.get("health"):
            text += "\n\nunhealthy: " + ", ".join(f"{k} ({v})" for k, v in answer["health"].items())
    elif args.command == "orders":
        answer = _call(args, "GET", "/admin/orders", {"account": args.account, "symbol": args.symbol})
        text = (_table(answer["orders"], _ORDER_COLUMNS) if answer["orders"] else "no open orders") + (
            "\n\nKILL SWITCH ENGAGED" if answer["kill_switch"] else "")
    elif args.command == "brackets":
        answer = _call(args, "GET", "/admin/brackets", {"account": args.account, "symbol": args.symbol})
        rows = [_bracket_row(b) for b in answer["brackets"]]
        text = _table(rows, _BRACKET_COLUMNS) if rows else "no live brackets"
        exposed = [b for b in answer["brackets"] if b["protection"] in ("unprotected", "partial", "attention")]
        if exposed:
            text += f"\n\n{len(exposed)} bracket(s) not fully protected"
    elif args.command == "cancel-all":
        answer = _call(args, "POST", "/admin/cancel-all", {"account": args.account, "symbol": args.symbol})
        text = f"canceled {len(answer['canceled'])} order(s)" + (
            "\n" + _table(answer["canceled"], _ORDER_COLUMNS) if answer["canceled"] else "")
    else:
        if args.state == "on":
            answer = _call(args, "POST", "/admin/kill-switch", {"cancel_open": "true" if args.cancel_open else None})
            text = f"kill switch engaged; canceled {len(answer['canceled'])} order(s)"
        else:
            answer = _call(args, "DELETE", "/admin/kill-switch")
            text = "kill switch released"
    sys.stdout.write((json.dumps(answer, indent=2) if args.json else text) + "\n")
    return 0


_OPS = {"status", "orders", "brackets", "cancel-all", "kill-switch"}


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
        cache=True,
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
