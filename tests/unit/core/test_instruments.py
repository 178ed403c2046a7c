from decimal import Decimal as D

import pytest

from gateway.core.enums import MarketType, Side
from gateway.core.instruments import Instrument
from gateway.core.symbols import Symbol, parse_symbol

BTC = Instrument("sim", "BTC/USDT", "BTCUSDT", "BTC", "USDT", MarketType.SPOT, D("0.01"), D("0.00001"),
                 D("0.00001"), D("5"))


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        (D("65000.019"), Side.BUY, D("65000.01")),  # buys round down: never pay more than asked
        (D("65000.011"), Side.SELL, D("65000.02")),  # sells round up: never sell for less
        (D("65000.01"), Side.BUY, D("65000.01")),
        (D("65000.01"), Side.SELL, D("65000.01")),
    ],
)
def test_limit_prices_round_against_the_trader(price: D, side: Side, expected: D) -> None:
    assert BTC.round_price(price, side) == expected


def test_sizes_round_down_to_the_step() -> None:
    assert BTC.round_qty(D("0.123456789")) == D("0.12345")
    assert BTC.round_qty(D("0.000009")) == 0


def test_trigger_prices_round_half_up() -> None:
    assert BTC.round_trigger(D("100.005")) == D("100.01")
    assert BTC.round_trigger(D("100.004")) == D("100.00")


def test_tick_and_step_checks() -> None:
    assert BTC.is_on_tick(D("1.23")) and not BTC.is_on_tick(D("1.234"))
    assert BTC.is_on_step(D("0.00002")) and not BTC.is_on_step(D("0.000025"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("BTC/USDT", Symbol("BTC", "USDT")), ("btc/usdt:usdt", Symbol("BTC", "USDT", "USDT"))],
)
def test_unified_symbols_parse(text: str, expected: Symbol) -> None:
    assert parse_symbol(text) == expected
    assert str(parse_symbol(text)) == text.upper()


@pytest.mark.parametrize("text", ["BTCUSDT", "BTC/", "/USDT", "BTC/USDT:", "BTC-1/USDT", ""])
def test_other_text_is_not_a_unified_symbol(text: str) -> None:
    with pytest.raises(ValueError):
        parse_symbol(text)
