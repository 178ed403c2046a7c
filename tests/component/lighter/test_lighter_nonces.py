"""Nonces against the fake over real sockets: concurrent submits are serialized per key and never
produce a nonce error; a refused tx (injected 21104) makes the next tx re-read the nonce; a stream
reconnect invalidates the nonce."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from lighter_helpers import ETH, running

from gateway.core.enums import OrderStatus, OrderType, Side
from gateway.core.errors import VenueRejected
from gateway.core.ports import OrderRequest


def _far_bid(fake, i: int) -> OrderRequest:
    bid = fake.engine.bbo(ETH)[0]
    return OrderRequest(ETH, Side.BUY, OrderType.LIMIT, Decimal("0.01"), f"n-{i}", price=bid - 50 - i)


async def test_fifty_concurrent_submits_never_produce_a_nonce_error() -> None:
    async with running() as (fake, adapter, _sink):
        answers = await asyncio.gather(*(adapter.place_order(_far_bid(fake, i)) for i in range(50)))
        assert all(a.status is OrderStatus.PENDING_NEW for a in answers)
        await fake.drain()
        assert fake.refused_nonce == 0 and adapter.execution.nonce_errors == 0
        assert fake.accepted == 50 and adapter.nonces.fetches == 1  # read once, then counted locally
        assert fake.next_nonce[(7, 3)] == 50
        indexes = {o.order_index for o in fake.ledger.orders.values()}
        assert len(indexes) == 50 and min(indexes) >= 2**48
        assert len(await adapter.open_orders(ETH)) == 50


async def test_a_refused_tx_makes_the_next_one_reread_the_nonce() -> None:
    async with running() as (fake, adapter, _sink):
        await adapter.place_order(_far_bid(fake, 0))
        fake.faults.nonce_errors = 1  # the next sendTx is refused with 21104 (nonce not consumed)
        with pytest.raises(VenueRejected) as refused:
            await adapter.place_order(_far_bid(fake, 1))
        assert refused.value.venue_code == 21104
        answers = await asyncio.gather(*(adapter.place_order(_far_bid(fake, i)) for i in range(2, 12)))
        assert len(answers) == 10
        assert adapter.nonces.fetches == 2  # at start, and after the refusal
        assert fake.accepted == 11 and fake.next_nonce[(7, 3)] == 11


async def test_a_stream_reconnect_invalidates_the_nonce() -> None:
    async with running() as (fake, adapter, sink):
        await adapter.place_order(_far_bid(fake, 0))
        assert fake.drop_streams() >= 1
        await sink.wait_reopened()
        await adapter.place_order(_far_bid(fake, 1))
        assert adapter.nonces.fetches == 2
