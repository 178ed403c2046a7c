"""The ``lighter.*`` methods of the strategy API: the seed `LighterWrapper`'s calls that have no
venue-neutral method (docs/venues/lighter.md maps every seed method).

Reads go to the Lighter session itself: the market cache, the worst acceptable price, order status
(open, then closed, with fill_status / filled_ratio), closed orders and fills one cursor page at a time.
The one command, ``lighter.close_position`` (the seed's ``close_all_positions_for_symbol``), is not a
raw venue call: it reads the position and places a reduce-only market order for its size through the
order service, so the order is journaled, risk-checked and tracked like any other.

On an account that is not a Lighter venue every method answers NOT_SUPPORTED. The session is reached
through the `LighterCalls` protocol below, so this module imports nothing of the venue package.
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated, Any, Protocol, TypeVar, runtime_checkable

from pydantic import Field, model_validator

from gateway.api.config import Permission
from gateway.api.methods import MethodTable, RequestContext
from gateway.api.protocol import Params
from gateway.core.enums import OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, GatewayError, VenueUnavailable
from gateway.orders.commands import PlaceParams as PlaceCommandParams
from gateway.orders.service import OrderService

__all__ = ["LighterCalls", "register_lighter_methods"]

T = TypeVar("T")
Symbol = Annotated[str, Field(min_length=1, max_length=64)]
ClientId = Annotated[str, Field(min_length=1, max_length=64)]
OrderIndex = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9]+$")]
Cursor = Annotated[str, Field(min_length=1, max_length=256)]


@runtime_checkable
class LighterCalls(Protocol):
    """What a Lighter session offers beyond `VenueAdapter` (gateway.venues.lighter.adapter)."""

    def price_cache(self, symbol: str) -> dict[str, Any] | None: ...
    async def refresh_quote(self, symbol: str) -> dict[str, Any] | None: ...
    async def worst_price(self, symbol: str, side: Side, max_slippage: Decimal | None = None) -> Decimal: ...
    async def order_status(self, symbol: str, **kwargs: Any) -> dict[str, Any]: ...
    async def closed_orders_page(self, symbol: str | None, **kwargs: Any) -> dict[str, Any]: ...
    async def fills_page(self, symbol: str | None, **kwargs: Any) -> dict[str, Any]: ...


class AccountParams(Params):
    account: str | None = None


class SymbolParams(AccountParams):
    symbol: Symbol


class WorstPriceParams(SymbolParams):
    side: Annotated[Side, Field(strict=False)]
    max_slippage: Annotated[Decimal, Field(strict=False, ge=0, lt=1, allow_inf_nan=False)] | None = None


class OrderStatusParams(SymbolParams):
    order_id: OrderIndex | None = None  # Lighter's order index
    client_order_id: ClientId | None = None
    include_closed: bool = True
    closed_limit: int = Field(100, ge=1, le=100)
    include_fills: bool = False

    @model_validator(mode="after")
    def _one_reference(self) -> OrderStatusParams:
        if (self.order_id is None) == (self.client_order_id is None):
            raise ValueError("give exactly one of order_id and client_order_id")
        return self


class PageParams(AccountParams):
    symbol: Symbol | None = None
    limit: int = Field(100, ge=1, le=100)
    cursor: Cursor | None = None
    side: Annotated[Side, Field(strict=False)] | None = None  # the seed's ask_filter: buy 0 / sell 1


class ClosedOrdersParams(PageParams):
    start_ms: int | None = Field(None, ge=0, le=2**53)  # the seed's between_timestamps
    end_ms: int | None = Field(None, ge=0, le=2**53)

    @model_validator(mode="after")
    def _both_or_neither(self) -> ClosedOrdersParams:
        if (self.start_ms is None) != (self.end_ms is None):
            raise ValueError("give both start_ms and end_ms, or neither")
        return self


class FillsPageParams(PageParams):
    order_id: OrderIndex | None = None
    sort_by: str = Field("timestamp", pattern=r"^(timestamp|block_height|trade_id)$")
    role: str | None = Field(None, pattern=r"^(all|maker|taker)$")
    trade_type: str | None = Field(None, pattern=r"^(all|trade|liquidation|deleverage|market-settlement)$")


class ClosePositionParams(SymbolParams):
    client_order_id: ClientId | None = None


def _lighter(ctx: RequestContext, account: str | None) -> tuple[str, LighterCalls]:
    name = ctx.account(account)
    adapter = ctx.directory.venue(name)
    if adapter.kind != "lighter" or not isinstance(adapter, LighterCalls):
        raise GatewayError(f"account {name!r} (kind {adapter.kind}) is not a Lighter account",
                           code=ErrorCode.NOT_SUPPORTED, details={"account": name, "kind": adapter.kind})
    return name, adapter


def _symbol(ctx: RequestContext, account: str, symbol: str | None) -> str | None:
    return None if symbol is None else ctx.directory.instrument(account, symbol).symbol


def _ask_filter(side: Side | None) -> int | None:
    return None if side is None else int(side is Side.SELL)


async def _call(account: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except GatewayError:
        raise
    except (OSError, TimeoutError) as exc:
        raise VenueUnavailable(f"{account} did not answer", venue=account) from exc


async def _price_cache(ctx: RequestContext, p: SymbolParams) -> dict[str, Any]:
    account, venue = _lighter(ctx, p.account)
    symbol = _symbol(ctx, account, p.symbol) or p.symbol
    return {"account": account, "symbol": symbol, "cache": venue.price_cache(symbol)}


async def _refresh_cache(ctx: RequestContext, p: SymbolParams) -> dict[str, Any]:
    account, venue = _lighter(ctx, p.account)
    symbol = _symbol(ctx, account, p.symbol) or p.symbol
    return {"account": account, "symbol": symbol, "cache": await _call(account, venue.refresh_quote(symbol))}


async def _worst_price(ctx: RequestContext, p: WorstPriceParams) -> dict[str, Any]:
    account, venue = _lighter(ctx, p.account)
    symbol = _symbol(ctx, account, p.symbol) or p.symbol
    price = await _call(account, venue.worst_price(symbol, p.side, p.max_slippage))
    return {"account": account, "symbol": symbol, "side": p.side, "worst_price": price}


async def _order_status(ctx: RequestContext, p: OrderStatusParams) -> dict[str, Any]:
    account, venue = _lighter(ctx, p.account)
    symbol = _symbol(ctx, account, p.symbol) or p.symbol
    return await _call(account, venue.order_status(
        symbol, order_id=p.order_id, client_order_id=p.client_order_id, include_closed=p.include_closed,
        closed_limit=p.closed_limit, include_fills=p.include_fills))


async def _orders_closed(ctx: RequestContext, p: ClosedOrdersParams) -> dict[str, Any]:
    account, venue = _lighter(ctx, p.account)
    between = (p.start_ms, p.end_ms) if p.start_ms is not None and p.end_ms is not None else None
    return await _call(account, venue.closed_orders_page(
        _symbol(ctx, account, p.symbol), limit=p.limit, cursor=p.cursor, ask_filter=_ask_filter(p.side),
        between=between))


async def _fills(ctx: RequestContext, p: FillsPageParams) -> dict[str, Any]:
    account, venue = _lighter(ctx, p.account)
    return await _call(account, venue.fills_page(
        _symbol(ctx, account, p.symbol), order_id=p.order_id, limit=p.limit, cursor=p.cursor, sort_by=p.sort_by,
        ask_filter=_ask_filter(p.side), role=p.role, trade_type=p.trade_type))


async def _close_position(ctx: RequestContext, p: ClosePositionParams) -> dict[str, Any]:
    account, _ = _lighter(ctx, p.account)
    adapter = ctx.directory.venue(account)
    symbol = _symbol(ctx, account, p.symbol) or p.symbol
    positions = await _call(account, adapter.positions())
    position = next((x for x in positions if x.symbol == symbol and x.qty != 0), None)
    if position is None:
        return {"account": account, "symbol": symbol, "order": None, "reason": "no position"}
    side = Side.SELL if position.qty > 0 else Side.BUY
    command = PlaceCommandParams(symbol, side, OrderType.MARKET, abs(position.qty), None, None, TimeInForce.GTC,
                                 True, p.client_order_id)
    order = await ctx.service(OrderService).place(ctx.principal.strategy, account, command)
    return {"account": account, "symbol": symbol, "order": order, "reason": None}


def register_lighter_methods(table: MethodTable) -> None:
    """Add the ``lighter.*`` methods to `table`."""
    read, trade = Permission.READ, Permission.TRADE
    table.register("lighter.price_cache", SymbolParams, _price_cache, permission=read)
    table.register("lighter.refresh_cache", SymbolParams, _refresh_cache, permission=read)
    table.register("lighter.worst_price", WorstPriceParams, _worst_price, permission=read)
    table.register("lighter.order_status", OrderStatusParams, _order_status, permission=read)
    table.register("lighter.orders_closed", ClosedOrdersParams, _orders_closed, permission=read)
    table.register("lighter.fills", FillsPageParams, _fills, permission=read)
    # A command: ordered, so that pipelined requests reach the order manager in arrival order.
    table.register("lighter.close_position", ClosePositionParams, _close_position, permission=trade, ordered=True)
