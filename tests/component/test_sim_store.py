"""The sim exchange's own store: its state survives a crash of the process, a `kill -9` included."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import orjson
import pytest

from gateway.core.clock import SystemClock
from gateway.core.enums import MarginType, OrderStatus, OrderType, Side
from gateway.core.events import Balance, Fill
from gateway.core.ports import OrderRequest
from gateway.venues.sim.adapter import SimAdapter
from gateway.venues.sim.store import SimStore
from tests.component.test_sim_adapter import PERP, SPOT, RecordingSink, limit, market, settings

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 20.0
TAKER_FEE = D("0.0004")


def open_adapter(path: Path, sink: RecordingSink | None = None) -> SimAdapter:
    adapter = SimAdapter("sim", settings(state_path=str(path)), SystemClock(), prewarm_steps=20)
    adapter.bind(sink or RecordingSink())
    return adapter


async def crash(adapter: SimAdapter) -> None:
    """Leave `adapter` as a killed process would: no graceful exit, nothing queued gets written."""
    store = adapter.exchange._store
    assert store is not None and adapter.exchange._task is not None
    for task in (adapter.exchange._task, store._task):
        task.cancel()
        await asyncio.wait({task})
    await store._conn.close()  # an open transaction is rolled back, as after a kill


async def far_prices(adapter: SimAdapter, symbol: str = SPOT) -> tuple[D, D]:
    """A bid 10% under and a trigger 10% over the market: nothing the market does in a test reaches them."""
    depth = await adapter.fetch_depth(symbol, 1)
    tick = adapter.instruments[symbol].tick_size
    return (depth.bids[0][0] * D("0.9")).quantize(tick), (depth.asks[0][0] * D("1.1")).quantize(tick)


async def account_view(adapter: SimAdapter) -> dict[str, object]:
    """What the gateway reconciles against, without the fields that move with the market (marks)."""
    orders = await adapter.orders_since(0)
    return {
        "balances": {b.asset: (b.free, b.locked) for b in await adapter.balances()},
        "positions": [(p.symbol, p.qty, p.entry_price, p.leverage, p.margin_type) for p in await adapter.positions()],
        "open": [(o.order_id, o.client_order_id, o.qty, o.filled_qty, o.price) for o in await adapter.open_orders()],
        "orders": [(o.order_id, o.client_order_id, o.status, o.filled_qty, o.avg_price, o.ts) for o in orders],
        "fills": [(f.trade_id, f.order_id, f.price, f.qty, f.fee, f.ts) for f in await adapter.fills_since(0)],
    }


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "sim" / "state.db"


@pytest.fixture
async def restarted(state_path: Path) -> AsyncIterator[list[SimAdapter]]:
    """Adapters opened on `state_path` after a crash; closed gracefully at the end of the test."""
    opened: list[SimAdapter] = []
    yield opened
    for adapter in opened:
        await adapter.__aexit__(None, None, None)


async def reopen(state_path: Path, opened: list[SimAdapter], sink: RecordingSink | None = None) -> SimAdapter:
    adapter = open_adapter(state_path, sink)
    await adapter.__aenter__()
    opened.append(adapter)
    return adapter


# --- crash and restore -----------------------------------------------------------------------------------


async def test_a_crash_after_the_acks_loses_nothing_they_reported(state_path: Path, restarted: list) -> None:
    sink = RecordingSink()
    adapter = open_adapter(state_path, sink)
    await adapter.__aenter__()
    bid, trigger = await far_prices(adapter)
    await adapter.set_leverage(PERP, 5)
    await adapter.set_margin_type(PERP, MarginType.ISOLATED)
    rest1 = await adapter.place_order(limit(Side.BUY, "0.01", bid, "rest-1"))
    rest2 = await adapter.place_order(limit(Side.BUY, "0.02", bid, "rest-2"))
    filled = await adapter.place_order(market(Side.BUY, "0.01", "taken"))
    stop = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.STOP, D("0.01"), "stop",
                                                  trigger_price=trigger))
    await adapter.place_order(market(Side.SELL, "0.01", "short", symbol=PERP))
    cancelled = await adapter.place_order(limit(Side.BUY, "0.01", bid, "gone"))
    await adapter.cancel_order(SPOT, client_order_id="gone")
    await adapter.amend_order(SPOT, client_order_id="rest-1", qty=D("0.005"))
    before = await account_view(adapter)
    await crash(adapter)

    again = await reopen(state_path, restarted)

    assert await account_view(again) == before
    assert filled.status is OrderStatus.FILLED and len(before["fills"]) >= 2  # type: ignore[arg-type]
    for ack in (rest1, rest2, filled, stop, cancelled):
        found = await again.get_order(SPOT, client_order_id=ack.client_order_id)
        assert found is not None and found.order_id == ack.order_id
    (position,) = await again.positions()
    assert (position.qty, position.leverage, position.margin_type) == (D("-0.01"), 5, MarginType.ISOLATED)
    # the resting orders are back in the book, in their order, with what is left of them
    level = again.engine.books[SPOT].bids.levels[bid]
    assert [(o.order_id, o.remaining) for o in level.live() if not o.house] == [
        (rest1.order_id, D("0.005")), (rest2.order_id, D("0.02"))]
    assert [o.client_order_id for o in await again.open_orders()] == ["rest-1", "rest-2", "stop"]


async def test_restored_orders_can_be_filled_and_cancelled(state_path: Path, restarted: list) -> None:
    adapter = open_adapter(state_path)
    await adapter.__aenter__()
    bid, _ = await far_prices(adapter)
    first = await adapter.place_order(limit(Side.BUY, "0.01", bid, "r1"))
    await adapter.place_order(limit(Side.BUY, "0.01", bid, "r2"))
    await crash(adapter)

    sink = RecordingSink()
    again = await reopen(state_path, restarted, sink)
    depth = await again.fetch_depth(SPOT, 1)
    taking = await again.amend_order(SPOT, client_order_id="r1", price=depth.asks[0][0])
    assert taking.status is OrderStatus.FILLED and taking.order_id == first.order_id
    await sink.wait_for(lambda e: type(e) is Fill and e.client_order_id == "r1")
    cancelled = await again.cancel_order(SPOT, client_order_id="r2")
    assert cancelled.status is OrderStatus.CANCELED
    newer = await again.place_order(market(Side.BUY, "0.001", "r3"))
    assert int(newer.order_id or 0) > int(first.order_id or 0)
    (usdt,) = [b for b in await again.balances() if b.asset == "USDT"]
    assert usdt.locked == 0


async def test_market_loop_fills_are_durable_once_pushed(state_path: Path, restarted: list) -> None:
    sink = RecordingSink()
    adapter = open_adapter(state_path, sink)
    await adapter.__aenter__()
    last = adapter.engine.last_price(SPOT)
    assert last is not None
    tick = adapter.instruments[SPOT].tick_size
    # a stop just above the last trade and a bid inside the spread: the house traders reach both soon
    await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.STOP, D("0.001"), "stop",
                                           trigger_price=last + tick))
    bid = (await adapter.fetch_depth(SPOT, 1)).bids[0][0] + tick
    await adapter.place_order(limit(Side.BUY, "0.001", bid, "maker"))
    stop_fill = await sink.wait_for(lambda e: type(e) is Fill and e.client_order_id == "stop")
    maker_fill = await sink.wait_for(lambda e: type(e) is Fill and e.client_order_id == "maker")
    pushed = [e for e in sink.user if type(e) is Fill]
    balances = [e for e in sink.user if type(e) is Balance]
    await crash(adapter)

    again = await reopen(state_path, restarted)
    fills = {f.trade_id for f in await again.fills_since(0)}
    assert {f.trade_id for f in pushed} <= fills  # type: ignore[attr-defined]
    assert {stop_fill.trade_id, maker_fill.trade_id} <= fills  # type: ignore[attr-defined]
    stop = await again.get_order(SPOT, client_order_id="stop")
    assert stop is not None and stop.filled_qty > 0
    # the last pushed balances were committed with the fills
    btc = [b for b in await again.balances() if b.asset == "BTC"][0]
    assert btc.free >= [b for b in balances if b.asset == "BTC"][-1].free  # type: ignore[attr-defined]


async def test_the_market_restarts_from_the_last_price(state_path: Path, restarted: list) -> None:
    adapter = SimAdapter("sim", settings(state_path=str(state_path), symbols=[
        {"symbol": SPOT, "start_price": "65000", "tick_size": "0.01", "step_size": "0.00001", "min_qty": "0.00001",
         "volatility": 0.05},
    ]), SystemClock(), prewarm_steps=20)
    await adapter.__aenter__()
    last = adapter.engine.last_price(SPOT)
    await adapter.__aexit__(None, None, None)  # a graceful exit keeps the state as well
    assert last is not None and abs(last - 65000) > 100  # a volatile walk left the start price
    again = SimAdapter("sim", adapter.exchange.settings, SystemClock(), prewarm_steps=0)
    await again.__aenter__()
    restarted.append(again)
    assert again.exchange.market.feeds[SPOT].start == float(last)


async def test_reset_wipes_the_store(state_path: Path, restarted: list) -> None:
    sink = RecordingSink()
    adapter = open_adapter(state_path, sink)
    await adapter.__aenter__()
    bid, _ = await far_prices(adapter)
    old = await adapter.place_order(limit(Side.BUY, "0.01", bid, "old"))
    await adapter.place_order(market(Side.BUY, "0.01", "old-fill"))
    await adapter.reset()
    await sink.wait_for(lambda e: type(e) is Balance and e.asset == "BTC" and e.free == D(1))
    await crash(adapter)

    again = await reopen(state_path, restarted)
    assert await again.orders_since(0) == [] and await again.fills_since(0) == []
    assert {b.asset: (b.free, b.locked) for b in await again.balances()} == {
        "USDT": (D(100_000), 0), "BTC": (D(1), 0), "ETH": (D(10), 0)}
    newer = await again.place_order(limit(Side.BUY, "0.01", bid, "old"))  # the client id is free again
    assert int(newer.order_id or 0) > int(old.order_id or 0)  # but ids never repeat


async def test_without_a_state_path_nothing_is_written(tmp_path: Path) -> None:
    adapter = SimAdapter("sim", settings(), SystemClock(), prewarm_steps=5)
    async with adapter:
        await adapter.place_order(market(Side.BUY, "0.001", "m"))
        assert adapter.exchange._store is None
    assert list(tmp_path.iterdir()) == []


async def test_store_refuses_a_newer_schema(state_path: Path) -> None:
    store = await SimStore.open(state_path)
    await store._conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    await store._conn.commit()
    await store.close()
    with pytest.raises(RuntimeError, match="newer"):
        await SimStore.open(state_path)


async def test_concurrent_requests_share_commits_and_all_survive(state_path: Path, restarted: list) -> None:
    adapter = open_adapter(state_path)
    await adapter.__aenter__()
    bid, _ = await far_prices(adapter)
    acks = await asyncio.gather(*(adapter.place_order(limit(Side.BUY, "0.001", bid, f"c{i}")) for i in range(200)))
    await crash(adapter)

    again = await reopen(state_path, restarted)
    open_orders = await again.open_orders(SPOT)
    assert [o.order_id for o in open_orders] == [a.order_id for a in acks]


# --- a real kill -9 --------------------------------------------------------------------------------------

CHILD = r"""
import asyncio, sys
from decimal import Decimal as D

import orjson, structlog

from gateway.core.clock import SystemClock
from gateway.core.enums import OrderType, Side
from gateway.core.events import Fill
from gateway.core.ports import OrderRequest
from gateway.venues.sim.adapter import SimAdapter
from gateway.venues.sim.config import SimSettings

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def emit(line):
    sys.stdout.write(orjson.dumps(line).decode() + "\n")
    sys.stdout.flush()


class Sink:
    def on_market(self, event):
        pass

    def on_user(self, event):
        if type(event) is Fill:
            emit({"fill": event.trade_id, "cid": event.client_order_id})

    def on_connection(self, venue, state, reason=None):
        pass


async def main(path):
    settings = SimSettings(message_rate=200.0, depth_levels=10, state_path=path)
    adapter = SimAdapter("sim", settings, SystemClock(), prewarm_steps=20)
    adapter.bind(Sink())
    await adapter.__aenter__()  # never left: the parent kills us
    depth = await adapter.fetch_depth("BTC/USDT", 1)
    bid = (depth.bids[0][0] * D("0.9")).quantize(D("0.01"))

    async def worker(w):
        for i in range(1_000_000):
            cid = f"w{w}-{i}"
            if i % 3 == 2:
                request = OrderRequest("BTC/USDT", Side.BUY, OrderType.MARKET, D("0.0001"), cid)
            else:
                request = OrderRequest("BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.0001"), cid, price=bid)
            ack = await adapter.place_order(request)
            emit({"ack": cid, "order_id": ack.order_id, "status": str(ack.status)})

    await asyncio.gather(*(worker(w) for w in range(4)))


asyncio.run(main(sys.argv[1]))
"""


async def test_kill_9_right_after_an_ack_loses_nothing(state_path: Path, restarted: list) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(state_path), cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    acks: dict[str, tuple[str, str]] = {}
    fills: set[str] = set()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            assert child.stdout is not None
            while len(acks) < 60:
                line = await child.stdout.readline()
                assert line, "the child died"
                message = orjson.loads(line)
                if "ack" in message:
                    acks[message["ack"]] = (message["order_id"], message["status"])
                else:
                    fills.add(message["fill"])
    finally:
        child.kill()  # SIGKILL, right after reading an ack
        await child.wait()
    assert child.returncode == -9

    again = await reopen(state_path, restarted)
    for cid, (order_id, status) in acks.items():
        found = await again.get_order(SPOT, client_order_id=cid)
        assert found is not None, f"acknowledged order {cid} was lost"
        assert found.order_id == order_id and (status == "new" or found.status == status)
    known = {f.trade_id for f in await again.fills_since(0)}
    assert fills <= known and fills
    # the balances were committed with the orders: what is locked is what the open orders hold
    locked = sum((o.qty * (o.price or 0) * (1 + TAKER_FEE) for o in await again.open_orders(SPOT)), D(0))
    (usdt,) = [b for b in await again.balances() if b.asset == "USDT"]
    assert usdt.locked == locked


async def test_a_store_with_orders_on_symbols_no_longer_traded_is_refused(state_path: Path) -> None:
    adapter = open_adapter(state_path)
    await adapter.__aenter__()
    bid, _ = await far_prices(adapter, "ETH/USDT")
    await adapter.place_order(limit(Side.BUY, "0.01", bid, "eth", symbol="ETH/USDT"))
    await adapter.__aexit__(None, None, None)
    spot_only = settings(state_path=str(state_path), symbols=[
        {"symbol": SPOT, "start_price": "65000", "tick_size": "0.01", "step_size": "0.00001", "min_qty": "0.00001"},
    ])
    with pytest.raises(ValueError, match="unknown symbols"):
        await SimAdapter("sim", spot_only, SystemClock(), prewarm_steps=5).__aenter__()
