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
