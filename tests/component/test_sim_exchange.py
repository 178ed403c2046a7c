"""One `SimExchange` shared by several `SimAdapter` accounts: one market, one set of books."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState, OrderType, Side
from gateway.core.errors import VenueUnavailable
from gateway.core.events import Balance, Fill, Trade
from gateway.core.ports import OrderRequest
from gateway.venues.sim.adapter import SimAdapter
from gateway.venues.sim.config import SimSymbolSettings
from gateway.venues.sim.exchange import SimExchange
from gateway.venues.sim.matching import OrderRefused
from tests.component.test_sim_adapter import SPOT, RecordingSink, settings


def order(side: Side, qty: str, client_id: str, price: str | None = None) -> OrderRequest:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return OrderRequest(symbol=SPOT, side=side, type=kind, qty=D(qty), price=None if price is None else D(price),
                        client_order_id=client_id)


async def test_accounts_of_one_exchange_trade_with_each_other_and_share_its_market() -> None:
    exchange = SimExchange("venue", settings(), SystemClock(), prewarm_steps=5)
    alice = SimAdapter.attached("alice", exchange, {"BTC": D(1)})
    bob = SimAdapter.attached("bob", exchange, {"USDT": D(100_000)})
    sinks = {"alice": RecordingSink(), "bob": RecordingSink()}
    alice.bind(sinks["alice"])
    bob.bind(sinks["bob"])
    async with alice, bob:
        assert exchange.accounts() == ["alice", "bob"] and alice.engine is bob.engine
        # the market is stepped once and reaches each account under its own venue name
        await sinks["alice"].wait_for(lambda e: type(e) is Trade, stream="market")
        await sinks["bob"].wait_for(lambda e: type(e) is Trade, stream="market")
        assert {e.venue for e in sinks["alice"].market} == {"alice"}  # type: ignore[attr-defined]
        assert {e.venue for e in sinks["bob"].market} == {"bob"}  # type: ignore[attr-defined]
        assert (await bob.fetch_ticker(SPOT)).venue == "bob" and (await alice.fetch_trades(SPOT, 3))[0].venue == "alice"

        depth = await alice.fetch_depth(SPOT, 1)
        inside = (depth.asks[0][0] - D("0.01"))  # the best ask, by one tick: bob's buy meets alice first
        await alice.place_order(order(Side.SELL, "0.01", "a-1", str(inside)))
        await bob.place_order(OrderRequest(symbol=SPOT, side=Side.BUY, type=OrderType.LIMIT, qty=D("0.01"),
                                           price=inside, client_order_id="b-1"))
        sold = await sinks["alice"].wait_for(lambda e: type(e) is Fill and e.client_order_id == "a-1")
        bought = await sinks["bob"].wait_for(lambda e: type(e) is Fill and e.client_order_id == "b-1")
        assert sold.trade_id == bought.trade_id and sold.venue == "alice" and bought.venue == "bob"  # type: ignore[attr-defined]
        assert not any(type(e) is Fill and e.client_order_id == "b-1" for e in sinks["alice"].user)  # type: ignore[attr-defined]
        assert await alice.orders_since(0) and all(o.venue == "alice" for o in await alice.orders_since(0))
        assert [o.client_order_id for o in await bob.orders_since(0)] == ["b-1"]
    assert not exchange.is_running and alice.state is ConnectionState.CLOSED


async def test_the_exchange_runs_while_any_account_is_open_and_opens_late_accounts() -> None:
    first = SimAdapter("first", settings(), SystemClock(), prewarm_steps=5)  # owns its exchange
    exchange = first.exchange
    assert first.owns_exchange and exchange.accounts() == ["first"]
    async with first:
        late = SimAdapter.attached("late", exchange, {"USDT": D(5)})
        sink = RecordingSink()
        late.bind(sink)
        async with late:
            await sink.wait_for(lambda e: type(e) is Balance and e.asset == "USDT" and e.free == 5)
            assert [b.asset for b in await late.balances()] == ["USDT"]
        assert exchange.is_running and late.state is ConnectionState.CLOSED
        with pytest.raises(VenueUnavailable):
            await late.balances()
        with pytest.raises(ValueError):
            SimAdapter.attached("first", exchange)
    assert not exchange.is_running


async def test_symbols_added_while_running_trade_on_every_account() -> None:
    exchange = SimExchange("venue", settings(), SystemClock(), prewarm_steps=5)
    one, two = SimAdapter.attached("one", exchange), SimAdapter.attached("two", exchange)
    sink = RecordingSink()
    two.bind(sink)
    async with one, two:
        spec = SimSymbolSettings(symbol="SOL/USDT", start_price=D(150), tick_size=D("0.001"), step_size=D("0.01"),
                                 min_qty=D("0.01"))
        exchange.add_symbol(spec)
        assert "SOL/USDT" in one.instruments and two.instruments["SOL/USDT"].venue == "two"
        await sink.wait_for(lambda e: type(e) is Trade and e.symbol == "SOL/USDT", stream="market")
        assert (await one.fetch_depth("SOL/USDT", 1)).bids
        with pytest.raises(ValueError):
            exchange.add_symbol(spec)
        with pytest.raises(OrderRefused) as refused:
            await exchange.transfer("one", "USDT", D(-1))
        assert refused.value.reason == "insufficient_balance"
        assert await exchange.transfer("one", "USDT", D(7)) == (D(7), D(0))
