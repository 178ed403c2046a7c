"""Builders shared by the order unit tests: an instrument, capabilities, reports, a manager."""

from __future__ import annotations

from decimal import Decimal

from gateway.core.enums import Liquidity, MarketType, OrderStatus, OrderType, Side, TimeInForce
from gateway.core.events import Fill, OrderUpdate
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities
from gateway.orders.commands import PlaceOrder, PlaceParams
from gateway.orders.config import OrdersSettings
from gateway.orders.manager import OrderManager

VENUE = "v"
T0 = 1_700_000_000_000
INSTRUMENT = Instrument(
    venue=VENUE, symbol="BTC/USDT", native="BTCUSDT", base="BTC", quote="USDT", type=MarketType.SPOT,
    tick_size=Decimal("0.01"), step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("5"),
)
CAPS = Capabilities(amend=True, stop_orders=True, reduce_only=True)


def D(value: str) -> Decimal:
    return Decimal(value)


def manager(**settings: object) -> OrderManager:
    base: dict[str, object] = {"unknown_backoff_base_ms": 100, "unknown_backoff_max_ms": 1_000,
                               "unknown_reject_after_ms": 5_000}
    base.update(settings)
    return OrderManager(OrdersSettings(**base), T0)


def place_cmd(coid: str | None = "c1", qty: str = "1", price: str | None = "100", side: Side = Side.BUY,
              type_: OrderType = OrderType.LIMIT, strategy: str = "s1", caps: Capabilities = CAPS,
              **extra: object) -> PlaceOrder:
    params = PlaceParams(symbol="BTC/USDT", side=side, type=type_, qty=D(qty),
                         price=None if price is None else D(price), client_order_id=coid, **extra)  # type: ignore[arg-type]
    return PlaceOrder(strategy, VENUE, params, INSTRUMENT, caps)


def update(coid: str | None, status: OrderStatus, order_id: str | None = "o1", qty: str = "1",
           filled: str = "0", price: str = "100", ts: int = T0) -> OrderUpdate:
    return OrderUpdate(
        venue=VENUE, symbol="BTC/USDT", order_id=order_id, client_order_id=coid, side=Side.BUY,
        type=OrderType.LIMIT, tif=TimeInForce.GTC, price=D(price), trigger_price=None, qty=D(qty),
        filled_qty=D(filled), avg_price=None, status=status, reduce_only=False, ts=ts, recv_ts=ts,
    )


def fill(coid: str | None, trade_id: str, qty: str, price: str = "100", order_id: str | None = "o1",
         ts: int = T0) -> Fill:
    return Fill(
        venue=VENUE, symbol="BTC/USDT", order_id=order_id, client_order_id=coid, trade_id=trade_id,
        side=Side.BUY, price=D(price), qty=D(qty), fee=D("0.01"), fee_asset="USDT", liquidity=Liquidity.MAKER,
        ts=ts, recv_ts=ts,
    )
