"""The seed wrapper's calls that `VenueAdapter` has no place for: order status (open, then closed, with
``fill_status`` / ``filled_ratio``), closed orders and fills one cursor page at a time, a cache refresh.

They answer in the gateway's model (`OrderUpdate`, `Fill`: client order ids are the gateway's where this
session knows them) plus Lighter's own status text, so that the strategy API's ``lighter.*`` methods can
hand them out as they are. Reads only: nothing here changes an order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.core.errors import ErrorCode, LookupFailed
from gateway.venues.lighter.queries import LighterQueries

if TYPE_CHECKING:
    from gateway.venues.lighter.adapter import LighterAdapter

__all__ = ["closed_orders_page", "fills_page", "order_status", "refresh_quote"]


def _queries(a: LighterAdapter) -> LighterQueries:
    assert a.queries is not None, "the session is not open"
    return a.queries


async def order_status(a: LighterAdapter, symbol: str, *, order_id: str | None = None,
                       client_order_id: str | None = None, include_closed: bool = True, closed_limit: int = 100,
                       include_fills: bool = False) -> dict[str, Any]:
    """The seed's ``get_order_status``: look in open orders, then closed (then by client index).

    Returns ``status`` (Lighter's text, or ``not_found``), ``source`` (open / closed / client_index),
    ``order`` (an `OrderUpdate`), ``fill_status`` (none / partial / filled), ``filled_ratio`` and, when
    asked, ``fills``.
    """
    if (order_id is None) == (client_order_id is None):
        raise LookupFailed("give exactly one of order_id and client_order_id", code=ErrorCode.INVALID_PARAMS)
    if order_id is not None and not order_id.isdigit():
        raise LookupFailed(f"a Lighter order id is an order index, not {order_id!r}", code=ErrorCode.INVALID_PARAMS)
    spec = a.spec(symbol)
    found = await _queries(a).order_status(
        spec.market_id, order_index=int(order_id) if order_id is not None else None,
        client_order_index=a.ids.index_of(client_order_id) if client_order_id is not None else None,
        include_closed=include_closed, closed_limit=closed_limit, include_fills=include_fills)
    raw = found["order"]
    result: dict[str, Any] = {**found, "order": a.user.to_update(raw) if raw is not None else None}
    if include_fills and raw is not None:
        result["fills"] = [f for f in (a.user.to_fill(t) for t in found.get("fills") or []) if f is not None]
    return result


async def closed_orders_page(a: LighterAdapter, symbol: str | None, *, limit: int, cursor: str | None,
                             ask_filter: int | None = None,
                             between: tuple[int, int] | None = None) -> dict[str, Any]:
    """The seed's ``fetch_closed_orders``: one page (``orders``) and ``next_cursor`` (None: the last)."""
    market = a.spec(symbol).market_id if symbol else None
    orders, next_cursor = await _queries(a).inactive_orders_page(market, limit=limit, cursor=cursor,
                                                                 between=between, ask_filter=ask_filter)
    return {"orders": a.user.to_updates(orders), "next_cursor": next_cursor}


async def fills_page(a: LighterAdapter, symbol: str | None, *, order_id: str | None, limit: int,
                     cursor: str | None, sort_by: str = "timestamp", ask_filter: int | None = None,
                     role: str | None = None, trade_type: str | None = None) -> dict[str, Any]:
    """The seed's ``fetch_fills`` / ``get_order_fills``: one page (``fills``) and ``next_cursor``."""
    market = a.spec(symbol).market_id if symbol else None
    if order_id is not None and not order_id.isdigit():
        raise LookupFailed(f"a Lighter order id is an order index, not {order_id!r}", code=ErrorCode.INVALID_PARAMS)
    trades, next_cursor = await _queries(a).trades_page(
        market_id=market, order_index=int(order_id) if order_id is not None else None, limit=limit, cursor=cursor,
        sort_by=sort_by, ask_filter=ask_filter, role=role, trade_type=trade_type)
    fills = [f for f in (a.user.to_fill(t) for t in trades) if f is not None]
    return {"fills": fills, "next_cursor": next_cursor}


async def refresh_quote(a: LighterAdapter, symbol: str) -> dict[str, Any] | None:
    """The seed's ``refresh_order_book_cache`` / ``refresh_ticker_cache``: poll REST now, answer the cache."""
    await a.user.poll_quote(a.spec(symbol).symbol)
    return a.price_cache(symbol)
