"""Grouped TP/SL orders (Lighter's own brackets) against the fake: recorded as a virtual order before
the venue assigns indexes; the reconciliation gives every leg its real order index; the children rest
once the entry fills, and OCO cancels the sibling when one fires."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from lighter_helpers import ETH, running

from gateway.core.enums import OrderType, Side
from gateway.core.ports import OrderRequest


async def test_a_grouped_tp_sl_orders_legs_get_their_real_indexes_by_reconciliation() -> None:
    async with running(adapter={"reconcile_interval_s": 3600}) as (fake, adapter, _sink):
        fake.hold.clear()  # the sequencer holds the tx: no order index exists yet
        entry = OrderRequest(ETH, Side.BUY, OrderType.MARKET, Decimal("0.05"), "grp1")
        ask = fake.engine.bbo(ETH)[2]
        placed = await adapter.grouped.place(entry, take_profit=ask + 5, stop_loss=ask - 60)
        virtual = placed.virtual
        assert virtual.grouping == "otoco" and [leg.role for leg in virtual.legs] == ["entry", "tp", "sl"]
        assert placed.take_profit_client_order_id == "grp1-tp" and placed.stop_loss_client_order_id == "grp1-sl"
        assert len({leg.client_order_index for leg in virtual.legs}) == 3  # unique, children included
        assert await adapter.grouped.reconcile() == {"total": 1, "updated": 0, "matched": 0}
        assert adapter.grouped.get("grp1")["resolved"] is False

        fake.hold.set()
        await fake.drain()
        result = await adapter.grouped.reconcile()
        assert result["matched"] == 3 and result["updated"] == 1
        by_client = fake.ledger.by_client
        for leg in virtual.legs:
            assert leg.order_index == by_client[(7, leg.client_order_index)] >= 2**48
        assert virtual.leg("entry").status == "filled"
        tp, sl = (fake.ledger.orders[virtual.leg(r).order_index] for r in ("tp", "sl"))
        assert tp.size() == sl.size() == Decimal("0.05")  # the children rest for the executed entry size
        assert tp.reduce_only and sl.reduce_only and tp.is_ask and sl.is_ask

        # the take-profit fires (a house buyer lifts the book through it): the stop-loss is canceled (OCO)
        from gateway.venues.sim.market import HOUSE

        now = fake.now_ms()
        fake._after_engine(fake.engine.place(HOUSE, ETH, Side.BUY, OrderType.MARKET, Decimal(400), now), now)
        await adapter.grouped.reconcile()
        assert virtual.leg("tp").status == "filled" and virtual.leg("sl").status == "canceled-oco"
        assert adapter.grouped.list()["grp1"]["resolved"] is True


async def test_the_reconcile_loop_resolves_virtual_orders_by_itself() -> None:
    async with running(adapter={"reconcile_interval_s": 0.05}) as (fake, adapter, _sink):
        bid = fake.engine.bbo(ETH)[0]
        entry = OrderRequest(ETH, Side.BUY, OrderType.LIMIT, Decimal("0.02"), "grp2", price=bid - 20)
        placed = await adapter.grouped.place(entry, take_profit=bid + 40, stop_loss=None, tp_sl_market=False)
        assert placed.virtual.grouping == "oto"
        async with asyncio.timeout(5):
            while not placed.virtual.is_resolved:
                adapter.grouped.reconciled.clear()
                await adapter.grouped.reconciled.wait()  # one pass of the loop under test
        tp = fake.ledger.orders[placed.virtual.leg("tp").order_index]
        assert tp.status == "pending" and tp.parent == placed.virtual.leg("entry").order_index
