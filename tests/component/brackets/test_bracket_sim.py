"""Brackets end to end on the sim: strategy WebSocket -> bracket service -> order service -> sim venue.

The sim's market is frozen (see `kit`): the test moves it by trading as the house, so every fill and
every trigger happens when the test says, and waits are on pushes, never on time.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.client import GatewayClient
from gateway.core.enums import Side
from tests.component.brackets.kit import (
    OTHER_KEY,
    PERP,
    Streams,
    bracket_params,
    gateway_overrides,
    house_order,
    sweep_to,
    venue_open_orders,
    venue_position,
)
from tests.conftest import LOCAL_KEY

D = Decimal
TICK = D("0.1")


@pytest.fixture
async def gw(gateway_factory):
    gateway = await gateway_factory(**gateway_overrides())
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        await client.subscribe(["sim@bracket", "sim@order"])
        async with Streams(client) as streams:
            yield gateway, client, streams


async def best(client: GatewayClient) -> tuple[Decimal, Decimal]:
    bbo = await client.call("bbo", {"symbol": PERP})
    return D(bbo["bid"]), D(bbo["ask"])


def legs_within_position(pushes: list[dict]) -> None:
    """No push ever shows a leg covering more than what the entry filled and the legs have not closed."""
    for data in pushes:
        if data.get("state") is None:
            continue
        open_qty = D(data["filled_qty"]) - D(data["closed_qty"])
        for leg in ("take_profit", "stop_loss"):
            assert D(data[leg]["armed_qty"]) <= max(open_qty, D(0)), data


@pytest.mark.parametrize("exit_by", ["tp", "sl"])
@pytest.mark.parametrize("mode", ["native", "emulated"])
async def test_partial_entry_fills_size_the_legs_and_one_exit_cancels_the_other(gw, mode: str, exit_by: str) -> None:
    gateway, client, streams = gw
    bid, ask = await best(client)
    entry_price = bid + TICK  # inside the spread: the best bid, so house sells hit it first
    tp, sl = ask + 20, bid - 20
    placed = await client.call("bracket.place", bracket_params(
        "buy", "0.030", {"type": "limit", "price": str(entry_price)}, tp, sl, mode=mode, bracket_id=f"pf_{mode}_{exit_by}"))
    bid_id = placed["bracket_id"]
    assert placed["state"] == "pending_entry" and placed["mode"] == mode
    assert placed["entry"]["status"] == "new" and placed["take_profit"]["status"] == "idle"
    tp_cid, sl_cid = f"{bid_id}-tp1", f"{bid_id}-sl1"

    for step in (1, 2, 3):
        filled = D("0.010") * step
        await house_order(gateway, Side.SELL, "0.010")  # fills 0.010 of the entry
        state = "active"
        data = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id and D(d["filled_qty"]) == filled
                                   and D(d["take_profit"]["armed_qty"]) == filled
                                   and D(d["stop_loss"]["armed_qty"]) == filled)
        assert data["state"] == state
        if mode == "native":  # the venue's own TP/SL orders were placed, then amended, to the filled quantity
            for cid in (tp_cid, sl_cid):
                await streams.until("sim@order", lambda o, c=cid: o["client_order_id"] == c
                                    and o["status"] == "new" and D(o["qty"]) == filled)
            legs = {o.client_order_id: o for o in venue_open_orders(gateway) if o.reduce_only}
            assert set(legs) == {tp_cid, sl_cid}
            assert all(o.qty == filled for o in legs.values())
        else:
            assert data["take_profit"]["status"] == data["stop_loss"]["status"] == "armed"
            assert [o for o in venue_open_orders(gateway) if o.reduce_only] == []
    assert venue_position(gateway) == D("0.030")

    if exit_by == "tp":
        await sweep_to(gateway, tp, Side.BUY)
        done = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id and d["state"] == "closed_by_tp")
        other = "stop_loss"
    else:
        await sweep_to(gateway, sl, Side.SELL)
        done = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id and d["state"] == "closed_by_sl")
        other = "take_profit"
    exit_leg = "take_profit" if exit_by == "tp" else "stop_loss"
    assert D(done[exit_leg]["filled_qty"]) == D("0.030") and D(done["open_qty"]) == 0
    final = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id
                                and d[other]["status"] == "canceled")
    assert final["state"] == done["state"] and D(final[other]["filled_qty"]) == 0
    if mode == "native":  # the other leg's venue order is canceled, not just forgotten
        await streams.until("sim@order", lambda o: o["client_order_id"] == f"{bid_id}-{'sl' if exit_by == 'tp' else 'tp'}1"
                            and o["status"] == "canceled")
    assert venue_open_orders(gateway) == []
    assert venue_position(gateway) == 0
    if mode == "emulated":  # the fire's record is published before anything its order's reports caused
        reasons = [d["change_reason"] for d in streams.seen["sim@bracket"] if d["bracket_id"] == bid_id]
        fired = reasons.index(f"{exit_by}_triggered")
        assert not any(r and r.startswith(exit_by) and r != f"{exit_by}_triggered" for r in reasons[:fired])
        assert reasons.index(f"{exit_by}_filled") > fired
    legs_within_position(streams.seen["sim@bracket"])
    got = await client.call("bracket.get", {"bracket_id": bid_id})
    assert got["state"] == done["state"] and got["version"] >= final["version"]


@pytest.mark.parametrize("mode", ["native", "emulated"])
async def test_position_closed_by_another_strategy_cancels_the_legs(gw, mode: str) -> None:
    gateway, client, streams = gw
    bid, ask = await best(client)
    placed = await client.call("bracket.place", bracket_params(
        "buy", "0.020", {"type": "market"}, ask + 200, bid - 200, mode=mode))
    bid_id = placed["bracket_id"]
    assert placed["state"] == "active"
    live = "open" if mode == "native" else "armed"
    await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id and d["take_profit"]["status"] == live
                        and d["stop_loss"]["status"] == live)
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=OTHER_KEY) as other:
        closing = await other.place_order(PERP, "sell", "market", qty="0.020")
        assert closing.status == "filled"
    assert venue_position(gateway) == 0
    ended = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id and d["state"] == "canceled")
    assert ended["reason"] == "position_closed_externally"
    final = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id
                                and d["take_profit"]["status"] == "canceled" and d["stop_loss"]["status"] == "canceled")
    assert D(final["take_profit"]["filled_qty"]) == D(final["stop_loss"]["filled_qty"]) == 0
    if mode == "native":
        for leg in ("tp", "sl"):
            await streams.until("sim@order", lambda o, c=f"{bid_id}-{leg}1": o["client_order_id"] == c
                                and o["status"] == "canceled")
    assert venue_open_orders(gateway) == []
    assert (await client.call("bracket.get", {"bracket_id": bid_id}))["state"] == "canceled"


async def test_a_late_venue_id_is_learned_by_the_reconcile_pass(gw) -> None:
    gateway, client, streams = gw
    gateway.venues["sim"].faults.withhold_order_ids = True  # like Lighter: ids come later, through queries
    bid, ask = await best(client)
    placed = await client.call("bracket.place", bracket_params(
        "buy", "0.010", {"type": "market"}, ask + 200, bid - 200, mode="native"))
    bid_id = placed["bracket_id"]
    data = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id
                               and d["take_profit"]["status"] == "open" and d["stop_loss"]["status"] == "open")
    assert data["take_profit"]["order"]["order_id"] is None and data["stop_loss"]["order"]["order_id"] is None

    counts = await client.call("brackets.reconcile", {})
    assert counts["total"] == 1 and counts["matched"] == 2 and counts["updated"] == 1, counts
    got = await client.call("bracket.get", {"bracket_id": bid_id})
    venue_ids = {o.client_order_id: o.order_id for o in venue_open_orders(gateway)}
    assert got["take_profit"]["order"]["order_id"] == venue_ids[f"{bid_id}-tp1"]
    assert got["stop_loss"]["order"]["order_id"] == venue_ids[f"{bid_id}-sl1"]
    learned = await streams.until("sim@bracket", lambda d: d["bracket_id"] == bid_id and d.get("repair") == "learned_id")
    assert "learned" in learned["change_reason"]
    again = await client.call("brackets.reconcile", {})  # idempotent: nothing more to do
    assert again == {"total": 1, "matched": 0, "updated": 0, "repaired": 0}


async def test_cancel_stops_managing_and_cancels_the_legs_but_keeps_the_position(gw) -> None:
    gateway, client, streams = gw
    bid, ask = await best(client)
    placed = await client.call("bracket.place", bracket_params(
        "sell", "0.010", {"type": "market"}, bid - 200, ask + 200, mode="native", bracket_id="to_cancel"))
    assert placed["state"] == "active"
    await streams.until("sim@bracket", lambda d: d["bracket_id"] == "to_cancel"
                        and d["take_profit"]["status"] == d["stop_loss"]["status"] == "open")
    canceled = await client.call("bracket.cancel", {"bracket_id": "to_cancel"})
    assert canceled["state"] == "canceled" and canceled["reason"] == "canceled_by_request"
    await streams.until("sim@bracket", lambda d: d["bracket_id"] == "to_cancel"
                        and d["take_profit"]["status"] == d["stop_loss"]["status"] == "canceled")
    assert venue_open_orders(gateway) == []
    assert venue_position(gateway) == D("-0.010")  # the position is the strategy's again
    assert (await client.call("bracket.cancel", {"bracket_id": "to_cancel"}))["state"] == "canceled"  # idempotent
    listed = await client.call("brackets.list", {"open_only": True})
    assert listed == []
    assert [b["bracket_id"] for b in await client.call("brackets.list", {"state": "canceled"})] == ["to_cancel"]


async def test_place_is_idempotent_on_the_bracket_id(gw) -> None:
    gateway, client, _ = gw
    bid, ask = await best(client)
    params = bracket_params("buy", "0.010", {"type": "limit", "price": str(bid - 50)}, ask + 200, bid - 200,
                            bracket_id="same_id")
    first = await client.call("bracket.place", params)
    again = await client.call("bracket.place", params)
    assert again["bracket_id"] == first["bracket_id"] == "same_id"
    assert again["entry"]["order_id"] == first["entry"]["order_id"]
    assert len([o for o in venue_open_orders(gateway) if o.client_order_id == "same_id-en"]) == 1
    assert len(await client.call("brackets.list", {})) == 1
