"""Gateway client ids survive the trip through OKX's alphanumeric clOrdId."""

from __future__ import annotations

import pytest

from gateway.core.errors import OrderRejected
from gateway.venues.okx.clientids import from_okx, to_okx


@pytest.mark.parametrize("cid", ["gw1A2b", "br_1-en", "abc-tp12", "zz_z-", "x" * 32])
def test_round_trip(cid: str) -> None:
    encoded = to_okx(cid)
    assert encoded.isalnum() and len(encoded) <= 32
    assert from_okx(encoded) == cid


def test_plain_ids_go_unchanged_and_bad_ones_are_refused() -> None:
    assert to_okx("gw123ABC") == "gw123ABC"
    assert from_okx("") is None and from_okx(None) is None
    for bad in ("a b", "é", "x" * 33, "-" * 17):
        with pytest.raises(OrderRejected):
            to_okx(bad)
