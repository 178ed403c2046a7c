"""Helpers for the bracket tests: a gateway on a frozen sim market that the test moves itself.

The sim's synthetic market is slowed to one step per ~17 minutes, so the book stays as the pre-warm left
it and nothing trades unless the test says so. The test trades as the exchange's house account, straight
on the sim's matching engine (test-side venue control), and has the adapter push what that caused —
our fills, the tape, the book — exactly as it pushes the market loop's own trades.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from gateway.api.config import ApiSettings, Permission, StrategySettings
from gateway.app import Gateway
from gateway.client import GatewayClient
from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.orders.brackets.config import BracketsSettings
from gateway.orders.config import OrdersSettings
from gateway.venues.sim.config import SimSettings
from gateway.venues.sim.market import HOUSE
from tests.conftest import LOCAL_KEY

__all__ = ["OTHER_KEY", "PERP", "READ_KEY", "Streams", "api_settings", "bracket_params", "house_order",
           "sweep_to", "venue_open_orders", "venue_position"]

PERP = "BTC/USDT:USDT"
OTHER_KEY = "other-strategy-key-1"
READ_KEY = "read-only-key-12345"
FROZEN = SimSettings(message_rate=0.001)
D = Decimal


def api_settings() -> ApiSettings:
    return ApiSettings(port=0, strategies=[
        StrategySettings(name="local", api_key=LOCAL_KEY, permissions=frozenset(Permission)),
        StrategySettings(name="other", api_key=OTHER_KEY, permissions=frozenset(Permission)),
        StrategySettings(name="reader", api_key=READ_KEY, permissions=frozenset({Permission.READ})),
    ])


def gateway_overrides(**brackets: Any) -> dict[str, Any]:
    return {
        "api": api_settings(), "venues": {"sim": FROZEN},
        "orders": OrdersSettings(unknown_backoff_base_ms=20, unknown_backoff_max_ms=200, resolve_interval_ms=20),
        "brackets": BracketsSettings(position_settle_ms=100, **brackets),
    }


async def house_order(gateway: Gateway, side: Side, qty: str, price: Decimal | None = None) -> None:
    """Trade as the exchange's house: a market order, or an IOC limit (a sweep up to `price`)."""
    adapter = gateway.venues["sim"]
    engine = adapter.engine  # type: ignore[attr-defined]
    now = gateway.clock.now_ms()
    if price is None:
        events = engine.place(HOUSE, PERP, side, OrderType.MARKET, D(qty), now)
    else:
        events = engine.place(HOUSE, PERP, side, OrderType.LIMIT, D(qty), now, price=price, tif=TimeInForce.IOC)
    await adapter.exchange.publish(events, now, "sim")  # type: ignore[attr-defined]  # push what it caused, as the venue does


async def sweep_to(gateway: Gateway, trigger: Decimal, side: Side) -> None:
    """Trade through `trigger`: the house takes every level up to (buy) or down to (sell) one spacing beyond."""
    beyond = D("10") if side is Side.BUY else D("-10")
    await house_order(gateway, side, "100", (trigger + beyond).quantize(D("0.1")))


def venue_open_orders(gateway: Gateway) -> list[Any]:
    """The venue's own truth: the account's open orders on the perp."""
    return gateway.venues["sim"].engine.open_orders("sim", PERP)  # type: ignore[attr-defined]


def venue_position(gateway: Gateway) -> Decimal:
    positions = gateway.venues["sim"].engine.positions("sim", gateway.clock.now_ms())  # type: ignore[attr-defined]
    return sum((p.qty for p in positions if p.symbol == PERP), D(0))


def bracket_params(side: str, qty: str, entry: dict[str, Any], tp: Decimal, sl: Decimal, **extra: Any
                   ) -> dict[str, Any]:
    return {"symbol": PERP, "side": side, "qty": qty, "entry": entry,
            "take_profit": {"trigger_price": str(tp)}, "stop_loss": {"trigger_price": str(sl)}, **extra}


class Streams:
    """Every push of a client, kept per stream; `until` waits (no sleeps) for one matching a predicate.

    Use as an async context manager: one task reads the client's pushes for the duration.
    """

    def __init__(self, client: GatewayClient):
        self.client = client
        self.seen: dict[str, list[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Streams:
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        async for push in self.client.pushes():
            self.seen.setdefault(push.stream, []).append(push.data)
            self._changed.set()

    async def until(self, stream: str, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = 0
        while True:
            found = self.seen.get(stream, [])
            for data in found[checked:]:
                if predicate(data):
                    return data
            checked = len(found)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no matching push on {stream} within {timeout}s; last: {found[-3:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
