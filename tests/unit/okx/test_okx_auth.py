"""Signing: the fact sheet's vectors (§1 table A-F), the stamp format, and secrets kept out of reprs."""

from __future__ import annotations

import pytest

from gateway.venues.okx.auth import Credentials, iso_timestamp, login_args, rest_headers, sign
from gateway.venues.okx.config import OkxSettings

SECRET = "22582BD0CFF14C41EDBF1AB98506286D"


@pytest.mark.parametrize(("prehash", "expected"), [
    ("2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC", "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="),
    ("2020-12-08T09:08:57.715ZGET/api/v5/account/balance", "AkD5YszBhggtIyjDlmTy/9PpNVntel+1Lff8wh0qpQw="),
    ('2020-12-08T09:08:57.715ZPOST/api/v5/account/set-leverage{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}',
     "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8="),
    (('2020-12-08T09:08:57.715ZPOST/api/v5/trade/order{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15",'
     '"side":"buy","ordType":"limit","px":"2.15","sz":"2"}'), "dI6rrL9rXW/HdaPKJ/6LC1OgvH4/PYju6R3CqixMTNQ="),
    ("1538054050GET/users/self/verify", "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="),
    ("1704876947GET/users/self/verify", "5/36BgGV6m/6pmdc20zdqk0mzF5ZalmzzPD2fo3wavU="),
])
def test_fact_sheet_signature_vectors(prehash: str, expected: str) -> None:
    assert sign(SECRET, prehash) == expected


def test_iso_timestamp_has_three_millisecond_digits_and_z() -> None:
    assert iso_timestamp(1_607_418_537_715) == "2020-12-08T09:08:57.715Z"
    assert iso_timestamp(1_607_418_537_005) == "2020-12-08T09:08:57.005Z"


def test_rest_headers_sign_the_path_with_query_and_carry_the_demo_flag() -> None:
    creds = Credentials("KEY", SECRET, "PASS")
    headers = rest_headers(creds, 1_607_418_537_715, "get", "/api/v5/account/balance?ccy=BTC", "", demo=True)
    assert headers["OK-ACCESS-SIGN"] == "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
    assert headers["OK-ACCESS-TIMESTAMP"] == "2020-12-08T09:08:57.715Z"
    assert headers["OK-ACCESS-PASSPHRASE"] == "PASS" and headers["OK-ACCESS-KEY"] == "KEY"
    assert headers["x-simulated-trading"] == "1"
    assert "x-simulated-trading" not in rest_headers(creds, 0, "GET", "/x", "", demo=False)


def test_login_args_use_unix_seconds() -> None:
    args = login_args(Credentials("KEY", SECRET, "PASS"), 1_704_876_947_999)
    assert args == {"apiKey": "KEY", "passphrase": "PASS", "timestamp": "1704876947",
                    "sign": "5/36BgGV6m/6pmdc20zdqk0mzF5ZalmzzPD2fo3wavU="}


def test_secrets_stay_out_of_reprs() -> None:
    creds = Credentials("KEYABCDEF", SECRET, "PASSPHRASE1")
    settings = OkxSettings(symbols=["BTC/USDT"], api_key="KEYABCDEF", api_secret=SECRET, passphrase="PASSPHRASE1")
    for text in (repr(creds), repr(settings), str(settings.model_dump())):
        assert SECRET not in text and "PASSPHRASE1" not in text and "KEYABCDEF" not in text


def test_settings_defaults_and_urls() -> None:
    s = OkxSettings(symbols=["BTC/USDT:USDT"], market="swap", region="eea")
    assert s.demo is True
    urls = s.resolved_urls
    assert urls.rest == "https://eea.okx.com" and urls.ws_private == "wss://wspap.okx.com:8443/ws/v5/private"
    with pytest.raises(ValueError, match="does not belong"):
        OkxSettings(symbols=["BTC/USDT"], market="swap")
    with pytest.raises(ValueError, match="go together"):
        OkxSettings(symbols=["BTC/USDT"], api_key="k")
