"""The order and account methods of the strategy API, served by the order service.

Every order command goes through `OrderService` (the single writer of order state). Account reads and
leverage / margin settings go to the venue session directly: they change no order state.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, model_validator

from gateway.api.config import Permission
from gateway.api.methods import MethodTable, RequestContext
from gateway.api.protocol import Params
from gateway.core.enums import MarginType, OrderType, Side, TimeInForce
from gateway.core.errors import GatewayError, VenueUnavailable
from gateway.orders.commands import PlaceParams as PlaceCommandParams
from gateway.orders.service import OrderService

__all__ = ["register_order_methods"]

Qty = Annotated[Decimal, Field(strict=False, gt=0, allow_inf_nan=False)]
Price = Annotated[Decimal, Field(strict=False, gt=0, allow_inf_nan=False)]
ClientId = Annotated[str, Field(min_length=1, max_length=64)]


class AccountParams(Params):
    account: str | None = None


class PlaceParams(AccountParams):
    symbol: str = Field(min_length=1, max_length=64)
    side: Annotated[Side, Field(strict=False)]
    type: Annotated[OrderType, Field(strict=False)] = OrderType.LIMIT
    qty: Qty
    price: Price | None = None
    trigger_price: Price | None = None
    tif: Annotated[TimeInForce, Field(strict=False)] = TimeInForce.GTC
    reduce_only: bool = False
    client_order_id: ClientId | None = None


class OrderRefParams(AccountParams):
    order_id: str | None = Field(None, min_length=1, max_length=64)
    client_order_id: ClientId | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> OrderRefParams:
        if self.order_id is None and self.client_order_id is None:
            raise ValueError("order_id or client_order_id is required")
        return self


class ModifyParams(OrderRefParams):
    qty: Qty | None = None
    price: Price | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> ModifyParams:
        if self.qty is None and self.price is None:
            raise ValueError("qty or price is required")
        return self


class CancelAllParams(AccountParams):
    symbol: str | None = Field(None, min_length=1, max_length=64)


class ListParams(AccountParams):
    symbol: str | None = Field(None, min_length=1, max_length=64)
    since: int | None = Field(None, ge=0, le=2**53)  # ms; beyond what SQLite integers hold is refused
    limit: int = Field(500, ge=1, le=5000)


class FillsParams(ListParams):
    order_id: str | None = Field(None, min_length=1, max_length=64)
    client_order_id: ClientId | None = None


class PositionsParams(AccountParams):
    symbol: str | None = Field(None, min_length=1, max_length=64)


class LeverageParams(AccountParams):
    symbol: str = Field(min_length=1, max_length=64)
    leverage: int = Field(ge=1, le=200)


class MarginTypeParams(AccountParams):
    symbol: str = Field(min_length=1, max_length=64)
    margin_type: Annotated[MarginType, Field(strict=False)]


def _orders(ctx: RequestContext) -> OrderService:
    return ctx.service(OrderService)


async def _place(ctx: RequestContext, p: PlaceParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    command = PlaceCommandParams(p.symbol, p.side, p.type, p.qty, p.price, p.trigger_price, p.tif, p.reduce_only,
                                 p.client_order_id)
    return await _orders(ctx).place(ctx.principal.strategy, account, command)


async def _cancel(ctx: RequestContext, p: OrderRefParams) -> dict[str, Any]:
    return await _orders(ctx).cancel(ctx.principal.strategy, ctx.account(p.account), p.order_id, p.client_order_id)


async def _cancel_all(ctx: RequestContext, p: CancelAllParams) -> dict[str, Any]:
    canceled = await _orders(ctx).cancel_all(ctx.principal.strategy, ctx.account(p.account), p.symbol)
    return {"canceled": canceled}


async def _modify(ctx: RequestContext, p: ModifyParams) -> dict[str, Any]:
    return await _orders(ctx).modify(
        ctx.principal.strategy, ctx.account(p.account), p.order_id, p.client_order_id, p.qty, p.price
    )


async def _get(ctx: RequestContext, p: OrderRefParams) -> dict[str, Any]:
    return await _orders(ctx).get(ctx.account(p.account), p.order_id, p.client_order_id)


async def _open(ctx: RequestContext, p: ListParams) -> list[dict[str, Any]]:
    orders = await _orders(ctx).open_orders(ctx.account(p.account), _symbol(ctx, p.account, p.symbol))
    return orders[: p.limit]


async def _history(ctx: RequestContext, p: ListParams) -> list[dict[str, Any]]:
    return await _orders(ctx).history(ctx.account(p.account), _symbol(ctx, p.account, p.symbol), p.since, p.limit)


async def _fills(ctx: RequestContext, p: FillsParams) -> list[dict[str, Any]]:
    return await _orders(ctx).fills(
        ctx.account(p.account), _symbol(ctx, p.account, p.symbol), p.order_id, p.since, p.limit, p.client_order_id
    )


async def _balances(ctx: RequestContext, p: AccountParams) -> list[dict[str, Any]]:
    venue = ctx.directory.venue(ctx.account(p.account))
    balances = await _venue_call(venue.name, venue.balances())
    return [{"account": venue.name, **_public(b)} for b in balances]


async def _positions(ctx: RequestContext, p: PositionsParams) -> list[dict[str, Any]]:
    venue = ctx.directory.venue(ctx.account(p.account))
    symbol = _symbol(ctx, p.account, p.symbol)
    positions = await _venue_call(venue.name, venue.positions())
    return [{"account": venue.name, **_public(x)} for x in positions if symbol is None or x.symbol == symbol]


async def _leverage(ctx: RequestContext, p: LeverageParams) -> dict[str, Any]:
    venue = ctx.directory.venue(ctx.account(p.account))
    symbol = ctx.directory.instrument(venue.name, p.symbol).symbol
    return await _venue_call(venue.name, venue.set_leverage(symbol, p.leverage))


async def _margin_type(ctx: RequestContext, p: MarginTypeParams) -> dict[str, Any]:
    venue = ctx.directory.venue(ctx.account(p.account))
    symbol = ctx.directory.instrument(venue.name, p.symbol).symbol
    return await _venue_call(venue.name, venue.set_margin_type(symbol, p.margin_type))


def _symbol(ctx: RequestContext, account: str | None, symbol: str | None) -> str | None:
    return None if symbol is None else ctx.directory.instrument(ctx.account(account), symbol).symbol


def _public(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


async def _venue_call(venue: str, call: Any) -> Any:
    try:
        return await call
    except GatewayError:
        raise
    except (OSError, TimeoutError) as exc:
        raise VenueUnavailable(f"{venue} did not answer", venue=venue) from exc


def register_order_methods(table: MethodTable) -> None:
    """Add the order and account methods to `table`."""
    trade, read = Permission.TRADE, Permission.READ
    # Commands are `ordered`: pipelined on one connection, they reach the order manager in arrival order.
    table.register("order.place", PlaceParams, _place, permission=trade, ordered=True)
    table.register("order.cancel", OrderRefParams, _cancel, permission=trade, ordered=True)
    table.register("order.cancel_all", CancelAllParams, _cancel_all, permission=trade, ordered=True)
    table.register("order.modify", ModifyParams, _modify, permission=trade, ordered=True)
    table.register("order.get", OrderRefParams, _get, permission=read)
    table.register("orders.open", ListParams, _open, permission=read)
    table.register("orders.history", ListParams, _history, permission=read)
    table.register("fills", FillsParams, _fills, permission=read)
    table.register("account.balances", AccountParams, _balances, permission=read)
    table.register("account.positions", PositionsParams, _positions, permission=read)
    table.register("account.leverage", LeverageParams, _leverage, permission=trade)
    table.register("account.margin_type", MarginTypeParams, _margin_type, permission=trade)

