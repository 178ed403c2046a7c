"""The fact sheet's signature test vectors (§3), and what goes on the wire for them."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
import pytest

from gateway.venues.qe.auth import HmacSigner, signed_v1_query, signed_v2_request, string_to_sign, verify

SIGNER = HmacSigner("test-secret")


@pytest.mark.parametrize(
    ("params", "payload", "digest"),
    [
        ({"symbol": "BTCUSDT", "timestamp": 1700000000000}, "symbol=BTCUSDT&timestamp=1700000000000",
         "4e7e8444963d2d57498c79c818e00d7325c0de1fe36287ea426397a06945cbea"),
        ({"symbol": "BTCUSDT", "timestamp": 1700000000000, "recvWindow": 5000},
         "recvWindow=5000&symbol=BTCUSDT&timestamp=1700000000000",
         "0d90f16f7356bb8fcf3ca4e5d43d1a9768d14daa3720f9e22788780ce8cf6c7a"),
        ({"masterOrderIds": ["mo_001", "mo_002"], "reason": "risk_limit_breach", "timestamp": 1735372000000},
         "masterOrderIds=%5B%22mo_001%22%2C%22mo_002%22%5D&reason=risk_limit_breach&timestamp=1735372000000",
         "b5857056457c399a46e5bf66accc7b3db9b4bb32853f2e39b4ac95173315faeb"),
        ({"symbol": "BTCUSDT", "totalQuantity": "0.5", "mustComplete": True, "executionDurationSeconds": 3600,
          "recvWindow": 5000, "timestamp": 1700000000000},
         ("executionDurationSeconds=3600&mustComplete=true&recvWindow=5000&symbol=BTCUSDT&timestamp=1700000000000"
         "&totalQuantity=0.5"),
         "d8b3433fc82f512bddf173f821d5d19bf4e21a243176075c93cbb0c5de4ddb12"),
    ],
    ids=["A", "B", "C", "D"],
)
def test_fact_sheet_vectors(params: dict[str, object], payload: str, digest: str) -> None:
    assert string_to_sign(params) == payload
    assert SIGNER.sign(payload) == digest


def test_vector_a_as_v1_get_puts_signature_in_its_sorted_place() -> None:
    query = signed_v1_query({"symbol": "BTCUSDT"}, SIGNER, 1700000000000)
    assert query == ("signature=4e7e8444963d2d57498c79c818e00d7325c0de1fe36287ea426397a06945cbea"
                     "&symbol=BTCUSDT&timestamp=1700000000000")


def test_vector_a_as_v2_write_has_the_same_signature_and_only_timestamp_in_the_query() -> None:
    query, body = signed_v2_request({"symbol": "BTCUSDT"}, SIGNER, 1700000000000)
    assert dict(parse_qsl(query)) == {"timestamp": "1700000000000",
                                      "signature": "4e7e8444963d2d57498c79c818e00d7325c0de1fe36287ea426397a06945cbea"}
    assert orjson.loads(body) == {"symbol": "BTCUSDT"}


def test_vector_d_as_v2_write_moves_recv_window_to_the_query() -> None:
    body = {"symbol": "BTCUSDT", "totalQuantity": "0.5", "mustComplete": True, "executionDurationSeconds": 3600,
            "notes": None}
    query, sent = signed_v2_request(body, SIGNER, 1700000000000, 5000)
    fields = dict(parse_qsl(query))
    assert fields["signature"] == "d8b3433fc82f512bddf173f821d5d19bf4e21a243176075c93cbb0c5de4ddb12"
    assert fields["recvWindow"] == "5000"
    assert "notes" not in orjson.loads(sent)  # None is neither signed nor sent


def test_verify_accepts_the_signed_request_and_refuses_a_tampered_one() -> None:
    query, body = signed_v2_request({"masterOrderIds": ["mo_001", "mo_002"], "reason": "x"}, SIGNER, 1735372000000)
    fields = dict(parse_qsl(query))
    signature = fields.pop("signature")
    decoded = orjson.loads(body)
    assert verify(SIGNER, fields, decoded, signature)
    assert not verify(SIGNER, fields, {**decoded, "reason": "y"}, signature)
    assert not verify(HmacSigner("other"), fields, decoded, signature)


def test_at_sign_is_left_unescaped() -> None:
    assert string_to_sign({"notes": "a@b c"}) == "notes=a@b+c"


def test_signer_repr_hides_the_secret() -> None:
    assert "test-secret" not in repr(SIGNER)
