"""OKX algo orders and batches, client against the dialect over real sockets: an OCO that fires and cancels
its sibling, TP/SL attached to an order that become an algo of the filled size, algo amends (size, trigger),
and a batch placement answered item by item."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from okx_helpers import PERP, SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side
from gateway.core.errors import OrderRejected, VenueError, VenueRejected
from gateway.core.events import OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.simserver.okx.server import OkxDialect
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.okx.adapter import OkxAdapter
from gateway.venues.okx.execution import OkxExecution
from gateway.venues.okx.trading import TpSl


@asynccontextmanager
async def session(market: str = "spot", **settings: object
                  ) -> AsyncIterator[tuple[OkxDialect, OkxAdapter, OkxExecution]]:
    async with OkxDialect(dialect_settings()) as d:
        sink = RecordingSink()
        clock = SystemClock()
        adapter = OkxAdapter("ok", adapter_settings(d, market, **settings), clock, budgets=HostBudgets(clock))
        adapter.bind(sink)
        async with adapter:
            await sink.wait_for(lambda: adapter.state is ConnectionState.OPEN)
            assert adapter.execution is not None
            yield d, adapter, adapter.execution


def _walk_until(d: OkxDialect, done) -> None:  # type: ignore[no-untyped-def]
    for _ in range(400):  # the synthetic market moves on each step; a trigger near the price fires soon
        if done():
            return
        d.step()
    raise AssertionError("the market never got there")


async def test_an_oco_fires_one_leg_and_cancels_the_other() -> None:
    async with session("swap") as (d, adapter, execution):
        await adapter.place_order(OrderRequest(PERP, Side.BUY, OrderType.MARKET, Decimal("0.01"), "ocoE"))
        last = d.engine.last_price(PERP)
        assert last is not None
        placed = await execution.place_oco(
            OrderRequest(PERP, Side.SELL, OrderType.STOP, Decimal("0.01"), "oco1", reduce_only=True),
            TpSl(take_profit_trigger=last + Decimal("0.3"), stop_loss_trigger=last - Decimal("0.3")))
        assert placed.order_id is not None and placed.order_id.startswith("algo-")
        (algo,) = d.algos.pending()
        assert (algo.ord_type, algo.algo_cl_ord_id, sorted(algo.legs.values())) == ("oco", "oco1", ["sl", "tp"])
        assert [o.order_id for o in await adapter.open_orders()] == [placed.order_id]
        _walk_until(d, lambda: not d.algos.pending())
        assert algo.state == "effective" and algo.actual_side in ("tp", "sl")
        fired = await adapter.get_order(PERP, placed.order_id)
        assert fired is not None and fired.status is OrderStatus.FILLED and fired.client_order_id == "oco1"
        assert all(not d.engine.is_open(leg) for leg in algo.legs)  # the sibling leg was canceled
        assert await adapter.positions() == [] and await adapter.open_orders() == []


async def test_attached_tpsl_become_one_algo_of_the_filled_size() -> None:
    async with session() as (d, adapter, execution):
        last = d.engine.last_price(SPOT)
        assert last is not None
        legs = TpSl(take_profit_trigger=last * 2, stop_loss_trigger=(last / 2).quantize(Decimal("0.1")))
        entry = await execution.place_with_tpsl(
            OrderRequest(SPOT, Side.BUY, OrderType.MARKET, Decimal("0.003"), "attE1"), legs, "attB1")
        assert entry.status is OrderStatus.FILLED
        (algo,) = d.algos.pending()  # created when the entry filled, for what filled, on the exit side
        assert (algo.ord_type, algo.side, algo.sz, algo.algo_cl_ord_id) == ("oco", "sell", Decimal("0.003"), "attB1")
        found = await adapter.get_order(SPOT, client_order_id="attB1")
        assert found is not None and found.status is OrderStatus.NEW and found.qty == Decimal("0.003")
        assert found.order_id == f"algo-{algo.algo_id}" and found.side is Side.SELL
        # a resting entry: nothing is attached until it fills
        bid = d.engine.bbo(SPOT)[0]
        assert bid is not None
        rest = await execution.place_with_tpsl(
            OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "attE2", price=bid - 500),
            TpSl(stop_loss_trigger=bid - 1000), "attB2")
        assert rest.status is OrderStatus.NEW and len(d.algos.pending()) == 1
        with pytest.raises(OrderRejected):  # no trigger at all: refused before anything is sent
            await execution.place_with_tpsl(OrderRequest(SPOT, Side.BUY, OrderType.MARKET, Decimal("0.001"), "x"),
                                            TpSl())


async def test_amending_an_algo_order_changes_its_size_and_trigger() -> None:
    async with session("swap") as (d, adapter, execution):
        last = d.engine.last_price(PERP)
        assert last is not None
        stop = await adapter.place_order(OrderRequest(PERP, Side.SELL, OrderType.STOP, Decimal("0.01"), "amA1",
                                                      trigger_price=last - 300))
        amended = await adapter.amend_order(PERP, order_id=stop.order_id, qty=Decimal("0.02"))
        assert amended.qty == Decimal("0.02") and amended.order_id == stop.order_id
        moved = await execution.amend_algo(PERP, client_order_id="amA1", changes=TpSl(stop_loss_trigger=last - 400))
        assert moved.trigger_price == last - 400 and moved.status is OrderStatus.NEW
        (algo,) = d.algos.pending()  # the same algo order, still live, now carried by one new engine leg
        (leg,) = algo.legs
        engine_leg = d.engine.order("user", leg)
        assert engine_leg is not None and engine_leg.trigger_price == last - 400 and engine_leg.qty == Decimal("0.02")
        assert len([o for o in d.engine.open_orders("user") if o.type.is_conditional]) == 1  # the old leg is gone
        with pytest.raises(VenueRejected) as refused:  # a take-profit price on a stop-only algo
            await execution.amend_algo(PERP, stop.order_id, changes=TpSl(take_profit_price=last))
        assert refused.value.venue_code == "51000"
        await adapter.cancel_order(PERP, order_id=stop.order_id)
        with pytest.raises(VenueRejected):  # no live algo order any more
            await adapter.amend_order(PERP, order_id=stop.order_id, qty=Decimal("0.03"))


@pytest.mark.parametrize("over_ws", [True, False])
async def test_a_batch_placement_answers_each_order(over_ws: bool) -> None:
    async with session(orders_over_ws=over_ws) as (d, _adapter, execution):
        bid = d.engine.bbo(SPOT)[0]
        assert bid is not None
        requests = [OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"), f"bat{i}", price=bid - 100 - i)
                    for i in range(3)]
        requests.insert(1, OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal(100000), "batX", price=bid - 100))
        answers = await execution.place_orders(requests)
        assert [type(a).__name__ for a in answers] == ["OrderUpdate", "VenueRejected", "OrderUpdate", "OrderUpdate"]
        assert isinstance(answers[1], VenueRejected) and answers[1].venue_code == "51008"  # insufficient balance
        assert sorted(o.client_order_id for o in d.engine.open_orders("user")) == ["bat0", "bat1", "bat2"]
        assert all(isinstance(a, OrderUpdate) and a.order_id for a in answers if not isinstance(a, VenueError))
        assert (execution.ws_orders > 0) is over_ws
        # every order refused: still one answer each, not an exception
        refused = await execution.place_orders([requests[1], OrderRequest(SPOT, Side.BUY, OrderType.LIMIT,
                                                                          Decimal("0.001"), "bat0", price=bid - 100)])
        assert [getattr(a, "venue_code", None) for a in refused] == ["51008", "51016"]
