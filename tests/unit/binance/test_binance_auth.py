"""Every signature test vector of the fact sheet (§1.3), plus RFC 8032 vectors for the Ed25519 signer."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from gateway.venues.binance.auth import (
    Ed25519Signer,
    HmacSigner,
    encode_params,
    sign_ws_params,
    signed_query,
    ws_api_payload,
)

SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
FUTURES_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
WIDE = "\uff11\uff12\uff13\uff14\uff15\uff16"  # １２３４５６


@pytest.mark.parametrize(
    ("secret", "payload", "expected"),
    [
        pytest.param(  # the official spot REST example, all in the query string
            SPOT_SECRET,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71", id="spot-rest-query"),
        pytest.param(  # legacy example 3: query + body concatenated without '&'
            SPOT_SECRET,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77", id="spot-rest-query-plus-body"),
        pytest.param(  # non-ASCII symbol, percent-encoded before signing
            SPOT_SECRET,
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC"
            "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3", id="spot-rest-non-ascii"),
        pytest.param(  # USD-M futures docs example
            FUTURES_SECRET,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000"
            "&timestamp=1591702613943",
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9", id="usdm-rest"),
    ],
)
def test_hmac_rest_vectors(secret: str, payload: str, expected: str) -> None:
    assert HmacSigner(secret).sign(payload) == expected


def test_rest_vector_through_signed_query_encodes_exactly_what_is_signed() -> None:
    params = [("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
              ("quantity", 1), ("price", Decimal("0.1"))]
    query = signed_query(params, HmacSigner(SPOT_SECRET), 1499827319559, 5000)
    assert query == ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
                     "&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")


def test_non_ascii_symbol_is_percent_encoded_before_signing() -> None:
    params = [("symbol", WIDE), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", 1),
              ("price", "0.1")]
    query = signed_query(params, HmacSigner(SPOT_SECRET), 1499827319559, 5000)
    assert query.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&")
    assert query.endswith("&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3")


def test_body_is_signed_after_the_query_without_separator() -> None:
    query = signed_query([("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC")],
                         HmacSigner(SPOT_SECRET), 0, None, body="quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
    # timestamp=0 is appended to the query; sign what is sent: query (with timestamp) + body
    expected = HmacSigner(SPOT_SECRET).sign(
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&timestamp=0"
        "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
    assert query.endswith(f"&signature={expected}")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100, "timestamp": 1645423376532,
                      "apiKey": SPOT_KEY},
                     "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24", id="ws-api-sorted"),
        pytest.param({"symbol": WIDE, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": "1.00000000", "price": "0.10000000", "recvWindow": 5000,
                      "timestamp": 1645423376532, "apiKey": SPOT_KEY},
                     "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd", id="ws-api-raw-utf8"),
    ],
)
def test_ws_api_vectors(params: dict[str, object], expected: str) -> None:
    signed = sign_ws_params(params, HmacSigner(SPOT_SECRET))
    assert signed["signature"] == expected
    assert ws_api_payload(signed).startswith("apiKey=")  # sorted, signature left out


def _pem(secret_hex: str) -> str:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret_hex))
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


@pytest.mark.parametrize(
    ("secret", "message", "signature"),
    [
        pytest.param("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "",
                     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
                     "d25bf5f0595bbe24655141438e7a100b", id="rfc8032-test-1"),
        pytest.param("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "r",
                     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
                     "387b2eaeb4302aeeb00d291612bb0c00", id="rfc8032-test-2"),
    ],
)
def test_ed25519_signer_matches_rfc8032(secret: str, message: str, signature: str) -> None:
    assert Ed25519Signer(_pem(secret)).sign(message) == base64.b64encode(bytes.fromhex(signature)).decode()


def test_ed25519_signature_is_percent_encoded_in_the_query() -> None:
    query = signed_query({"symbol": "BTCUSDT"}, Ed25519Signer(_pem("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")),
                         1, 5000)
    signature = query.rpartition("&signature=")[2]
    assert "+" not in signature and "/" not in signature and "=" not in signature


def test_encode_params_renders_values_as_binance_expects() -> None:
    assert encode_params([("a", True), ("b", Decimal("1E-8")), ("c", None), ("d", '["X","Y"]')]) == \
        "a=true&b=0.00000001&d=%5B%22X%22%2C%22Y%22%5D"


def test_ed25519_signer_refuses_other_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                                 NoEncryption()).decode()
    with pytest.raises(TypeError):
        Ed25519Signer(pem)
