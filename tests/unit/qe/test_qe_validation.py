"""QE's rules beyond what the local engine's validation covers (tests/unit/algo/test_algo_validation.py):
each one with its error, on the gateway side (`check_remote`) and on the dialect side (`MasterBook`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.orders.algo.remote import check_remote
from gateway.core.enums import MarketType
from gateway.core.errors import ErrorCode, GatewayError
from gateway.core.instruments import Instrument
from gateway.orders.algo.engine import Tuning
from gateway.orders.algo.validation import validate_request
from gateway.simserver.qe.masters import BoundAccount, DialectError, MasterBook
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import SyntheticMarket, build_engine

NOW = 1_700_000_000_000


def _instrument(symbol: str, native: str, perp: bool, settle: str | None = None) -> Instrument:
    base, quote = ("BTC", "USD") if native.endswith("USD") else ("BTC", "USDT")
    return Instrument("qe", symbol, native, base, quote, MarketType.PERP if perp else MarketType.SPOT,
                      Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal(0), settle=settle)


USDT_PERP = _instrument("BTC/USDT:USDT", "BTCUSDT", True, "USDT")
COIN_PERP = _instrument("BTC/USD:BTC", "BTCUSD", True, "BTC")
SPOT = _instrument("BTC/USDT", "BTCUSDT", False)


def _check(instrument: Instrument, exchange: str = "Binance", **params: Any) -> None:
    base = {"algorithm": "TWAP", "side": "buy", "execution_duration_s": 60}
    request = validate_request({**base, **params}, account="qe", symbol=instrument.symbol,
                               market_type=instrument.type, now_ms=NOW)
    check_remote(request, exchange, instrument)


def _error(instrument: Instrument, exchange: str = "Binance", **params: Any) -> GatewayError:
    with pytest.raises(GatewayError) as err:
        _check(instrument, exchange, **params)
    return err.value


def test_boost_only_on_binance_btcusdt_perp() -> None:
    _check(USDT_PERP, algorithm="BoostTWAP", qty="1", margin_type="U")
    assert _error(SPOT, algorithm="BoostVWAP", qty="1").code is ErrorCode.NOT_SUPPORTED
    assert _error(USDT_PERP, "OKX", algorithm="BoostTWAP", qty="1", margin_type="U").code is ErrorCode.NOT_SUPPORTED


def test_coin_margined_binance_perp_takes_whole_contracts_only() -> None:
    _check(COIN_PERP, qty="3", margin_type="C")
    err = _error(COIN_PERP, notional="100", margin_type="C")
    assert err.code is ErrorCode.INVALID_PARAMS and err.details["field"] == "notional"
    assert _error(COIN_PERP, qty="1.5", margin_type="C").details["field"] == "qty"
    assert _error(COIN_PERP, qty="1", margin_type="U").details["field"] == "margin_type"


def test_deribit_btcusd_takes_qty_only() -> None:
    inverse = _instrument("BTC/USD", "BTCUSD", False)
    _check(inverse, "Deribit", qty="100")
    assert _error(inverse, "Deribit", notional="100").details["field"] == "notional"


# --- the dialect's own checks (what QE answers: code 400 and the rule) ------------------------------------------


@pytest.fixture
def book() -> MasterBook:
    engine = build_engine("user", SimSettings())
    market = SyntheticMarket("user", SimSettings(), engine)
    market.prewarm(NOW, 5)
    return MasterBook(engine, "user", [BoundAccount("ak-1", "Binance", "main"), BoundAccount("ak-2", "OKX", "o")],
                      tuning=Tuning(), slice_ms=1000, min_duration_s=10)


GOOD = {"apiKeyId": "ak-1", "exchange": "Binance", "marketType": "SPOT", "symbol": "BTCUSDT", "side": "buy",
        "algorithm": "TWAP", "executionDurationSeconds": 60, "totalQuantity": "0.01"}


@pytest.mark.parametrize(("change", "message"), [
    ({"apiKeyId": None}, "apiKeyId is required"),
    ({"apiKeyId": "nope"}, "not bound"),
    ({"exchange": "Kraken"}, "exchange must be one of"),
    ({"exchange": "OKX"}, "is a Binance account"),
    ({"limitPrice": "60000"}, "limitPrice is not accepted by V2"),
    ({"executionDurationSeconds": None}, "executionDurationSeconds is required"),
    ({"executionDurationSeconds": 10}, "must be > 10"),
    ({"symbol": "DOGEUSDT"}, "not a listed trading pair"),
    ({"marketType": "FUTURES"}, "marketType must be SPOT or PERP"),
    ({"orderNotional": "100"}, "exactly one of qty"),
    ({"totalQuantity": "0.000001"}, "below the exchange minimum"),
    ({"upTolerance": "1"}, "strictly between 0 and 1"),
    ({"algorithm": "POV", "povLimit": "0.1", "povMinLimit": "0.095"}, "pov_min_limit must be < max(pov_limit - 0.01, 0)"),
    ({"algorithm": "POV", "povLimit": "0.6"}, "<= 0.5"),
    ({"makerRateLimit": "2"}, "maker_rate_limit must be"),
    ({"marginType": "U"}, "margin_type applies to perpetuals only"),
    ({"marketType": "PERP"}, "margin_type is required for perpetuals"),
    ({"isMargin": True, "marketType": "PERP", "marginType": "U"}, "spot only"),
    ({"algorithm": "BoostTWAP"}, "runs only on Binance perpetual"),
])
def test_dialect_refuses_each_rule_with_code_400(book: MasterBook, change: dict[str, Any], message: str) -> None:
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(DialectError) as err:
        book.create(body, NOW)
    assert err.value.code == 400 and message in err.value.message


def test_dialect_refuses_a_duplicate_client_order_id(book: MasterBook) -> None:
    book.create({**GOOD, "clientOrderId": "c1"}, NOW)
    with pytest.raises(DialectError, match="already exists"):
        book.create({**GOOD, "clientOrderId": "c1"}, NOW)
