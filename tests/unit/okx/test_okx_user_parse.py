"""Private pushes and REST rows -> normalized user events; bad rows raise a clear MalformedRow."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.enums import Liquidity, OrderStatus, OrderType, TimeInForce
from gateway.venues.okx.parse import MalformedRow, to_kline, to_trade
from gateway.venues.okx.user_parse import algo_update, to_balances, to_fill_row, to_order_events, to_position

ORDER = {"instId": "BTC-USDT", "ordId": "123", "clOrdId": "brz0en", "side": "buy", "ordType": "post_only",
         "px": "65000", "sz": "0.01", "accFillSz": "0.004", "avgPx": "65000", "state": "partially_filled",
         "fillPx": "65000", "fillSz": "0.004", "tradeId": "77", "fillFee": "-0.0000016", "fillFeeCcy": "BTC",
         "execType": "M", "fillTime": "1700000000100", "uTime": "1700000000100", "cTime": "1700000000000",
         "reduceOnly": "false", "algoId": "", "algoClOrdId": ""}


def test_orders_push_with_a_fill() -> None:
    update, fill = to_order_events(ORDER, "ok", "BTC/USDT", 5)
    assert (update.status, update.type, update.tif) == (OrderStatus.PARTIALLY_FILLED, OrderType.LIMIT,
                                                        TimeInForce.POST_ONLY)
    assert update.client_order_id == "br-en" and update.filled_qty == Decimal("0.004")
    assert fill is not None and fill.trade_id == "BTC-USDT:77" and fill.fee == Decimal("0.0000016")
    assert fill.liquidity is Liquidity.MAKER and fill.client_order_id == "br-en"
    no_fill = {**ORDER, "fillSz": "", "tradeId": ""}
    assert to_order_events(no_fill, "ok", "BTC/USDT", 5)[1] is None


def test_triggered_order_reports_under_its_algo_ids() -> None:
    row = {**ORDER, "ordType": "market", "state": "filled", "algoId": "900", "algoClOrdId": "bz0sl1",
           "slTriggerPx": "60000"}
    update, fill = to_order_events(row, "ok", "BTC/USDT", 5)
    assert update.order_id == "algo-900" and update.client_order_id == "b-sl1" and update.type is OrderType.STOP
    assert fill is not None and fill.order_id == "algo-900"


def test_algo_rows() -> None:
    live = {"instId": "BTC-USDT", "algoId": "9", "algoClOrdId": "tp1", "side": "sell", "sz": "0.01",
            "state": "live", "tpTriggerPx": "70000", "tpOrdPx": "-1", "slTriggerPx": "", "cTime": "1"}
    update = algo_update(live, "ok", "BTC/USDT", 5)
    assert update is not None and update.type is OrderType.TAKE_PROFIT and update.trigger_price == Decimal(70000)
    assert update.order_id == "algo-9" and update.status is OrderStatus.NEW
    assert algo_update({**live, "state": "effective"}, "ok", "BTC/USDT", 5) is None
    assert algo_update({**live, "state": "canceled"}, "ok", "BTC/USDT", 5).status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_fill_rows_balances_positions() -> None:
    fill = to_fill_row({"instId": "BTC-USDT-SWAP", "tradeId": "5", "ordId": "1", "clOrdId": "c", "fillPx": "1",
                        "fillSz": "2", "side": "sell", "execType": "T", "fee": "-0.1", "feeCcy": "USDT",
                        "ts": "9"}, "ok", "BTC/USDT:USDT", 10)
    assert fill.fee == Decimal("0.1") and fill.liquidity is Liquidity.TAKER and fill.ts == 9
    [usdt] = to_balances({"details": [{"ccy": "USDT", "cashBal": "100", "availBal": "80", "frozenBal": "20",
                                       "uTime": "3"}]}, "ok")
    assert (usdt.free, usdt.locked) == (Decimal(80), Decimal(20))
    short = to_position({"instId": "BTC-USDT-SWAP", "pos": "3", "posSide": "short", "avgPx": "1", "lever": "5",
                         "mgnMode": "cross"}, "ok", "BTC/USDT:USDT")
    assert short.qty == Decimal(-3) and short.leverage == 5


@pytest.mark.parametrize("row", [{**ORDER, "state": "weird"}, {**ORDER, "side": 1}, {**ORDER, "sz": None}])
def test_malformed_order_rows_raise(row: dict) -> None:
    with pytest.raises(MalformedRow):
        to_order_events(row, "ok", "BTC/USDT", 5)


def test_market_rows() -> None:
    trade = to_trade({"tradeId": "1", "px": "10", "sz": "2", "side": "sell", "ts": "7"}, "ok", "BTC/USDT", 8)
    assert trade.price == Decimal(10) and trade.ts == 7
    kline = to_kline(["1", "1", "2", "0.5", "1.5", "10", "0", "0", "1"], "ok", "BTC/USDT", "1m")
    assert kline.closed and kline.high == Decimal(2)
    with pytest.raises(MalformedRow):
        to_kline(["x"], "ok", "BTC/USDT", "1m")
    with pytest.raises(MalformedRow):
        to_trade({"px": "a", "sz": "1", "side": "buy"}, "ok", "BTC/USDT", 1)
