"""The envelope is parsed once; codes map to the gateway's errors (unknown outcome -> VenueTimeout)."""

from __future__ import annotations

import pytest

from gateway.core.errors import VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable
from gateway.venues.okx.envelope import BadAnswer, decode_envelope, item_results, to_error


def test_trade_answer_items_carry_scode_and_ids() -> None:
    env = decode_envelope(b'{"code":"1","msg":"","data":[{"clOrdId":"a1","ordId":"","sCode":"51008",'
                          b'"sMsg":"Insufficient balance","ts":"1695190491421"}],"inTime":"1","outTime":"2"}')
    [item] = item_results(env)
    assert not env.ok and not item.ok
    assert (item.s_code, item.s_msg, item.cl_ord_id, item.ord_id, item.ts) == (
        "51008", "Insufficient balance", "a1", None, 1695190491421)


def test_null_data_is_an_empty_list_and_garbage_is_a_bad_answer() -> None:
    assert decode_envelope(b'{"code":"50113","msg":"Invalid Sign","data":null}').data == []
    for body in (b"<html>502</html>", b"[1,2]", b'{"msg":"no code"}'):
        with pytest.raises(BadAnswer):
            decode_envelope(body)
    with pytest.raises(BadAnswer):
        item_results(decode_envelope(b'{"code":"0","msg":"","data":["x"]}'))


@pytest.mark.parametrize("code", ["50001", "50004", "50011", "50013", "50026", "51054"])
def test_unknown_outcome_codes_on_a_write_are_timeouts(code: str) -> None:
    assert isinstance(to_error("okx", "POST /order", code, "m", write=True), VenueTimeout)


def test_read_errors() -> None:
    assert isinstance(to_error("okx", "GET", "50011", "m", write=False), VenueRateLimited)
    assert isinstance(to_error("okx", "GET", "50004", "m", write=False), VenueUnavailable)
    rejected = to_error("okx", "POST", "51008", "Insufficient", write=True)
    assert isinstance(rejected, VenueRejected) and rejected.venue_code == "51008"
