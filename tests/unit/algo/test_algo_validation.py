"""Every rule of QE's master-order parameter table, each with its error (pure validation)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.core.enums import MarketType, Side
from gateway.core.errors import ErrorCode, GatewayError, OrderRejected, RequestError
from gateway.orders.algo.model import Algorithm
from gateway.orders.algo.validation import (
    NO_LIMIT,
    boost_allowed,
    check_boost,
    parse_time_ms,
    validate_request,
)

NOW = 1_700_000_000_000
D = Decimal


def base(**over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"algorithm": "TWAP", "side": "buy", "qty": D("1"), "execution_duration_s": 60}
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}


def check(params: dict[str, Any], market: MarketType = MarketType.SPOT, min_duration_s: int = 10):
    return validate_request(params, account="sim", symbol="BTC/USDT" if market is MarketType.SPOT else "BTC/USDT:USDT",
                            market_type=market, now_ms=NOW, min_duration_s=min_duration_s)


def refused(params: dict[str, Any], field: str, text: str, market: MarketType = MarketType.SPOT) -> GatewayError:
    with pytest.raises(RequestError) as info:
        check(params, market)
    assert info.value.code is ErrorCode.INVALID_PARAMS
    assert info.value.details["field"] == field, info.value.message
    assert text in info.value.message
    return info.value


def test_a_valid_request_has_qe_defaults() -> None:
    r = check(base())
    assert r.algorithm is Algorithm.TWAP and r.side is Side.BUY and r.qty == 1 and r.notional is None
    assert (r.start_ms, r.end_ms) == (NOW, NOW + 60_000)
    assert r.must_complete and r.tail_order_protection and r.enable_make and not r.strict_up_bound
    assert r.pov_limit == D("0.8") and r.pov_min_limit is None
    assert r.limit_price == r.up_tolerance == r.low_tolerance == r.maker_rate_limit == NO_LIMIT


@pytest.mark.parametrize("name", ["TWAP", "twap", "VWAP", "POV", "BoostTWAP", "boostvwap"])
def test_algorithm_names_any_case(name: str) -> None:
    params = base(algorithm=name, pov_limit=D("0.1") if name.lower() == "pov" else None)
    assert check(params).algorithm.value.lower() == name.lower()


def test_unknown_algorithm() -> None:
    refused(base(algorithm="ICEBERG"), "algorithm", "algorithm must be one of TWAP, VWAP, POV")


def test_side_must_be_buy_or_sell() -> None:
    refused(base(side="long"), "side", "side must be buy or sell")


def test_exactly_one_of_qty_and_notional() -> None:
    refused(base(qty=None), "qty", "exactly one of qty")
    refused(base(notional=D("100")), "qty", "exactly one of qty")
    assert check(base(qty=None, notional=D("200"))).notional == 200


@pytest.mark.parametrize("name", ["qty", "notional"])
def test_amounts_must_be_positive(name: str) -> None:
    for value in ("0", "-1"):
        params = base(qty=None)
        params[name] = D(value)
        refused(params, name, f"{name} must be > 0")


def test_target_position_takes_qty_not_notional_and_only_on_perps() -> None:
    perp = {"margin_type": "U"}
    refused(base(qty=None, notional=D("100"), is_target_position=True, **perp), "notional",
            "is_target_position takes qty", MarketType.PERP)
    refused(base(is_target_position=True), "is_target_position", "perpetuals only")
    assert check(base(is_target_position=True, **perp), MarketType.PERP).is_target_position


def test_duration_seconds_must_exceed_the_minimum() -> None:
    refused(base(execution_duration_s=10), "execution_duration_s", "execution_duration_s must be > 10")
    assert check(base(execution_duration_s=11)).duration_ms == 11_000


def test_duration_minutes_at_least_one() -> None:
    refused(base(execution_duration_s=None, execution_duration=0), "execution_duration", ">= 1")
    assert check(base(execution_duration_s=None, execution_duration=5)).duration_ms == 300_000


def test_seconds_win_over_minutes() -> None:
    assert check(base(execution_duration_s=30, execution_duration=5)).duration_ms == 30_000


def test_a_duration_or_end_time_is_required() -> None:
    refused(base(execution_duration_s=None), "execution_duration_s", "give execution_duration_s")


def test_end_time_alone_sets_the_horizon() -> None:
    r = check(base(execution_duration_s=None, start_time=NOW + 60_000, end_time=NOW + 180_000))
    assert (r.start_ms, r.end_ms) == (NOW + 60_000, NOW + 180_000)
    refused(base(end_time=NOW + 180_000), "end_time", "give one of")
    refused(base(execution_duration_s=None, end_time=NOW - 1), "end_time", "after the start")
    refused(base(execution_duration_s=None, end_time=NOW + 5_000), "end_time", "must be > 10 s")


def test_start_time_iso_8601_with_offset() -> None:
    r = check(base(start_time="2035-09-03T01:30:00+08:00"))
    assert r.start_ms == parse_time_ms("2035-09-02T17:30:00Z", "start_time")
    refused(base(start_time="2035-09-03T01:30:00"), "start_time", "needs a UTC offset")
    refused(base(start_time="yesterday"), "start_time", "not an ISO 8601 time")
    assert check(base(start_time=NOW - 50_000)).start_ms == NOW  # a past start means now


def test_maker_rate_limit_range() -> None:
    refused(base(maker_rate_limit=D("1.5")), "maker_rate_limit", "between 0 and 1")
    refused(base(maker_rate_limit=D("-0.5")), "maker_rate_limit", "between 0 and 1")
    assert check(base(maker_rate_limit=D("0.1"))).maker_rate_limit == D("0.1")
    assert check(base(maker_rate_limit=D("-1"))).maker_rate_limit == NO_LIMIT


def test_pov_limit_ranges_per_algorithm() -> None:
    refused(base(pov_limit=D("1.2")), "pov_limit", "between 0 and 1")
    refused(base(algorithm="POV", pov_limit=D("0.6")), "pov_limit", "> 0 and <= 0.5")
    refused(base(algorithm="POV", pov_limit=D("0")), "pov_limit", "> 0 and <= 0.5")
    assert check(base(algorithm="POV")).pov_limit == D("0.05")  # QE V2 SDK default


def test_pov_min_limit_below_pov_limit_minus_one_percent() -> None:
    refused(base(algorithm="POV", pov_limit=D("0.1"), pov_min_limit=D("0.09")), "pov_min_limit",
            "pov_min_limit must be < max(pov_limit - 0.01, 0)")
    refused(base(algorithm="POV", pov_limit=D("0.005"), pov_min_limit=D("0")), "pov_min_limit",
            "< max(pov_limit - 0.01, 0)")
    refused(base(algorithm="POV", pov_limit=D("0.1"), pov_min_limit=D("-0.01")), "pov_min_limit", ">= 0")
    assert check(base(algorithm="POV", pov_limit=D("0.1"), pov_min_limit=D("0.0899"))).pov_min_limit == D("0.0899")


def test_pov_min_limit_is_for_pov_only() -> None:
    refused(base(pov_min_limit=D("0.01")), "pov_min_limit", "POV orders only")


def test_limit_price_or_worst_price() -> None:
    refused(base(limit_price=D("0")), "limit_price", "-1 (no limit) or > 0")
    refused(base(worst_price=D("-3")), "worst_price", "-1 (no limit) or > 0")
    refused(base(limit_price=D("10"), worst_price=D("10")), "worst_price", "give one of limit_price and worst_price")
    assert check(base(worst_price=D("65000"))).limit_price == D("65000")
    assert check(base(limit_price=D("-1"))).limit_price == NO_LIMIT


@pytest.mark.parametrize("name", ["up_tolerance", "low_tolerance"])
@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.5"])
def test_tolerances_strictly_between_0_and_1(name: str, value: str) -> None:
    refused(base(**{name: D(value)}), name, "strictly between 0 and 1")


@pytest.mark.parametrize("name", ["up_tolerance", "low_tolerance"])
def test_tolerances_accept_minus_one_and_fractions(name: str) -> None:
    assert getattr(check(base(**{name: D("0.1")})), name) == D("0.1")
    assert getattr(check(base(**{name: D("-1")})), name) == NO_LIMIT


def test_margin_type_required_for_perps_and_refused_on_spot() -> None:
    refused(base(), "margin_type", "margin_type is required for perpetuals", MarketType.PERP)
    refused(base(margin_type="X"), "margin_type", "must be U or C", MarketType.PERP)
    refused(base(margin_type="U"), "margin_type", "perpetuals only")
    assert check(base(margin_type="u"), MarketType.PERP).margin_type == "U"


def test_is_margin_is_spot_only_and_reduce_only_perp_only() -> None:
    refused(base(is_margin=True, margin_type="U"), "is_margin", "spot only", MarketType.PERP)
    refused(base(reduce_only=True), "reduce_only", "perpetuals only")
    assert check(base(is_margin=True)).is_margin


def test_booleans_are_strict() -> None:
    refused(base(must_complete="yes"), "must_complete", "must be a boolean")


def test_boost_only_on_binance_btc_eth_perps() -> None:
    request = check(base(algorithm="BoostTWAP", margin_type="U"), MarketType.PERP)
    assert boost_allowed("binance", MarketType.PERP, "BTCUSDT")
    assert not boost_allowed("okx", MarketType.PERP, "BTC-USDT-SWAP")
    assert not boost_allowed("binance", MarketType.SPOT, "BTCUSDT")
    assert not boost_allowed("binance", MarketType.PERP, "SOLUSDT")
    check_boost(request, "binance", MarketType.PERP, "BTCUSDT")
    with pytest.raises(OrderRejected) as info:
        check_boost(request, "sim", MarketType.PERP, "BTCUSDT_PERP")
    assert info.value.code is ErrorCode.NOT_SUPPORTED


def test_to_record_keeps_decimals_as_strings() -> None:
    record = check(base(limit_price=D("65000.5"))).to_record()
    assert record["limit_price"] == "65000.5" and record["pov_limit"] == "0.8" and "qty" not in record
