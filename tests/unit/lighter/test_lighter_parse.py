"""Lighter payloads into the normalized model (pure), including garbage."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.venues.lighter import parse
from gateway.venues.lighter.scaling import MarketSpec

ETH = MarketSpec(0, "ETH/USDC:USDC", "ETH", 4, 2, Decimal("0.005"), Decimal(10))
ORDER = {"order_index": 2**48 + 5, "client_order_index": 42, "market_index": 0, "initial_base_amount": "0.1000",
         "remaining_base_amount": "0.0600", "filled_base_amount": "0.0400", "filled_quote_amount": "120.000000",
         "price": "3000.00", "trigger_price": "0.00", "is_ask": True, "reduce_only": False, "type": "limit",
         "time_in_force": "good-till-time", "status": "open", "timestamp": 1_700_000_000}


def _update(**changes):
    return parse.to_order_update("lx", {**ORDER, **changes}, {0: ETH}.get, lambda i: f"c{i}" if i else None, 1)


def test_an_order_becomes_an_order_update() -> None:
    update = _update()
    assert update.order_id == str(2**48 + 5) and update.client_order_id == "c42"
    assert update.side is Side.SELL and update.type is OrderType.LIMIT and update.tif is TimeInForce.GTC
    assert update.status is OrderStatus.PARTIALLY_FILLED and update.avg_price == Decimal(3000)
    assert update.ts == 1_700_000_000_000  # seconds are read as seconds


@pytest.mark.parametrize(("status", "filled", "expected"), [
    ("open", "0", OrderStatus.NEW), ("pending", "0", OrderStatus.NEW), ("filled", "0.1", OrderStatus.FILLED),
    ("canceled", "0", OrderStatus.CANCELED), ("canceled-oco", "0", OrderStatus.CANCELED),
    ("canceled-margin-not-allowed", "0", OrderStatus.REJECTED),
    ("canceled-margin-not-allowed", "0.01", OrderStatus.CANCELED),  # partly filled first: a cancel
    ("canceled-post-only", "0", OrderStatus.REJECTED), ("canceled-too-much-slippage", "0", OrderStatus.EXPIRED),
    ("canceled-not-enough-liquidity", "0", OrderStatus.EXPIRED)])
def test_lighter_statuses_map_to_gateway_statuses(status: str, filled: str, expected: OrderStatus) -> None:
    assert parse.to_order_status(status, Decimal(filled), Decimal("0.1")) is expected


def test_a_rejection_carries_lighters_status_as_the_reason() -> None:
    update = _update(status="canceled-margin-not-allowed", filled_base_amount="0", filled_quote_amount="0")
    assert update.status is OrderStatus.REJECTED and update.reason == "canceled-margin-not-allowed"


@pytest.mark.parametrize("bad", [{"market_index": "x"}, {"status": "exploded"}, {"price": "abc"},
                                 {"type": "twap"}, {"market_index": 9}, {"initial_base_amount": None}])
def test_garbage_orders_raise_a_clear_parse_error(bad) -> None:
    with pytest.raises(parse.LighterParseError):
        _update(**bad)


def test_fill_status_and_ratio_as_the_seed() -> None:
    assert parse.fill_status(ORDER) == ("partial", pytest.approx(0.4))
    assert parse.fill_status({**ORDER, "filled_base_amount": "0.1"})[0] == "filled"
    assert parse.fill_status({**ORDER, "filled_base_amount": "0"})[0] == "none"


def test_a_trade_is_a_fill_only_for_our_side() -> None:
    trade = {"trade_id": 9, "market_id": 0, "size": "0.01", "price": "3001.5", "ask_id": 2**48 + 1, "bid_id": 2**48 + 2,
             "ask_client_id": 0, "bid_client_id": 42, "ask_account_id": 1, "bid_account_id": 7, "is_maker_ask": True,
             "taker_fee": "0.02", "maker_fee": "0", "timestamp": 1_700_000_000_123}
    fill = parse.to_fill("lx", ETH, trade, 7, lambda i: f"c{i}" if i else None, "USDC", 1)
    assert fill is not None and fill.side is Side.BUY and fill.client_order_id == "c42"
    assert fill.liquidity.value == "taker" and fill.order_id == str(2**48 + 2)
    assert parse.to_fill("lx", ETH, trade, 99, lambda i: None, "USDC", 1) is None


def test_markets_keep_perps_with_their_decimals() -> None:
    answer = {"order_book_details": [
        {"symbol": "ETH", "market_id": 0, "market_type": "perp", "status": "active", "size_decimals": 4,
         "price_decimals": 2, "supported_size_decimals": 3, "supported_price_decimals": 2, "min_base_amount": "0.005",
         "min_quote_amount": "10"},
        {"symbol": "OLD", "market_id": 1, "market_type": "perp", "status": "inactive", "size_decimals": 1,
         "price_decimals": 1}]}
    specs = parse.to_market_specs(answer, "USDC", use_supported=False)
    assert list(specs) == ["ETH/USDC:USDC"] and specs["ETH/USDC:USDC"].size_decimals == 4
    assert parse.to_market_specs(answer, "USDC", use_supported=True)["ETH/USDC:USDC"].size_decimals == 3
    instrument = parse.to_instrument("lx", specs["ETH/USDC:USDC"], "USDC")
    assert instrument.tick_size == Decimal("0.01") and instrument.step_size == Decimal("0.0001")
