"""Structured logs: JSON lines on stdout (a console renderer on a TTY), secrets redacted everywhere.

Every line has `ts` (ISO-8601 UTC), `level`, `event` (a name such as `venue.connected`) and `logger`.
Libraries that log through the standard library (aiohttp, websockets) are rendered the same way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog
import structlog.tracebacks

__all__ = ["configure_logging", "SecretRedactor"]

REDACTED = "***"
# Keys whose values are masked whatever they hold.
_SENSITIVE_KEYS = frozenset({"api_key", "api_secret", "secret", "secret_key", "password", "passphrase",
                             "token", "private_key", "listen_key", "signature", "x-api-key"})
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class SecretRedactor:
    """A structlog processor replacing every known secret, in any value, nested or not, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({*self._secrets, *(s for s in secrets if len(s) >= 4)}, key=len, reverse=True)

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        return {key: self._clean(key, value) for key, value in event_dict.items()}

    def _clean(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and key.lower() in _SENSITIVE_KEYS and value:
            return REDACTED
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._clean(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(None, v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self._clean(key, str(value))


class _NamedLogger(structlog.PrintLogger):
    def __init__(self, name: str, file: TextIO):
        super().__init__(file)
        self.name = name


class _NamedLoggerFactory:
    def __init__(self, file: TextIO):
        self._file = file

    def __call__(self, *args: Any) -> _NamedLogger:
        return _NamedLogger(str(args[0]) if args else "gateway", self._file)


def _add_logger_name(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict.setdefault("logger", getattr(logger, "name", "gateway"))
    return event_dict


def configure_logging(
    level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), stream: TextIO | None = None,
    *, cache: bool = False,
) -> SecretRedactor:
    """Configure structlog and route the standard library's logging through the same pipeline.

    `cache`: each module logger is assembled once, on its first use after this call, instead of at every
    call. A call filtered out by the level then costs a method call, not a logger's assembly (tens of
    microseconds, on the trigger-to-venue path too). The daemon configures once and caches; tests leave it
    off, since `structlog.testing.capture_logs` and a later `configure_logging` do not reach cached loggers.
    """
    stream = stream or sys.stdout
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    redactor = SecretRedactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    renderer: Any
    if fmt == "json":
        # Structured tracebacks without frame locals: a local may hold a secret made at runtime (a signature,
        # an auth token, a listen key in a URL) that the redactor cannot know by name or value.
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        tail: list[Any] = [tracebacks, redactor]
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        tail = [structlog.processors.format_exc_info, redactor]
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, _add_logger_name, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=_NamedLoggerFactory(stream),
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    for noisy in ("websockets", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, _LEVELS[level]))
    return redactor


def _dumps(obj: Any, **kwargs: Any) -> str:
    import orjson

    return orjson.dumps(obj, default=str).decode()
