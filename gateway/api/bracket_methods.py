"""The bracket (virtual TP/SL) methods of the strategy API, served by the bracket service.

`bracket.place` is validated and quantized here, at the edge, against the venue's instrument (the same
rules as `order.place`: prices on the tick, sizes on the step, minimums); a request refused here changes
nothing. The bracket service persists the bracket before it answers and places every order through the
order service.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from gateway.api.config import Permission
from gateway.api.methods import MethodTable, RequestContext
from gateway.api.protocol import Params
from gateway.core.enums import MarketType, OrderType, Side, TimeInForce
from gateway.core.errors import ErrorCode, OrderRejected, RequestError
from gateway.core.instruments import Instrument
from gateway.core.ports import Capabilities
from gateway.orders.brackets.ids import is_valid_bracket_id
from gateway.orders.brackets.model import BracketState, LegMode, LegName, TriggerSource
from gateway.orders.brackets.placement import LegSpec
from gateway.orders.brackets.service import BracketService, PlaceSpec
from gateway.orders.brackets.settle import NATIVE_TYPE
from gateway.orders.commands import PlaceParams as OrderParams
from gateway.orders.validation import normalize_place

__all__ = ["build_place_spec", "register_bracket_methods"]

Qty = Annotated[Decimal, Field(strict=False, gt=0, allow_inf_nan=False)]
Price = Annotated[Decimal, Field(strict=False, gt=0, allow_inf_nan=False)]
BracketId = Annotated[str, Field(min_length=1, max_length=24)]


class AccountParams(Params):
    account: str | None = None


class EntryParams(Params):
    type: Annotated[OrderType, Field(strict=False)]
    price: Price | None = None


class LegParams(Params):
    trigger_price: Price
    price: Price | None = None  # the limit price once triggered; absent: a market order


class BracketPlaceParams(AccountParams):
    symbol: str = Field(min_length=1, max_length=64)
    side: Annotated[Side, Field(strict=False)]
    qty: Qty
    entry: EntryParams
    take_profit: LegParams
    stop_loss: LegParams
    mode: Annotated[LegMode, Field(strict=False)] = LegMode.AUTO
    trigger_source: Annotated[TriggerSource, Field(strict=False)] = TriggerSource.LAST
    bracket_id: BracketId | None = None


class BracketRefParams(AccountParams):
    bracket_id: BracketId


class BracketListParams(AccountParams):
    state: Annotated[BracketState, Field(strict=False)] | None = None
    open_only: bool = False
    limit: int = Field(500, ge=1, le=5000)


def _brackets(ctx: RequestContext) -> BracketService:
    return ctx.service(BracketService)


def build_place_spec(p: BracketPlaceParams, account: str, instrument: Instrument, capabilities: Capabilities,
                     bracket_id: str) -> PlaceSpec:
    """Check and quantize a `bracket.place` request against the venue's instrument.

    Raises:
        RequestError: INVALID_PARAMS (entry type, mark source on spot, a bad bracket id).
        OrderRejected: NOT_SUPPORTED (native legs the venue cannot hold), PRECISION, MIN_NOTIONAL.
    """
    if p.entry.type not in (OrderType.LIMIT, OrderType.MARKET):
        raise RequestError("entry.type must be limit or market", details={"field": "entry.type"})
    if not is_valid_bracket_id(bracket_id):
        raise RequestError("bracket_id must be 1-24 characters of [A-Za-z0-9_]", details={"field": "bracket_id"})
    if p.trigger_source is TriggerSource.MARK and instrument.type is not MarketType.PERP:
        raise RequestError("trigger_source mark needs a perpetual", details={"field": "trigger_source"})
    if p.mode is LegMode.NATIVE:
        if not capabilities.stop_orders:
            raise OrderRejected(f"{account} has no conditional orders: use mode emulated",
                                code=ErrorCode.NOT_SUPPORTED)
        if p.trigger_source is TriggerSource.BBO:
            raise OrderRejected("no venue triggers on the best bid/ask: use mode emulated with trigger_source bbo",
                                code=ErrorCode.NOT_SUPPORTED)
    entry = normalize_place(OrderParams(instrument.symbol, p.side, p.entry.type, p.qty, p.entry.price),
                            instrument, capabilities)
    legs = []
    quantizing = replace(capabilities, stop_orders=True)  # emulated legs are quantized like native ones
    for name, leg in ((LegName.TP, p.take_profit), (LegName.SL, p.stop_loss)):
        order = normalize_place(OrderParams(instrument.symbol, p.side.opposite, NATIVE_TYPE[(name, leg.price is not None)],
                                            entry.qty, leg.price, leg.trigger_price, TimeInForce.GTC),
                                instrument, quantizing)
        assert order.trigger_price is not None
        legs.append(LegSpec(order.trigger_price, order.price))
    return PlaceSpec(bracket_id, account, instrument.symbol, p.side, entry.qty, p.entry.type, entry.price, legs[0],
                     legs[1], p.mode, p.trigger_source, capabilities)


async def _place(ctx: RequestContext, p: BracketPlaceParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    service = _brackets(ctx)
    adapter = ctx.directory.venue(account)
    instrument = ctx.directory.instrument(account, p.symbol)
    spec = build_place_spec(p, account, instrument, adapter.capabilities, p.bracket_id or service.new_bracket_id())
    return await service.place(ctx.principal.strategy, spec)


async def _cancel(ctx: RequestContext, p: BracketRefParams) -> dict[str, Any]:
    return await _brackets(ctx).cancel(ctx.account(p.account), p.bracket_id)


async def _get(ctx: RequestContext, p: BracketRefParams) -> dict[str, Any]:
    return await _brackets(ctx).get(ctx.account(p.account), p.bracket_id)


async def _list(ctx: RequestContext, p: BracketListParams) -> list[dict[str, Any]]:
    state = None if p.state is None else p.state.value
    return await _brackets(ctx).list(ctx.account(p.account), open_only=p.open_only, state=state, limit=p.limit)


async def _reconcile(ctx: RequestContext, p: AccountParams) -> dict[str, int]:
    return await _brackets(ctx).reconcile(ctx.account(p.account), why="request")


def register_bracket_methods(table: MethodTable) -> None:
    """Add the bracket methods to `table`."""
    trade, read = Permission.TRADE, Permission.READ
    table.register("bracket.place", BracketPlaceParams, _place, permission=trade, ordered=True)
    table.register("bracket.cancel", BracketRefParams, _cancel, permission=trade, ordered=True)
    table.register("bracket.get", BracketRefParams, _get, permission=read)
    table.register("brackets.list", BracketListParams, _list, permission=read)
    table.register("brackets.reconcile", AccountParams, _reconcile, permission=trade)
