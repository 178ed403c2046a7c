"""The order API end to end: strategy WebSocket -> order service -> the real sim venue, on loopback."""

from __future__ import annotations

from decimal import Decimal

import asyncio

import pytest

from gateway.api.config import ApiSettings, Permission, StrategySettings
from gateway.client import ApiError, GatewayClient
from gateway.orders.config import OrdersSettings
from tests.conftest import LOCAL_KEY

READ_KEY = "read-only-key-123"


def api_settings() -> ApiSettings:
    return ApiSettings(port=0, strategies=[
        StrategySettings(name="local", api_key=LOCAL_KEY, permissions=frozenset(Permission)),
        StrategySettings(name="reader", api_key=READ_KEY, permissions=frozenset({Permission.READ})),
    ])


@pytest.fixture
async def gw(gateway_factory):
    gateway = await gateway_factory(
        api=api_settings(),
        orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
    )
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        yield gateway, client


async def best(client: GatewayClient, symbol: str) -> tuple[Decimal, Decimal]:
    bbo = await client.call("bbo", {"symbol": symbol})
    return Decimal(bbo["bid"]), Decimal(bbo["ask"])


async def test_place_rest_list_cancel_with_order_stream(gw) -> None:
    _, client = gw
    await client.subscribe(["sim@order"])
    bid, _ = await best(client, "BTC/USDT")
    order = await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(bid * Decimal("0.9")),
                                     client_order_id="rest-1")
    assert order.status == "new" and order.order_id and order.client_order_id == "rest-1"
    assert order.price == (bid * Decimal("0.9")).quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
    assert [o.client_order_id for o in await client.open_orders("BTC/USDT")] == ["rest-1"]
    push = await client.next_push("sim@order", timeout=5)
    assert push.data["client_order_id"] == "rest-1"
    canceled = await client.cancel_order(client_order_id="rest-1")
    assert canceled.status == "canceled"
    assert await client.open_orders() == []
    statuses = [push.data["status"]]
    while statuses[-1] != "canceled":
        statuses.append((await client.next_push("sim@order", timeout=5)).data["status"])
    assert statuses == ["pending_new", "new", "pending_cancel", "canceled"]


async def test_market_order_fills_with_fills_and_balances(gw) -> None:
    _, client = gw
    await client.subscribe(["sim@fill"])
    before = {b["asset"]: Decimal(b["free"]) for b in await client.call("account.balances")}
    order = await client.place_order("BTC/USDT", "buy", "market", qty="0.01")
    assert order.status == "filled" and order.filled_qty == Decimal("0.01") and order.avg_price
    fills = await client.fills("BTC/USDT")
    assert sum(f.qty for f in fills) == Decimal("0.01") and {f.client_order_id for f in fills} == {order.client_order_id}
    push = await client.next_push("sim@fill", timeout=5)
    assert push.data["order_id"] == order.order_id
    after = {b["asset"]: Decimal(b["free"]) for b in await client.call("account.balances")}
    assert after["BTC"] == before["BTC"] + Decimal("0.01")
    assert after["USDT"] < before["USDT"]


async def test_perp_position_leverage_and_amend(gw) -> None:
    _, client = gw
    assert (await client.call("account.leverage", {"symbol": "BTC/USDT:USDT", "leverage": 5})) is not None
    await client.place_order("BTC/USDT:USDT", "sell", "market", qty="0.01")
    (position,) = await client.call("account.positions", {"symbol": "BTCUSDT_PERP"})
    assert Decimal(position["qty"]) == Decimal("-0.01") and position["leverage"] == 5
    bid, _ = await best(client, "BTC/USDT:USDT")
    resting = await client.place_order("BTC/USDT:USDT", "buy", "limit", qty="0.005", price=str(bid - 500),
                                       reduce_only=True)
    modified = await client.call("order.modify", {"client_order_id": resting.client_order_id, "qty": "0.004"})
    assert modified["modified_by"] == "amend" and Decimal(modified["qty"]) == Decimal("0.004")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "BTC/USDT", "side": "buy", "type": "limit", "qty": "0.000001", "price": "60000"}, "PRECISION"),
        ({"symbol": "BTC/USDT", "side": "buy", "type": "limit", "qty": "0.00001", "price": "100"}, "MIN_NOTIONAL"),
        ({"symbol": "DOGE/USDT", "side": "buy", "type": "limit", "qty": "1", "price": "1"}, "UNKNOWN_SYMBOL"),
        ({"symbol": "BTC/USDT", "side": "buy", "type": "limit", "qty": "1"}, "INVALID_PARAMS"),
        ({"symbol": "BTC/USDT", "side": "hold", "type": "limit", "qty": "1", "price": "1"}, "INVALID_PARAMS"),
        ({"symbol": "BTC/USDT", "side": "buy", "qty": "-1", "price": "1"}, "INVALID_PARAMS"),
        ({"symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "1", "account": "nope"}, "UNKNOWN_VENUE"),
        ({"symbol": "BTC/USDT", "side": "buy", "type": "limit", "qty": "100", "price": "60000"}, "VENUE_REJECTED"),
    ],
)
async def test_rejections_answer_their_code_and_change_nothing(gw, params: dict, code: str) -> None:
    gateway, client = gw
    with pytest.raises(ApiError) as caught:
        await client.call("order.place", params)
    assert caught.value.code == code
    assert await client.open_orders() == []
    if code == "VENUE_REJECTED":
        assert caught.value.details.get("venue_code") == "insufficient_balance"


async def test_a_read_only_key_may_not_trade(gw) -> None:
    gateway, _ = gw
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=READ_KEY) as reader:
        with pytest.raises(ApiError) as caught:
            await reader.place_order("BTC/USDT", "buy", "market", qty="0.001")
        assert caught.value.code == "FORBIDDEN"
        assert await reader.open_orders() == []


async def test_the_same_client_order_id_twice_places_one_order(gw) -> None:
    gateway, client = gw
    bid, _ = await best(client, "ETH/USDT")
    first = await client.place_order("ETH/USDT", "buy", "limit", qty="0.01", price=str(bid - 50), client_order_id="dup-1")
    again = await client.place_order("ETH/USDT", "buy", "limit", qty="0.01", price=str(bid - 50), client_order_id="dup-1")
    assert again.order_id == first.order_id
    venue_orders = await gateway.venues["sim"].open_orders("ETH/USDT")
    assert [o.client_order_id for o in venue_orders] == ["dup-1"]
    with pytest.raises(ApiError) as caught:
        await client.place_order("ETH/USDT", "sell", "limit", qty="0.01", price=str(bid + 50), client_order_id="dup-1")
    assert caught.value.code == "DUPLICATE_CLIENT_ID"


async def test_a_lost_ack_becomes_unknown_then_the_venues_truth_never_a_duplicate(gw) -> None:
    gateway, client = gw
    await client.subscribe(["sim@order"])
    gateway.venues["sim"].faults.drop_acks = 1
    bid, _ = await best(client, "BTC/USDT")
    order = await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(bid - 1000),
                                     client_order_id="lost-1")
    assert order.status == "unknown"
    while True:
        push = await client.next_push("sim@order", timeout=5)
        if push.data["client_order_id"] == "lost-1" and push.data["status"] not in ("pending_new", "unknown"):
            break
    assert push.data["status"] == "new" and push.data["order_id"]
    assert [o.client_order_id for o in await gateway.venues["sim"].open_orders()] == ["lost-1"]
    assert (await client.get_order(client_order_id="lost-1")).status == "new"


async def test_unknown_order_is_order_not_found(gw) -> None:
    _, client = gw
    for method in ("order.cancel", "order.get"):
        with pytest.raises(ApiError) as caught:
            await client.call(method, {"client_order_id": "never-placed"})
        assert caught.value.code == "ORDER_NOT_FOUND"
    with pytest.raises(ApiError) as caught:
        await client.call("order.cancel", {})
    assert caught.value.code == "INVALID_PARAMS"


async def test_pipelined_commands_keep_their_order_and_run_concurrently(gateway_factory) -> None:
    import orjson
    from websockets.asyncio.client import connect

    from gateway.venues.sim.config import SimSettings

    gateway = await gateway_factory(api=api_settings(), venues={"sim": SimSettings(latency_ms=30)})
    venue = gateway.venues["sim"]
    placing, most = 0, 0
    real_place = venue.place_order

    async def counting_place(request):  # how many placements the venue sees at once
        nonlocal placing, most
        placing += 1
        most = max(most, placing)
        try:
            return await real_place(request)
        finally:
            placing -= 1

    venue.place_order = counting_place
    async with connect(f"ws://127.0.0.1:{gateway.api.port}/ws") as ws:
        await ws.send(orjson.dumps({"id": 0, "method": "auth", "params": {"api_key": LOCAL_KEY}}).decode())
        bid = Decimal((await gateway.market.bbo("sim", "BTC/USDT"))["bid"])
        place = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "qty": "0.001", "price": str(bid - 2000)}
        frames = [{"id": i, "method": "order.place", "params": {**place, "client_order_id": f"p-{i}"}}
                  for i in range(1, 11)]
        frames.append({"id": 99, "method": "order.cancel", "params": {"client_order_id": "p-1"}})
        for frame in frames:  # all sent at once, no waiting for answers
            await ws.send(orjson.dumps(frame).decode())
        answers: dict[int, dict] = {}
        while len(answers) < 12:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            if "id" in message:
                answers[message["id"]] = message
    assert answers[0]["result"]["strategy"] == "local"
    assert all(answers[i]["result"]["status"] == "new" for i in range(2, 11))
    assert answers[99]["result"]["status"] == "canceled"  # the cancel did not overtake its place
    assert most > 1  # placements overlapped at the venue instead of queueing one by one


async def test_a_fill_the_venue_never_pushed_is_found_by_the_periodic_reconciliation(gateway_factory) -> None:
    from gateway.core.enums import OrderType, Side
    from gateway.venues.sim.market import HOUSE

    from gateway.venues.sim.config import SimSettings

    # A frozen synthetic market (one step per ~17 min): nothing but this test moves the book.
    gateway = await gateway_factory(api=api_settings(), venues={"sim": SimSettings(message_rate=0.001)},
                                    orders=OrdersSettings(reconcile_interval_ms=200))
    async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
        await client.subscribe(["sim@fill"])
        bid, _ = await best(client, "BTC/USDT")
        order = await client.place_order("BTC/USDT", "buy", "limit", qty="0.001", price=str(bid))
        assert order.status == "new"
        # A house order straight into the engine: it fills ours, but the venue session never hears of it,
        # as when a user-stream frame is lost.
        engine = gateway.venues["sim"].engine
        bids, _, _ = engine.depth("BTC/USDT", 500)
        sweep = sum(qty for price, qty in bids if price >= order.price)
        engine.place(HOUSE, "BTC/USDT", Side.SELL, OrderType.MARKET, sweep, gateway.clock.now_ms())
        assert (await client.get_order(client_order_id=order.client_order_id)).status == "new"  # not told yet
        push = await client.next_push("sim@fill", timeout=5)
        assert push.data["client_order_id"] == order.client_order_id
        while (await client.get_order(client_order_id=order.client_order_id)).status != "filled":
            await client.next_push("sim@fill", timeout=5)


async def test_a_huge_since_is_invalid_params_not_an_internal_error(gw) -> None:
    _, client = gw
    for method in ("orders.history", "fills"):
        with pytest.raises(ApiError) as caught:
            await client.call(method, {"since": 2**63})
        assert caught.value.code == "INVALID_PARAMS"
