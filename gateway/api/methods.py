"""The strategy API's method table: name -> (params model, permission, auth requirement, handler).

A handler is `async def handler(ctx: RequestContext, params: P) -> result`; the result is encoded as the
response's `result` (dataclasses, enums, Decimals and tuples encode as they are). Handlers raise
`GatewayError`s for every expected failure; anything else becomes an INTERNAL error at the transport.

Other modules extend the table (the order methods are registered by the orders package):

    table = market_methods()
    table.register("order.place", PlaceParams, place_order, permission=Permission.TRADE)

and reach their own services through `ctx.service(OrderService)`, which the composition root provides
via `ApiServices(..., extensions={OrderService: orders})`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from gateway.api.config import ApiSettings, Permission
from gateway.api.protocol import (
    AuthParams,
    DepthParams,
    KlinesParams,
    NoParams,
    Params,
    Request,
    StreamResolver,
    StreamsParams,
    SymbolParams,
    TradesParams,
    VenueParams,
    is_user_stream,
    parse_params,
)
from gateway.api.session import KeyRing, Principal, Session
from gateway.core.admission import admit
from gateway.core.bus import StreamBus, StreamKey
from gateway.core.clock import Clock
from gateway.core.enums import MarketType
from gateway.core.errors import AccessError, ErrorCode, GatewayError, RequestError
from gateway.market.service import MarketService, stream_kinds
from gateway.venues.registry import VenueDirectory

__all__ = [
    "ApiServices",
    "Handler",
    "Method",
    "MethodTable",
    "RequestContext",
    "auth_result",
    "market_methods",
    "release_subscriptions",
]

log = structlog.get_logger("gateway.api.ws")

T = TypeVar("T")
Handler = Callable[["RequestContext", Any], Awaitable[Any]]


class ApiServices:
    """What request handlers may use, shared by every connection.

    Args:
        settings: the API settings (keys, limits).
        directory: the configured venues.
        market: the market service (snapshots, cache).
        bus: the stream bus subscriptions are made on.
        clock: the gateway clock.
        extensions: further services by type (e.g. `{OrderService: orders}`), read with `get`.
    """

    def __init__(
        self,
        settings: ApiSettings,
        directory: VenueDirectory,
        market: MarketService,
        bus: StreamBus,
        clock: Clock,
        extensions: Mapping[type, object] | None = None,
    ):
        self.settings = settings
        self.directory = directory
        self.market = market
        self.bus = bus
        self.clock = clock
        self.keys = KeyRing(settings.strategies)
        self.resolver = StreamResolver(directory, stream_kinds())
        self._extensions = dict(extensions or {})

    def provide(self, kind: type[T], service: T) -> None:
        """Register an extension service under its type (before clients call methods that use it)."""
        self._extensions[kind] = service

    def get(self, kind: type[T]) -> T:
        """Return the extension service registered under `kind`.

        Raises:
            GatewayError: NOT_SUPPORTED when no such service is configured.
        """
        service = self._extensions.get(kind)
        if service is None:
            raise GatewayError(f"{kind.__name__} is not configured", code=ErrorCode.NOT_SUPPORTED)
        return service  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What one request's handler sees: its session and the shared services."""

    session: Session
    services: ApiServices
    request: Request

    @property
    def directory(self) -> VenueDirectory:
        return self.services.directory

    @property
    def market(self) -> MarketService:
        return self.services.market

    @property
    def bus(self) -> StreamBus:
        return self.services.bus

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def principal(self) -> Principal:
        """The authenticated strategy (handlers with `needs_auth` always have one)."""
        principal = self.session.principal
        if principal is None:
            raise AccessError("authenticate first", code=ErrorCode.UNAUTHENTICATED)
        return principal

    def service(self, kind: type[T]) -> T:
        """Return an extension service (see `ApiServices.get`)."""
        return self.services.get(kind)

    def account(self, name: str | None) -> str:
        """Resolve an account param and check the key's scope. When None: the key's account if its scope
        is exactly one account, else the default venue.

        Raises:
            LookupFailed: UNKNOWN_VENUE.
            AccessError: FORBIDDEN when the account is outside the key's scope.
        """
        scope = self.principal.accounts
        if not name and scope is not None and len(scope) == 1:
            (name,) = scope
        account = self.directory.venue(name).name
        if not self.principal.may_use(account):
            raise AccessError(f"this key may not use account {account!r}", details={"account": account})
        return account


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    params: type[Params]
    handler: Handler
    permission: Permission | None = Permission.READ  # None: no permission needed
    needs_auth: bool = True
    ordered: bool = False  # True: the handler admits itself once its command is queued (core.admission)


class MethodTable:
    """The registry of API methods and the single dispatch entry (`handle`)."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def register(
        self,
        name: str,
        params: type[Params],
        handler: Handler,
        *,
        permission: Permission | None = Permission.READ,
        needs_auth: bool = True,
        ordered: bool = False,
    ) -> None:
        """Add a method. Raises ValueError when the name is taken.

        An `ordered` method's handler must call `gateway.core.admission.admit()` once its command is
        queued at its single writer; until then (or until it finishes) the connection's next request
        waits. Other methods are admitted at once: they may complete in any order.
        """
        if name in self._methods:
            raise ValueError(f"method {name!r} is already registered")
        self._methods[name] = Method(name, params, handler, permission, needs_auth, ordered)

    def names(self) -> list[str]:
        return list(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    async def handle(self, session: Session, services: ApiServices, request: Request) -> Any:
        """Check, validate and run one request; return its result.

        Raises:
            RequestError: UNKNOWN_METHOD or INVALID_PARAMS.
            AccessError: UNAUTHENTICATED before auth, FORBIDDEN without the method's permission.
            GatewayError: whatever the handler raises.
        """
        method = self._methods.get(request.method)
        if method is None or not method.ordered:
            admit()
        if method is None:
            raise RequestError(
                f"unknown method {request.method!r}",
                code=ErrorCode.UNKNOWN_METHOD,
                details={"method": request.method},
            )
        if method.needs_auth:
            principal = session.principal
            if principal is None:
                raise AccessError("authenticate first (method auth)", code=ErrorCode.UNAUTHENTICATED)
            if method.permission is not None and not principal.has_permission(method.permission):
                raise AccessError(
                    f"{request.method} needs the {method.permission} permission",
                    details={"permission": method.permission},
                )
        params = parse_params(method.params, request.params)
        return await method.handler(RequestContext(session, services, request), params)


# --- session and discovery methods ----------------------------------------------------------------


def auth_result(principal: Principal, directory: VenueDirectory) -> dict[str, Any]:
    """Build the `auth` result: strategy, permissions and the accounts the key may use."""
    accounts = directory.names() if principal.accounts is None else sorted(principal.accounts)
    return {
        "strategy": principal.strategy,
        "permissions": sorted(principal.permissions),
        "accounts": accounts,
    }


async def _auth(ctx: RequestContext, params: AuthParams) -> dict[str, Any]:
    principal = ctx.services.keys.authenticate(params.api_key)
    session = ctx.session
    if principal is None:
        log.warning("auth.failed", connection=session.connection_id, remote=session.remote)
        raise AccessError("invalid api_key", code=ErrorCode.UNAUTHENTICATED)
    if session.principal is not None and session.principal.strategy != principal.strategy:
        raise AccessError(f"this connection is authenticated as {session.principal.strategy!r}")
    if session.principal is None:
        log.info("session.authenticated", connection=session.connection_id, strategy=principal.strategy)
    session.principal = principal
    return auth_result(principal, ctx.directory)


async def _time(ctx: RequestContext, params: NoParams) -> dict[str, int]:
    return {"ts": ctx.clock.now_ms()}


async def _venues(ctx: RequestContext, params: NoParams) -> list[dict[str, Any]]:
    result = []
    for adapter in ctx.directory:
        instruments = adapter.instruments
        types = {instrument.type for instrument in instruments.values()}
        result.append(
            {
                "name": adapter.name,
                "kind": adapter.kind,
                "market": ",".join(t.value for t in MarketType if t in types),
                "status": adapter.state,
                "symbols": list(instruments),
            }
        )
    return result


async def _instruments(ctx: RequestContext, params: VenueParams) -> list[dict[str, object]]:
    adapter = ctx.directory.venue(params.venue)
    return [instrument.to_public() for instrument in adapter.instruments.values()]


# --- subscriptions --------------------------------------------------------------------------------


def _resolve_for(ctx: RequestContext, name: str) -> StreamKey:
    try:
        key = ctx.services.resolver.resolve(name)
    except GatewayError as exc:
        exc.details.setdefault("stream", name)
        raise
    if is_user_stream(key) and not ctx.principal.may_use(key.scope):
        raise AccessError(
            f"this key may not use account {key.scope!r}", details={"stream": name, "account": key.scope}
        )
    return key


async def _subscribe(ctx: RequestContext, params: StreamsParams) -> dict[str, list[str]]:
    session = ctx.session
    held = session.subscriptions
    # Validate every name first: a request either subscribes all its streams or none.
    fresh = {name: _resolve_for(ctx, name) for name in dict.fromkeys(params.streams) if name not in held}
    limit = ctx.services.settings.max_subscriptions
    if len(held) + len(fresh) > limit:
        raise RequestError(
            f"at most {limit} subscriptions per connection",
            code=ErrorCode.INVALID_PARAMS,
            details={"limit": limit},
        )
    bus, subscriber = ctx.bus, session.outbound
    for name, key in fresh.items():
        held[name] = key
        bus.subscribe(key, name, subscriber)
    return {"streams": list(held)}


async def _unsubscribe(ctx: RequestContext, params: StreamsParams) -> dict[str, list[str]]:
    session = ctx.session
    held = session.subscriptions
    # A name not held as written also drops held aliases of the same stream (BTCUSDT@trade for
    # sim:BTC/USDT@trade); names that match nothing are accepted and change nothing.
    doomed: set[str] = set()
    for name in params.streams:
        if name in held:
            doomed.add(name)
        else:
            key = ctx.services.resolver.resolve(name)
            doomed.update(n for n, k in held.items() if k == key)
    bus, subscriber = ctx.bus, session.outbound
    for name in doomed:
        bus.unsubscribe(held.pop(name), name, subscriber)
    return {"streams": list(held)}


async def _subscriptions(ctx: RequestContext, params: NoParams) -> dict[str, list[str]]:
    return {"streams": list(ctx.session.subscriptions)}


def release_subscriptions(session: Session, bus: StreamBus) -> None:
    """Drop every stream a session holds from the bus (on disconnect)."""
    for name, key in session.subscriptions.items():
        bus.unsubscribe(key, name, session.outbound)
    session.subscriptions.clear()


# --- market snapshots -----------------------------------------------------------------------------


def _venue_symbol(ctx: RequestContext, params: SymbolParams) -> tuple[str, str]:
    adapter = ctx.directory.venue(params.venue)
    return adapter.name, ctx.directory.instrument(adapter.name, params.symbol).symbol


async def _ticker(ctx: RequestContext, params: SymbolParams) -> dict[str, Any]:
    return await ctx.market.ticker(*_venue_symbol(ctx, params))


async def _bbo(ctx: RequestContext, params: SymbolParams) -> dict[str, Any]:
    return await ctx.market.bbo(*_venue_symbol(ctx, params))


async def _depth(ctx: RequestContext, params: DepthParams) -> dict[str, Any]:
    return await ctx.market.depth(*_venue_symbol(ctx, params), limit=params.limit)


async def _trades(ctx: RequestContext, params: TradesParams) -> list[dict[str, Any]]:
    return await ctx.market.trades(*_venue_symbol(ctx, params), limit=params.limit)


async def _klines(ctx: RequestContext, params: KlinesParams) -> list[dict[str, Any]]:
    venue, symbol = _venue_symbol(ctx, params)
    return await ctx.market.klines(venue, symbol, params.interval, params.limit, params.start, params.end)


def market_methods() -> MethodTable:
    """Build a method table with the session, discovery, subscription and market-data methods."""
    table = MethodTable()
    table.register("auth", AuthParams, _auth, permission=None, needs_auth=False)
    table.register("ping", NoParams, _time, permission=None, needs_auth=False)
    table.register("time", NoParams, _time, permission=None, needs_auth=False)
    table.register("venues", NoParams, _venues)
    table.register("instruments", VenueParams, _instruments)
    table.register("subscribe", StreamsParams, _subscribe)
    table.register("unsubscribe", StreamsParams, _unsubscribe)
    table.register("subscriptions", NoParams, _subscriptions)
    table.register("ticker", SymbolParams, _ticker)
    table.register("bbo", SymbolParams, _bbo)
    table.register("depth", DepthParams, _depth)
    table.register("trades", TradesParams, _trades)
    table.register("klines", KlinesParams, _klines)
    return table
