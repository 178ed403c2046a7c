"""Must-holds of the OKX client against the dialect over real sockets: the book survives injected gaps and
equals the dialect's; a dropped private socket loses no fill; an outcome-unknown placement is resolved by
a query to its true state, and exists once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from okx_helpers import SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.errors import VenueTimeout
from gateway.core.events import Fill
from gateway.core.ports import OrderRequest
from gateway.simserver.okx.server import OkxDialect
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.okx.adapter import OkxAdapter
from gateway.venues.sim.market import HOUSE

DEPTH = 15


@asynccontextmanager
async def running(**settings: object) -> AsyncIterator[tuple[OkxDialect, OkxAdapter, RecordingSink]]:
    async with OkxDialect(dialect_settings()) as dialect:
        sink = RecordingSink()
        clock = SystemClock()
        adapter = OkxAdapter("ok", adapter_settings(dialect, **settings), clock, budgets=HostBudgets(clock))
        adapter.bind(sink)
        async with adapter:
            await sink.wait_for(lambda: adapter.state is ConnectionState.OPEN)
            yield dialect, adapter, sink


def _same_book(dialect: OkxDialect, adapter: OkxAdapter) -> bool:
    book = adapter.book(SPOT)
    if book is None or not book.is_synced:
        return False
    seq, bids, asks = dialect.book("BTC-USDT")
    mine_bids, mine_asks = book.levels(DEPTH)
    return book.seq_id == seq and list(mine_bids) == list(bids[:DEPTH]) and list(mine_asks) == list(asks[:DEPTH])


async def test_book_survives_injected_gaps_and_equals_the_dialects() -> None:
    async with running() as (dialect, adapter, sink):
        await sink.wait_for(lambda: _same_book(dialect, adapter))
        for round_ in range(3):
            dialect.skip_book_updates("BTC-USDT", n=1)
            dialect.step(5)
            want = round_ + 1
            await sink.wait_for(lambda w=want: adapter.data is not None and adapter.data.resubscribes >= w)
            await sink.wait_for(lambda: _same_book(dialect, adapter))
        assert adapter.book(SPOT).gaps == 3  # one resubscribe per gap, no storm
        dialect.step(5)  # and it keeps following the incremental updates afterwards
        await sink.wait_for(lambda: _same_book(dialect, adapter))


async def test_dropped_private_socket_loses_no_fill() -> None:
    async with running(orders_over_ws=False) as (dialect, adapter, sink):
        best_bid = dialect.engine.bbo(SPOT)[0]
        assert best_bid is not None
        price = best_bid + Decimal("0.1")
        placed = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.01"), "gwF1",
                                                        price=price))
        assert placed.status is OrderStatus.NEW
        assert adapter.user is not None
        opened = adapter.user.private.connection.connections
        dialect.faults.mute_private = True  # the fill happens while the stream is dark ...
        now = dialect.now_ms()
        dialect.after_engine_call(dialect.engine.place(HOUSE, SPOT, Side.SELL, OrderType.LIMIT, Decimal(5), now,
                                                       price=price, tif=TimeInForce.IOC), now)
        dialect.drop_connections("private")  # ... and the socket drops
        dialect.faults.mute_private = False
        fills = await sink.wait_for(lambda: [e for e in sink.user if isinstance(e, Fill)
                                             and e.client_order_id == "gwF1"])
        # `catchups` counts catch-ups that pushed everything they read (incremented after the pushes)
        await sink.wait_for(lambda: adapter.user.catchups >= 1)  # type: ignore[union-attr]
        assert adapter.user.private.connection.connections > opened
        assert sum(f.qty for f in fills) == Decimal("0.01")  # type: ignore[attr-defined]
        # a second reconnect replays the same fills from REST: nothing is pushed twice
        caught_up = adapter.user.catchups
        replayed = adapter.user.caught_up_fills
        dialect.drop_connections("private")
        await sink.wait_for(lambda: adapter.user.catchups > caught_up)  # type: ignore[union-attr]
        assert adapter.user.caught_up_fills == replayed  # the replayed fills were all recognised as seen
        assert len([e for e in sink.user if isinstance(e, Fill) and e.client_order_id == "gwF1"]) == len(fills)  # type: ignore[arg-type]


@pytest.mark.parametrize("applied", [True, False])
async def test_outcome_unknown_placement_is_resolved_by_query(applied: bool) -> None:
    async with running(orders_over_ws=False) as (dialect, adapter, _sink):
        bid = dialect.engine.bbo(SPOT)[0]
        assert bid is not None
        dialect.unknown_outcome_next_order("50004", applied=applied)
        with pytest.raises(VenueTimeout):
            await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "gwU1",
                                                   price=bid - Decimal(50)))
        found = await adapter.get_order(SPOT, client_order_id="gwU1")
        mine = [o for o in await adapter.open_orders() if o.client_order_id == "gwU1"]
        if applied:
            assert found is not None and found.status is OrderStatus.NEW and len(mine) == 1
        else:
            assert found is None and mine == []
