"""Integer scaling, client order indexes and the market order's worst price (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.enums import Side
from gateway.venues.lighter.scaling import (
    ClientIndexMap,
    MarketSpec,
    ScalingError,
    client_order_index_of,
    worst_price,
)

ETH = MarketSpec(0, "ETH/USDC:USDC", "ETH", size_decimals=4, price_decimals=2, min_base_amount=Decimal("0.005"),
                 min_quote_amount=Decimal(10))


def test_sizes_and_prices_scale_to_lighter_integers() -> None:
    assert ETH.to_base_amount(Decimal("0.1")) == 1000  # the SDK example: 1000 -> 0.1 ETH
    assert ETH.to_price(Decimal(4050)) == 405000
    assert ETH.size_of(1000) == Decimal("0.1") and ETH.price_of(405000) == Decimal(4050)


@pytest.mark.parametrize("call", [lambda: ETH.to_base_amount(Decimal("0.00001")),
                                  lambda: ETH.to_price(Decimal("3000.001")),
                                  lambda: ETH.to_price(Decimal(50000000)),  # beyond uint32 at 2 decimals
                                  lambda: ETH.to_price(Decimal(0))])
def test_values_off_the_scale_or_out_of_range_are_refused(call) -> None:
    with pytest.raises(ScalingError):
        call()


def test_worst_price_is_best_price_times_the_slippage_rounded_against_the_taker() -> None:
    bound = worst_price(Side.BUY, ETH, best_bid=Decimal("2999.99"), best_ask=Decimal("3000.01"), last=None,
                        max_slippage=Decimal("0.005"))
    assert bound == Decimal("3015.02")  # 3015.01005 rounded up to the tick
    bound = worst_price(Side.SELL, ETH, best_bid=Decimal("2999.99"), best_ask=None, last=None,
                        max_slippage=Decimal("0.005"))
    assert bound == Decimal("2984.99")  # 2984.99005 rounded down


def test_worst_price_falls_back_to_the_last_price_and_refuses_without_any() -> None:
    assert worst_price(Side.BUY, ETH, best_bid=None, best_ask=None, last=Decimal(3000),
                       max_slippage=Decimal("0.01")) == Decimal("3030.00")
    with pytest.raises(ScalingError):
        worst_price(Side.SELL, ETH, best_bid=None, best_ask=Decimal(1), last=None, max_slippage=Decimal("0.01"))


def test_client_order_indexes_are_stable_in_range_and_reversible_for_this_session() -> None:
    index = client_order_index_of("bracket_1-tp1")
    assert index == client_order_index_of("bracket_1-tp1") and 1 <= index < 2**48
    assert client_order_index_of("123") == 123  # a decimal id in range is the index itself
    assert client_order_index_of(str(2**48)) != 2**48  # out of range: hashed
    ids = ClientIndexMap()
    assert ids.client_order_id_of(ids.index_of("gw-abc")) == "gw-abc"
    assert ids.client_order_id_of(99) == "99" and ids.client_order_id_of(0) is None


def test_a_base_amount_is_bounded_by_the_signers_int64_not_by_the_client_index_range() -> None:
    from gateway.venues.lighter.scaling import ScalingError

    whole = ETH.step * 2**48  # 2^48 steps: above the client index range, still a size
    assert ETH.to_base_amount(whole) == 2**48
    with pytest.raises(ScalingError):
        ETH.to_base_amount(ETH.step * 2**63)
