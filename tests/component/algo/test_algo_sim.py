"""The local algo engine end to end on the sim: strategy WebSocket -> algo engine -> order service -> sim.

The sim's market is frozen (`FROZEN`): nothing trades unless a child takes or the test trades as the house.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from gateway.client import ApiError, GatewayClient
from gateway.core.enums import Side
from gateway.orders.algo.schedule import linear_fraction
from tests.component.algo.kit import SPOT, gateway_overrides, house_order, wire_algos
from tests.component.brackets.kit import READ_KEY, Streams
from tests.conftest import LOCAL_KEY

D = Decimal


@pytest.fixture
async def gw(gateway_factory):
    gateway = await gateway_factory(**gateway_overrides())
    engine = await wire_algos(gateway)
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        await client.subscribe(["sim@algo", "sim@order"])
        async with Streams(client) as streams:
            yield gateway, engine, client, streams


def twap(qty: str = "0.01", duration_s: int = 4, **extra) -> dict:
    return {"symbol": SPOT, "side": "buy", "algorithm": "TWAP", "qty": qty, "execution_duration_s": duration_s,
            **extra}


def ended(data: dict) -> bool:
    return data.get("type") == "algo" and data["state"] in ("completed", "canceled", "expired", "failed")


async def test_twap_completes_on_schedule_with_fills_summing_to_the_parent(gw) -> None:
    _gateway, engine, client, streams = gw
    algo = await client.call("algo.place", twap(qty="0.01", duration_s=4, enable_make=False,
                                                client_order_id="twap-1"))
    assert algo["state"] in ("pending", "running") and algo["algorithm"] == "TWAP" and algo["schedule"] == "even"
    done = await streams.until("sim@algo", lambda d: ended(d) and d["algo_id"] == algo["algo_id"], timeout=15)
    assert done["state"] == "completed" and D(done["filled_qty"]) == D("0.01") and done["progress"] == "1"
    assert done["qe_status"] == "COMPLETED" and D(done["avg_price"]) > 0

    fills = await client.call("algo.fills", {"algo_id": algo["algo_id"]})
    assert sum(D(f["qty"]) for f in fills) == D("0.01")
    assert all(f["client_order_id"].startswith(algo["algo_id"] + "-a") for f in fills)
    latest = {o["client_order_id"]: o for o in streams.seen["sim@order"]  # an order's last push is its state
              if o["client_order_id"].startswith(algo["algo_id"])}
    assert all(o["status"] in ("filled", "canceled", "expired") for o in latest.values())
    assert sum(D(o["filled_qty"]) for o in latest.values()) == D("0.01")

    # Tracking: every progress push lies within one slice (+ one take in flight) of the straight line.
    slices = D(len(engine.algos[algo["algo_id"]].schedule))
    slice_ = D("0.01") / slices
    for push in streams.seen["sim@algo"]:
        if push.get("type") != "algo" or push["algo_id"] != algo["algo_id"]:
            continue
        line = D("0.01") * linear_fraction(push["start_ts"], push["end_ts"], push["updated_ts"])
        assert line - 2 * slice_ <= D(push["filled_qty"]) <= line + slice_ + D("0.00001"), push
    assert done["ended_ts"] - done["start_ts"] <= 4_000 + 500


async def test_maker_children_rest_inside_the_spread_and_fill_when_the_market_trades(gw) -> None:
    gateway, engine, client, streams = gw
    bbo = await client.call("bbo", {"symbol": SPOT})
    algo = await client.call("algo.place", twap(qty="0.004", duration_s=3, low_tolerance="0.9"))
    child = await streams.until("sim@algo", lambda d: d.get("type") == "order" and d["order"]["status"] == "new")
    assert child["order"]["tif"] == "post_only" and D(child["order"]["price"]) == D(bbo["bid"]) + D("0.01")
    for _ in range(40):  # sellers arrive: they hit our bid first (we are the best bid alone)
        await house_order(gateway, Side.SELL, "0.0005")
        if engine.algos[algo["algo_id"]].is_terminal:
            break
        await asyncio.sleep(0.15)
    done = await streams.until("sim@algo", lambda d: ended(d) and d["algo_id"] == algo["algo_id"], timeout=10)
    assert done["state"] == "completed" and D(done["filled_qty"]) == D("0.004")
    assert D(done["maker_rate"]) > D("0.5")


async def test_pause_resume_cancel(gw) -> None:
    _gateway, engine, client, streams = gw
    algo = await client.call("algo.place", twap(qty="0.01", duration_s=6, client_order_id="pr-1"))
    aid = algo["algo_id"]
    await streams.until("sim@algo", lambda d: d.get("type") == "order" and d["order"]["status"] == "new")
    paused = await client.call("algo.pause", {"algo_id": aid})
    assert paused["state"] == "paused"
    await streams.until("sim@algo", lambda d: d.get("type") == "order" and d["order"]["status"] == "canceled")
    assert not await client.call("orders.open", {"symbol": SPOT})
    await asyncio.sleep(0.6)  # a slice passes: nothing is placed while paused
    assert not await client.call("orders.open", {"symbol": SPOT})
    assert engine.algos[aid].state.value == "paused"

    resumed = await client.call("algo.resume", {"client_order_id": "pr-1"})
    assert resumed["state"] == "running"
    # Behind its schedule after the pause: it takes the shortfall at once (IOC at the ask).
    await streams.until("sim@algo", lambda d: d.get("type") == "order" and d["order"]["tif"] == "ioc"
                        and d["order"]["status"] == "filled")
    canceled = await client.call("algo.cancel", {"algo_id": aid, "reason": "enough"})
    assert canceled["state"] == "canceled" and canceled["reason"] == "enough"
    if canceled["live_child"] is not None:  # its working child's cancel is answered after the parent's
        await streams.until("sim@algo", lambda d: d.get("type") == "algo" and d["state"] == "canceled"
                            and d["live_child"] is None)
    assert not await client.call("orders.open", {"symbol": SPOT})
    final = await client.call("algo.get", {"algo_id": aid})
    assert final["state"] == "canceled" and D(0) < D(final["filled_qty"]) < D("0.01")
    assert (await client.call("algo.cancel", {"algo_id": aid}))["state"] == "canceled"  # idempotent
    with pytest.raises(ApiError) as info:
        await client.call("algo.resume", {"algo_id": aid})
    assert info.value.code == "INVALID_PARAMS"
    listed = await client.call("algos.list", {"state": "canceled"})
    assert [a["algo_id"] for a in listed] == [aid]


async def test_client_order_id_makes_place_idempotent(gw) -> None:
    _gateway, engine, client, _streams = gw
    first = await client.call("algo.place", twap(client_order_id="same-1", duration_s=30))
    again = await client.call("algo.place", twap(client_order_id="same-1", duration_s=30))
    assert again["algo_id"] == first["algo_id"] and len(engine.algos) == 1
    with pytest.raises(ApiError) as info:
        await client.call("algo.place", twap(qty="0.02", client_order_id="same-1", duration_s=30))
    assert info.value.code == "DUPLICATE_CLIENT_ID"
    got = await client.call("algo.get", {"client_order_id": "same-1"})
    assert got["algo_id"] == first["algo_id"]
    await client.call("algo.cancel", {"client_order_id": "same-1"})


async def test_pov_follows_the_tape(gw) -> None:
    gateway, engine, client, _streams = gw
    algo = await client.call("algo.place", {"symbol": SPOT, "side": "buy", "algorithm": "POV", "qty": "1",
                                            "execution_duration_s": 60, "pov_limit": "0.1",
                                            "pov_min_limit": "0.05"})
    aid = algo["algo_id"]
    for _ in range(12):
        await house_order(gateway, Side.SELL, "0.01")
        await house_order(gateway, Side.BUY, "0.01")
        await asyncio.sleep(0.12)
    await asyncio.sleep(0.3)
    state = engine.algos[aid]
    volume = state.market_volume
    assert volume >= D("0.2")
    assert D("0.05") * volume - D("0.01") <= state.filled_qty <= D("0.1") * volume + D("0.00001")
    await client.call("algo.cancel", {"algo_id": aid})


@pytest.mark.parametrize(("params", "code", "field"), [
    ({"pov_min_limit": "0.01"}, "INVALID_PARAMS", "pov_min_limit"),
    ({"algorithm": "POV", "pov_limit": "0.1", "pov_min_limit": "0.095"}, "INVALID_PARAMS", "pov_min_limit"),
    ({"notional": "100"}, "INVALID_PARAMS", "qty"),
    ({"execution_duration_s": None, "execution_duration": 0}, "INVALID_PARAMS", "execution_duration"),
    ({"up_tolerance": "1"}, "INVALID_PARAMS", "up_tolerance"),
    ({"algorithm": "BoostTWAP"}, "NOT_SUPPORTED", "algorithm"),
    ({"is_margin": True}, "NOT_SUPPORTED", "is_margin"),
    ({"symbol": "BTC/USDT:USDT"}, "INVALID_PARAMS", "margin_type"),
    ({"symbol": "BTC/USDT:USDT", "margin_type": "C"}, "INVALID_PARAMS", "margin_type"),
])
async def test_refusals_at_the_edge(gw, params: dict, code: str, field: str) -> None:
    _gateway, engine, client, _streams = gw
    request = {k: v for k, v in {**twap(), **params}.items() if v is not None}
    with pytest.raises(ApiError) as info:
        await client.call("algo.place", request)
    assert (info.value.code, info.value.details.get("field")) == (code, field), info.value
    assert not engine.algos


async def test_minimums_unknown_ids_and_qe_only_methods(gw) -> None:
    gateway, _engine, client, _streams = gw
    with pytest.raises(ApiError) as info:
        await client.call("algo.place", twap(qty="0.00005"))  # about 3 USDT: below the 5 USDT minimum
    assert info.value.code == "MIN_NOTIONAL"
    with pytest.raises(ApiError) as info:
        await client.call("algo.get", {"algo_id": "nope"})
    assert info.value.code == "ORDER_NOT_FOUND"
    with pytest.raises(ApiError) as info:
        await client.call("algo.get", {})
    assert info.value.code == "INVALID_PARAMS"
    for method in ("qe.exchange_apis", "qe.trading_pairs"):
        with pytest.raises(ApiError) as info:
            await client.call(method, {"account": "sim"})
        assert info.value.code == "NOT_SUPPORTED" and "qe" in info.value.message
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=READ_KEY) as reader:
        with pytest.raises(ApiError) as info:
            await reader.call("algo.place", twap())
        assert info.value.code == "FORBIDDEN"


async def test_a_notional_parent_spends_at_most_its_notional(gw) -> None:
    _gateway, _engine, client, streams = gw
    algo = await client.call("algo.place", {"symbol": SPOT, "side": "buy", "algorithm": "TWAP", "notional": "300",
                                            "execution_duration_s": 2, "enable_make": False})
    done = await streams.until("sim@algo", lambda d: ended(d) and d["algo_id"] == algo["algo_id"], timeout=10)
    assert done["state"] == "completed" and D(done["filled_notional"]) <= D("300")
    assert D("300") - D(done["filled_notional"]) < D("0.00001") * D(done["avg_price"]) * 2


async def test_vwap_without_a_day_of_klines_falls_back_to_twap(gw) -> None:
    _gateway, _engine, client, streams = gw
    algo = await client.call("algo.place", {**twap(duration_s=2, enable_make=False), "algorithm": "VWAP"})
    assert algo["schedule"] == "volume_fallback_even"
    done = await streams.until("sim@algo", lambda d: ended(d) and d["algo_id"] == algo["algo_id"], timeout=10)
    assert done["state"] == "completed" and D(done["filled_qty"]) == D("0.01")


async def test_target_position_trades_the_difference_on_a_perp(gw) -> None:
    _gateway, _engine, client, streams = gw
    perp = "BTC/USDT:USDT"
    base = {"symbol": perp, "algorithm": "TWAP", "execution_duration_s": 1, "enable_make": False,
            "margin_type": "U", "is_target_position": True}
    first = await client.call("algo.place", {**base, "side": "buy", "qty": "0.003"})
    assert first["side"] == "buy" and D(first["qty"]) == D("0.003")
    await streams.until("sim@algo", lambda d: ended(d) and d["algo_id"] == first["algo_id"], timeout=10)
    second = await client.call("algo.place", {**base, "side": "buy", "qty": "0.001"})
    assert second["side"] == "sell" and D(second["qty"]) == D("0.002")  # from +0.003 down to +0.001
    done = await streams.until("sim@algo", lambda d: ended(d) and d["algo_id"] == second["algo_id"], timeout=10)
    assert done["state"] == "completed"
    positions = await client.call("account.positions", {"symbol": perp})
    assert sum(D(p["qty"]) for p in positions) == D("0.001")
