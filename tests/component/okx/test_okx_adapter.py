"""The OKX client against the OKX dialect over real sockets: start-up, market data, orders."""

from __future__ import annotations

from decimal import Decimal

from okx_helpers import SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side
from gateway.core.events import Depth, Fill, OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.simserver.okx.server import OkxDialect
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.okx.adapter import OkxAdapter


async def test_starts_trades_and_streams_on_spot() -> None:
    async with OkxDialect(dialect_settings()) as dialect:
        sink = RecordingSink()
        clock = SystemClock()
        adapter = OkxAdapter("ok", adapter_settings(dialect), clock, budgets=HostBudgets(clock))
        adapter.bind(sink)
        async with adapter:
            await sink.wait_for(lambda: adapter.state is ConnectionState.OPEN)
            instrument = adapter.instruments[SPOT]
            assert instrument.native == "BTC-USDT" and instrument.tick_size == Decimal("0.1")
            assert adapter.execution is not None and adapter.execution.mode.acct_lv == "2"
            ticker = await adapter.fetch_ticker(SPOT)
            assert ticker.last > 0
            depth = await adapter.fetch_depth(SPOT, 5)
            assert len(depth.bids) == 5 and depth.bids[0][0] < depth.asks[0][0]
            await sink.wait_for(lambda: any(isinstance(e, Depth) for e in sink.market))

            bid = depth.bids[0][0]
            placed = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"),
                                                            "gwA1", price=bid - Decimal(100)))
            assert placed.status is OrderStatus.NEW and placed.order_id
            assert [o.client_order_id for o in await adapter.open_orders()] == ["gwA1"]
            await sink.wait_for(lambda: any(isinstance(e, OrderUpdate) and e.client_order_id == "gwA1"
                                            for e in sink.user))
            canceled = await adapter.cancel_order(SPOT, client_order_id="gwA1")
            assert canceled.status is OrderStatus.CANCELED
            assert adapter.execution.ws_orders >= 2  # over the private WS

            market = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.MARKET, Decimal("0.002"),
                                                            "gwM1"))
            assert market.status is OrderStatus.FILLED
            fill = await sink.wait_for(lambda: [e for e in sink.user if isinstance(e, Fill)
                                                and e.client_order_id == "gwM1"])
            assert sum(f.qty for f in fill) == Decimal("0.002")  # type: ignore[attr-defined]
            assert any(b.asset == "BTC" for b in await adapter.balances())
