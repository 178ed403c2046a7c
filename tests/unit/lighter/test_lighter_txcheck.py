"""The fake's tx checks (pure): what Lighter's API server refuses before accepting a tx."""

from __future__ import annotations

import base64

import orjson
import pytest

from gateway.simserver.lighter.txcheck import ApiError, check_auth_token, check_tx

KEYS = {(7, 3): "pub"}
NOW = 1_700_000_000_000
SIG = base64.b64encode(bytes(80)).decode()


def _order(**changes) -> str:
    info = {"AccountIndex": 7, "ApiKeyIndex": 3, "MarketIndex": 0, "ClientOrderIndex": 5, "BaseAmount": 1000,
            "Price": 300000, "IsAsk": 0, "Type": 0, "TimeInForce": 1, "ReduceOnly": 0, "TriggerPrice": 0,
            "OrderExpiry": NOW + 10**9, "ExpiredAt": NOW + 600_000, "Nonce": 4, "Sig": SIG, "L2TxAttributes": None}
    return orjson.dumps({**info, **changes}).decode()


def _check(tx_info: str, tx_type: int = 14):
    return check_tx(tx_type, tx_info, keys=KEYS, next_nonce={(7, 3): 4}, markets={0}, now_ms=NOW)


def test_a_valid_create_order_is_accepted() -> None:
    tx = _check(_order())
    assert (tx.account, tx.key, tx.nonce) == (7, 3, 4)


@pytest.mark.parametrize(("changes", "code"), [
    ({"Nonce": 5}, 21104), ({"Nonce": 3}, 21104), ({"ApiKeyIndex": 4}, 21109), ({"Sig": "short"}, 21120),
    ({"Sig": base64.b64encode(bytes(40)).decode()}, 21120), ({"ExpiredAt": NOW - 1}, 21105),
    ({"MarketIndex": 3}, 21100), ({"Price": 2**32}, 21100), ({"Type": 1}, 21100),  # market needs IOC, expiry 0
    ({"Type": 2}, 21100), ({"BaseAmount": "1000"}, 21100), ({"ClientOrderIndex": 2**48}, 21100)])
def test_bad_txs_are_refused_with_lighters_codes(changes, code) -> None:
    with pytest.raises(ApiError) as refused:
        _check(_order(**changes))
    assert refused.value.code == code and refused.value.status == 400


def test_garbage_tx_info_is_refused() -> None:
    for text in ("not json", "[1]", '{"AccountIndex": 7}'):
        with pytest.raises(ApiError):
            _check(text)
    with pytest.raises(ApiError):
        _check(_order(), tx_type=99)


def test_grouped_children_must_be_opposite_side_with_base_amount_zero() -> None:
    parent = {"MarketIndex": 0, "ClientOrderIndex": 1, "BaseAmount": 1000, "Price": 300000, "IsAsk": 0, "Type": 0,
              "TimeInForce": 1, "ReduceOnly": 0, "TriggerPrice": 0, "OrderExpiry": NOW + 10**9}
    child = {**parent, "ClientOrderIndex": 2, "BaseAmount": 0, "IsAsk": 1, "Type": 4, "TimeInForce": 0,
             "ReduceOnly": 1, "TriggerPrice": 310000, "Price": 310000}
    base = {"AccountIndex": 7, "ApiKeyIndex": 3, "GroupingType": 1, "ExpiredAt": NOW + 1, "Nonce": 4, "Sig": SIG}
    assert _check(orjson.dumps({**base, "Orders": [parent, child]}).decode(), 28).tx_type == 28
    with pytest.raises(ApiError):
        _check(orjson.dumps({**base, "Orders": [parent, {**child, "IsAsk": 0}]}).decode(), 28)


def test_auth_tokens_are_checked_for_format_expiry_and_key() -> None:
    good = f"{NOW // 1000 + 60}:7:3:{'ab' * 40}"
    assert check_auth_token(good, KEYS, NOW // 1000) == 7
    for bad in (None, "x", f"{NOW // 1000 - 1}:7:3:{'ab' * 40}", f"{NOW // 1000 + 60}:7:9:{'ab' * 40}"):
        with pytest.raises(ApiError):
            check_auth_token(bad, KEYS, NOW // 1000)
