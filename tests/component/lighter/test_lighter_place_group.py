"""`LighterAdapter.place_group` (the `GroupedOrderVenue` port) against the fake over real sockets: one
CreateGroupedOrders tx for an entry and its TP / SL; every leg answered PENDING_NEW and then reported under
the gateway's client order id with its real order index; a refused group places nothing; a lost answer
is `VenueTimeout` and the legs are found afterwards by client order id (how the order manager resolves)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lighter_helpers import ETH, running

from gateway.core.enums import OrderStatus, OrderType, Side
from gateway.core.errors import ErrorCode, OrderRejected, VenueRejected, VenueTimeout
from gateway.core.events import OrderUpdate
from gateway.core.ports import GroupedOrderVenue, OrderRequest
from gateway.venues.sim.market import HOUSE


def _is(cid: str, status: OrderStatus):
    return lambda e: isinstance(e, OrderUpdate) and e.client_order_id == cid and e.status is status


def _legs(bracket: str, qty: str, tp: Decimal, sl: Decimal, entry_type: OrderType = OrderType.MARKET,
          price: Decimal | None = None) -> tuple[OrderRequest, OrderRequest, OrderRequest]:
    q = Decimal(qty)
    return (OrderRequest(ETH, Side.BUY, entry_type, q, f"{bracket}-en", price=price),
            OrderRequest(ETH, Side.SELL, OrderType.TAKE_PROFIT, q, f"{bracket}-tp1", trigger_price=tp,
                         reduce_only=True),
            OrderRequest(ETH, Side.SELL, OrderType.STOP, q, f"{bracket}-sl1", trigger_price=sl, reduce_only=True))


async def test_place_group_sends_one_grouped_tx_and_reports_each_leg_under_the_gateway_ids() -> None:
    async with running() as (fake, adapter, sink):
        assert adapter.capabilities.grouped_tpsl and isinstance(adapter, GroupedOrderVenue)
        bid, _, ask, _ = fake.engine.bbo(ETH)
        entry, tp, sl = _legs("br1", "0.05", ask + 5, bid - 60)
        answers = await adapter.place_group(entry, tp, sl)
        assert [(u.client_order_id, u.status, u.order_id) for u in answers] == [
            ("br1-en", OrderStatus.PENDING_NEW, None), ("br1-tp1", OrderStatus.PENDING_NEW, None),
            ("br1-sl1", OrderStatus.PENDING_NEW, None)]
        assert fake.accepted == 1  # ONE tx for the three legs
        await fake.drain()
        orders = list(fake.ledger.orders.values())
        assert len(orders) == 3 and len({o.nonce for o in orders}) == 1
        children = [o for o in orders if o.parent is not None]
        assert sorted(o.type_code for o in children) == [2, 4] and all(o.reduce_only and o.is_ask for o in children)

        # each leg reaches the sink under the gateway's id with its real index (never as a decimal index)
        filled = await sink.wait_for(_is("br1-en", OrderStatus.FILLED))
        tp_new = await sink.wait_for(_is("br1-tp1", OrderStatus.NEW))
        sl_new = await sink.wait_for(_is("br1-sl1", OrderStatus.NEW))
        assert filled.filled_qty == Decimal("0.05") and int(filled.order_id or 0) >= 2**48
        assert tp_new.qty == sl_new.qty == Decimal("0.05")  # the venue sized the children to the fill
        assert int(tp_new.order_id or 0) >= 2**48 and tp_new.trigger_price == ask + 5
        assert not adapter.execution.pending  # every leg was seen
        assert all(isinstance(e, OrderUpdate) and not (e.client_order_id or "x").isdigit()
                   for e in sink.user if isinstance(e, OrderUpdate))

        # the take-profit fires: the venue cancels the stop-loss (OCO), both reported as the gateway's
        now = fake.now_ms()
        fake._after_engine(fake.engine.place(HOUSE, ETH, Side.BUY, OrderType.MARKET, Decimal(400), now), now)
        await sink.wait_for(_is("br1-tp1", OrderStatus.FILLED))
        canceled = await sink.wait_for(_is("br1-sl1", OrderStatus.CANCELED))
        assert canceled.reason == "canceled-oco"


async def test_children_waiting_for_their_parent_report_the_requested_size() -> None:
    async with running() as (fake, adapter, sink):
        bid = fake.engine.bbo(ETH)[0]
        entry, tp, _ = _legs("br2", "0.02", bid + 40, bid - 60, OrderType.LIMIT, price=bid - 20)
        answers = await adapter.place_group(entry, tp, None)  # OTO: entry and one child
        assert [u.client_order_id for u in answers] == ["br2-en", "br2-tp1"]
        waiting = await sink.wait_for(_is("br2-tp1", OrderStatus.NEW))
        assert waiting.qty == Decimal("0.02") and waiting.order_id  # base amount 0 at the venue until the fill
        child = fake.ledger.orders[int(waiting.order_id)]
        assert child.status == "pending" and child.base_amount == 0


async def test_a_refused_group_places_nothing_and_the_next_one_goes_through() -> None:
    async with running() as (fake, adapter, _sink):
        bid, _, ask, _ = fake.engine.bbo(ETH)
        fake.faults.nonce_errors = 1
        with pytest.raises(VenueRejected) as refused:
            await adapter.place_group(*_legs("br3", "0.01", ask + 5, bid - 60))
        assert refused.value.venue_code == 21104
        await fake.drain()
        assert not fake.ledger.orders and not adapter.execution.pending
        answers = await adapter.place_group(*_legs("br4", "0.01", ask + 5, bid - 60))  # the nonce was re-read
        assert len(answers) == 3 and fake.accepted == 1


async def test_a_group_the_venue_does_not_take_is_refused_before_signing() -> None:
    async with running() as (fake, adapter, _sink):
        bid, _, ask, _ = fake.engine.bbo(ETH)
        entry, tp, sl = _legs("br5", "0.01", ask + 5, bid - 60)
        from dataclasses import replace

        for bad in (replace(tp, side=Side.BUY), replace(sl, reduce_only=False), replace(tp, type=OrderType.LIMIT)):
            with pytest.raises(OrderRejected) as refused:
                await adapter.place_group(entry, bad, sl if bad is not sl else tp)
            assert refused.value.code is ErrorCode.INVALID_PARAMS
        with pytest.raises(OrderRejected):
            await adapter.place_group(entry, None, None)
        assert fake.accepted == 0


async def test_a_lost_answer_is_a_timeout_and_the_legs_are_found_by_client_id() -> None:
    async with running() as (fake, adapter, _sink):
        bid, _, ask, _ = fake.engine.bbo(ETH)
        fake.faults.lose_answers = 1
        with pytest.raises(VenueTimeout):
            await adapter.place_group(*_legs("br6", "0.01", ask + 5, bid - 60))
        await fake.drain()
        assert fake.accepted == 1  # the venue took it: the outcome was unknown, not a refusal
        entry = await adapter.get_order(ETH, client_order_id="br6-en")
        tp = await adapter.get_order(ETH, client_order_id="br6-tp1")
        assert entry is not None and entry.status is OrderStatus.FILLED and entry.client_order_id == "br6-en"
        assert tp is not None and tp.status is OrderStatus.NEW and int(tp.order_id or 0) >= 2**48
        # the nonce was re-read after the lost answer: the next tx is not refused
        await adapter.place_group(*_legs("br7", "0.01", ask + 5, bid - 60))
        assert fake.accepted == 2 and fake.refused_nonce == 0


async def test_a_sendtx_that_never_connected_is_a_refusal_not_an_unknown() -> None:
    import socket

    import aiohttp

    from gateway.core.errors import VenueUnavailable
    from gateway.venues.common.http import HttpClient
    from gateway.venues.common.retry import Backoff
    from gateway.venues.lighter.rest import LighterRest

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        rest = LighterRest(HttpClient(session, "lx", timeout_s=2), f"http://127.0.0.1:{port}", "lx",
                           backoff=Backoff(0.01, 0.01), max_retries=0)
        with pytest.raises(VenueUnavailable) as refused:
            await rest.send_tx(14, "{}")
        assert not isinstance(refused.value, VenueTimeout)  # nothing was sent: a definite failure
