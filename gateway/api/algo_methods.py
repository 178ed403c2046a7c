"""The algo methods of the strategy API: algorithmic parent orders (TWAP / VWAP / POV).

Each call is routed to the backend that serves the account (`AlgoRouter`): the gateway's local engine
for sim, Binance, OKX, ... accounts, Quantum Execute for `qe` accounts (a later backend). The shape of
the params is checked here; the rules of QE's parameter table are checked by the backend
(`orders.algo.validation`), so both backends answer the same errors.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, model_validator

from gateway.api.config import Permission
from gateway.api.methods import MethodTable, RequestContext
from gateway.api.protocol import Params
from gateway.core.errors import ErrorCode, OrderRejected
from gateway.orders.algo.backend import AlgoBackend, AlgoRouter
from gateway.orders.algo.model import AlgoState

__all__ = ["AlgoPlaceParams", "register_algo_methods"]

Dec = Annotated[Decimal, Field(strict=False, allow_inf_nan=False)]
Time = int | Annotated[str, Field(min_length=1, max_length=64)]
ClientId = Annotated[str, Field(min_length=1, max_length=36)]


class AccountParams(Params):
    account: str | None = None


class AlgoPlaceParams(AccountParams):
    """`algo.place`: QE's master-order parameters in snake_case (see docs/strategy-api.md)."""

    symbol: str = Field(min_length=1, max_length=64)
    side: str = Field(min_length=1, max_length=8)
    algorithm: str = Field(min_length=1, max_length=16)
    qty: Dec | None = None
    notional: Dec | None = None
    is_target_position: bool | None = None
    start_time: Time | None = None
    execution_duration: int | None = None  # minutes
    execution_duration_s: int | None = None
    end_time: Time | None = None
    must_complete: bool | None = None
    maker_rate_limit: Dec | None = None
    pov_limit: Dec | None = None
    pov_min_limit: Dec | None = None
    limit_price: Dec | None = None
    worst_price: Dec | None = None
    up_tolerance: Dec | None = None
    low_tolerance: Dec | None = None
    strict_up_bound: bool | None = None
    tail_order_protection: bool | None = None
    enable_make: bool | None = None
    reduce_only: bool | None = None
    margin_type: str | None = Field(None, max_length=4)
    is_margin: bool | None = None
    notes: str | None = Field(None, max_length=256)
    client_order_id: ClientId | None = None


class AlgoRefParams(AccountParams):
    algo_id: str | None = Field(None, min_length=1, max_length=64)
    client_order_id: ClientId | None = None

    @model_validator(mode="after")
    def _one_ref(self) -> AlgoRefParams:
        if (self.algo_id is None) == (self.client_order_id is None):
            raise ValueError("give exactly one of algo_id and client_order_id")
        return self


class AlgoCancelParams(AlgoRefParams):
    reason: str | None = Field(None, max_length=256)


class AlgoUpdateParams(AlgoRefParams):
    """`algo.update`: the fields QE's update of a master order changes (only those given change)."""

    qty: Dec | None = None
    notional: Dec | None = None
    up_tolerance: Dec | None = None
    low_tolerance: Dec | None = None
    maker_rate_limit: Dec | None = None
    pov_limit: Dec | None = Field(None, ge=0, le=1)
    pov_min_limit: Dec | None = Field(None, ge=0, le=1)
    worst_price: Dec | None = None
    enable_make: bool | None = None
    strict_up_bound: bool | None = None
    tail_order_protection: bool | None = None
    must_complete: bool | None = None
    execution_duration_s: int | None = Field(None, gt=10)

    @model_validator(mode="after")
    def _something(self) -> AlgoUpdateParams:
        if not self.changes():
            raise ValueError("give at least one field to change")
        if self.qty is not None and self.notional is not None:
            raise ValueError("give at most one of qty and notional")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"account", "algo_id", "client_order_id"}, exclude_none=True)


class AlgoBatchCancelParams(AccountParams):
    algo_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=100)
    reason: str | None = Field(None, max_length=256)


class AlgoFillsParams(AlgoRefParams):
    limit: int = Field(500, ge=1, le=5000)


class AlgoListParams(AccountParams):
    state: Annotated[AlgoState, Field(strict=False)] | None = None
    open_only: bool = False
    limit: int = Field(500, ge=1, le=5000)


class QeTradingPairsParams(AccountParams):
    exchange: str | None = Field(None, max_length=32)
    market_type: str | None = Field(None, max_length=16)
    is_coin: bool | None = None
    page: int | None = Field(None, ge=1)
    page_size: int | None = Field(None, ge=1, le=100)


def _router(ctx: RequestContext) -> AlgoRouter:
    return ctx.service(AlgoRouter)


async def _place(ctx: RequestContext, p: AlgoPlaceParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    params = p.model_dump(exclude={"account"}, exclude_none=True)
    return await _router(ctx).backend(account).place(ctx.principal.strategy, account, params)


async def _cancel(ctx: RequestContext, p: AlgoCancelParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    return await _router(ctx).backend(account).cancel(account, p.algo_id, p.client_order_id, p.reason)


async def _pause(ctx: RequestContext, p: AlgoRefParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    return await _router(ctx).backend(account).pause(account, p.algo_id, p.client_order_id)


async def _resume(ctx: RequestContext, p: AlgoRefParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    return await _router(ctx).backend(account).resume(account, p.algo_id, p.client_order_id)


def _remote_only(backend: AlgoBackend, method: str) -> Any:
    """The backend's `method`, or NOT_SUPPORTED where it has none (the local engine: no QE equivalent)."""
    call = getattr(backend, method, None)
    if call is None:
        raise OrderRejected(f"algo.{method} is offered on Quantum Execute accounts only",
                            code=ErrorCode.NOT_SUPPORTED, details={"backend": backend.name})
    return call


async def _update(ctx: RequestContext, p: AlgoUpdateParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    update = _remote_only(_router(ctx).backend(account), "update")
    return await update(account, p.algo_id, p.client_order_id, p.changes())


async def _batch_cancel(ctx: RequestContext, p: AlgoBatchCancelParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    batch_cancel = _remote_only(_router(ctx).backend(account), "batch_cancel")
    return await batch_cancel(account, p.algo_ids, p.reason)


async def _get(ctx: RequestContext, p: AlgoRefParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    return await _router(ctx).backend(account).get(account, p.algo_id, p.client_order_id)


async def _list(ctx: RequestContext, p: AlgoListParams) -> list[dict[str, Any]]:
    account = ctx.account(p.account)
    state = None if p.state is None else p.state.value
    return await _router(ctx).backend(account).list(account, open_only=p.open_only, state=state, limit=p.limit)


async def _fills(ctx: RequestContext, p: AlgoFillsParams) -> list[dict[str, Any]]:
    account = ctx.account(p.account)
    return await _router(ctx).backend(account).fills(account, p.algo_id, p.client_order_id, p.limit)


async def _exchange_apis(ctx: RequestContext, p: AccountParams) -> list[dict[str, Any]]:
    account = ctx.account(p.account)
    return await _router(ctx).backend(account).exchange_apis(account)


async def _trading_pairs(ctx: RequestContext, p: QeTradingPairsParams) -> dict[str, Any]:
    account = ctx.account(p.account)
    params = p.model_dump(exclude={"account"}, exclude_none=True)
    return await _router(ctx).backend(account).trading_pairs(account, params)


def register_algo_methods(table: MethodTable) -> None:
    """Add the algo methods to `table` (their backends come from `ApiServices.provide(AlgoRouter, ...)`)."""
    trade, read = Permission.TRADE, Permission.READ
    table.register("algo.place", AlgoPlaceParams, _place, permission=trade, ordered=True)
    table.register("algo.cancel", AlgoCancelParams, _cancel, permission=trade, ordered=True)
    table.register("algo.pause", AlgoRefParams, _pause, permission=trade, ordered=True)
    table.register("algo.resume", AlgoRefParams, _resume, permission=trade, ordered=True)
    table.register("algo.update", AlgoUpdateParams, _update, permission=trade, ordered=True)
    table.register("algo.batch_cancel", AlgoBatchCancelParams, _batch_cancel, permission=trade, ordered=True)
    table.register("algo.get", AlgoRefParams, _get, permission=read)
    table.register("algos.list", AlgoListParams, _list, permission=read)
    table.register("algo.fills", AlgoFillsParams, _fills, permission=read)
    table.register("qe.exchange_apis", AccountParams, _exchange_apis, permission=read)
    table.register("qe.trading_pairs", QeTradingPairsParams, _trading_pairs, permission=read)
