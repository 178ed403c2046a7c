"""The strategy API wire protocol: request decoding, params models, frame encoders, stream names.

Pure: no event loop, no sockets, no clock. `ws_server.py` feeds it text frames and sends what it returns.

Envelope (docs: API.md "Envelope"):

    request   {"id": 7, "method": "depth", "params": {...}}
    response  {"id": 7, "result": {...}}
    error     {"id": 7, "error": {"code": "INVALID_PARAMS", "message": "...", "details": {...}}}
    push      {"stream": "sim:BTC/USDT@trade", "data": {...}}

`id` is echoed verbatim when it is a number or a string, and is `null` when absent or unusable. Decimals
are encoded as JSON strings in fixed-point notation ("65000.10", never "6.5E+4").

Stream names resolve to a `StreamKey`:

    gateway@status             -> ("gateway", "", "status")
    <account>@<user kind>      -> (account, "", canonical kind)     e.g. user1@trade -> (user1, "", fill)
    <venue>:<symbol>@<kind>    -> (venue, unified symbol, kind)     e.g. sim:BTCUSDT@bbo
    <symbol>@<kind>            -> (default venue, unified symbol, kind)

A prefix naming a known account is read as an account, so `user1@trade` is the fill stream of user1
while `BTCUSDT@trade` is the market trade stream of the default venue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.core.bus import StreamKey
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, RequestError
from gateway.core.events import KLINE_INTERVALS
from gateway.venues.registry import VenueDirectory

__all__ = [
    "AuthParams",
    "DepthParams",
    "GATEWAY_STATUS",
    "KlinesParams",
    "NoParams",
    "Params",
    "Request",
    "RequestDecodeError",
    "RequestId",
    "StreamResolver",
    "StreamsParams",
    "SymbolParams",
    "TradesParams",
    "USER_KINDS",
    "VenueParams",
    "decode_request",
    "encode_error",
    "encode_exception",
    "encode_json",
    "encode_push",
    "encode_result",
    "is_user_stream",
    "parse_params",
]

RequestId = int | float | str | None

GATEWAY_STATUS = StreamKey("gateway", "", "status")

# User stream kinds as written by strategies -> canonical kind of the StreamKey.
USER_KINDS: dict[str, str] = {
    "order": "order",
    "fill": "fill",
    "trade": "fill",  # alias, as in `<account>@trade`
    "balance": "balance",
    "account": "balance",  # alias, as in `<account>@account`
    "position": "position",
    "bracket": "bracket",
    "algo": "algo",
}

MAX_STREAM_NAME = 200


# --- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded request envelope; `params` are not validated yet (see `parse_params`)."""

    id: RequestId
    method: str
    params: dict[str, Any]


class RequestDecodeError(RequestError):
    """A frame that is not a usable request envelope. Carries the id to echo (`None` if unknown)."""

    def __init__(self, message: str, *, code: ErrorCode, request_id: RequestId = None):
        super().__init__(message, code=code)
        self.request_id = request_id


def decode_request(text: str | bytes) -> Request:
    """Decode one text frame into a `Request`.

    Raises:
        RequestDecodeError: INVALID_JSON for non-JSON; INVALID_REQUEST for JSON that is not an object,
            a missing or non-string `method`, an `id` that is neither a number nor a string, or
            `params` that is not an object.
    """
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RequestDecodeError(f"not JSON: {exc.msg}", code=ErrorCode.INVALID_JSON) from exc
    if not isinstance(message, dict):
        raise RequestDecodeError("a request must be a JSON object", code=ErrorCode.INVALID_REQUEST)
    request_id = message.get("id")
    if not _is_valid_id(request_id):
        raise RequestDecodeError("id must be a number or a string", code=ErrorCode.INVALID_REQUEST)
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise RequestDecodeError(
            "method must be a non-empty string", code=ErrorCode.INVALID_REQUEST, request_id=request_id
        )
    params = message.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise RequestDecodeError(
            "params must be an object", code=ErrorCode.INVALID_REQUEST, request_id=request_id
        )
    return Request(request_id, method, params)


def _is_valid_id(value: object) -> bool:
    # bool is an int subclass but not an id; orjson decodes out-of-range integers as floats.
    return value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool))


# --- params models ---------------------------------------------------------------------------------


class Params(BaseModel):
    """Base of every method's params: unknown fields are errors, types are not coerced.

    Decimal fields take JSON strings ("65000.10"); declare them lax so the string is converted:
    `qty: Annotated[Decimal, Field(strict=False, gt=0)]`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


P = TypeVar("P", bound=BaseModel)


class NoParams(Params):
    """Params of methods that take none (`ping`, `time`, `venues`, `subscriptions`)."""


class AuthParams(Params):
    api_key: str = Field(min_length=1, max_length=512, repr=False)


class VenueParams(Params):
    venue: str | None = None  # the default venue when left out


class StreamsParams(Params):
    streams: list[str] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _names_are_sane(self) -> StreamsParams:
        for name in self.streams:
            if not name or len(name) > MAX_STREAM_NAME:
                raise ValueError(f"stream names must be 1..{MAX_STREAM_NAME} characters")
        return self


class SymbolParams(Params):
    venue: str | None = None
    symbol: str = Field(min_length=1, max_length=64)  # unified (BTC/USDT) or native (BTCUSDT)


class DepthParams(SymbolParams):
    limit: int = Field(20, ge=1, le=500)


class TradesParams(SymbolParams):
    limit: int = Field(100, ge=1, le=1000)


class KlinesParams(SymbolParams):
    interval: Literal[tuple(KLINE_INTERVALS)]  # type: ignore[valid-type]
    limit: int = Field(100, ge=1, le=1000)
    start: int | None = Field(None, ge=0, description="open time from, epoch ms")
    end: int | None = Field(None, ge=0, description="open time to, epoch ms")

    @model_validator(mode="after")
    def _start_before_end(self) -> KlinesParams:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


def parse_params(model: type[P], params: dict[str, Any]) -> P:
    """Validate `params` against a method's model.

    Raises:
        RequestError: INVALID_PARAMS; `details.errors` lists `{field, message}` per problem. Input values
            are never echoed (they may hold secrets).
    """
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(part) for part in error["loc"]) or None, "message": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        first = errors[0]
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        raise RequestError(message, code=ErrorCode.INVALID_PARAMS, details={"errors": errors}) from None


# --- encoders --------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    # orjson handles dataclasses, enums, dicts, lists and tuples natively and calls this for the rest.
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_dumps = orjson.dumps


def encode_json(data: Any) -> bytes:
    """Encode any API value the way every front door does (Decimals as fixed-point strings)."""
    return _dumps(data, default=_default)


def encode_push(stream: str, data: Any) -> bytes:
    """Encode a push frame: `{"stream", "data"}`. This is the `StreamBus` encoder."""
    return _dumps({"stream": stream, "data": data}, default=_default)


def encode_result(request_id: RequestId, result: Any) -> bytes:
    """Encode a response frame: `{"id", "result"}`."""
    return _dumps({"id": request_id, "result": result}, default=_default)


def encode_error(
    request_id: RequestId, code: ErrorCode | str, message: str, details: dict[str, Any] | None = None
) -> bytes:
    """Encode an error frame: `{"id", "error": {"code", "message", "details"}}`."""
    error = {"code": code, "message": message, "details": details or {}}
    return _dumps({"id": request_id, "error": error}, default=_default)


def encode_exception(request_id: RequestId, exc: GatewayError) -> bytes:
    """Encode a `GatewayError` as an error frame."""
    return encode_error(request_id, exc.code, exc.message, exc.details)


# --- stream names ----------------------------------------------------------------------------------


def is_user_stream(key: StreamKey) -> bool:
    """Tell whether a resolved key is an account (user) stream."""
    return not key.symbol and key.scope != GATEWAY_STATUS.scope


class StreamResolver:
    """Resolve stream names against the configured venues.

    Args:
        directory: the configured venues (their names are also the account names).
        market_kinds: the market stream kinds (`gateway.market.service.stream_kinds()`).
    """

    def __init__(self, directory: VenueDirectory, market_kinds: Iterable[str]):
        self._directory = directory
        self._market_kinds = frozenset(market_kinds)

    def resolve(self, name: str) -> StreamKey:
        """Resolve a stream name to its canonical key.

        Raises:
            RequestError: INVALID_PARAMS for a malformed name or an unknown kind.
            LookupFailed: UNKNOWN_VENUE or UNKNOWN_SYMBOL.
        """
        prefix, at, kind = name.rpartition("@")
        if not at or not prefix or not kind:
            raise _bad_stream(name, "a stream name looks like <venue>:<symbol>@<kind> or <account>@<kind>")
        if prefix == GATEWAY_STATUS.scope:
            if kind != GATEWAY_STATUS.kind:
                raise _bad_stream(name, "the gateway stream is gateway@status")
            return GATEWAY_STATUS
        directory = self._directory
        if ":" not in prefix and directory.has(prefix):
            canonical = USER_KINDS.get(kind)
            if canonical is None:
                raise _bad_stream(
                    name, f"unknown account stream kind {kind!r}; one of {', '.join(USER_KINDS)}"
                )
            return StreamKey(prefix, "", canonical)
        if kind in USER_KINDS and kind not in self._market_kinds and ":" not in prefix and "/" not in prefix:
            raise LookupFailed(
                f"unknown account {prefix!r}", code=ErrorCode.UNKNOWN_VENUE, details={"stream": name}
            )
        head, colon, tail = prefix.partition(":")
        if colon and directory.has(head):
            venue, symbol = head, tail
        elif colon and "/" not in head:
            raise LookupFailed(
                f"unknown venue {head!r}",
                code=ErrorCode.UNKNOWN_VENUE,
                details={"venue": head, "stream": name},
            )
        else:
            venue, symbol = None, prefix  # a unified perp symbol (BTC/USDT:USDT) keeps its colon
        adapter = directory.venue(venue)
        instrument = directory.instrument(adapter.name, symbol)
        if kind not in self._market_kinds:
            raise _bad_stream(
                name, f"unknown market stream kind {kind!r}; one of {', '.join(sorted(self._market_kinds))}"
            )
        return StreamKey(adapter.name, instrument.symbol, kind)


def _bad_stream(name: str, message: str) -> RequestError:
    return RequestError(f"{message} (got {name!r})", code=ErrorCode.INVALID_PARAMS, details={"stream": name})
