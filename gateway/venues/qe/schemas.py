"""QE's wire formats, parsed once into typed values: the REST envelope, records, WebSocket frames. Pure.

Envelope (fact sheet §4): ``{"code": 200, "reason": "", "message": <payload>, "traceId", "serverTime"}``;
the payload is in ``message``. ``code != 200`` is an error **even with HTTP 200**. Detection order, as the
SDK's: HTTP >= 400 with the envelope -> `QeApiError`; HTTP >= 400 without it -> 4xx `QeHttpError`, 5xx or
non-JSON `QeHttpError`; 2xx with ``code`` -> payload or `QeApiError`; 2xx JSON without ``code`` -> as is.

Records accept both spellings (§8): V2 lowerCamelCase (``masterOrderId``, ``cumFilledQty``) and the legacy
snake_case (``master_order_id``, ``cum_filled_qty``), first key present wins; decimals as strings or
numbers (numbers go through ``str`` so no binary float reaches a Decimal). A record missing its id or
with a non-decimal amount raises `QeFormatError`, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from gateway.core.algo_ports import ChildOrder, ParentOrder

__all__ = [
    "OK_CODE",
    "QeApiError",
    "QeFormatError",
    "QeHttpError",
    "WsFrame",
    "decode_envelope",
    "parse_child",
    "parse_listen_key",
    "parse_parent",
    "parse_server_time",
    "parse_ws_frame",
    "pick",
    "ws_payload",
]

OK_CODE: Final = 200
_ZERO = Decimal(0)


class QeFormatError(ValueError):
    """The venue sent something that is not the documented shape (garbage, wrong types)."""


@dataclass(frozen=True, slots=True)
class QeApiError(Exception):
    """An answer with QE's envelope and ``code != 200`` (whatever the HTTP status)."""

    code: int
    reason: str
    message: str
    trace_id: str | None
    http_status: int

    def __str__(self) -> str:
        return f"QE error {self.code} {self.reason}: {self.message}"


@dataclass(frozen=True, slots=True)
class QeHttpError(Exception):
    """An HTTP error without QE's envelope (a proxy, a 5xx page) or a non-JSON error body."""

    http_status: int
    text: str

    def __str__(self) -> str:
        return f"HTTP {self.http_status}: {self.text[:200]}"


def decode_envelope(http_status: int, body: bytes) -> Any:
    """Return the payload of an answer (see the module docstring).

    Raises:
        QeApiError: the envelope says ``code != 200``.
        QeHttpError: HTTP >= 400 without the envelope.
        QeFormatError: a 2xx answer that is not JSON (the caller asked for JSON).
    """
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        if http_status >= 400:
            raise QeHttpError(http_status, body[:200].decode(errors="replace")) from None
        raise QeFormatError(f"the answer is not JSON: {body[:80]!r}") from None
    if http_status >= 400:
        if isinstance(data, dict) and {"code", "reason", "message"} <= data.keys():
            raise _api_error(data, http_status)
        raise QeHttpError(http_status, body[:200].decode(errors="replace"))
    if isinstance(data, dict) and "code" in data:
        if _as_int(data.get("code")) != OK_CODE:
            raise _api_error(data, http_status)
        return data.get("message")
    return data


def _api_error(data: Mapping[str, Any], http_status: int) -> QeApiError:
    code = _as_int(data.get("code"))
    message = data.get("message")
    return QeApiError(code if code is not None else http_status, str(data.get("reason") or ""),
                      message if isinstance(message, str) else orjson.dumps(message).decode(),
                      None if data.get("traceId") is None else str(data["traceId"]), http_status)


# --- records -----------------------------------------------------------------------------------------------


def pick(record: Mapping[str, Any], *names: str) -> Any:
    """Return the value of the first of `names` present (and not None) in `record`."""
    for name in names:
        value = record.get(name)
        if value is not None:
            return value
    return None


def parse_parent(record: Any) -> ParentOrder:
    """Parse a MasterOrderV2Info (camelCase) or a legacy master-order message (snake_case).

    Raises:
        QeFormatError: not an object, no master order id, or an amount that is not a decimal.
    """
    r = _object(record, "master order")
    parent_id = _text(pick(r, "masterOrderId", "master_order_id"))
    if not parent_id:
        raise QeFormatError("master order without masterOrderId")
    qty = _decimal(r, "totalQuantity", "total_quantity", "qty")
    notional = _decimal(r, "orderNotional", "order_notional")
    filled = _decimal(r, "cumFilledQty", "cum_filled_qty", "filledQuantity", "filled_quantity") or _ZERO
    filled_notional = _decimal(r, "cumFilledNotional", "cum_filled_notional", "filledNotional") or _ZERO
    avg = _decimal(r, "avgFilledPrice", "avg_filled_price", "averagePrice", "avg_price")
    if avg is None and filled > 0 and filled_notional > 0:
        avg = filled_notional / filled
    if filled_notional == 0 and avg is not None:
        filled_notional = avg * filled
    duration = _int(r, "executionDurationSeconds", "execution_duration_seconds", "durationSecs", "duration_secs")
    return ParentOrder(
        parent_id=parent_id,
        client_order_id=_text(pick(r, "clientOrderId", "client_order_id", "clientId", "client_id")) or None,
        status=(_text(pick(r, "status")) or "").upper(),
        symbol=_text(pick(r, "symbol")) or "",
        side=(_text(pick(r, "side")) or "").lower(),
        algorithm=_text(pick(r, "algorithm", "strategy")) or "",
        market_type=_text(pick(r, "marketType", "market_type", "category")),
        exchange=_text(pick(r, "exchange")),
        api_key_id=_text(pick(r, "apiKeyId", "apiKeyUuid", "api_key_id")),
        qty=qty, notional=notional, filled_qty=filled, filled_notional=filled_notional, avg_price=avg,
        duration_s=duration, start_ms=_int(r, "startTimeMs", "start_time_ms"),
        reason=_text(pick(r, "rejectReason", "reject_reason", "reason")) or None,
        created_ms=_time_ms(pick(r, "createdAt", "created_at")),
        updated_ms=_time_ms(pick(r, "updatedAt", "updated_at", "timestamp", "ticktimeMs", "ticktime_ms")),
        raw=r,
    )


def parse_child(record: Any) -> ChildOrder:
    """Parse an OrderFillV2Info / ``order_data`` record (camelCase) or a legacy order message (snake_case).

    The filled quantity is cumulative for the child order (``cumFilledQty`` first, then
    ``filledQuantity``); a legacy ``fill`` message is not a child record (see `tracker`).

    Raises:
        QeFormatError: not an object, no order id / master order id, or an amount that is not a decimal.
    """
    r = _object(record, "child order")
    order_id = _text(pick(r, "orderId", "order_id", "id"))
    parent_id = _text(pick(r, "masterOrderId", "master_order_id"))
    if not order_id or not parent_id:
        raise QeFormatError("child order without orderId or masterOrderId")
    filled = _decimal(r, "cumFilledQty", "cum_filled_qty", "filledQuantity", "filled_quantity", "filledQty",
                      "fillQty", "fill_qty") or _ZERO
    avg = _decimal(r, "averagePrice", "avgPrice", "avg_price", "fillPrice", "fill_price")
    notional = _decimal(r, "filledNotional", "filled_notional")
    if notional is None:
        notional = avg * filled if avg is not None else _ZERO
    if avg is None and filled > 0 and notional > 0:
        avg = notional / filled
    return ChildOrder(
        order_id=order_id, parent_id=parent_id, symbol=_text(pick(r, "symbol")) or "",
        side=(_text(pick(r, "side")) or "").lower(), status=(_text(pick(r, "status")) or "").upper(),
        qty=_decimal(r, "quantity", "qty"), price=_decimal(r, "price"), filled_qty=filled,
        filled_notional=notional, avg_price=avg,
        order_type=_text(pick(r, "orderType", "order_type", "priceType", "price_type")),
        reason=_text(pick(r, "rejectReason", "reject_reason", "reason")) or None,
        updated_ms=_time_ms(pick(r, "updatedAt", "updated_at", "lastFillTime", "last_fill_time", "timestamp")),
        raw=r,
    )


def parse_listen_key(payload: Any) -> tuple[str, int]:
    """Return (listenKey, expireAt in epoch **seconds**) of a create-listen-key answer (§7).

    Raises:
        QeFormatError: no key, ``success`` false, or an ``expireAt`` that is not a number.
    """
    r = _object(payload, "listen key answer")
    if r.get("success") is False:
        raise QeFormatError(f"listen key refused: {r.get('message')}")
    key = _text(r.get("listenKey"))
    expire = _int(r, "expireAt")
    if not key or expire is None:
        raise QeFormatError("listen key answer without listenKey or a numeric expireAt")
    return key, expire


def parse_server_time(payload: Any) -> int:
    """Return ``serverTimeMilli`` of a ``/timestamp`` answer (or a bare number)."""
    if isinstance(payload, int) and not isinstance(payload, bool):
        return payload
    value = _int(_object(payload, "server time"), "serverTimeMilli")
    if value is None:
        raise QeFormatError("server time answer without serverTimeMilli")
    return value


# --- WebSocket ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WsFrame:
    """One push (§8): ``type`` (status, error, master_data, order_data, data), ``messageId``, ``data``."""

    type: str
    message_id: str | None
    user_id: str | None
    data: Any  # a decoded object, or the text of a status / error


def parse_ws_frame(text: str | bytes) -> WsFrame | None:
    """Parse one text frame. Returns None for a bare ``pong`` text (the SDK skips it too).

    Raises:
        QeFormatError: not JSON, not an object, or no ``type``.
    """
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if text.strip().lower() == "pong":
        return None
    try:
        outer = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise QeFormatError(f"frame is not JSON: {text[:80]!r}") from None
    if not isinstance(outer, dict) or not isinstance(outer.get("type"), str):
        raise QeFormatError("frame is not an object with a type")
    data = outer.get("data")
    if isinstance(data, str) and outer["type"] not in ("status", "error"):
        try:
            data = orjson.loads(data)  # usually a JSON-encoded string; the SDK also accepts an object
        except orjson.JSONDecodeError:
            raise QeFormatError(f"{outer['type']} frame whose data is not JSON") from None
    message_id = outer.get("messageId", outer.get("message_id"))
    user_id = outer.get("userId", outer.get("user_id"))
    return WsFrame(outer["type"], None if message_id is None else str(message_id),
                   None if user_id is None else str(user_id), data)


def ws_payload(frame: WsFrame) -> tuple[str, Mapping[str, Any]] | None:
    """Return (kind, record) of a data frame: kind is ``master``, ``order`` or ``fill``; None otherwise.

    ``master_data`` -> master; ``order_data`` -> order, or fill when the inner ``type`` says so (legacy);
    ``data`` -> by its inner type (``master_order``, ``order``, ``fill``).

    Raises:
        QeFormatError: a data frame whose payload is not an object.
    """
    if frame.type not in ("master_data", "order_data", "data"):
        return None
    record = _object(frame.data, f"{frame.type} payload")
    inner = str(record.get("type") or "").lower()
    if frame.type == "master_data" or inner == "master_order":
        return "master", record
    if inner == "fill":
        return "fill", record
    if frame.type == "order_data" or inner == "order":
        return "order", record
    raise QeFormatError(f"data frame of unknown inner type {inner!r}")


# --- helpers ----------------------------------------------------------------------------------------------


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise QeFormatError(f"{what} is not an object")
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise QeFormatError(f"expected text, got {type(value).__name__}")
    return str(value)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _int(record: Mapping[str, Any], *names: str) -> int | None:
    value = pick(record, *names)
    if value is None or value == "":
        return None
    result = _as_int(value)
    if result is None:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise QeFormatError(f"{names[0]} is not an integer")
    return result


def _decimal(record: Mapping[str, Any], *names: str) -> Decimal | None:
    value = pick(record, *names)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QeFormatError(f"{names[0]} is not a decimal")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise QeFormatError(f"{names[0]} is not a decimal") from None
    if not result.is_finite():
        raise QeFormatError(f"{names[0]} is not finite")
    return result


def _time_ms(value: Any) -> int | None:
    # Epoch ms as a number or digit string, or an RFC 3339 text; anything else is unknown (None).
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            return None
    return None
