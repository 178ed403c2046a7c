"""The pure wire protocol: request decoding, params validation, encoders and stream-name resolution."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from gateway.api import protocol
from gateway.api.protocol import (
    DepthParams,
    KlinesParams,
    NoParams,
    Request,
    RequestDecodeError,
    StreamResolver,
    StreamsParams,
    decode_request,
    encode_error,
    encode_exception,
    encode_push,
    encode_result,
    is_user_stream,
    parse_params,
)
from gateway.core.bus import StreamKey
from gateway.core.enums import ConnectionState, MarketType, Side
from gateway.core.errors import ErrorCode, GatewayError, LookupFailed, RequestError
from gateway.core.events import Trade
from gateway.core.instruments import Instrument
from gateway.market.service import stream_kinds
from gateway.venues.registry import VenueDirectory

# --- decoding -------------------------------------------------------------------------------------


def test_a_full_request_decodes() -> None:
    assert decode_request('{"id": 7, "method": "depth", "params": {"symbol": "BTC/USDT"}}') == Request(
        7, "depth", {"symbol": "BTC/USDT"}
    )


@pytest.mark.parametrize("request_id", [7, "abc", 1.5, None])
def test_the_id_is_kept_verbatim(request_id: object) -> None:
    assert decode_request(orjson.dumps({"id": request_id, "method": "ping"})).id == request_id


def test_absent_or_null_params_are_an_empty_object() -> None:
    assert decode_request('{"method": "ping"}') == Request(None, "ping", {})
    assert decode_request('{"method": "ping", "params": null}').params == {}


@pytest.mark.parametrize(
    ("frame", "code", "request_id"),
    [
        ("not json", ErrorCode.INVALID_JSON, None),
        ('{"id": 1, "method": "ping"', ErrorCode.INVALID_JSON, None),
        ("", ErrorCode.INVALID_JSON, None),
        ("[1, 2]", ErrorCode.INVALID_REQUEST, None),
        ('"ping"', ErrorCode.INVALID_REQUEST, None),
        ("42", ErrorCode.INVALID_REQUEST, None),
        ("null", ErrorCode.INVALID_REQUEST, None),
        ('{"id": 3}', ErrorCode.INVALID_REQUEST, 3),
        ('{"id": 3, "method": ""}', ErrorCode.INVALID_REQUEST, 3),
        ('{"id": 3, "method": 12}', ErrorCode.INVALID_REQUEST, 3),
        ('{"id": 3, "method": null}', ErrorCode.INVALID_REQUEST, 3),
        ('{"id": "x", "method": "ping", "params": [1]}', ErrorCode.INVALID_REQUEST, "x"),
        ('{"id": "x", "method": "ping", "params": "a"}', ErrorCode.INVALID_REQUEST, "x"),
        ('{"id": {"a": 1}, "method": "ping"}', ErrorCode.INVALID_REQUEST, None),
        ('{"id": [1], "method": "ping"}', ErrorCode.INVALID_REQUEST, None),
        ('{"id": true, "method": "ping"}', ErrorCode.INVALID_REQUEST, None),
    ],
)
def test_bad_frames_raise_the_documented_code_with_the_id_to_echo(
    frame: str, code: ErrorCode, request_id: object
) -> None:
    with pytest.raises(RequestDecodeError) as caught:
        decode_request(frame)
    assert caught.value.code == code
    assert caught.value.request_id == request_id
    assert caught.value.message


# --- params ---------------------------------------------------------------------------------------


def test_params_defaults_apply() -> None:
    params = parse_params(DepthParams, {"symbol": "BTCUSDT"})
    assert (params.venue, params.symbol, params.limit) == (None, "BTCUSDT", 20)
    assert parse_params(KlinesParams, {"symbol": "x", "interval": "1h"}).limit == 100


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        (DepthParams, {}, "symbol"),
        (DepthParams, {"symbol": 5}, "symbol"),
        (DepthParams, {"symbol": "x", "limit": "10"}, "limit"),
        (DepthParams, {"symbol": "x", "limit": 10.5}, "limit"),
        (DepthParams, {"symbol": "x", "limit": 0}, "limit"),
        (DepthParams, {"symbol": "x", "limit": 501}, "limit"),
        (DepthParams, {"symbol": "x", "limit": True}, "limit"),
        (DepthParams, {"symbol": "x", "depth": 5}, "depth"),
        (KlinesParams, {"symbol": "x"}, "interval"),
        (KlinesParams, {"symbol": "x", "interval": "2m"}, "interval"),
        (KlinesParams, {"symbol": "x", "interval": "1m", "limit": 1001}, "limit"),
        (KlinesParams, {"symbol": "x", "interval": "1m", "start": -1}, "start"),
        (StreamsParams, {"streams": "BTCUSDT@trade"}, "streams"),
        (StreamsParams, {"streams": []}, "streams"),
        (StreamsParams, {"streams": [1]}, "streams.0"),
        (NoParams, {"x": 1}, "x"),
    ],
)
def test_bad_params_are_invalid_params_naming_the_field(model: type, params: dict, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_params(model, params)
    assert caught.value.code == ErrorCode.INVALID_PARAMS
    fields = [error["field"] for error in caught.value.details["errors"]]
    assert field in fields
    assert caught.value.message.startswith(f"{fields[0]}:")


def test_model_level_checks_explain_themselves() -> None:
    with pytest.raises(RequestError) as caught:
        parse_params(KlinesParams, {"symbol": "x", "interval": "1m", "start": 10, "end": 5})
    assert "start must not be after end" in caught.value.message


def test_invalid_params_never_echo_the_input() -> None:
    with pytest.raises(RequestError) as caught:
        parse_params(protocol.AuthParams, {"api_key": "k" * 600})
    assert "kkkk" not in repr(caught.value.details) + caught.value.message


# --- encoding -------------------------------------------------------------------------------------


def test_decimals_encode_as_fixed_point_strings() -> None:
    frame = encode_result(
        1, {"a": Decimal("65000.10"), "b": Decimal("6.5E+4"), "c": Decimal("1E-8"), "d": [Decimal(3)]}
    )
    assert orjson.loads(frame) == {
        "id": 1,
        "result": {"a": "65000.10", "b": "65000", "c": "0.00000001", "d": ["3"]},
    }


def test_a_push_encodes_a_dataclass_event_with_enums_and_decimals() -> None:
    trade = Trade("sim", "BTC/USDT", "9", Decimal("65000.10"), Decimal("0.25"), Side.SELL, 1, 2)
    assert orjson.loads(encode_push("BTCUSDT@trade", trade)) == {
        "stream": "BTCUSDT@trade",
        "data": {
            "venue": "sim",
            "symbol": "BTC/USDT",
            "id": "9",
            "price": "65000.10",
            "qty": "0.25",
            "side": "sell",
            "ts": 1,
            "recv_ts": 2,
        },
    }


@pytest.mark.parametrize("request_id", [7, "seven", None, 2.5])
def test_responses_and_errors_echo_the_id(request_id: object) -> None:
    assert orjson.loads(encode_result(request_id, {"ts": 1})) == {"id": request_id, "result": {"ts": 1}}
    assert orjson.loads(encode_error(request_id, ErrorCode.UNKNOWN_METHOD, "no such method")) == {
        "id": request_id,
        "error": {"code": "UNKNOWN_METHOD", "message": "no such method", "details": {}},
    }


def test_a_gateway_error_encodes_code_message_and_details() -> None:
    exc = LookupFailed("unknown venue 'x'", code=ErrorCode.UNKNOWN_VENUE, details={"venue": "x"})
    assert orjson.loads(encode_exception(3, exc))["error"] == {
        "code": "UNKNOWN_VENUE",
        "message": "unknown venue 'x'",
        "details": {"venue": "x"},
    }


def test_an_unencodable_value_raises_type_error() -> None:
    with pytest.raises(TypeError):
        encode_result(1, {"x": object()})


# --- stream names ---------------------------------------------------------------------------------


class _Venue:
    kind = "sim"
    state = ConnectionState.OPEN

    def __init__(self, name: str):
        self.name = name
        spot = Instrument(
            name,
            "BTC/USDT",
            "BTCUSDT",
            "BTC",
            "USDT",
            MarketType.SPOT,
            Decimal("0.01"),
            Decimal("0.0001"),
            Decimal("0.0001"),
            Decimal("5"),
        )
        perp = Instrument(
            name,
            "BTC/USDT:USDT",
            "BTC-USDT-SWAP",
            "BTC",
            "USDT",
            MarketType.PERP,
            Decimal("0.1"),
            Decimal("0.001"),
            Decimal("0.001"),
            Decimal("5"),
            settle="USDT",
        )
        self.instruments = {spot.symbol: spot, perp.symbol: perp}


def _resolver(*names: str, default: str | None = None) -> StreamResolver:
    directory = VenueDirectory({n: _Venue(n) for n in names}, default=default)  # type: ignore[misc]
    return StreamResolver(directory, stream_kinds())


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("sim:BTC/USDT@trade", ("sim", "BTC/USDT", "trade")),
        ("sim:BTCUSDT@bbo", ("sim", "BTC/USDT", "bbo")),
        ("sim:btcusdt@depth", ("sim", "BTC/USDT", "depth")),
        ("sim:BTC/USDT:USDT@mark", ("sim", "BTC/USDT:USDT", "mark")),
        ("sim:BTC-USDT-SWAP@depth50", ("sim", "BTC/USDT:USDT", "depth50")),
        ("BTCUSDT@trade", ("sim", "BTC/USDT", "trade")),
        ("BTC/USDT@kline_1m", ("sim", "BTC/USDT", "kline_1m")),
        ("BTC/USDT:USDT@ticker", ("sim", "BTC/USDT:USDT", "ticker")),
        ("sim@order", ("sim", "", "order")),
        ("sim@trade", ("sim", "", "fill")),
        ("sim@fill", ("sim", "", "fill")),
        ("sim@account", ("sim", "", "balance")),
        ("sim@balance", ("sim", "", "balance")),
        ("sim@position", ("sim", "", "position")),
        ("sim@bracket", ("sim", "", "bracket")),
        ("sim@algo", ("sim", "", "algo")),
        ("gateway@status", ("gateway", "", "status")),
    ],
)
def test_stream_names_resolve_to_canonical_keys(name: str, key: tuple[str, str, str]) -> None:
    assert _resolver("sim").resolve(name) == StreamKey(*key)


def test_a_known_account_prefix_wins_over_a_symbol() -> None:
    resolver = _resolver("user1")
    assert resolver.resolve("user1@trade") == StreamKey("user1", "", "fill")
    assert resolver.resolve("BTCUSDT@trade") == StreamKey("user1", "BTC/USDT", "trade")
    assert resolver.resolve("user1@account") == StreamKey("user1", "", "balance")


def test_with_several_venues_the_prefix_picks_the_venue_and_bare_symbols_need_a_default() -> None:
    resolver = _resolver("a", "b")
    assert resolver.resolve("b:BTCUSDT@trade") == StreamKey("b", "BTC/USDT", "trade")
    assert resolver.resolve("b@order") == StreamKey("b", "", "order")
    with pytest.raises(LookupFailed) as caught:
        resolver.resolve("BTCUSDT@trade")
    assert caught.value.code == ErrorCode.UNKNOWN_VENUE
    assert _resolver("a", "b", default="b").resolve("BTCUSDT@trade") == StreamKey("b", "BTC/USDT", "trade")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("nope:BTC/USDT@trade", ErrorCode.UNKNOWN_VENUE),
        ("nobody@order", ErrorCode.UNKNOWN_VENUE),
        ("sim:DOGE/USDT@trade", ErrorCode.UNKNOWN_SYMBOL),
        ("DOGEUSDT@trade", ErrorCode.UNKNOWN_SYMBOL),
        ("sim:BTC/USDT@candles", ErrorCode.INVALID_PARAMS),
        ("sim:BTC/USDT@kline_7m", ErrorCode.INVALID_PARAMS),
        ("sim@depth", ErrorCode.INVALID_PARAMS),
        ("sim@status", ErrorCode.INVALID_PARAMS),
        ("gateway@order", ErrorCode.INVALID_PARAMS),
        ("sim:BTC/USDT", ErrorCode.INVALID_PARAMS),
        ("@trade", ErrorCode.INVALID_PARAMS),
        ("sim:BTC/USDT@", ErrorCode.INVALID_PARAMS),
    ],
)
def test_bad_stream_names_raise_the_right_code(name: str, code: ErrorCode) -> None:
    with pytest.raises(GatewayError) as caught:
        _resolver("sim").resolve(name)
    assert caught.value.code == code


def test_user_streams_are_told_from_market_and_gateway_streams() -> None:
    assert is_user_stream(StreamKey("sim", "", "order"))
    assert not is_user_stream(StreamKey("sim", "BTC/USDT", "trade"))
    assert not is_user_stream(StreamKey("gateway", "", "status"))


def test_the_protocol_module_stays_pure() -> None:
    tree = ast.parse(Path(protocol.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"asyncio", "aiohttp", "websockets", "sqlite3", "time"}
