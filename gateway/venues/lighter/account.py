"""Account reads and settings of a Lighter session: orders by id, open / closed orders, fills, balances,
positions, leverage and margin mode.

Functions of the adapter (as `marketdata`), so that `adapter.py` stays the session's lifecycle and the
`VenueAdapter` surface only. Orders the venue reports are converted by `userfeed.UserFeed.to_update`,
the one path that also clears an accepted-but-unseen order from `execution.pending`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.enums import MarginType
from gateway.core.events import Balance, Fill, OrderUpdate, Position
from gateway.venues.lighter import parse
from gateway.venues.lighter.constants import MARGIN_CROSS, MARGIN_ISOLATED
from gateway.venues.lighter.queries import LighterQueries

if TYPE_CHECKING:
    from gateway.venues.lighter.adapter import LighterAdapter

__all__ = [
    "balances",
    "fills_since",
    "get_order",
    "open_orders",
    "orders_since",
    "positions",
    "set_leverage",
    "set_margin_type",
]

_DEFAULT_LEVERAGE = 10  # what UpdateLeverage sends for the half the caller did not give (nothing to read it from)


def _queries(a: LighterAdapter) -> LighterQueries:
    assert a.queries is not None, "the session is not open"
    return a.queries


async def get_order(a: LighterAdapter, symbol: str, order_id: str | None = None,
                    client_order_id: str | None = None) -> OrderUpdate | None:
    """Look an order up by client order id (``accountOrders``) or by order index (open, then closed)."""
    queries = _queries(a)
    spec = a.spec(symbol)
    if client_order_id:
        index = a.ids.index_of(client_order_id)  # also teaches the map this id (after a restart)
        found = await queries.orders_by_client_index([index])
    else:
        status = await queries.order_status(spec.market_id, order_index=int(order_id or 0))
        found = [status["order"]] if status["order"] else []
    updates = [a.user.to_update(o) for o in found]
    return next((u for u in updates if u is not None), None)


async def open_orders(a: LighterAdapter, symbol: str | None = None) -> list[OrderUpdate]:
    market = a.spec(symbol).market_id if symbol else None
    return a.user.to_updates(await _queries(a).active_orders(market))


async def orders_since(a: LighterAdapter, since_ms: int) -> list[OrderUpdate]:
    queries = _queries(a)
    closed = await queries.inactive_orders(between=(since_ms, a.now_ms() + 60_000))
    return a.user.to_updates(closed + await queries.active_orders())


async def fills_since(a: LighterAdapter, since_ms: int) -> list[Fill]:
    trades = await _queries(a).trades(since_ms=since_ms)
    return [f for f in (a.user.to_fill(t) for t in trades) if f is not None and f.ts >= since_ms]


async def balances(a: LighterAdapter) -> list[Balance]:
    return parse.to_balances(a.name, await _queries(a).account(), a.settings.quote_asset, a.now_ms())


async def positions(a: LighterAdapter) -> list[Position]:
    return parse.to_positions(a.name, await _queries(a).account(), a.spec_of_market, a.now_ms())


async def set_leverage(a: LighterAdapter, symbol: str, leverage: int) -> dict[str, object]:
    # UpdateLeverage carries both the fraction and the margin mode: resend the mode last set.
    _, mode = a.margin.get(symbol, (_DEFAULT_LEVERAGE, MARGIN_CROSS))
    await a.trading().update_leverage(a.spec(symbol).market_id, leverage, mode)
    a.margin[symbol] = (leverage, mode)
    return {"symbol": symbol, "leverage": leverage}


async def set_margin_type(a: LighterAdapter, symbol: str, margin_type: MarginType) -> dict[str, object]:
    leverage, _ = a.margin.get(symbol, (_DEFAULT_LEVERAGE, MARGIN_CROSS))
    mode = MARGIN_ISOLATED if margin_type is MarginType.ISOLATED else MARGIN_CROSS
    await a.trading().update_leverage(a.spec(symbol).market_id, leverage, mode)
    a.margin[symbol] = (leverage, mode)
    return {"symbol": symbol, "margin_type": margin_type.value, "leverage": leverage}
