"""Builders for the sim exchange's unit tests: two instruments and funded accounts."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from gateway.core.enums import MarketType
from gateway.core.instruments import Instrument
from gateway.venues.sim.matching import MatchingEngine

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
MAKER_FEE = Decimal("0.001")
TAKER_FEE = Decimal("0.002")


def instruments() -> list[Instrument]:
    return [
        Instrument("sim", SPOT, "BTCUSDT", "BTC", "USDT", MarketType.SPOT, Decimal("0.01"), Decimal("0.001"),
                   Decimal("0.001"), Decimal(0)),
        Instrument("sim", PERP, "BTCUSDT_PERP", "BTC", "USDT", MarketType.PERP, Decimal("0.1"), Decimal("0.001"),
                   Decimal("0.001"), Decimal(0), settle="USDT"),
    ]


def new_engine(accounts: tuple[str, ...] = ("a", "b", "c"), usdt: int = 100_000, btc: int = 10,
               house_events: bool = True) -> MatchingEngine:
    engine = MatchingEngine(instruments(), MAKER_FEE, TAKER_FEE, default_leverage=10, house_events=house_events)
    for name in accounts:
        engine.open_account(name, {"USDT": Decimal(usdt), "BTC": Decimal(btc)})
    return engine


@pytest.fixture
def engine() -> MatchingEngine:
    return new_engine()


@pytest.fixture
def engine_factory() -> Callable[..., MatchingEngine]:
    return new_engine
