"""The dialect's user-stream renderer: one report per fill with cumulative quantities as of that fill, one per
other change, nothing for a state already reported, algo orders as ALGO_UPDATE. Pure."""

from __future__ import annotations

from decimal import Decimal

from gateway.core.enums import OrderType, Side
from gateway.simserver.binance.orders_render import UserReports
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import build_engine

USER = "user"


def _engine():
    engine = build_engine(USER, SimSettings())
    engine.open_account("maker")
    engine.ledger.deposit("maker", "BTC", Decimal(10))
    engine.ledger.deposit("maker", "USDT", Decimal(10_000_000))
    return engine


def _reports() -> UserReports:
    return UserReports(lambda s: s.endswith(":USDT"), lambda s: s.split(":")[0].replace("/", ""))


def test_a_taker_filled_by_two_makers_gets_two_trade_reports_with_running_totals() -> None:
    engine = _engine()
    reports = _reports()
    for price in ("65000.00", "65001.00"):
        engine.place("maker", "BTC/USDT", Side.SELL, OrderType.LIMIT, Decimal("0.001"), 1, price=Decimal(price))
    events = engine.place(USER, "BTC/USDT", Side.BUY, OrderType.MARKET, Decimal("0.002"), 2, client_order_id="t-1")
    payloads = [p for m, p in reports.render(events, USER, 2) if p["e"] == "executionReport"]
    assert [(p["x"], p["X"], p["z"], p["l"]) for p in payloads] == [
        ("NEW", "NEW", "0", "0"), ("TRADE", "PARTIALLY_FILLED", "0.001", "0.001"),
        ("TRADE", "FILLED", "0.002", "0.001")]
    assert payloads[1]["t"] != payloads[2]["t"] and Decimal(payloads[2]["Z"]) == Decimal("130.001")
    kinds = [p["e"] for _, p in reports.render(events, USER, 2)]
    assert "outboundAccountPosition" in kinds and reports.render([], USER, 3) == []


def test_a_futures_stop_is_an_algo_order_until_it_triggers() -> None:
    engine = _engine()
    reports = _reports()
    engine.place("maker", "BTC/USDT:USDT", Side.SELL, OrderType.LIMIT, Decimal("0.001"), 1, price=Decimal(65000))
    placed = engine.place(USER, "BTC/USDT:USDT", Side.BUY, OrderType.STOP, Decimal("0.001"), 2,
                          trigger_price=Decimal(64000), client_order_id="sl-1")
    (first,) = [p for _, p in reports.render(placed, USER, 2) if p["e"] in ("ALGO_UPDATE", "ORDER_TRADE_UPDATE")]
    assert first["e"] == "ALGO_UPDATE" and first["o"]["X"] == "NEW" and first["o"]["caid"] == "sl-1"
    trade = engine.place("maker", "BTC/USDT:USDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"), 3,
                         price=Decimal(65000))  # trades at 65000 >= 64000: the stop triggers and fills
    kinds = [(p["e"], p["o"].get("X")) for _, p in reports.render(trade, USER, 3) if "o" in p]
    assert kinds[0] == ("ALGO_UPDATE", "TRIGGERED") and ("ALGO_UPDATE", "FINISHED") in kinds
    assert any(e == "ORDER_TRADE_UPDATE" for e, _ in kinds)
