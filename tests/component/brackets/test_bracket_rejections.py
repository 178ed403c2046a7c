"""Every way `bracket.place` can be refused answers its API code and changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.client import ApiError, GatewayClient
from tests.component.brackets.kit import READ_KEY, PERP, bracket_params, gateway_overrides, venue_open_orders
from tests.conftest import LOCAL_KEY

D = Decimal
MID = D(65000)  # the sim perp's start price; the rejections below do not depend on where the market is
GOOD_TP, GOOD_SL = str(MID * 2), str(MID / 2)


def req(**over):
    params = bracket_params("buy", "0.010", {"type": "market"}, MID * 2, MID / 2)
    params.update(over)
    return params


CASES = [
    (req(qty="0"), "INVALID_PARAMS"),
    (req(qty="-1"), "INVALID_PARAMS"),
    (req(qty="abc"), "INVALID_PARAMS"),
    (req(side="hold"), "INVALID_PARAMS"),
    (req(entry={"type": "stop", "price": "60000"}), "INVALID_PARAMS"),
    (req(entry={"type": "limit"}), "INVALID_PARAMS"),
    (req(entry={"type": "market", "price": "60000"}), "INVALID_PARAMS"),
    (req(take_profit={"trigger_price": "60000"}, stop_loss={"trigger_price": "61000"}), "INVALID_PARAMS"),
    (req(entry={"type": "limit", "price": "70000"}, take_profit={"trigger_price": "69000"},
         stop_loss={"trigger_price": "60000"}), "INVALID_PARAMS"),
    (req(take_profit={}), "INVALID_PARAMS"),
    (req(stop_loss={"trigger_price": "0"}), "INVALID_PARAMS"),
    (req(mode="magic"), "INVALID_PARAMS"),
    (req(trigger_source="index"), "INVALID_PARAMS"),
    (req(bracket_id="has-dash"), "INVALID_PARAMS"),
    (req(bracket_id="x" * 25), "INVALID_PARAMS"),
    (req(extra_field=1), "INVALID_PARAMS"),
    (req(symbol="BTC/USDT", trigger_source="mark", take_profit={"trigger_price": GOOD_TP},
         stop_loss={"trigger_price": GOOD_SL}), "INVALID_PARAMS"),
    (req(mode="native", trigger_source="bbo"), "NOT_SUPPORTED"),
    (req(symbol="DOGE/USDT:USDT"), "UNKNOWN_SYMBOL"),
    (req(account="nope"), "UNKNOWN_VENUE"),
    (req(qty="0.0001"), "PRECISION"),
    (req(symbol="BTC/USDT", qty="0.00001", entry={"type": "limit", "price": "100"},
         take_profit={"trigger_price": "110"}, stop_loss={"trigger_price": "90"}), "MIN_NOTIONAL"),
]


@pytest.fixture
async def gw(gateway_factory):
    gateway = await gateway_factory(**gateway_overrides())
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        yield gateway, client


async def nothing_changed(gateway, client: GatewayClient) -> None:
    assert await client.call("brackets.list", {}) == []
    assert await client.open_orders() == []
    assert venue_open_orders(gateway) == []
    assert len(gateway.brackets.book) == 0


@pytest.mark.parametrize(("params", "code"), CASES, ids=[f"{c}-{i}" for i, (_, c) in enumerate(CASES)])
async def test_a_refused_placement_answers_its_code_and_changes_nothing(gw, params: dict, code: str) -> None:
    gateway, client = gw
    with pytest.raises(ApiError) as caught:
        await client.call("bracket.place", params)
    assert caught.value.code == code, caught.value
    await nothing_changed(gateway, client)


async def test_a_read_only_key_may_not_place_or_cancel(gw) -> None:
    gateway, client = gw
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=READ_KEY) as reader:
        for method, params in (("bracket.place", req()), ("bracket.cancel", {"bracket_id": "abc"}),
                               ("brackets.reconcile", {})):
            with pytest.raises(ApiError) as caught:
                await reader.call(method, params)
            assert caught.value.code == "FORBIDDEN"
        assert await reader.call("brackets.list", {}) == []  # reading is allowed
    await nothing_changed(gateway, client)


async def test_unknown_brackets_are_not_found(gw) -> None:
    gateway, client = gw
    for method in ("bracket.get", "bracket.cancel"):
        with pytest.raises(ApiError) as caught:
            await client.call(method, {"bracket_id": "never_placed"})
        assert caught.value.code == "ORDER_NOT_FOUND"
    await nothing_changed(gateway, client)


async def test_a_bracket_id_in_use_with_other_terms_is_a_duplicate(gw) -> None:
    gateway, client = gw
    bbo = await client.call("bbo", {"symbol": PERP})
    rest = str((D(bbo["bid"]) - 100).quantize(D("0.1")))
    first = await client.call("bracket.place", req(bracket_id="dup", entry={"type": "limit", "price": rest}))
    with pytest.raises(ApiError) as caught:
        await client.call("bracket.place", req(bracket_id="dup", qty="0.020", entry={"type": "limit", "price": rest}))
    assert caught.value.code == "DUPLICATE_CLIENT_ID"
    assert [b["bracket_id"] for b in await client.call("brackets.list", {})] == ["dup"]
    assert [o.client_order_id for o in venue_open_orders(gateway)] == ["dup-en"]
    assert (await client.call("bracket.get", {"bracket_id": "dup"}))["version"] == first["version"]


async def test_an_entry_the_venue_refuses_ends_the_bracket_and_leaves_nothing_open(gw) -> None:
    gateway, client = gw
    gateway.venues["sim"].faults.reject_all = "insufficient_balance"
    with pytest.raises(ApiError) as caught:
        await client.call("bracket.place", req(bracket_id="refused"))
    assert caught.value.code == "VENUE_REJECTED"
    assert caught.value.details["bracket"]["state"] == "canceled"
    assert caught.value.details["bracket"]["reason"].startswith("entry_rejected")
    assert await client.call("brackets.list", {"open_only": True}) == []
    assert await client.open_orders() == [] and venue_open_orders(gateway) == []
    assert not gateway.brackets.book.index  # nothing armed
