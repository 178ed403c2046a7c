"""Order requests as OKX arguments: types, tdMode/posSide by account mode, algo legs, exact decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import OrderRejected
from gateway.core.ports import OrderRequest
from gateway.venues.okx.trading import (
    AccountMode,
    TpSl,
    algo_args,
    amend_algo_args,
    amend_args,
    attached_tpsl,
    oco_args,
    place_args,
    resolve_td_mode,
)

NET, HEDGE = AccountMode("2", "net_mode"), AccountMode("2", "long_short_mode")


def _req(**kw: object) -> OrderRequest:
    values: dict[str, object] = {"symbol": "BTC/USDT", "side": Side.BUY, "type": OrderType.LIMIT,
                                 "qty": Decimal("0.00100"), "client_order_id": "gw1", "price": Decimal("65000.10")}
    values.update(kw)
    return OrderRequest(**values)  # type: ignore[arg-type]


def test_spot_limit_and_market() -> None:
    assert place_args(_req(), "BTC-USDT", "spot", "cash", NET) == {
        "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "clOrdId": "gw1", "ordType": "limit",
        "px": "65000.10", "sz": "0.00100"}
    market = place_args(_req(type=OrderType.MARKET, price=None, qty=Decimal("1E+1")), "BTC-USDT", "spot", "cash", NET)
    assert market["ordType"] == "market" and market["tgtCcy"] == "base_ccy" and market["sz"] == "10"


@pytest.mark.parametrize(("tif", "ord_type"), [(TimeInForce.POST_ONLY, "post_only"), (TimeInForce.IOC, "ioc"),
                                               (TimeInForce.FOK, "fok")])
def test_time_in_force_is_the_ord_type(tif: TimeInForce, ord_type: str) -> None:
    assert place_args(_req(tif=tif), "BTC-USDT", "spot", "cash", NET)["ordType"] == ord_type


def test_swap_position_side_by_mode() -> None:
    sell_close = _req(symbol="BTC/USDT:USDT", side=Side.SELL, reduce_only=True)
    assert place_args(sell_close, "BTC-USDT-SWAP", "swap", "cross", HEDGE)["posSide"] == "long"
    assert place_args(_req(side=Side.SELL), "X-SWAP", "swap", "cross", HEDGE)["posSide"] == "short"
    net = place_args(sell_close, "BTC-USDT-SWAP", "swap", "cross", NET)
    assert net["reduceOnly"] is True and "posSide" not in net
    with pytest.raises(OrderRejected):
        place_args(_req(reduce_only=True), "BTC-USDT", "spot", "cash", NET)


def test_td_mode_from_account_level() -> None:
    assert resolve_td_mode("auto", "spot", AccountMode("1")) == "cash"
    assert resolve_td_mode("auto", "spot", AccountMode("3")) == "cross"
    assert resolve_td_mode("auto", "swap", AccountMode("2")) == "cross"
    assert resolve_td_mode("isolated", "swap", AccountMode("2")) == "isolated"


def test_conditional_orders_become_conditional_algos() -> None:
    stop = algo_args(_req(side=Side.SELL, type=OrderType.STOP, price=None, trigger_price=Decimal("60000.0"),
                          client_order_id="b1-sl1"), "BTC-USDT", "spot", "cash", NET)
    assert stop["ordType"] == "conditional" and stop["slTriggerPx"] == "60000.0" and stop["slOrdPx"] == "-1"
    assert stop["algoClOrdId"] == "b1z0sl1"
    tp = algo_args(_req(side=Side.SELL, type=OrderType.TAKE_PROFIT_LIMIT, price=Decimal(70000),
                        trigger_price=Decimal(70010)), "BTC-USDT", "spot", "cash", NET)
    assert (tp["tpTriggerPx"], tp["tpOrdPx"]) == ("70010", "70000") and "slTriggerPx" not in tp


def test_amend_args() -> None:
    assert amend_args("BTC-USDT", None, "a-1", Decimal(2), None) == {"instId": "BTC-USDT", "clOrdId": "az01",
                                                                     "newSz": "2"}


def test_oco_has_both_legs_and_needs_both_triggers() -> None:
    legs = TpSl(take_profit_trigger=Decimal("70000.0"), stop_loss_trigger=Decimal("60000.0"),
                stop_loss_price=Decimal("59990.0"))
    args = oco_args(_req(side=Side.SELL, reduce_only=True, symbol="BTC/USDT:USDT"), "BTC-USDT-SWAP", "swap",
                    "cross", NET, legs)
    assert args == {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell", "reduceOnly": True,
                    "algoClOrdId": "gw1", "ordType": "oco", "sz": "0.00100", "tpTriggerPx": "70000.0",
                    "tpOrdPx": "-1", "tpTriggerPxType": "last", "slTriggerPx": "60000.0", "slOrdPx": "59990.0",
                    "slTriggerPxType": "last"}
    with pytest.raises(OrderRejected):
        oco_args(_req(), "BTC-USDT", "spot", "cash", NET, TpSl(take_profit_trigger=Decimal(1)))


def test_attached_tpsl_is_one_item_with_its_client_id() -> None:
    (item,) = attached_tpsl(TpSl(take_profit_trigger=Decimal("7E+4"), stop_loss_trigger=Decimal(60000)), "br-1")
    assert item["tpTriggerPx"] == "70000" and item["slOrdPx"] == "-1" and item["attachAlgoClOrdId"] != "br-1"
    assert set(item) == {"tpTriggerPx", "tpOrdPx", "tpTriggerPxType", "slTriggerPx", "slOrdPx", "slTriggerPxType",
                         "attachAlgoClOrdId"}
    with pytest.raises(OrderRejected):
        attached_tpsl(TpSl())


def test_amend_algo_args_send_only_what_changes() -> None:
    assert amend_algo_args("BTC-USDT", "123", None, Decimal("0.5"), TpSl(stop_loss_trigger=Decimal("60000.5"))) == {
        "instId": "BTC-USDT", "algoId": "123", "newSz": "0.5", "newSlTriggerPx": "60000.5"}
    assert amend_algo_args("BTC-USDT", None, "gw1", None, TpSl(take_profit_price=Decimal(1))) == {
        "instId": "BTC-USDT", "algoClOrdId": "gw1", "newTpOrdPx": "1"}
    with pytest.raises(ValueError):
        amend_algo_args("BTC-USDT", "123", None, None, TpSl())
