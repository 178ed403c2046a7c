"""Orders against the fake over real sockets: rejection after acceptance, market order worst price from
the cache and the slippage bound, cancel by client order index, garbage from the venue."""

from __future__ import annotations

import asyncio
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from lighter_helpers import ETH, running

from gateway.core.enums import OrderStatus, OrderType, Side
from gateway.core.events import OrderUpdate
from gateway.core.ports import OrderRequest


def _is(cid: str, status: OrderStatus):
    return lambda e: isinstance(e, OrderUpdate) and e.client_order_id == cid and e.status is status


async def test_a_rejection_after_acceptance_ends_rejected_with_the_reason() -> None:
    async with running() as (fake, adapter, sink):
        fake.faults.reject_after_accept = 1
        bid = fake.engine.bbo(ETH)[0]
        answer = await adapter.place_order(OrderRequest(ETH, Side.BUY, OrderType.LIMIT, Decimal("0.01"), "rj-1",
                                                        price=bid - 10))
        assert answer.status is OrderStatus.PENDING_NEW and answer.order_id is None  # accepted: code 200
        rejected = await sink.wait_for(_is("rj-1", OrderStatus.REJECTED))
        assert rejected.reason == "canceled-margin-not-allowed" and rejected.order_id
        assert fake.next_nonce[(7, 3)] == 1  # the sequencer's rejection consumed the nonce
        looked_up = await adapter.get_order(ETH, client_order_id="rj-1")
        assert looked_up is not None and looked_up.status is OrderStatus.REJECTED


async def test_a_market_order_worst_price_follows_the_cache_and_the_slippage_bound() -> None:
    async with running(adapter={"max_slippage": Decimal("0.01"), "market_stream": False,
                                "poll_interval_s": 3600}) as (fake, adapter, sink):
        spec = adapter.spec(ETH)
        adapter.cache.on_quote(ETH, adapter.now_ms(), best_bid=Decimal("2990.00"), best_ask=Decimal("3003.17"))
        await adapter.place_order(OrderRequest(ETH, Side.BUY, OrderType.MARKET, Decimal("0.01"), "mk-1"))
        await adapter.place_order(OrderRequest(ETH, Side.SELL, OrderType.MARKET, Decimal("0.01"), "mk-2"))
        adapter.cache.on_quote(ETH, adapter.now_ms(), best_ask=Decimal("3100.00"))  # the cache moves
        await adapter.place_order(OrderRequest(ETH, Side.BUY, OrderType.MARKET, Decimal("0.01"), "mk-3"))
        await fake.drain()
        sent = {o.client_order_index: o for o in fake.ledger.orders.values()}

        def price_of(cid: str) -> Decimal:
            return spec.price_of(sent[adapter.ids.index_of(cid)].price)

        assert price_of("mk-1") == (Decimal("3003.17") * Decimal("1.01")).quantize(Decimal("0.01"), ROUND_CEILING)
        assert price_of("mk-2") == (Decimal("2990.00") * Decimal("0.99")).quantize(Decimal("0.01"), ROUND_FLOOR)
        assert price_of("mk-3") == Decimal("3131.00")
        assert all(sent[adapter.ids.index_of(c)].type_code == 1 for c in ("mk-1", "mk-2", "mk-3"))
        # a stale cache: the bound falls back to the last 1m close (the seed's slow path)
        adapter.cache.entry(ETH).updated_ms = adapter.now_ms() - 60_000
        close = (await adapter.fetch_klines(ETH, "1m", 1))[-1].close
        assert await adapter.worst_price(ETH, Side.BUY) == (close * Decimal("1.01")).quantize(Decimal("0.01"),
                                                                                                ROUND_CEILING)
        await sink.wait_for(_is("mk-1", OrderStatus.FILLED))


async def test_cancel_by_client_order_index_before_and_after_the_index_is_known() -> None:
    async with running() as (fake, adapter, sink):
        bid = fake.engine.bbo(ETH)[0]
        await adapter.place_order(OrderRequest(ETH, Side.BUY, OrderType.LIMIT, Decimal("0.01"), "cx-1", price=bid - 9))
        await sink.wait_for(_is("cx-1", OrderStatus.NEW))
        answer = await adapter.cancel_order(ETH, client_order_id="cx-1")
        assert answer.status is OrderStatus.PENDING_CANCEL
        await sink.wait_for(_is("cx-1", OrderStatus.CANCELED))
        assert fake.ledger.orders[int(answer.order_id)].status == "canceled"


async def test_garbage_frames_from_the_venue_are_logged_and_lose_nothing() -> None:
    async with running() as (fake, adapter, sink):
        stream = adapter.stream
        stream._on_message(b"\x00not json")
        stream._on_message('["a list"]')
        stream._on_message('{"type":"update/account_all_orders","channel":"account_all_orders:7",'
                           '"orders":{"0":[{"market_index":"zero","status":"open"}]}}')
        assert stream.bad_frames == 2 and adapter.user.bad_reports == 1
        bid = fake.engine.bbo(ETH)[0]
        await adapter.place_order(OrderRequest(ETH, Side.BUY, OrderType.LIMIT, Decimal("0.01"), "ok-1", price=bid - 9))
        await sink.wait_for(_is("ok-1", OrderStatus.NEW))  # the session kept working


async def test_an_order_canceled_before_the_sequencer_ran_it_is_canceled_by_client_index() -> None:
    async with running() as (fake, adapter, sink):
        fake.hold.clear()  # accepted, not executed: no order index yet
        bid = fake.engine.bbo(ETH)[0]
        await adapter.place_order(OrderRequest(ETH, Side.BUY, OrderType.LIMIT, Decimal("0.01"), "early-1",
                                               price=bid - 9))
        answer = await adapter.cancel_order(ETH, client_order_id="early-1")
        assert answer.status is OrderStatus.PENDING_CANCEL and answer.order_id is None
        fake.hold.set()
        canceled = await sink.wait_for(_is("early-1", OrderStatus.CANCELED))
        assert int(canceled.order_id) >= 2**48


async def test_the_account_stream_renews_its_auth_token_before_it_expires() -> None:
    async with running() as (_fake, adapter, _sink):
        first = await adapter.auth_token()
        adapter._token = (first, time.time() + 5)  # now it expires within auth_token_refresh_s
        assert adapter.is_token_due()
        await asyncio.wait_for(adapter.stream.renewed.wait(), 5)  # the poller renewed and resubscribed
        assert adapter.stream.resubscriptions == 1 and not adapter.is_token_due()
        assert await adapter.auth_token() != first
        assert await adapter.open_orders(ETH) == []  # the fake accepts the new token
