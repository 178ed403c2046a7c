"""A bracket with native legs on Binance USD-M futures, through the gateway against the dialect: the entry
fills, both legs are placed as algo (conditional) orders, the market trades through the take-profit
trigger, the TP's triggered order fills, and the stop-loss algo order is canceled."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from dialect_helpers import PERP, adapter_settings, dialect_settings

from gateway.client import GatewayClient
from gateway.core.enums import OrderStatus, OrderType, Side, TimeInForce
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.sim.market import HOUSE
from tests.conftest import LOCAL_KEY

TIMEOUT_S = 10.0


async def test_native_bracket_legs_are_algo_orders_and_tp_closes_it(gateway_factory) -> None:
    async with BinanceDialect(dialect_settings()) as dialect:
        gateway = await gateway_factory(venues={"bn": adapter_settings(dialect, "usdm")})
        tick = dialect.engine.instruments[PERP].tick_size
        async with GatewayClient(f"ws://127.0.0.1:{gateway.api.port}/ws", api_key=LOCAL_KEY) as client:
            await client.subscribe(["bn@bracket"])
            ask = dialect.engine.bbo(PERP)[2]
            assert ask is not None
            tp, sl = ask + 20 * tick, ask - 400 * tick
            bracket = await client.call("bracket.place", {
                "account": "bn", "symbol": PERP, "side": "buy", "qty": "0.002", "entry": {"type": "market"},
                "take_profit": {"trigger_price": str(tp)}, "stop_loss": {"trigger_price": str(sl)},
                "mode": "native", "bracket_id": "nb1"})
            assert bracket["mode"] == "native"

            async def until(done: Callable[[dict], bool]) -> dict:
                current = await client.call("bracket.get", {"account": "bn", "bracket_id": "nb1"})
                while not done(current):
                    current = (await client.next_push("bn@bracket", timeout=TIMEOUT_S)).data
                return current

            def legs_open(b: dict) -> bool:
                return b["state"] == "active" and all(
                    (b[leg]["order"] or {}).get("status") == "new" for leg in ("take_profit", "stop_loss"))

            active = await until(legs_open)
            algos = dialect.engine.open_orders(dialect.USER, PERP)
            assert sorted((o.type, o.trigger_price, o.reduce_only) for o in algos) == sorted(
                [(OrderType.TAKE_PROFIT, tp, True), (OrderType.STOP, sl, True)])
            # The dialect shows them on the algo endpoints only, as Binance does since the algo migration.
            rest = gateway.venues["bn"].rest
            open_algos = await rest.call("GET", "/fapi/v1/openAlgoOrders", {"symbol": "BTCUSDT"}, signed=True)
            assert {a["orderType"] for a in open_algos} == {"TAKE_PROFIT_MARKET", "STOP_MARKET"}
            assert await rest.call("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, signed=True) == []
            assert active["take_profit"]["order"]["order_id"].startswith("algo-")

            # A house buyer trades through the TP trigger: the TP triggers, its market order fills.
            now = dialect.now_ms()
            dialect.after_engine_call(dialect.engine.place(HOUSE, PERP, Side.BUY, OrderType.LIMIT, Decimal(50), now,
                                                           price=tp + 200 * tick, tif=TimeInForce.IOC), now)
            closed = await until(lambda b: b["state"] == "closed_by_tp" and b["stop_loss"]["status"] == "canceled")
            assert Decimal(closed["closed_qty"]) == Decimal("0.002")
            stop = dialect.engine.order(dialect.USER, client_order_id=closed["stop_loss"]["order"]["client_order_id"])
            assert stop is not None and stop.status is OrderStatus.CANCELED
            assert not dialect.engine.open_orders(dialect.USER, PERP)
            assert dialect.engine.ledger.position(dialect.USER, PERP).qty == 0
