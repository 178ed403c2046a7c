"""The method table in-process (no sockets): dispatch rules and how other packages extend it."""

from __future__ import annotations

import pytest

from gateway.api.config import Permission
from gateway.api.methods import ApiServices, RequestContext, market_methods
from gateway.api.protocol import Params, Request
from gateway.api.session import KeyRing, OutboundQueue, Session, TokenBucket
from gateway.core.bus import StreamBus
from gateway.core.clock import TestClock
from gateway.core.errors import AccessError, ErrorCode, GatewayError, RequestError
from gateway.market.config import MarketSettings
from gateway.market.service import MarketService
from gateway.venues.registry import VenueDirectory
from tests.component.api.conftest import ALPHA_KEY, SCOPED_KEY, FakeVenue, api_settings


class Orders:
    """Stands in for the order service the lead will register."""

    def __init__(self) -> None:
        self.placed: list[tuple[str, str]] = []


class PlaceParams(Params):
    account: str | None = None
    symbol: str


async def place(ctx: RequestContext, params: PlaceParams) -> dict[str, str]:
    account = ctx.account(params.account)
    ctx.service(Orders).placed.append((account, params.symbol))
    return {"account": account, "symbol": params.symbol}


def make(extensions: dict | None = None) -> tuple[ApiServices, Session]:
    settings = api_settings()
    directory = VenueDirectory({"user1": FakeVenue("user1")})  # type: ignore[dict-item]
    bus = StreamBus(lambda name, data: b"")
    clock = TestClock()
    services = ApiServices(
        settings,
        directory,
        MarketService(directory, bus, clock, MarketSettings()),
        bus,
        clock,
        extensions=extensions,
    )
    session = Session("c1", "127.0.0.1:1", 0, OutboundQueue(16, 64, lambda: None), TokenBucket(10))
    return services, session


def authenticate(session: Session, key: str) -> None:
    session.principal = KeyRing(api_settings().strategies).authenticate(key)


async def test_a_registered_method_gets_its_service_and_the_account_scope_is_enforced() -> None:
    orders = Orders()
    services, session = make({Orders: orders})
    table = market_methods()
    table.register("order.place", PlaceParams, place, permission=Permission.TRADE)
    authenticate(session, ALPHA_KEY)
    result = await table.handle(session, services, Request(1, "order.place", {"symbol": "BTC/USDT"}))
    assert result == {"account": "user1", "symbol": "BTC/USDT"}
    assert orders.placed == [("user1", "BTC/USDT")]


async def test_a_method_needing_a_permission_the_key_lacks_is_forbidden() -> None:
    services, session = make({Orders: Orders()})
    table = market_methods()
    table.register("order.place", PlaceParams, place, permission=Permission.TRADE)
    authenticate(session, SCOPED_KEY)  # read only
    with pytest.raises(AccessError) as caught:
        await table.handle(session, services, Request(1, "order.place", {"symbol": "BTC/USDT"}))
    assert caught.value.code == ErrorCode.FORBIDDEN


async def test_an_account_outside_the_scope_is_forbidden() -> None:
    services, session = make({Orders: Orders()})
    authenticate(session, SCOPED_KEY)
    context = RequestContext(session, services, Request(1, "x", {}))
    with pytest.raises(AccessError) as caught:
        context.account("user1")
    assert caught.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(GatewayError) as unknown:
        context.account("nowhere")
    assert unknown.value.code == ErrorCode.UNKNOWN_VENUE


async def test_a_missing_extension_service_is_not_supported() -> None:
    services, _ = make()
    with pytest.raises(GatewayError) as caught:
        services.get(Orders)
    assert caught.value.code == ErrorCode.NOT_SUPPORTED


async def test_unknown_methods_and_unauthenticated_calls_are_refused_in_that_order() -> None:
    services, session = make()
    table = market_methods()
    with pytest.raises(RequestError) as unknown:
        await table.handle(session, services, Request(1, "nope", {}))
    assert unknown.value.code == ErrorCode.UNKNOWN_METHOD
    with pytest.raises(AccessError) as unauthenticated:
        await table.handle(session, services, Request(1, "venues", {}))
    assert unauthenticated.value.code == ErrorCode.UNAUTHENTICATED
    assert await table.handle(session, services, Request(1, "time", {})) == {"ts": 1_700_000_000_000}


def test_a_method_name_is_registered_once() -> None:
    table = market_methods()
    with pytest.raises(ValueError):
        table.register("ping", Params, place)
    assert {
        "auth",
        "ping",
        "time",
        "venues",
        "instruments",
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "ticker",
        "bbo",
        "depth",
        "trades",
        "klines",
    } == set(table.names())


async def test_reauthenticating_as_another_strategy_is_forbidden() -> None:
    services, session = make()
    table = market_methods()
    await table.handle(session, services, Request(1, "auth", {"api_key": ALPHA_KEY}))
    with pytest.raises(AccessError) as caught:
        await table.handle(session, services, Request(2, "auth", {"api_key": SCOPED_KEY}))
    assert caught.value.code == ErrorCode.FORBIDDEN
    assert session.strategy == "alpha"
