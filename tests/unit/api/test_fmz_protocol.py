"""The FMZ bridge's pure parts: request decoding, symbols, order ids, status words, rows, keys and nonces."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.api.config import Permission, StrategySettings
from gateway.api.fmz.auth import FmzKeys
from gateway.api.fmz.config import FmzCredential, FmzSettings
from gateway.api.fmz.protocol import (
    API_PREFIX,
    decode_request,
    find_instrument,
    fmz_order_id,
    fmz_status,
    int_param,
    interval_for_period,
    order_row,
    parse_order_id,
    record_rows,
    resolve_method,
)
from gateway.api.session import Principal
from gateway.core.enums import MarketType
from gateway.core.errors import AccessError, ErrorCode, GatewayError
from gateway.core.instruments import Instrument

SPOT = Instrument("sim", "ETH/USDT", "ETHUSDT", "ETH", "USDT", MarketType.SPOT, Decimal("0.01"), Decimal("0.0001"),
                  Decimal("0.0001"), Decimal(5))
PERP = Instrument("sim", "BTC/USDT:USDT", "BTCUSDT_PERP", "BTC", "USDT", MarketType.PERP, Decimal("0.1"),
                  Decimal("0.001"), Decimal("0.001"), Decimal(5), settle="USDT")
ONLY_PERP = Instrument("sim", "SOL/USDT:USDT", "SOLUSDT_PERP", "SOL", "USDT", MarketType.PERP, Decimal("0.01"),
                       Decimal("0.1"), Decimal("0.1"), Decimal(5), settle="USDT")
INSTRUMENTS = {i.symbol: i for i in (SPOT, PERP, ONLY_PERP)}


def test_decode_the_seed_request() -> None:
    body = (b'{"access_key":"xxx","method":"ticker","nonce":1730275031047002000,'
            b'"params":{"symbol":"LTC_USDT"},"secret_key":"yyy"}')
    request = decode_request(body)
    assert (request.method, request.nonce, request.params) == ("ticker", 1730275031047002000, {"symbol": "LTC_USDT"})
    assert "xxx" not in repr(request) and "yyy" not in repr(request)


@pytest.mark.parametrize(("body", "code"), [
    (b"nope", ErrorCode.INVALID_JSON),
    (b"[]", ErrorCode.INVALID_REQUEST),
    (b'{"access_key":"a","secret_key":"b","method":"ticker"}', ErrorCode.INVALID_REQUEST),
    (b'{"access_key":"a","secret_key":"b","method":"ticker","nonce":"1"}', ErrorCode.INVALID_REQUEST),
    (b'{"access_key":"a","secret_key":"b","method":"ticker","nonce":true}', ErrorCode.INVALID_REQUEST),
    (b'{"access_key":"a","secret_key":"b","method":"ticker","nonce":1,"params":[]}', ErrorCode.INVALID_REQUEST),
    (b'{"access_key":1,"secret_key":"b","method":"ticker","nonce":1}', ErrorCode.INVALID_REQUEST),
])
def test_decode_refuses_malformed_bodies(body: bytes, code: ErrorCode) -> None:
    with pytest.raises(GatewayError) as caught:
        decode_request(body)
    assert caught.value.code is code


def test_methods_and_aliases() -> None:
    assert resolve_method("ticker") == "ticker"
    assert resolve_method("GetPositions") == "positions"
    assert resolve_method("setMarginLevel") == "marginlevel"
    assert resolve_method("__api_/api/v5/trade/orders-pending") == API_PREFIX
    with pytest.raises(GatewayError) as caught:
        resolve_method("gettickerz")
    assert caught.value.code is ErrorCode.UNKNOWN_METHOD


@pytest.mark.parametrize(("text", "symbol"), [
    ("ETH_USDT", "ETH/USDT"), ("eth_usdt", "ETH/USDT"), ("BTC_USDT.swap", "BTC/USDT:USDT"),
    ("SOL_USDT", "SOL/USDT:USDT"),  # no spot market: the perpetual
    ("ETHUSDT", "ETH/USDT"), ("BTC/USDT:USDT", "BTC/USDT:USDT"),
])
def test_symbols(text: str, symbol: str) -> None:
    assert find_instrument(INSTRUMENTS, text).symbol == symbol


@pytest.mark.parametrize("text", ["USDT", "ETH_", "_USDT", "ETH_USDT.quarter", "DOGE_USDT", "", "A_B_C"])
def test_unknown_symbols(text: str) -> None:
    with pytest.raises(GatewayError) as caught:
        find_instrument(INSTRUMENTS, text)
    assert caught.value.code is ErrorCode.UNKNOWN_SYMBOL


def test_order_ids_round_trip() -> None:
    assert fmz_order_id(SPOT, {"order_id": "123456", "client_order_id": "c"}) == "ETH-USDT,123456"
    assert fmz_order_id(PERP, {"order_id": "9", "client_order_id": "c"}) == "BTC-USDT-SWAP,9"
    assert fmz_order_id(SPOT, {"order_id": None, "client_order_id": "abc"}) == "ETH-USDT,cid:abc"
    ref = parse_order_id("ETH-USDT,123456")
    assert (ref.order_id, ref.client_order_id, ref.matches(SPOT), ref.matches(PERP)) == ("123456", None, True, False)
    assert parse_order_id("ETH-USDT,cid:abc").client_order_id == "abc"
    for bad in ("123456", "ETH-USDT,", ",1", "ETHUSDT,1", "ETH-USDT,cid:"):
        with pytest.raises(GatewayError):
            parse_order_id(bad)


@pytest.mark.parametrize(("status", "filled", "word"), [
    ("pending_new", "0", "submitting"), ("unknown", "0", "submitted"), ("new", "0", "pending"),
    ("partially_filled", "1", "partial-filled"), ("pending_cancel", "0", "pending"),
    ("pending_cancel", "1", "partial-filled"), ("filled", "2", "filled"), ("canceled", "0", "canceled"),
    ("canceled", "1", "partial-canceled"), ("expired", "0", "canceled"), ("rejected", "0", "canceled"),
])
def test_status_words(status: str, filled: str, word: str) -> None:
    assert fmz_status(status, Decimal(filled)) == word


def test_order_row_has_the_seed_shape_with_exact_numbers() -> None:
    order = {"order_id": "1", "client_order_id": "c", "symbol": "ETH/USDT", "qty": Decimal("0.2500"),
             "price": Decimal("1005.00"), "filled_qty": Decimal(0), "avg_price": None, "side": "buy",
             "status": "new"}
    assert order_row(SPOT, order) == {"id": "ETH-USDT,1", "symbol": "ETH_USDT", "amount": 0.25, "price": 1005,
                                      "deal_amount": 0, "avg_price": 0, "type": "buy", "status": "pending"}


def test_records_rows_are_seconds() -> None:
    kline = {"open_ts": 1500793319000, "open": Decimal("1.1"), "high": Decimal("2.2"), "low": Decimal("3.3"),
             "close": Decimal("4.4"), "volume": Decimal("5.5")}
    assert record_rows([kline]) == [[1500793319, 1.1, 2.2, 3.3, 4.4, 5.5]]


def test_period_minutes() -> None:
    assert [interval_for_period(m) for m in (1, 5, 15, 60, 240, 1440)] == ["1m", "5m", "15m", "1h", "4h", "1d"]
    with pytest.raises(GatewayError):
        interval_for_period(3600)  # seconds are not minutes


def test_int_params() -> None:
    assert int_param({"limit": "500"}, "limit") == 500
    assert int_param({"limit": 0}, "limit", 9) == 0
    assert int_param({}, "limit", 9) == 9
    for bad in ("x", True, 1.5, "1e3", 2**60, [1]):
        with pytest.raises(GatewayError):
            int_param({"limit": bad}, "limit")


def keys() -> FmzKeys:
    credentials = [FmzCredential(strategy="a", access_key="access-one", secret_key="secret-one", paths={"/sim": "sim"}),
                   FmzCredential(strategy="b", access_key="access-two", secret_key="secret-two", paths={"/x": "sim"})]
    principals = {"a": Principal("a", frozenset(Permission), None), "b": Principal("b", frozenset(), None)}
    return FmzKeys(credentials, principals)


def test_keys_need_both_halves() -> None:
    ring = keys()
    assert ring.authenticate("access-one", "secret-one").principal.strategy == "a"
    assert ring.authenticate("access-two", "secret-two").paths == {"/x": "sim"}
    for access, secret in (("access-one", "secret-two"), ("access-one", ""), ("nope", "secret-one")):
        with pytest.raises(AccessError):
            ring.authenticate(access, secret)


def test_nonces_strictly_increase_per_key() -> None:
    ring = keys()
    one, two = ring.authenticate("access-one", "secret-one"), ring.authenticate("access-two", "secret-two")
    ring.use_nonce(one, 10)
    ring.use_nonce(two, 1)  # another key: its own sequence
    for replay in (10, 9):
        with pytest.raises(AccessError):
            ring.use_nonce(one, replay)
    ring.use_nonce(one, 11)


def test_settings_check_strategies_and_accounts() -> None:
    strategies = [StrategySettings(name="a", api_key="key-aaaaaaaa", accounts=frozenset({"sim"}))]
    ok = FmzSettings(credentials=[FmzCredential(strategy="a", access_key="access-one", secret_key="secret-one",
                                                paths={"/sim": "sim"})])
    ok.check(strategies, ["sim", "other"])
    for credential, message in (
        (FmzCredential(strategy="zz", access_key="access-one", secret_key="secret-one", paths={"/sim": "sim"}),
         "unknown strategy"),
        (FmzCredential(strategy="a", access_key="access-one", secret_key="secret-one", paths={"/x": "nope"}),
         "unknown account"),
        (FmzCredential(strategy="a", access_key="access-one", secret_key="secret-one", paths={"/x": "other"}),
         "may not use"),
    ):
        with pytest.raises(ValueError, match=message):
            FmzSettings(credentials=[credential]).check(strategies, ["sim", "other"])
    with pytest.raises(ValueError):
        FmzCredential(strategy="a", access_key="short", secret_key="secret-one", paths={"/sim": "sim"})
    with pytest.raises(ValueError):
        FmzCredential(strategy="a", access_key="access-one", secret_key="secret-one", paths={"sim": "sim"})


def test_keys_from_files(tmp_path) -> None:
    (tmp_path / "a").write_text("access-from-file\n")
    (tmp_path / "s").write_text("secret-from-file\n")
    credential = FmzCredential.model_validate({"strategy": "a", "access_key_file": str(tmp_path / "a"),
                                               "secret_key_file": str(tmp_path / "s"), "paths": {"/sim": "sim"}})
    assert credential.access_key.get_secret_value() == "access-from-file"
    assert credential.secret_key.get_secret_value() == "secret-from-file"
    assert "secret-from-file" not in repr(credential)


def test_the_default_config_enables_the_bridge_for_the_local_strategy(monkeypatch) -> None:
    from pathlib import Path

    from gateway.config import load_settings

    root = Path(__file__).resolve().parents[3]
    settings = load_settings(root / "config" / "gateway.yaml")
    assert settings.fmz.enabled and settings.fmz.port == 6666 and settings.fmz.host == "127.0.0.1"
    (credential,) = settings.fmz.credentials
    assert credential.strategy == "local" and credential.paths == {"/sim": "sim"}
    assert credential.access_key.get_secret_value() == "local-dev-key"
    assert credential.secret_key.get_secret_value() == "local-dev-secret"
    monkeypatch.setenv("GATEWAY__FMZ__ENABLED", "false")
    assert not load_settings(root / "config" / "gateway.yaml").fmz.enabled
