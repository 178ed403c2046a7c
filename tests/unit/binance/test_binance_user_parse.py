"""User-data and trading frames -> the gateway's user events: table-driven over fixture frames, no event loop."""

from __future__ import annotations

from decimal import Decimal

import pytest
from binance_fixtures import load

from gateway.core.enums import Liquidity, MarginType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import Balance, Fill, OrderUpdate, Position
from gateway.venues.binance.user_parse import (
    AlgoLinks,
    account_trade_fill,
    account_update_events,
    algo_event_update,
    algo_order_update,
    execution_report_events,
    futures_balances,
    futures_order_events,
    outbound_balances,
    position_of,
    rest_order_update,
)
from gateway.venues.binance.user_schemas import (
    AccountConfigUpdate,
    AccountTrade,
    AlgoOrder,
    BalanceUpdate,
    FuturesBalance,
    ListenKeyExpired,
    PositionRisk,
    RestOrder,
    StreamTerminated,
    decode,
    decode_user_event,
)

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@pytest.mark.parametrize(("case", "status", "client_id", "order_type", "tif", "fill"), [
    ("execution_report_new", OrderStatus.NEW, "gw-1", OrderType.LIMIT, TimeInForce.GTC, None),
    ("execution_report_partial_fill", OrderStatus.PARTIALLY_FILLED, "gw-1", OrderType.LIMIT, TimeInForce.GTC,
     ("BTCUSDT-77", Decimal("64999.00"), Decimal("0.001"), Liquidity.MAKER, "BTC")),
    ("execution_report_canceled", OrderStatus.CANCELED, "gw-2", OrderType.LIMIT, TimeInForce.POST_ONLY, None),
    ("execution_report_expired", OrderStatus.EXPIRED, "gw-3", OrderType.LIMIT, TimeInForce.IOC, None),
])
def test_execution_report(case: str, status: OrderStatus, client_id: str, order_type: OrderType,
                          tif: TimeInForce, fill: tuple | None) -> None:
    event = decode_user_event(load("ws", case))
    update, found = execution_report_events(event, "bn", SPOT, 5)  # type: ignore[arg-type]
    assert (update.status, update.client_order_id, update.type, update.tif) == (status, client_id, order_type, tif)
    assert update.symbol == SPOT and update.order_id.isdigit() and update.recv_ts == 5
    if fill is None:
        assert found is None
        return
    assert found is not None
    assert (found.trade_id, found.price, found.qty, found.liquidity, found.fee_asset) == fill
    assert found.client_order_id == client_id and found.side is Side.BUY
    assert update.avg_price == Decimal(64999) and update.filled_qty == Decimal("0.001")


@pytest.mark.parametrize(("case", "status", "reason", "has_fill", "tif", "reduce_only"), [
    ("order_trade_update_new", OrderStatus.NEW, None, False, TimeInForce.POST_ONLY, False),
    ("order_trade_update_fill", OrderStatus.FILLED, None, True, TimeInForce.GTC, True),
    ("order_trade_update_amended", OrderStatus.NEW, "amended", False, TimeInForce.POST_ONLY, False),
])
def test_order_trade_update(case: str, status: OrderStatus, reason: str | None, has_fill: bool,
                            tif: TimeInForce, reduce_only: bool) -> None:
    event = decode_user_event(load("ws", case))  # unknown keys (st, M, ...) are ignored
    update, fill = futures_order_events(event, "bn", PERP, 1)  # type: ignore[arg-type]
    assert (update.status, update.reason, update.tif, update.reduce_only) == (status, reason, tif, reduce_only)
    assert (fill is not None) == has_fill
    if fill is not None:
        assert fill.trade_id == "BTCUSDT-321" and fill.qty == Decimal("0.002") and fill.liquidity is Liquidity.TAKER
        assert update.avg_price == Decimal("65010.5") and update.type is OrderType.MARKET and update.price is None


def test_algo_updates_follow_one_conditional_order_to_its_fill() -> None:
    links = AlgoLinks()
    updates = []
    for case in ("algo_update_new", "algo_update_triggered", "algo_update_finished"):
        event = decode_user_event(load("ws", case))
        links.learn(event.o.ai, event.o.aid, event.o.caid)  # type: ignore[union-attr]
        updates.append(algo_event_update(event.o, event.T, "bn", PERP, 1))  # type: ignore[union-attr]
    new, triggered, finished = updates
    assert new is not None and new.order_id == "algo-2148719" and new.client_order_id == "gw-sl-1"
    assert new.type is OrderType.STOP and new.trigger_price == Decimal("60000.0") and new.reduce_only
    assert triggered is not None and triggered.status is OrderStatus.NEW
    assert finished is None  # the triggered order's own reports carry the end
    raw = load("ws", "order_trade_update_fill")
    raw["o"]["i"] = 8886790
    update, fill = futures_order_events(decode_user_event(raw), "bn", PERP, 1)  # type: ignore[arg-type]
    assert fill is not None
    rewritten = [links.rewrite(update), links.rewrite(fill)]
    assert all(r.order_id == "algo-2148719" and r.client_order_id == "gw-sl-1" for r in rewritten)


def test_account_update_gives_balances_and_positions_of_known_symbols() -> None:
    event = decode_user_event(load("ws", "account_update"))
    found = account_update_events(event, "bn", {"BTCUSDT": PERP}, {PERP: 7}, 1)  # type: ignore[arg-type]
    balance, position = found
    assert isinstance(balance, Balance) and balance.asset == "USDT" and balance.free == Decimal("100.12345678")
    assert isinstance(position, Position) and position.qty == Decimal("0.002") and position.leverage == 7
    assert position.mark_price == Decimal(65000) + Decimal("2.0") / Decimal("0.002")
    assert position.margin_type is MarginType.ISOLATED


def test_other_user_events_decode() -> None:
    outbound = decode_user_event(load("ws", "outbound_account_position"))
    assert [(b.asset, b.free, b.locked) for b in outbound_balances(outbound, "bn")] == [  # type: ignore[arg-type]
        ("USDT", Decimal("99934.85"), Decimal("65.03")), ("BTC", Decimal("1.001"), Decimal(0))]
    config = decode_user_event(load("ws", "account_config_update"))
    assert isinstance(config, AccountConfigUpdate) and (config.s, config.l) == ("BTCUSDT", 25)
    assert isinstance(decode_user_event(load("ws", "balance_update")), BalanceUpdate)
    assert isinstance(decode_user_event(load("ws", "listen_key_expired")), ListenKeyExpired)
    assert isinstance(decode_user_event(load("ws", "event_stream_terminated")), StreamTerminated)
    assert decode_user_event({"e": "STRATEGY_UPDATE", "E": 1}) is None
    envelope = load("ws", "ws_api_event_envelope")
    assert envelope["subscriptionId"] == 0 and decode_user_event(envelope["event"]) is not None


@pytest.mark.parametrize(("case", "market", "client_id", "status", "tif", "avg"), [
    ("order_spot_result", "spot", "gw-1", OrderStatus.FILLED, TimeInForce.GTC, Decimal(64990)),
    ("order_spot_cancel", "spot", "gw-2", OrderStatus.CANCELED, TimeInForce.POST_ONLY, None),  # origClientOrderId
    ("order_usdm", "usdm", "gw-10", OrderStatus.NEW, TimeInForce.POST_ONLY, None),
])
def test_rest_order_objects(case: str, market: str, client_id: str, status: OrderStatus, tif: TimeInForce,
                            avg: Decimal | None) -> None:
    update = rest_order_update(decode(RestOrder, load("http", case)), "bn", SPOT, market, 3)
    assert (update.client_order_id, update.status, update.tif, update.avg_price) == (client_id, status, tif, avg)
    assert update.trigger_price is None and update.ts > 0


def test_rest_rows() -> None:
    algo = algo_order_update(decode(AlgoOrder, load("http", "algo_order")), "bn", PERP, 1)
    assert (algo.order_id, algo.type, algo.price, algo.trigger_price) == (
        "algo-2146760", OrderType.TAKE_PROFIT_LIMIT, Decimal("70010.0"), Decimal("70000.0"))
    spot_fill = account_trade_fill(decode(AccountTrade, load("http", "my_trades_spot")[0]), "bn", SPOT, 1)
    usdm_fill = account_trade_fill(decode(AccountTrade, load("http", "user_trades_usdm")[0]), "bn", PERP, 1)
    assert isinstance(spot_fill, Fill) and spot_fill.side is Side.BUY and spot_fill.liquidity is Liquidity.TAKER
    assert usdm_fill.side is Side.SELL and usdm_fill.liquidity is Liquidity.MAKER
    assert usdm_fill.trade_id == "BTCUSDT-698759" and usdm_fill.order_id == "25851813"
    position = position_of(decode(PositionRisk, load("http", "position_risk_v2")[0]), "bn", PERP, 1)
    assert position.qty == Decimal("-0.002") and position.leverage == 10
    (balance,) = futures_balances([decode(FuturesBalance, r) for r in load("http", "balance_usdm")], "bn")
    assert balance.free == Decimal("23.72469206") and balance.free + balance.locked == Decimal("122607.35137903")


def test_spot_and_futures_trade_ids_never_collide_across_symbols() -> None:
    row = load("http", "my_trades_spot")[0]
    eth = {**row, "symbol": "ETHUSDT"}
    ids = {account_trade_fill(decode(AccountTrade, r), "bn", SPOT, 1).trade_id for r in (row, eth)}
    assert len(ids) == 2
    assert isinstance(OrderUpdate, type)
