"""`OrderService.place_group` over a real SQLite journal and a fake venue that takes grouped orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from orders_fake_venue import FakeVenue

from gateway.core.clock import SystemClock
from gateway.core.enums import OrderType, Side
from gateway.core.errors import ErrorCode, GatewayError, VenueRejected
from gateway.core.events import OrderUpdate
from gateway.core.ports import Capabilities, GroupedOrderVenue, OrderRequest
from gateway.orders.commands import PlaceParams

D = Decimal
GROUPED = Capabilities(amend=False, stop_orders=True, reduce_only=True, grouped_tpsl=True)


class GroupedFakeVenue(FakeVenue):
    """Takes an entry with its children in one call (each recorded like a placement), or refuses all."""

    def __init__(self) -> None:
        super().__init__("fake", SystemClock(), GROUPED)
        self.groups: list[str] = []
        self.refuse_groups = 0

    async def place_group(self, entry: OrderRequest, take_profit: OrderRequest | None,
                          stop_loss: OrderRequest | None) -> list[OrderUpdate]:
        self.groups.append(entry.client_order_id)
        if self.refuse_groups:
            self.refuse_groups -= 1
            raise VenueRejected("not enough margin", venue=self.name, venue_code=21701)
        return [await self.place_order(r) for r in (entry, take_profit, stop_loss) if r is not None]


def legs(qty: str = "1") -> tuple[PlaceParams, list[PlaceParams]]:
    entry = PlaceParams("BTC/USDT", Side.BUY, OrderType.LIMIT, D(qty), D(100), client_order_id="g1-en")
    return entry, [
        PlaceParams("BTC/USDT", Side.SELL, OrderType.TAKE_PROFIT, D(qty), None, D(110), reduce_only=True,
                    client_order_id="g1-tp1"),
        PlaceParams("BTC/USDT", Side.SELL, OrderType.STOP, D(qty), None, D(90), reduce_only=True,
                    client_order_id="g1-sl1")]


@pytest.fixture
def venue() -> GroupedFakeVenue:  # the `harness` fixture (conftest) runs the service over this venue
    grouped = GroupedFakeVenue()
    assert isinstance(grouped, GroupedOrderVenue)
    return grouped


async def test_a_group_is_journaled_sent_once_and_each_order_tracked(harness, venue) -> None:  # type: ignore[no-untyped-def]
    async with harness.run() as service:
        entry, children = legs()
        orders = await service.place_group("s1", "fake", entry, children)
        assert [(o["client_order_id"], o["status"]) for o in orders] == [
            ("g1-en", "new"), ("g1-tp1", "new"), ("g1-sl1", "new")]
        assert venue.groups == ["g1-en"] and venue.calls.count("place:g1-tp1") == 1
        again = await service.place_group("s1", "fake", *legs())
        assert [o["order_id"] for o in again] == [o["order_id"] for o in orders] and venue.groups == ["g1-en"]
        journal = await harness.store.journal("fake", "g1-sl1")
        assert journal[0][1] == "intent.place" and journal[0][4]["group"] == "g1-en"
        assert {o["client_order_id"] for o in await service.open_orders("fake")} == {"g1-en", "g1-tp1", "g1-sl1"}
    async with harness.run() as service:  # restarted: still the same three orders, nothing placed again
        assert [o["status"] for o in await service.place_group("s1", "fake", *legs())] == ["new"] * 3
        assert venue.groups == ["g1-en"]


async def test_a_refused_group_rejects_all_three_and_places_nothing(harness, venue) -> None:  # type: ignore[no-untyped-def]
    venue.refuse_groups = 1
    async with harness.run() as service:
        with pytest.raises(GatewayError) as info:
            await service.place_group("s1", "fake", *legs())
        assert info.value.code is ErrorCode.VENUE_REJECTED
        statuses = [(await service.get("fake", client_order_id=c))["status"] for c in ("g1-en", "g1-tp1", "g1-sl1")]
        assert statuses == ["rejected"] * 3 and not venue.orders


async def test_a_venue_without_grouped_orders_answers_not_supported(harness, venue) -> None:  # type: ignore[no-untyped-def]
    venue.capabilities = Capabilities(amend=False, stop_orders=True)  # has the method, not the capability
    async with harness.run() as service:
        with pytest.raises(GatewayError) as info:
            await service.place_group("s1", "fake", *legs())
        assert info.value.code is ErrorCode.NOT_SUPPORTED
        assert harness.venue.calls == []
