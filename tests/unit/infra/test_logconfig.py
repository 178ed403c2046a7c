import io
import logging
import sys

import orjson
import pytest
import structlog

from gateway.logconfig import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    configure_logging("info", "console", stream=sys.stderr)


def lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_ts_level_event_logger() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    structlog.get_logger("gateway.test").info("venue.connected", venue="sim")
    structlog.get_logger("gateway.test").debug("not.shown")
    (line,) = lines(out)
    assert line["event"] == "venue.connected"
    assert line["level"] == "info"
    assert line["logger"] == "gateway.test"
    assert line["venue"] == "sim"
    assert line["ts"].endswith("Z") and "T" in line["ts"]


def test_secrets_are_redacted_everywhere() -> None:
    out = io.StringIO()
    configure_logging("info", "json", secrets=["hunter2-secret"], stream=out)
    log = structlog.get_logger("gateway.test")
    log.info("a", url="wss://x?key=hunter2-secret", nested={"deep": ["hunter2-secret"]}, api_key="anything")
    try:
        raise ValueError("bad signature for hunter2-secret")
    except ValueError:
        log.error("b", exc_info=True)
    logging.getLogger("aiohttp.client").warning("stdlib says hunter2-secret")
    text = out.getvalue()
    assert "hunter2-secret" not in text
    assert "anything" not in text
    assert text.count("***") >= 4
    assert {line["event"] for line in lines(out)} >= {"a", "b", "stdlib says ***"}


def test_tracebacks_never_carry_frame_locals() -> None:
    # A signature or token made at runtime is neither a configured secret nor under a sensitive key name.
    out = io.StringIO()
    configure_logging("info", "json", stream=out)

    def sign_and_send() -> None:
        runtime_token = "tok-9f8e7d6c5b4a"  # noqa: F841 - the local a traceback must not show
        raise RuntimeError("send failed")

    try:
        sign_and_send()
    except RuntimeError:
        structlog.get_logger("gateway.test").exception("venue.send_failed")
    (line,) = lines(out)
    assert line["exception"][0]["exc_type"] == "RuntimeError"  # the traceback is still there
    assert "tok-9f8e7d6c5b4a" not in out.getvalue()


def test_a_connect_error_quoting_a_url_loses_its_query_string() -> None:
    from gateway.venues.common.ws import _safe_error

    text = _safe_error(ValueError("invalid uri wss://fstream.example/ws?listenKey=lk-secret-123 (bad)"))
    assert "lk-secret-123" not in text and "wss://fstream.example/ws" in text
