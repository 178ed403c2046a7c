"""The envelope parsed once into payload or typed errors; records and frames in both spellings; garbage."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from gateway.venues.qe.schemas import (
    QeApiError,
    QeFormatError,
    QeHttpError,
    decode_envelope,
    parse_child,
    parse_listen_key,
    parse_parent,
    parse_ws_frame,
    ws_payload,
)
from gateway.venues.qe.tracker import Tracker


def _env(code: int, message: object) -> bytes:
    return orjson.dumps({"code": code, "reason": "R", "message": message, "traceId": "t1", "serverTime": 1})


def test_success_returns_the_message_payload() -> None:
    assert decode_envelope(200, _env(200, {"masterOrderId": "m1"})) == {"masterOrderId": "m1"}


def test_http_200_with_a_non_200_code_is_an_error() -> None:
    with pytest.raises(QeApiError) as err:
        decode_envelope(200, _env(400, "totalQuantity must be > 0"))
    assert (err.value.code, err.value.message, err.value.trace_id, err.value.http_status) == (
        400, "totalQuantity must be > 0", "t1", 200)


def test_http_error_with_envelope_and_without() -> None:
    with pytest.raises(QeApiError):
        decode_envelope(401, _env(401, "signature mismatch"))
    with pytest.raises(QeHttpError) as err:
        decode_envelope(502, b"<html>bad gateway</html>")
    assert err.value.http_status == 502
    with pytest.raises(QeHttpError):
        decode_envelope(403, b'{"msg": "forbidden"}')


def test_a_2xx_that_is_not_json_is_a_format_error() -> None:
    with pytest.raises(QeFormatError):
        decode_envelope(200, b"<html>")


CAMEL = {"masterOrderId": "m1", "clientOrderId": "c1", "status": "PROCESSING", "symbol": "BTCUSDT", "side": "buy",
         "algorithm": "TWAP", "marketType": "SPOT", "totalQuantity": "0.5", "cumFilledQty": "0.2",
         "cumFilledNotional": "13000", "executionDurationSeconds": 600, "updatedAt": 5}
SNAKE = {"master_order_id": "m1", "client_id": "c1", "status": "PROCESSING", "symbol": "BTCUSDT", "side": "buy",
         "strategy": "TWAP", "qty": 0.5, "cum_filled_qty": "0.2", "avg_price": "65000", "duration_secs": 600}


@pytest.mark.parametrize("record", [CAMEL, SNAKE], ids=["camelCase", "snake_case"])
def test_parent_in_both_spellings(record: dict[str, object]) -> None:
    parent = parse_parent(record)
    assert (parent.parent_id, parent.client_order_id, parent.qty, parent.filled_qty, parent.duration_s) == (
        "m1", "c1", Decimal("0.5"), Decimal("0.2"), 600)
    assert parent.avg_price == Decimal(65000)


@pytest.mark.parametrize("record", [
    {"orderId": "7", "masterOrderId": "m1", "filledQuantity": "0.1", "averagePrice": "100", "status": "PLACED"},
    {"order_id": "7", "master_order_id": "m1", "cum_filled_qty": "0.1", "fill_price": "100", "status": "PLACED"},
], ids=["camelCase", "snake_case"])
def test_child_in_both_spellings(record: dict[str, object]) -> None:
    child = parse_child(record)
    assert (child.order_id, child.parent_id, child.filled_qty, child.filled_notional) == (
        "7", "m1", Decimal("0.1"), Decimal("10.0"))


@pytest.mark.parametrize("record", [
    "not an object", {"status": "NEW"}, {"masterOrderId": "m", "cumFilledQty": [1]},
    {"masterOrderId": "m", "totalQuantity": "abc"}, {"masterOrderId": "m", "totalQuantity": True},
    {"masterOrderId": "m", "totalQuantity": "NaN"},
])
def test_bad_parent_records_raise_a_clear_error(record: object) -> None:
    with pytest.raises(QeFormatError):
        parse_parent(record)


def test_listen_key_answer() -> None:
    assert parse_listen_key({"listenKey": "k", "expireAt": "1700000000", "success": True}) == ("k", 1700000000)
    with pytest.raises(QeFormatError):
        parse_listen_key({"listenKey": "k", "expireAt": "soon"})
    with pytest.raises(QeFormatError):
        parse_listen_key({"success": False, "message": "no"})


def test_ws_frames_data_as_string_or_object_and_pong() -> None:
    inner = {"masterOrderId": "m1", "status": "NEW"}
    frame = parse_ws_frame(orjson.dumps({"type": "master_data", "messageId": "1", "data": orjson.dumps(inner).decode()}))
    assert frame is not None and ws_payload(frame) == ("master", inner)
    frame = parse_ws_frame(orjson.dumps({"type": "order_data", "messageId": "2", "data": {"type": "fill", "x": 1}}))
    assert frame is not None and ws_payload(frame)[0] == "fill"  # type: ignore[index]
    assert parse_ws_frame("pong") is None
    status = parse_ws_frame('{"type": "status", "data": "connected"}')
    assert status is not None and ws_payload(status) is None
    for garbage in ("{oops", "[1,2]", '{"no": "type"}', '{"type": "master_data", "data": "{broken"}'):
        with pytest.raises(QeFormatError):
            frame = parse_ws_frame(garbage)
            if frame is not None:
                ws_payload(frame)


def test_tracker_drops_duplicate_message_ids_and_stale_reports() -> None:
    tracker = Tracker(max_message_ids=2)
    assert tracker.is_new_message("a") and not tracker.is_new_message("a")
    tracker.is_new_message("b")
    tracker.is_new_message("c")
    assert tracker.is_new_message("a")  # forgotten: the memory is bounded
    running = parse_parent({**CAMEL})
    done = parse_parent({**CAMEL, "status": "COMPLETED", "cumFilledQty": "0.5"})
    assert tracker.on_parent(running) == [running]
    assert tracker.on_parent(running) == []
    assert tracker.on_parent(done) == [done]
    assert tracker.on_parent(running) == []  # an older read never reopens it


def test_tracker_derives_each_fill_once_from_cumulative_child_reports() -> None:
    tracker = Tracker()
    def child(cum: str, notional: str, status: str = "PLACED") -> object:
        return parse_child({"orderId": "7", "masterOrderId": "m1", "filledQuantity": cum,
                            "filledNotional": notional, "status": status})
    assert len(tracker.on_child(child("0", "0"))) == 1  # the order, no fill
    first = tracker.on_child(child("0.1", "10"))
    assert [type(e).__name__ for e in first] == ["ChildOrder", "ChildFill"]
    assert first[1].qty == Decimal("0.1") and first[1].price == Decimal(100)  # type: ignore[union-attr]
    assert tracker.on_child(child("0.1", "10")) == []  # a replay
    gap = tracker.on_child(child("0.3", "32", "FILLED"))  # two fills missed: one fill for the increase
    assert gap[1].qty == Decimal("0.2") and gap[1].price == Decimal(110)  # type: ignore[union-attr]
    assert tracker.on_child(child("0.2", "20")) == []  # stale
    assert tracker.child_filled("7") == Decimal("0.3")
