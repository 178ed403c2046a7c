"""The dialect's signature checks: the fact sheet's vectors, and each reject code."""

from __future__ import annotations

import pytest

from gateway.simserver.okx.auth import (
    check_rest,
    check_ws_login,
    parse_iso_ms,
    rest_prehash,
    sign,
    ws_prehash,
)

SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
TS = "2020-12-08T09:08:57.715Z"
NOW = parse_iso_ms(TS) or 0
KEYS = {"K": (SECRET, "Phrase9x")}


@pytest.mark.parametrize(("prehash", "expected"), [
    (f"{TS}GET/api/v5/account/balance?ccy=BTC", "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="),
    (f"{TS}GET/api/v5/account/balance", "AkD5YszBhggtIyjDlmTy/9PpNVntel+1Lff8wh0qpQw="),
    (f'{TS}POST/api/v5/account/set-leverage{{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}}',
     "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8="),
    ((f'{TS}POST/api/v5/trade/order{{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy",'
      '"ordType":"limit","px":"2.15","sz":"2"}'), "dI6rrL9rXW/HdaPKJ/6LC1OgvH4/PYju6R3CqixMTNQ="),
    ("1538054050GET/users/self/verify", "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="),
    ("1704876947GET/users/self/verify", "5/36BgGV6m/6pmdc20zdqk0mzF5ZalmzzPD2fo3wavU="),
])
def test_fact_sheet_vectors(prehash: str, expected: str) -> None:
    assert sign(SECRET, prehash) == expected


def _headers(**overrides: str) -> dict[str, str]:
    path = "/api/v5/account/balance?ccy=BTC"
    headers = {"OK-ACCESS-KEY": "K", "OK-ACCESS-PASSPHRASE": "Phrase9x", "OK-ACCESS-TIMESTAMP": TS,
               "OK-ACCESS-SIGN": sign(SECRET, rest_prehash(TS, "GET", path, ""))}
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v}


@pytest.mark.parametrize(("overrides", "now_shift", "code"), [
    ({}, 0, "0"),
    ({}, 29_000, "0"),
    ({}, 31_000, "50102"),
    ({"OK-ACCESS-KEY": ""}, 0, "50103"),
    ({"OK-ACCESS-PASSPHRASE": ""}, 0, "50104"),
    ({"OK-ACCESS-PASSPHRASE": "nope"}, 0, "50105"),
    ({"OK-ACCESS-SIGN": ""}, 0, "50106"),
    ({"OK-ACCESS-TIMESTAMP": ""}, 0, "50107"),
    ({"OK-ACCESS-TIMESTAMP": "1607418537715"}, 0, "50112"),
    ({"OK-ACCESS-KEY": "other"}, 0, "50111"),
    ({"OK-ACCESS-SIGN": "AkD5YszBhggtIyjDlmTy/9PpNVntel+1Lff8wh0qpQw="}, 0, "50113"),
])
def test_rest_check_codes(overrides: dict[str, str], now_shift: int, code: str) -> None:
    result = check_rest(_headers(**overrides), "GET", "/api/v5/account/balance?ccy=BTC", "", KEYS, NOW + now_shift)
    assert result.code == code
    assert result.status == (200 if code == "0" else 401)
    assert "Phrase9x" not in result.msg and SECRET not in result.msg


def test_signature_covers_the_query_and_the_body() -> None:
    headers = _headers()
    assert not check_rest(headers, "GET", "/api/v5/account/balance?ccy=ETH", "", KEYS, NOW).ok
    assert not check_rest(headers, "POST", "/api/v5/account/balance?ccy=BTC", "", KEYS, NOW).ok
    assert not check_rest(headers, "GET", "/api/v5/account/balance?ccy=BTC", "{}", KEYS, NOW).ok


@pytest.mark.parametrize(("environment", "demo_header", "code"), [
    ("any", None, "0"), ("any", "1", "0"), ("demo", "1", "0"), ("demo", None, "50101"), ("live", "1", "50101"),
])
def test_demo_environment(environment: str, demo_header: str | None, code: str) -> None:
    headers = _headers(**({"x-simulated-trading": demo_header} if demo_header else {}))
    assert check_rest(headers, "GET", "/api/v5/account/balance?ccy=BTC", "", KEYS, NOW, environment).code == code


def _login(ts: str = "1704876947", **overrides: object) -> dict[str, object]:
    arg: dict[str, object] = {"apiKey": "K", "passphrase": "Phrase9x", "timestamp": ts,
                              "sign": sign(SECRET, ws_prehash(ts))}
    arg.update(overrides)
    return arg


@pytest.mark.parametrize(("arg", "code"), [
    (_login(), "0"),
    (_login(timestamp=1704876947), "0"),  # python-okx sends an int
    (_login(sign="+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="), "60007"),
    (_login(passphrase="nope"), "60024"),
    (_login(apiKey="other"), "60005"),
    (_login(timestamp="soon"), "60004"),
    ("not a dict", "60009"),
])
def test_ws_login_codes(arg: object, code: str) -> None:
    assert check_ws_login(arg, KEYS, 1704876947_000).code == code


def test_ws_login_expires_after_30s() -> None:
    assert check_ws_login(_login(), KEYS, 1704876947_000 + 31_000).code == "60006"


def test_parse_iso_ms() -> None:
    assert parse_iso_ms(TS) == 1607418537715
    assert parse_iso_ms("2020-12-08 09:08:57") is None and parse_iso_ms("garbage") is None
