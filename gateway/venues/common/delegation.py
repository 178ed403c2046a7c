"""The `VenueAdapter` trading and account methods, forwarded to a venue session's execution parts.

Every REST venue's adapter assembles its session from parts (REST client, streams, execution) and answers
the order manager's calls by forwarding them; this mixin is that forwarding, written once. An adapter
names the part for order calls (place / cancel / amend / get: Binance may route them over its WebSocket
API) and the part for the rest; each hook raises while the session is not running.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.core.enums import MarginType
from gateway.core.events import Balance, Fill, OrderUpdate, Position
from gateway.core.ports import OrderRequest

__all__ = ["TradingDelegation"]


class TradingDelegation:
    """Forward the `VenueAdapter` trading and account calls to `_order_calls()` / `_account_calls()`."""

    def _order_calls(self) -> Any:
        """Return the part that places, cancels, amends and queries single orders."""
        return self._account_calls()

    def _account_calls(self) -> Any:
        """Return the part for every other trading and account call (raise if not running)."""
        raise TypeError(f"{type(self).__name__} must define _account_calls()")

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        return await self._order_calls().place_order(request)  # type: ignore[no-any-return]

    async def cancel_order(self, symbol: str, order_id: str | None = None,
                           client_order_id: str | None = None) -> OrderUpdate:
        return await self._order_calls().cancel_order(symbol, order_id, client_order_id)  # type: ignore[no-any-return]

    async def amend_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None,
                          qty: Decimal | None = None, price: Decimal | None = None) -> OrderUpdate:
        return await self._order_calls().amend_order(  # type: ignore[no-any-return]
            symbol, order_id, client_order_id, qty, price)

    async def get_order(self, symbol: str, order_id: str | None = None,
                        client_order_id: str | None = None) -> OrderUpdate | None:
        return await self._order_calls().get_order(symbol, order_id, client_order_id)  # type: ignore[no-any-return]

    async def cancel_all(self, symbol: str | None = None) -> list[OrderUpdate]:
        return await self._account_calls().cancel_all(symbol)  # type: ignore[no-any-return]

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        return await self._account_calls().open_orders(symbol)  # type: ignore[no-any-return]

    async def orders_since(self, since_ms: int) -> list[OrderUpdate]:
        return await self._account_calls().orders_since(since_ms)  # type: ignore[no-any-return]

    async def fills_since(self, since_ms: int) -> list[Fill]:
        return await self._account_calls().fills_since(since_ms)  # type: ignore[no-any-return]

    async def balances(self) -> list[Balance]:
        return await self._account_calls().balances()  # type: ignore[no-any-return]

    async def positions(self) -> list[Position]:
        return await self._account_calls().positions()  # type: ignore[no-any-return]

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, object]:
        return await self._account_calls().set_leverage(symbol, leverage)  # type: ignore[no-any-return]

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> dict[str, object]:
        return await self._account_calls().set_margin_type(symbol, margin_type)  # type: ignore[no-any-return]

    async def raw_request(self, http_method: str, path: str, params: dict[str, Any]) -> Any:
        """`RawVenue`: forward a call to the venue's own REST API through the signed client."""
        return await self._account_calls().raw_request(http_method, path, params)
