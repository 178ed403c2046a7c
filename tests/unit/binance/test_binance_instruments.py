"""exchangeInfo -> instruments (note the futures MIN_NOTIONAL field `notional`), symbols, limits, headers."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from binance_fixtures import load

from gateway.core.enums import MarketType
from gateway.venues.binance.instruments import SymbolMap, to_instrument, to_rate_limits, used_weights
from gateway.venues.binance.schemas import decode_exchange_info
from gateway.venues.common.ratelimit import RateLimit


def _instruments(market: str):
    info = decode_exchange_info(load("http", f"exchange_info_{market}"))
    return [i for i in (to_instrument(s, market, "bn") for s in info.symbols) if i is not None]


@pytest.mark.parametrize(
    ("market", "symbol", "native", "tick", "step", "min_qty", "min_notional", "type_"),
    [
        ("spot", "ETH/BTC", "ETHBTC", D("0.00001"), D("0.0001"), D("0.0001"), D("0.0001"), MarketType.SPOT),
        ("spot", "BTC/USDT", "BTCUSDT", D("0.01"), D("0.00001"), D("0.00001"), D(10), MarketType.SPOT),  # MIN_NOTIONAL
        ("usdm", "BTC/USDT:USDT", "BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D(100), MarketType.PERP),
    ],
)
def test_filters_become_instrument_fields(market, symbol, native, tick, step, min_qty, min_notional, type_) -> None:
    found = {i.symbol: i for i in _instruments(market)}[symbol]
    assert (found.native, found.tick_size, found.step_size, found.min_qty, found.min_notional, found.type) == \
        (native, tick, step, min_qty, min_notional, type_)
    assert str(found.tick_size) == str(tick)  # no trailing zeros or exponents


def test_dated_futures_have_no_unified_symbol_yet() -> None:
    assert [i.native for i in _instruments("usdm")] == ["BTCUSDT"]


def test_symbol_map_both_ways() -> None:
    names = SymbolMap(_instruments("spot"))
    assert names.native("BTC/USDT") == "BTCUSDT"
    assert names.unified("btcusdt") == "BTC/USDT"
    assert "ETH/BTC" in names and "X/Y" not in names
    with pytest.raises(KeyError):
        names.native("X/Y")


def test_rate_limits_from_exchange_info() -> None:
    limits = to_rate_limits(decode_exchange_info(load("http", "exchange_info_usdm")).rateLimits)
    assert RateLimit("REQUEST_WEIGHT", 60_000, 2400) in limits
    assert RateLimit("ORDERS", 10_000, 300) in limits


def test_used_weight_headers() -> None:
    headers = {"X-MBX-USED-WEIGHT-1M": "42", "x-mbx-used-weight-5s": "7", "X-MBX-ORDER-COUNT-10S": "3",
               "X-MBX-USED-WEIGHT-XM": "1", "Content-Type": "application/json"}
    assert sorted(used_weights(headers)) == [(5_000, 7), (60_000, 42)]
