"""The OKX client on a USDT swap against the dialect over real sockets: leverage, positions, reduce-only
close, long/short position mode (posSide), and a bracket with native legs through the gateway that closes
the position when a leg fires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from okx_helpers import PERP, RecordingSink, adapter_settings, dialect_settings

from gateway.client import GatewayClient
from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side
from gateway.core.errors import VenueRejected
from gateway.core.events import Position
from gateway.core.ports import OrderRequest
from gateway.orders.config import OrdersSettings
from gateway.simserver.okx.server import OkxDialect
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.okx.adapter import OkxAdapter
from tests.conftest import LOCAL_KEY


@asynccontextmanager
async def swap_session(**dialect: object) -> AsyncIterator[tuple[OkxDialect, OkxAdapter, RecordingSink]]:
    async with OkxDialect(dialect_settings(**dialect)) as d:
        sink = RecordingSink()
        clock = SystemClock()
        adapter = OkxAdapter("okf", adapter_settings(d, "swap"), clock, budgets=HostBudgets(clock))
        adapter.bind(sink)
        async with adapter:
            await sink.wait_for(lambda: adapter.state is ConnectionState.OPEN)
            yield d, adapter, sink


def market(side: Side, qty: str, cid: str, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(PERP, side, OrderType.MARKET, Decimal(qty), cid, reduce_only=reduce_only)


async def test_leverage_position_and_reduce_only_close_on_the_swap() -> None:
    async with swap_session() as (d, adapter, sink):
        assert adapter.instruments[PERP].native == "BTC-USDT-SWAP"
        assert (await adapter.set_leverage(PERP, 5))["leverage"] == 5
        assert d.engine.ledger.leverage_of("user", PERP) == 5  # the dialect's account changed
        assert (await adapter.place_order(market(Side.BUY, "0.01", "swO1"))).status is OrderStatus.FILLED
        (position,) = await adapter.positions()
        assert (position.symbol, position.qty, position.leverage) == (PERP, Decimal("0.01"), 5)
        assert position.entry_price > 0
        # the positions channel pushes the same position
        await sink.wait_for(lambda: any(isinstance(e, Position) and e.qty == Decimal("0.01") for e in sink.user))

        closed = await adapter.place_order(market(Side.SELL, "0.01", "swC1", reduce_only=True))
        assert closed.status is OrderStatus.FILLED and closed.reduce_only
        assert await adapter.positions() == []
        with pytest.raises(VenueRejected) as refused:  # nothing left to reduce: OKX refuses, nothing opens
            await adapter.place_order(market(Side.SELL, "0.01", "swC2", reduce_only=True))
        assert refused.value.venue_code == "51169"
        assert d.engine.ledger.position("user", PERP).qty == 0


async def test_long_short_mode_sends_pos_side_and_reads_signed_positions() -> None:
    async with swap_session(pos_mode="long_short_mode") as (d, adapter, _sink):
        assert adapter.execution is not None and adapter.execution.mode.long_short
        opened = await adapter.place_order(market(Side.SELL, "0.02", "lsS1"))  # sell + short: opens a short
        assert opened.status is OrderStatus.FILLED
        assert d.notes[opened.order_id].pos_side == "short"  # the wire carried posSide
        (position,) = await adapter.positions()
        assert position.qty == Decimal("-0.02")  # OKX sends pos 0.02 with posSide short
        with pytest.raises(VenueRejected) as refused:  # a hedged long beside it: the dialect's documented limit
            await adapter.place_order(market(Side.BUY, "0.01", "lsL1"))
        assert refused.value.venue_code == "51000"
        closed = await adapter.place_order(market(Side.BUY, "0.02", "lsC1", reduce_only=True))  # buy + short
        assert closed.status is OrderStatus.FILLED and d.notes[closed.order_id].pos_side == "short"
        assert await adapter.positions() == []


async def test_a_swap_bracket_with_native_legs_closes_the_position_through_the_gateway(gateway_factory) -> None:
    async with OkxDialect(dialect_settings()) as d:
        gateway = await gateway_factory(
            venues={"okf": adapter_settings(d, "swap")},
            orders=OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20))
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["okf@bracket"])  # every change of the bracket, its legs included
            last = d.engine.last_price(PERP)
            assert last is not None
            tp, sl = last + Decimal("0.5"), last - Decimal(500)
            await client.call("bracket.place", {
                "account": "okf", "symbol": PERP, "side": "buy", "qty": "0.01", "entry": {"type": "market"},
                "mode": "native", "bracket_id": "swb1",
                "take_profit": {"trigger_price": str(tp)}, "stop_loss": {"trigger_price": str(sl)}})
            got = await _until(client, lambda b: b["state"] == "active" and not {
                b["take_profit"]["status"], b["stop_loss"]["status"]} & {"pending", "placing"})
            algos = {a.algo_cl_ord_id: a for a in d.algos.pending()}
            assert len(algos) == 2 and {c[-3:] for c in algos} == {"sl1", "tp1"}, algos  # swb1-tp1 in OKX's alphabet
            assert all(a.reduce_only and a.ord_type == "conditional" for a in algos.values())  # native, reduce-only
            assert d.engine.ledger.position("user", PERP).qty == Decimal("0.01")
            for _ in range(400):  # the market walks until the take profit fires on the dialect
                if not d.algos.pending():
                    break
                d.step()
            # the leg that fired filled; the bracket cancels its sibling on the dialect (a native cancel-algos)
            got = await _until(client, lambda b: b["state"] != "active" and {
                b["take_profit"]["status"], b["stop_loss"]["status"]} <= {"filled", "canceled"})
            assert {got["take_profit"]["status"], got["stop_loss"]["status"]} == {"filled", "canceled"}, got
            assert d.engine.ledger.position("user", PERP).qty == 0 and d.algos.pending() == []


async def _until(client: GatewayClient, done) -> dict:  # type: ignore[no-untyped-def]
    got = await client.call("bracket.get", {"bracket_id": "swb1"})
    for _ in range(200):
        if done(got):
            return got
        await client.next_push("okf@bracket", timeout=10)  # the leg status follows the order's push: wait for it
        got = await client.call("bracket.get", {"bracket_id": "swb1"})
    raise AssertionError(got)
