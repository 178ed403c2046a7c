"""Account reads: orders by index and client index, open and closed orders (cursor paging), fills,
the account (balances, positions), and the seed's order status (open first, then closed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.venues.lighter.parse import fill_status
from gateway.venues.lighter.rest import LighterRest

__all__ = ["LighterQueries"]

_MAX_CLIENT_INDEXES = 20  # accountOrders takes at most 20 client order indexes (fact sheet §3)
_MAX_PAGES = 50


class LighterQueries:
    """Authenticated reads of one account.

    Args:
        rest: the REST client.
        account_index: the account.
        auth: returns a valid auth token (None: unauthenticated reads only).
    """

    def __init__(self, rest: LighterRest, account_index: int, auth: Callable[[], Awaitable[str]] | None):
        self._rest = rest
        self._account = account_index
        self._auth = auth

    async def _token(self) -> str | None:
        return await self._auth() if self._auth is not None else None

    async def orders_by_client_index(self, indexes: list[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(indexes), _MAX_CLIENT_INDEXES):
            chunk = indexes[start:start + _MAX_CLIENT_INDEXES]
            answer = await self._rest.get("/api/v1/accountOrders", {
                "account_index": self._account, "client_order_indexes": chunk}, auth=await self._token())
            out += [o for o in answer.get("orders") or [] if isinstance(o, dict)]
        return out

    async def active_orders(self, market_id: int | None = None) -> list[dict[str, Any]]:
        answer = await self._rest.get("/api/v1/accountActiveOrders", {
            "account_index": self._account, "market_id": market_id}, auth=await self._token())
        return [o for o in answer.get("orders") or [] if isinstance(o, dict)]

    async def inactive_orders(self, market_id: int | None = None, *, limit: int = 100,
                              between: tuple[int, int] | None = None, ask_filter: int | None = None,
                              max_pages: int = _MAX_PAGES) -> list[dict[str, Any]]:
        """Closed orders, following ``next_cursor`` for up to `max_pages` pages."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page, cursor = await self.inactive_orders_page(market_id, limit=limit, cursor=cursor, between=between,
                                                           ask_filter=ask_filter)
            out += page
            if not cursor:
                break
        return out

    async def inactive_orders_page(self, market_id: int | None = None, *, limit: int = 100,
                                   cursor: str | None = None, between: tuple[int, int] | None = None,
                                   ask_filter: int | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of closed orders and the cursor of the next (None: the last page)."""
        answer = await self._rest.get("/api/v1/accountInactiveOrders", {
            "account_index": self._account, "limit": limit, "market_id": market_id, "cursor": cursor,
            "ask_filter": ask_filter,
            "between_timestamps": f"{between[0]},{between[1]}" if between else None}, auth=await self._token())
        return [o for o in answer.get("orders") or [] if isinstance(o, dict)], answer.get("next_cursor") or None

    async def trades(self, *, market_id: int | None = None, order_index: int | None = None, limit: int = 100,
                     since_ms: int | None = None, max_pages: int = _MAX_PAGES) -> list[dict[str, Any]]:
        """The account's trades (fills), newest first per page, following ``next_cursor``."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page, cursor = await self.trades_page(market_id=market_id, order_index=order_index, limit=limit,
                                                  cursor=cursor, since_ms=since_ms)
            out += page
            if not cursor:
                break
        return out

    async def trades_page(self, *, market_id: int | None = None, order_index: int | None = None, limit: int = 100,
                          cursor: str | None = None, since_ms: int | None = None, sort_by: str = "timestamp",
                          ask_filter: int | None = None, role: str | None = None,
                          trade_type: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the account's trades and the cursor of the next (None: the last page).

        `role` / `trade_type` are sent as given (their allowed values are unverified, fact sheet §3).
        """
        answer = await self._rest.get("/api/v1/trades", {
            "account_index": self._account, "sort_by": sort_by, "limit": limit, "market_id": market_id,
            "order_index": order_index, "cursor": cursor, "from": since_ms, "ask_filter": ask_filter, "role": role,
            "type": trade_type}, auth=await self._token())
        return [t for t in answer.get("trades") or [] if isinstance(t, dict)], answer.get("next_cursor") or None

    async def account(self) -> dict[str, Any]:
        answer = await self._rest.get("/api/v1/account", {"by": "index", "value": self._account})
        accounts = answer.get("accounts") or []
        return accounts[0] if accounts and isinstance(accounts[0], dict) else {}

    async def order_status(self, market_id: int, *, order_index: int | None = None,
                           client_order_index: int | None = None, include_closed: bool = True,
                           closed_limit: int = 100, include_fills: bool = False) -> dict[str, Any]:
        """The seed's ``get_order_status``: look in open orders, then closed; add fill_status/filled_ratio."""
        def pick(orders: list[dict[str, Any]]) -> dict[str, Any] | None:
            for order in orders:
                if order_index is not None and int(order.get("order_index", 0)) == order_index:
                    return order
                if client_order_index is not None and int(order.get("client_order_index", 0)) == client_order_index:
                    return order
            return None

        found, source = pick(await self.active_orders(market_id)), "open"
        if found is None and include_closed:
            found, source = pick(await self.inactive_orders(market_id, limit=closed_limit, max_pages=1)), "closed"
        if found is None and client_order_index is not None:
            found, source = pick(await self.orders_by_client_index([client_order_index])), "client_index"
        if found is None:
            return {"status": "not_found", "source": None, "order": None, "fill_status": None, "filled_ratio": None}
        label, ratio = fill_status(found)
        result: dict[str, Any] = {"status": found.get("status"), "source": source, "order": found,
                                  "fill_status": label, "filled_ratio": ratio}
        if include_fills:
            result["fills"] = await self.trades(market_id=market_id, order_index=int(found["order_index"]),
                                                max_pages=1)
        return result
