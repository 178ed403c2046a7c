"""`venue.raw`: a venue's own API, for what the normalized methods do not cover.

The call goes through the venue session's signed client (its keys, clock offset, rate budgets and
error mapping), so a raw call counts against the same per-host budget as everything else and its
answer is the venue's own. Orders placed this way bypass the order manager: the gateway sees them as
external orders (listed, never adopted). That is why the method needs the `raw` permission.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, Literal

import structlog
from pydantic import Field, field_validator

from gateway.api.config import Permission
from gateway.api.methods import MethodTable, RequestContext
from gateway.api.protocol import Params
from gateway.core.errors import ErrorCode, GatewayError
from gateway.core.ports import RawVenue

__all__ = ["RawParams", "no_floats", "register_venue_methods"]

log = structlog.get_logger("gateway.api.venue")

# No floats: a number for a venue is a string (or an integer), never a binary fraction; the JSON decoder's
# floats are turned back into the decimal text the client sent.
Scalar = str | int | bool | None
ParamValue = Scalar | list[Scalar] | dict[str, Any]


def no_floats(value: Any) -> Any:
    """`value` with every float (in lists and mappings too) as its decimal text. Raises ValueError: inf/nan."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a number must be finite")
        return format(Decimal(repr(value)), "f")
    if isinstance(value, list):
        return [no_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: no_floats(v) for k, v in value.items()}
    return value


class RawParams(Params):
    account: str | None = None
    http_method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
    path: Annotated[str, Field(min_length=2, max_length=256, pattern=r"^/[A-Za-z0-9/_\-.]*$")]
    params: dict[Annotated[str, Field(max_length=64)], ParamValue] = Field(default_factory=dict, max_length=64)

    @field_validator("http_method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("params", mode="before")
    @classmethod
    def _decimal_text(cls, value: object) -> object:
        return no_floats(value) if isinstance(value, dict) else value

    @field_validator("path")
    @classmethod
    def _no_dot_segments(cls, value: str) -> str:
        if ".." in value.split("/"):
            raise ValueError("the path may not hold '..' segments")
        return value


async def _raw(ctx: RequestContext, p: RawParams) -> Any:
    account = ctx.account(p.account)
    adapter = ctx.directory.venue(account)
    if not isinstance(adapter, RawVenue):
        raise GatewayError(f"venue {account!r} (kind {adapter.kind}) has no raw API",
                           code=ErrorCode.NOT_SUPPORTED, details={"account": account, "kind": adapter.kind})
    log.info("venue.raw", account=account, strategy=ctx.principal.strategy, http_method=p.http_method, path=p.path)
    return await adapter.raw_request(p.http_method, p.path, dict(p.params))


def register_venue_methods(table: MethodTable) -> None:
    table.register("venue.raw", RawParams, _raw, permission=Permission.RAW)
