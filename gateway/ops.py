"""Ops views: what `/status`, the dashboard, `/admin/brackets` and the metrics collector read.

Everything here reads the components' own state when asked (a scrape, a `/status` poll); nothing runs on
a hot path. Three parts:

- `venue_details(adapter, now_ms)`: the optional facts a venue session may expose beyond its connection
  state: its user stream (state, restarts, last event age), its listen key's expiry and rotations, and
  its REST budget use. A venue exposes them with an `ops_status()` method returning a dict with any of
  the keys in `VENUE_DETAIL_KEYS`, or through the `user_stream` part of its `status()` (the Binance
  session's shape: state, last_message_age_ms, key_rotations, connections); anything else is ignored,
  so a listen key or a secret never leaks. A venue with a REST client holding a `HostBudget`
  (`adapter.rest.budget`) gets its rate-limit use read from it.
- `protection(bracket)` and `bracket_view(bracket)`: a bracket as ops see it, with whether its legs
  cover its open position.
- `RecentLog`: a ring buffer of the last warning and error log events (redacted, flattened, truncated)
  for the dashboard; installed as a structlog processor (after the redactor) and a standard-library
  logging handler while a gateway runs.
"""

from __future__ import annotations

import datetime
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from gateway.logconfig import SecretRedactor

__all__ = [
    "PROTECTION_STATES",
    "VENUE_DETAIL_KEYS",
    "RecentLog",
    "bracket_view",
    "live_brackets",
    "order_view",
    "orders_summary",
    "protection",
    "rate_limits",
    "venue_details",
]

# What a venue's `ops_status()` may report (any subset):
#   user_stream              str   state of its user-data stream: "open", "reconnecting", "closed", ...
#   user_stream_restarts     int   times the user stream was re-established
#   user_stream_age_ms       int   time since the user stream's last event
#   listen_key_expires_ms    int   epoch ms when the current listen key expires unless kept alive
#   listen_key_rotations     int   times a new listen key was taken
#   rate_limits              list  [{"kind", "interval_ms", "used", "limit"}] (else read from adapter.rest.budget)
VENUE_DETAIL_KEYS = frozenset({
    "user_stream", "user_stream_restarts", "user_stream_age_ms", "listen_key_expires_ms",
    "listen_key_rotations", "rate_limits",
})

# How well a live bracket's legs cover its open position.
PROTECTION_STATES = ("protected", "partial", "unprotected", "no_position", "attention")

_LOG_LEVELS = frozenset({"warning", "error", "critical", "exception"})
_MAX_FIELD_CHARS = 200
_DROPPED_FIELDS = frozenset({"exception", "exc_info", "stack", "_record", "_from_structlog"})


# --- venues ------------------------------------------------------------------------------------------


def rate_limits(budget: Any, now_ms: int) -> list[dict[str, Any]]:
    """Return a `HostBudget`'s limits with the cost counted in their current windows."""
    out = []
    for limit in budget.limits:
        out.append({"kind": limit.kind, "interval_ms": limit.interval_ms,
                    "used": budget.used(limit.kind, limit.interval_ms, now_ms), "limit": limit.limit})
    return out


def venue_details(adapter: Any, now_ms: int) -> dict[str, Any]:
    """Return the optional ops facts of a venue session (see the module docstring); {} when it has none."""
    details: dict[str, Any] = {}
    hook = getattr(adapter, "ops_status", None)
    if callable(hook):
        reported = _ask(adapter, hook)
    else:
        status = getattr(adapter, "status", None)
        reported = _from_session_status(_ask(adapter, status)) if callable(status) else None
    if isinstance(reported, dict):
        details.update((k, v) for k, v in reported.items() if k in VENUE_DETAIL_KEYS)
    if "rate_limits" not in details:
        budget = getattr(getattr(adapter, "rest", None), "budget", None)
        if budget is not None and hasattr(budget, "limits") and hasattr(budget, "used"):
            details["rate_limits"] = rate_limits(budget, now_ms)
    return details


def _ask(adapter: Any, hook: Callable[[], Any]) -> Any:
    try:
        return hook()
    except Exception as exc:  # a status view must never break /status or a scrape
        structlog.get_logger("gateway.ops").warning(
            "ops.venue_status_failed", venue=getattr(adapter, "name", "?"), error=repr(exc))
        return None


def _from_session_status(status: Any) -> dict[str, Any] | None:
    # A session's own status() (Binance): {"user_stream": {"state", "last_message_age_ms", "key_rotations",
    # "connections", ...} | None, ...}.
    if not isinstance(status, dict) or not isinstance(status.get("user_stream"), dict):
        return None
    user = status["user_stream"]
    out: dict[str, Any] = {"user_stream": "silent" if user.get("silent") else str(user.get("state"))}
    if isinstance(user.get("last_message_age_ms"), int):
        out["user_stream_age_ms"] = user["last_message_age_ms"]
    if isinstance(user.get("key_rotations"), int):
        out["listen_key_rotations"] = user["key_rotations"]
    if isinstance(user.get("connections"), int):
        out["user_stream_restarts"] = max(0, user["connections"] - 1)
    if isinstance(user.get("listen_key_expires_ms"), int):
        out["listen_key_expires_ms"] = user["listen_key_expires_ms"]
    return out


# --- orders and brackets -----------------------------------------------------------------------------


def order_view(order: Any) -> dict[str, Any]:
    """Return the short shape of an open order for the dashboard."""
    return {"account": order.account, "symbol": order.symbol, "side": order.side, "type": order.type,
            "qty": order.qty, "filled_qty": order.known_filled_qty, "price": order.price, "status": order.status,
            "client_order_id": order.client_order_id, "strategy": order.strategy, "created_ts": order.created_ts,
            "external": order.external}


def orders_summary(service: Any, listed: int = 20) -> dict[str, Any]:
    """Return the open orders of every account: how many, the `listed` newest, and the kill switch."""
    if service is None:
        return {"open": 0, "listed": [], "kill_switch": False}
    manager = service.manager
    orders = [o for account in manager.accounts() for o in manager.open_orders(account)]
    orders.sort(key=lambda o: o.created_ts, reverse=True)
    return {"open": len(orders), "listed": [order_view(o) for o in orders[:listed]],
            "kill_switch": service.kill_switch_engaged}


def live_brackets(service: Any, account: str | None = None) -> list[dict[str, Any]]:
    """Return the live brackets (of one account, if given), newest first, as `bracket_view`s."""
    if service is None:
        return []
    found = [b for b in service.book.live() if account is None or b.account == account]
    found.sort(key=lambda b: b.created_ts, reverse=True)
    return [bracket_view(b) for b in found]


def protection(bracket: Any) -> str:
    """Return how a live bracket's legs cover its open position: one of `PROTECTION_STATES`.

    `no_position`: nothing filled yet (or nothing left open); `protected`: both legs live and covering the
    open quantity; `partial`: one leg live, or the legs cover less than the open quantity; `unprotected`:
    a position with no live leg; `attention`: the bracket needs an operator (whatever its legs).
    """
    if bracket.state.value == "needs_attention":
        return "attention"
    open_qty = bracket.open_qty
    if not bracket.state.has_position or open_qty <= 0:
        return "no_position"
    live = [leg for leg in bracket.legs if leg.is_live]
    if not live:
        return "unprotected"
    if len(live) == 2 and all(leg.armed_qty >= open_qty for leg in live):
        return "protected"
    return "partial"


def _leg_view(leg: Any) -> dict[str, Any]:
    return {"trigger_price": leg.trigger_price, "price": leg.price, "status": leg.status,
            "armed_qty": leg.armed_qty, "filled_qty": leg.filled_qty, "order_id": leg.order_id}


def bracket_view(bracket: Any) -> dict[str, Any]:
    """Return a bracket as ops see it: state, entry, both legs and the protection of its position."""
    entry = bracket.entry
    return {
        "bracket_id": bracket.bracket_id, "account": bracket.account, "symbol": bracket.symbol,
        "side": bracket.side, "qty": bracket.qty, "state": bracket.state, "mode": bracket.mode,
        "trigger_source": bracket.trigger_source, "protection": protection(bracket),
        "filled_qty": entry.filled_qty, "open_qty": bracket.open_qty,
        "entry": {"type": entry.type, "price": entry.price, "status": entry.status, "order_id": entry.order_id},
        "take_profit": _leg_view(bracket.take_profit), "stop_loss": _leg_view(bracket.stop_loss),
        "reason": bracket.reason, "created_ts": bracket.created_ts, "updated_ts": bracket.updated_ts,
    }


# --- the last warnings and errors --------------------------------------------------------------------


class RecentLog:
    """Keep the last `size` warning/error log events, redacted and flattened, for the dashboard.

    `install()` adds a structlog processor just before the renderer (so after the secret redactor of
    `configure_logging`, whose instance it also uses for standard-library records) and a logging handler
    on the root logger; `uninstall()` takes both out. Each entry: ts, level, event, logger, and the other
    fields as strings of at most 200 characters (tracebacks are left out).
    """

    def __init__(self, size: int = 50, clock_ms: Callable[[], int] | None = None):
        self._events: deque[dict[str, Any]] = deque(maxlen=size)
        self._clock_ms = clock_ms
        self._redactor = SecretRedactor()
        self._handler: logging.Handler | None = None
        self._chain_redacts = False  # whether the structlog chain has a redactor before us
        self.total = 0  # warning/error events seen since install

    def events(self) -> list[dict[str, Any]]:
        """Return the kept events, newest first."""
        return list(reversed(self._events))

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        level = str(event_dict.get("level") or method).lower()
        if level in _LOG_LEVELS:
            self._keep(level, event_dict, redact=not self._chain_redacts)
        return event_dict

    def install(self) -> None:
        """Hook into the structlog chain and the root logger (idempotent)."""
        # The chain is changed in place: loggers cached before this point (`configure_logging(cache=True)`)
        # hold the same list.
        processors = structlog.get_config()["processors"]
        if any(p is self for p in processors):
            return
        for processor in processors:
            if isinstance(processor, SecretRedactor):
                self._redactor = processor
                self._chain_redacts = True
        processors.insert(max(len(processors) - 1, 0), self)
        self._handler = _Handler(self)
        logging.getLogger().addHandler(self._handler)

    def uninstall(self) -> None:
        """Take the processor and the handler out again."""
        processors = structlog.get_config()["processors"]
        for i in reversed(range(len(processors))):
            if processors[i] is self:
                del processors[i]
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None

    def _keep(self, level: str, fields: dict[str, Any], *, redact: bool) -> None:
        if redact:
            fields = self._redactor(None, level, dict(fields))
        entry: dict[str, Any] = {"ts": fields.get("ts"), "level": "error" if level == "exception" else level,
                                 "event": _short(fields.get("event")), "logger": fields.get("logger")}
        for key, value in fields.items():
            if key in entry or key in _DROPPED_FIELDS or key == "level":
                continue
            entry[key] = value if value is None or isinstance(value, bool | int | float) else _short(value)
        if entry["ts"] is None and self._clock_ms is not None:
            entry["ts"] = self._clock_ms()
        self.total += 1
        self._events.append(entry)


class _Handler(logging.Handler):
    """Standard-library warnings and errors (aiohttp, websockets, asyncio) into the same ring buffer."""

    def __init__(self, recent: RecentLog):
        super().__init__(logging.WARNING)
        self._recent = recent

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "_from_structlog", False):
            return
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        ts = datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat()
        self._recent._keep(record.levelname.lower(), {"ts": ts, "event": message, "logger": record.name},
                           redact=True)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_FIELD_CHARS else text[: _MAX_FIELD_CHARS - 1] + "…"
