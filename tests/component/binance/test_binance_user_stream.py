"""User data against the dialect over real sockets: a listenKey expiry and a dropped user stream lose no fill
(the session goes RECONNECTING -> OPEN, and the catch-up finds what the stream missed), the watchdog, order
acks that are dropped (VenueTimeout, then the true state by client id, once), delayed or 429'd, and
futures orders over ws-fapi with REST as the fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from dialect_helpers import PERP, SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, OrderStatus, OrderType, Side
from gateway.core.errors import VenueTimeout, VenueUnavailable
from gateway.core.events import Fill, OrderUpdate
from gateway.core.ports import OrderRequest
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.common.ratelimit import HostBudgets
from gateway.venues.sim.market import HOUSE


@asynccontextmanager
async def session(market: str, **overrides: object) -> AsyncIterator[tuple[BinanceDialect, BinanceAdapter, RecordingSink]]:
    async with BinanceDialect(dialect_settings()) as dialect:
        sink = RecordingSink()
        adapter = BinanceAdapter("bn", adapter_settings(dialect, market, **overrides), SystemClock(),
                                 budgets=HostBudgets(SystemClock()))
        adapter.bind(sink)
        async with adapter:
            await sink.until(lambda: adapter.state is ConnectionState.OPEN)
            yield dialect, adapter, sink


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds (for state nobody pushes to the sink)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def _symbol(market: str) -> str:
    return PERP if market == "usdm" else SPOT


async def _resting_best_bid(dialect: BinanceDialect, adapter: BinanceAdapter, market: str, client_id: str) -> None:
    symbol = _symbol(market)
    bid = dialect.engine.bbo(symbol)[0]
    assert bid is not None
    price = bid + adapter.instruments[symbol].tick_size  # the best bid: the next market sell hits it first
    await adapter.place_order(OrderRequest(symbol, Side.BUY, OrderType.LIMIT, Decimal("0.001"), client_id, price))


def _fill_by_the_market(dialect: BinanceDialect, market: str) -> None:
    # A house taker sells into the book: the user's best bid fills. Synchronous: the adapter sees nothing
    # of it before the fault that precedes this call has taken effect.
    now = dialect.now_ms()
    events = dialect.engine.place(HOUSE, _symbol(market), Side.SELL, OrderType.MARKET, Decimal("0.001"), now)
    dialect.after_engine_call(events, now)


def _reconnected(sink: RecordingSink, before: int) -> bool:
    states = [s for s, _ in sink.states[before:]]
    return ConnectionState.RECONNECTING in states and states[-1] is ConnectionState.OPEN


async def _assert_caught_up(adapter: BinanceAdapter, sink: RecordingSink, market: str, since: int) -> None:
    fills = await adapter.fills_since(since)
    assert len(fills) == 1 and fills[0].qty == Decimal("0.001") and fills[0].side is Side.BUY
    order = await adapter.get_order(_symbol(market), client_order_id="rest-1")
    assert order is not None and order.status is OrderStatus.FILLED
    assert "rest-1" in {o.client_order_id for o in await adapter.orders_since(since)}
    assert not any(isinstance(e, Fill) for e in sink.user)  # the stream never had it: only the catch-up


async def test_a_listen_key_expiry_loses_no_fill() -> None:
    async with session("usdm") as (dialect, adapter, sink):
        since = dialect.now_ms() - 1
        await _resting_best_bid(dialect, adapter, "usdm", "rest-1")
        before = len(sink.states)
        assert dialect.expire_listen_key() == 1
        _fill_by_the_market(dialect, "usdm")
        await sink.until(lambda: _reconnected(sink, before))
        assert adapter.user is not None and adapter.user.status()["key_rotations"] >= 1
        await _assert_caught_up(adapter, sink, "usdm", since)
        _fill_by_the_market(dialect, "usdm")  # the new key streams again
        await _resting_best_bid(dialect, adapter, "usdm", "rest-2")
        _fill_by_the_market(dialect, "usdm")
        await sink.until(lambda: any(isinstance(e, Fill) and e.client_order_id == "rest-2" for e in sink.user))


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_a_dropped_user_stream_loses_no_fill(market: str) -> None:
    async with session(market) as (dialect, adapter, sink):
        since = dialect.now_ms() - 1
        await _resting_best_bid(dialect, adapter, market, "rest-1")
        before = len(sink.states)
        assert dialect.drop_user_streams() == 1
        _fill_by_the_market(dialect, market)
        await sink.until(lambda: _reconnected(sink, before))
        await _assert_caught_up(adapter, sink, market, since)


@pytest.mark.parametrize("action", ["flag", "reconnect"])
async def test_the_watchdog_flags_a_silent_user_stream(action: str) -> None:
    async with session("usdm", user_stream_silence_s=0.3, user_stream_silence_action=action) as (_dialect, adapter,
                                                                                                  sink):
        assert adapter.user is not None
        before = len(sink.states)
        await eventually(lambda: adapter.user.silences >= 1)  # type: ignore[union-attr]
        assert adapter.status()["user_stream"]["silences"] >= 1
        if action == "reconnect":
            await sink.until(lambda: _reconnected(sink, before))
        else:
            assert adapter.user.silent and adapter.state is ConnectionState.OPEN


@pytest.mark.parametrize(("market", "over_ws"), [("spot", False), ("spot", True), ("usdm", False), ("usdm", True)])
async def test_a_dropped_order_ack_is_a_timeout_then_the_true_state_once(market: str, over_ws: bool) -> None:
    async with session(market, request_timeout_s=1.0, orders_over_ws=over_ws, ws_api_timeout_s=1.0) as (
            dialect, adapter, sink):
        if over_ws:
            assert adapter.ws_orders is not None
            await sink.until(lambda: adapter.ws_orders.is_open)  # type: ignore[union-attr]
        symbol = _symbol(market)
        dialect.faults.drop_order_acks = 1
        bid = dialect.engine.bbo(symbol)[0]
        assert bid is not None
        request = OrderRequest(symbol, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "lost-1", bid - 100)
        with pytest.raises(VenueTimeout):
            await adapter.place_order(request)
        found = await adapter.get_order(symbol, client_order_id="lost-1")
        assert found is not None and found.status is OrderStatus.NEW and found.order_id
        assert [o.client_order_id for o in await adapter.open_orders(symbol)] == ["lost-1"]  # placed once
        if over_ws:
            assert adapter.ws_orders is not None and adapter.ws_orders.requests >= 2


async def test_a_delayed_ack_and_a_429_still_answer() -> None:
    async with session("spot") as (dialect, adapter, _sink):
        dialect.faults.order_ack_delay_ms = 300
        bid = dialect.engine.bbo(SPOT)[0]
        assert bid is not None
        placed = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "slow-1",
                                                        bid - 100))
        assert placed.status is OrderStatus.NEW
        dialect.faults.order_ack_delay_ms = 0
        dialect.faults.answer_429, dialect.faults.retry_after_s = 1, 0.2
        placed = await adapter.place_order(OrderRequest(SPOT, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "limited-1",
                                                        bid - 100))
        assert placed.status is OrderStatus.NEW  # a 429 was not executed: retried after Retry-After
        assert len(await adapter.open_orders(SPOT)) == 2


async def test_usdm_orders_over_ws_fapi_with_rest_as_the_fallback() -> None:
    async with session("usdm", orders_over_ws=True) as (dialect, adapter, sink):
        ws = adapter.ws_orders
        assert ws is not None
        await sink.until(lambda: ws.is_open)
        bid = dialect.engine.bbo(PERP)[0]
        assert bid is not None
        placed = await adapter.place_order(OrderRequest(PERP, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "ws-1",
                                                        bid - 100))
        amended = await adapter.amend_order(PERP, placed.order_id, price=bid - 101)
        assert amended.price == bid - 101
        assert (await adapter.get_order(PERP, client_order_id="ws-1")).price == bid - 101  # type: ignore[union-attr]
        canceled = await adapter.cancel_order(PERP, placed.order_id)
        assert canceled.status is OrderStatus.CANCELED and ws.requests >= 4
        await sink.until(lambda: any(isinstance(e, OrderUpdate) and e.status is OrderStatus.CANCELED
                                     for e in sink.user))
        assert dialect.drop_user_streams("usdm") == 1  # the ws-fapi connection drops (and comes back)

        async def not_connected(text: str) -> None:
            raise VenueUnavailable("not connected", venue="bn")

        ws.connection.send = not_connected  # type: ignore[method-assign]  # while it is down: REST
        fallback = await adapter.place_order(OrderRequest(PERP, Side.BUY, OrderType.LIMIT, Decimal("0.001"), "rest-2",
                                                          bid - 100))
        assert fallback.status is OrderStatus.NEW and ws.fallbacks == 1
