"""The real `SimAdapter` with its background market task, driven through its async methods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D

import pytest
import structlog

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, MarginType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import VenueRejected, VenueTimeout
from gateway.core.events import Balance, Bbo, Depth, Fill, Kline, MarkPrice, OrderUpdate, Position, Ticker, Trade
from gateway.core.ports import OrderRequest, VenueAdapter
from gateway.venues.sim.adapter import SimAdapter
from gateway.venues.sim.config import SimSettings

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
TIMEOUT_S = 5.0


class RecordingSink:
    """Records what the adapter pushes; lets a test await an event matching a predicate."""

    def __init__(self) -> None:
        self.market: list[object] = []
        self.user: list[object] = []
        self.connections: list[ConnectionState] = []
        self._changed = asyncio.Event()

    def on_market(self, event: object) -> None:
        self.market.append(event)
        self._changed.set()

    def on_user(self, event: object) -> None:
        self.user.append(event)
        self._changed.set()

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        self.connections.append(state)

    async def wait_for(self, predicate: Callable[[object], bool], stream: str = "user") -> object:
        async def scan() -> object:
            seen = 0
            while True:
                events = self.user if stream == "user" else self.market
                for event in events[seen:]:
                    if predicate(event):
                        return event
                seen = len(events)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), TIMEOUT_S)


def settings(**overrides: object) -> SimSettings:
    return SimSettings(**{"message_rate": 200.0, "depth_levels": 10, **overrides})


@pytest.fixture
async def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def adapter(sink: RecordingSink) -> AsyncIterator[SimAdapter]:
    venue = SimAdapter("sim", settings(), SystemClock(), prewarm_steps=20)
    venue.bind(sink)
    async with venue:
        yield venue


def limit(side: Side, qty: str, price: D, cid: str, symbol: str = SPOT, **kw: object) -> OrderRequest:
    return OrderRequest(symbol, side, OrderType.LIMIT, D(qty), cid, price=price, **kw)  # type: ignore[arg-type]


def market(side: Side, qty: str, cid: str, symbol: str = SPOT) -> OrderRequest:
    return OrderRequest(symbol, side, OrderType.MARKET, D(qty), cid)


async def far_bid(adapter: SimAdapter, symbol: str = SPOT) -> D:
    depth = await adapter.fetch_depth(symbol, 1)
    return depth.bids[0][0] - 100 * adapter.instruments[symbol].tick_size


def is_update(cid: str, status: OrderStatus) -> Callable[[object], bool]:
    return lambda e: type(e) is OrderUpdate and e.client_order_id == cid and e.status is status


# --- lifecycle and market data -------------------------------------------------------------------------


async def test_adapter_meets_the_venue_protocol_and_opens(adapter: SimAdapter, sink: RecordingSink) -> None:
    assert isinstance(adapter, SimAdapter)
    venue: VenueAdapter = adapter  # type-checks against the Protocol
    assert venue.state is ConnectionState.OPEN and sink.connections == [ConnectionState.OPEN]
    assert venue.capabilities.amend and venue.capabilities.stop_orders and venue.capabilities.reduce_only
    assert set(venue.instruments) == {"BTC/USDT", "ETH/USDT", PERP}


@pytest.mark.parametrize("kind", [Trade, Depth, Bbo, Ticker, Kline, MarkPrice])
async def test_market_events_flow(adapter: SimAdapter, sink: RecordingSink, kind: type) -> None:
    event = await sink.wait_for(lambda e: type(e) is kind, stream="market")
    assert event.venue == "sim"  # type: ignore[attr-defined]


async def test_published_depth_has_increasing_sequence(adapter: SimAdapter, sink: RecordingSink) -> None:
    depths: list[Depth] = []

    def collect(event: object) -> bool:
        if type(event) is Depth and event.symbol == SPOT:
            depths.append(event)
        return len(depths) >= 5

    await sink.wait_for(collect, stream="market")
    assert all(a.seq < b.seq for a, b in zip(depths, depths[1:]))
    assert all(len(d.bids) <= 50 and d.bids[0][0] < d.asks[0][0] for d in depths)


async def test_fetch_methods_answer_from_the_prewarmed_market(adapter: SimAdapter) -> None:
    ticker = await adapter.fetch_ticker(SPOT)
    assert ticker.volume > 0
    assert len(await adapter.fetch_trades(SPOT, 5)) == 5
    klines = await adapter.fetch_klines(SPOT, "1m", 10)
    assert len(klines) == 10 and not klines[-1].closed
    with pytest.raises(VenueRejected) as rejected:
        await adapter.fetch_klines(SPOT, "7m", 10)
    assert rejected.value.venue_code == "invalid_interval"
    with pytest.raises(VenueRejected):
        await adapter.fetch_depth("DOGE/USDT", 5)


async def test_exit_cancels_the_market_task(sink: RecordingSink) -> None:
    venue = SimAdapter("sim", settings(), SystemClock(), prewarm_steps=5)
    venue.bind(sink)
    async with venue:
        task = venue.exchange._task
        assert task is not None and not task.done()
        await sink.wait_for(lambda e: type(e) is Trade, stream="market")
    assert task.done() and venue.state is ConnectionState.CLOSED
    assert sink.connections == [ConnectionState.OPEN, ConnectionState.CLOSED]
    with pytest.raises(Exception):
        await venue.place_order(market(Side.BUY, "0.001", "late"))


async def test_market_task_survives_a_failing_step(sink: RecordingSink, monkeypatch: pytest.MonkeyPatch) -> None:
    with structlog.testing.capture_logs() as logs:
        venue = SimAdapter("sim", settings(), SystemClock(), prewarm_steps=5)
        venue.bind(sink)
        async with venue:
            market = venue.exchange.market
            real_step = market.step
            calls = {"n": 0}

            def flaky(symbol: str, now_ms: int):  # type: ignore[no-untyped-def]
                calls["n"] += 1
                if calls["n"] == 1:
                    raise RuntimeError("boom")
                return real_step(symbol, now_ms)

            monkeypatch.setattr(market, "step", flaky)
            sink.market.clear()
            await sink.wait_for(lambda e: type(e) is Trade and calls["n"] > 1, stream="market")
    assert any(entry["event"] == "sim.step_failed" for entry in logs)


# --- trading -------------------------------------------------------------------------------------------


async def test_place_amend_cancel_with_user_stream(adapter: SimAdapter, sink: RecordingSink) -> None:
    price = await far_bid(adapter)
    ack = await adapter.place_order(limit(Side.BUY, "0.01", price, "c1"))
    assert (ack.status, ack.client_order_id, ack.order_id) == (OrderStatus.NEW, "c1", ack.order_id)
    assert ack.order_id is not None and ack.venue == "sim"
    await sink.wait_for(is_update("c1", OrderStatus.NEW))
    assert [o.client_order_id for o in await adapter.open_orders(SPOT)] == ["c1"]

    amended = await adapter.amend_order(SPOT, client_order_id="c1", qty=D("0.02"), price=price - D("0.01"))
    assert (amended.qty, amended.price) == (D("0.02"), price - D("0.01"))
    held = D("0.02") * (price - D("0.01")) * D("1.0004")  # qty * price * (1 + taker fee)
    await sink.wait_for(lambda e: type(e) is Balance and e.asset == "USDT" and e.locked == held)

    canceled = await adapter.cancel_order(SPOT, order_id=ack.order_id)
    assert canceled.status is OrderStatus.CANCELED
    await sink.wait_for(is_update("c1", OrderStatus.CANCELED))
    assert await adapter.open_orders() == []
    with pytest.raises(VenueRejected) as rejected:
        await adapter.cancel_order(SPOT, order_id=ack.order_id)
    assert rejected.value.venue_code == "order_not_open"


async def test_market_order_fills_and_pushes_fills_and_balances(adapter: SimAdapter, sink: RecordingSink) -> None:
    before = {b.asset: b for b in await adapter.balances()}
    answer = await adapter.place_order(market(Side.BUY, "0.01", "m1"))
    assert answer.status is OrderStatus.FILLED and answer.avg_price is not None
    fill = await sink.wait_for(lambda e: type(e) is Fill and e.client_order_id == "m1")
    assert fill.fee_asset == "USDT"  # type: ignore[attr-defined]
    await sink.wait_for(lambda e: type(e) is Balance and e.asset == "BTC")
    after = {b.asset: b for b in await adapter.balances()}
    assert after["BTC"].free == before["BTC"].free + D("0.01")
    assert [f.trade_id for f in await adapter.fills_since(0)] == [fill.trade_id]  # type: ignore[attr-defined]
    assert [o.client_order_id for o in await adapter.orders_since(0)] == ["m1"]
    await sink.wait_for(lambda e: type(e) is Trade and e.id == fill.trade_id, stream="market")  # type: ignore


async def test_perp_position_is_pushed_and_leverage_is_set(adapter: SimAdapter, sink: RecordingSink) -> None:
    assert await adapter.set_leverage(PERP, 5) == {"symbol": PERP, "leverage": 5}
    assert (await adapter.set_margin_type(PERP, MarginType.ISOLATED))["margin_type"] == "isolated"
    await adapter.place_order(market(Side.SELL, "0.01", "p1", symbol=PERP))
    pushed = await sink.wait_for(lambda e: type(e) is Position and e.qty == D("-0.01"))
    assert (pushed.leverage, pushed.margin_type) == (5, MarginType.ISOLATED)  # type: ignore[attr-defined]
    (position,) = await adapter.positions()
    assert position.qty == D("-0.01")
    with pytest.raises(VenueRejected) as rejected:  # a short is increased by a sell
        await adapter.place_order(OrderRequest(PERP, Side.SELL, OrderType.MARKET, D("0.01"), "p2", reduce_only=True))
    assert rejected.value.venue_code == "reduce_only_rejected"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (limit(Side.BUY, "0.01", D("1.001"), "r1"), "price_off_tick"),
        (limit(Side.BUY, "1000", D("60000"), "r2"), "insufficient_balance"),
        (OrderRequest("DOGE/USDT", Side.BUY, OrderType.MARKET, D(1), "r3"), "unknown_symbol"),
        (limit(Side.BUY, "0.01", D("999999"), "r4", tif=TimeInForce.POST_ONLY), "post_only_would_take"),
    ],
)
async def test_rejects_raise_venue_rejected(adapter: SimAdapter, request_: OrderRequest, code: str) -> None:
    with pytest.raises(VenueRejected) as rejected:
        await adapter.place_order(request_)
    assert rejected.value.venue_code == code and rejected.value.venue == "sim"


async def test_duplicate_client_id_and_unknown_orders(adapter: SimAdapter) -> None:
    price = await far_bid(adapter)
    await adapter.place_order(limit(Side.BUY, "0.01", price, "d1"))
    with pytest.raises(VenueRejected) as rejected:
        await adapter.place_order(limit(Side.BUY, "0.01", price, "d1"))
    assert rejected.value.venue_code == "duplicate_client_order_id"
    with pytest.raises(VenueRejected) as rejected:
        await adapter.cancel_order(SPOT, client_order_id="nope")
    assert rejected.value.venue_code == "order_not_found"
    assert await adapter.get_order(SPOT, client_order_id="nope") is None
    assert await adapter.get_order(PERP, client_order_id="d1") is None  # wrong symbol
    assert len(await adapter.cancel_all()) == 1


async def test_latency_is_applied_to_requests(sink: RecordingSink) -> None:
    venue = SimAdapter("sim", settings(latency_ms=60), SystemClock(), prewarm_steps=5)
    venue.bind(sink)
    async with venue:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await venue.place_order(market(Side.BUY, "0.001", "l1"))
        assert loop.time() - started >= 0.055


# --- faults --------------------------------------------------------------------------------------------


async def test_drop_acks_executes_but_times_out_and_hides_pushes(adapter: SimAdapter, sink: RecordingSink) -> None:
    adapter.faults.drop_acks = 1
    price = await far_bid(adapter)
    with pytest.raises(VenueTimeout):
        await adapter.place_order(limit(Side.BUY, "0.01", price, "lost"))
    assert adapter.faults.drop_acks == 0
    await adapter.place_order(limit(Side.BUY, "0.01", price, "seen"))  # the next one answers normally
    await sink.wait_for(is_update("seen", OrderStatus.NEW))
    found = await adapter.get_order(SPOT, client_order_id="lost")
    assert found is not None and found.status is OrderStatus.NEW
    await adapter.cancel_order(SPOT, client_order_id="lost")
    await adapter.cancel_order(SPOT, client_order_id="seen")
    await sink.wait_for(is_update("seen", OrderStatus.CANCELED))
    assert not [e for e in sink.user if getattr(e, "client_order_id", None) == "lost"]


async def test_withheld_order_ids_appear_after_a_query(adapter: SimAdapter, sink: RecordingSink) -> None:
    adapter.faults.withhold_order_ids = True
    price = await far_bid(adapter)
    ack = await adapter.place_order(limit(Side.BUY, "0.01", price, "w1"))
    assert ack.order_id is None
    pushed = await sink.wait_for(is_update("w1", OrderStatus.NEW))
    assert pushed.order_id is None  # type: ignore[attr-defined]
    queried = await adapter.get_order(SPOT, client_order_id="w1")
    assert queried is not None and queried.order_id is not None
    canceled = await adapter.cancel_order(SPOT, client_order_id="w1")
    assert canceled.order_id == queried.order_id
    pushed = await sink.wait_for(is_update("w1", OrderStatus.CANCELED))
    assert pushed.order_id == queried.order_id  # type: ignore[attr-defined]


async def test_reject_all_refuses_every_placement(adapter: SimAdapter) -> None:
    adapter.faults.reject_all = "maintenance"
    with pytest.raises(VenueRejected) as rejected:
        await adapter.place_order(market(Side.BUY, "0.001", "x1"))
    assert rejected.value.venue_code == "maintenance"
    assert await adapter.orders_since(0) == []
    adapter.faults.reject_all = None
    assert (await adapter.place_order(market(Side.BUY, "0.001", "x1"))).status is OrderStatus.FILLED


async def test_reset_rebuilds_balances_and_orders(adapter: SimAdapter, sink: RecordingSink) -> None:
    await adapter.place_order(market(Side.BUY, "0.01", "z1"))
    await adapter.reset()
    assert await adapter.orders_since(0) == []
    balances = {b.asset: b.free for b in await adapter.balances()}
    assert balances["BTC"] == D(1) and balances["USDT"] == D(100_000)
    await sink.wait_for(lambda e: type(e) is Balance and e.asset == "BTC" and e.free == D(1))
    await sink.wait_for(lambda e: type(e) is Trade, stream="market")  # the market keeps running
