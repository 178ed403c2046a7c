"""Virtual grouped orders matched to the venue's orders (pure): by client index, then as the seed does."""

from __future__ import annotations

from decimal import Decimal

from gateway.venues.lighter.virtual import VirtualLeg, VirtualOrder, reconcile

T0 = 1_700_000_000_000


def _virtual() -> VirtualOrder:
    return VirtualOrder("v1", "ETH/USDC:USDC", 0, "otoco", T0, legs=[
        VirtualLeg("entry", 11, False, False, Decimal("3000.00"), None),
        VirtualLeg("tp", 12, True, True, Decimal("3100.00"), Decimal("3100.00")),
        VirtualLeg("sl", 13, True, True, Decimal("2900.00"), Decimal("2900.00"))])


def _order(index: int, client: int, is_ask: bool, reduce_only: bool, price: str, trigger: str, ts: int = T0,
           status: str = "open") -> dict:
    return {"order_index": index, "client_order_index": client, "market_index": 0, "is_ask": is_ask,
            "reduce_only": reduce_only, "price": price, "trigger_price": trigger, "timestamp": ts, "status": status,
            "filled_base_amount": "0"}


def test_legs_are_matched_by_client_order_index() -> None:
    virtual = _virtual()
    orders = [_order(2**48 + 1, 11, False, False, "3000.00", "0", status="filled"),
              _order(2**48 + 2, 12, True, True, "3100.00", "3100.00"),
              _order(2**48 + 3, 13, True, True, "2900.00", "2900.00")]
    assert reconcile([virtual], orders, 300_000) == {"total": 1, "updated": 1, "matched": 3}
    assert [leg.order_index for leg in virtual.legs] == [2**48 + 1, 2**48 + 2, 2**48 + 3]
    assert virtual.is_resolved and virtual.leg("entry").status == "filled"
    assert reconcile([virtual], orders, 300_000)["updated"] == 0  # nothing new


def test_without_client_indexes_legs_match_by_side_reduce_only_prices_and_time_window() -> None:
    virtual = _virtual()
    orders = [_order(2**48 + 7, 0, True, True, "3100.00", "3100.00", ts=T0 + 400_000),  # outside the window
              _order(2**48 + 8, 0, True, False, "3100.00", "3100.00"),  # not reduce-only
              _order(2**48 + 9, 0, True, True, "3100.00", "3100.00", ts=T0 + 1_000),
              _order(2**48 + 10, 0, True, True, "2900.00", "2900.00", ts=(T0 + 2_000) // 1000)]  # seconds
    result = reconcile([virtual], orders, 300_000, include_entry=False)
    assert result["matched"] == 2
    assert virtual.leg("tp").order_index == 2**48 + 9 and virtual.leg("sl").order_index == 2**48 + 10
    assert virtual.leg("entry").order_index is None


def test_one_venue_order_never_fills_two_legs() -> None:
    first, second = _virtual(), _virtual()
    second.virtual_id = "v2"
    for v, base in ((first, 20), (second, 30)):
        for leg in v.legs:
            leg.client_order_index += base
    orders = [_order(2**48 + 9, 0, True, True, "3100.00", "3100.00")]
    reconcile([first, second], orders, 300_000)
    owners = [v.virtual_id for v in (first, second) if v.leg("tp").order_index == 2**48 + 9]
    assert owners == ["v1"]
