"""`venue.raw`: forwarded to the venue's own API, behind the `raw` permission, with its params checked."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.api.config import Permission, StrategySettings
from gateway.api.methods import ApiServices, market_methods
from gateway.api.protocol import Request
from gateway.api.session import KeyRing, OutboundQueue, Session, TokenBucket
from gateway.api.venue_methods import register_venue_methods
from gateway.core.bus import StreamBus
from gateway.core.clock import TestClock
from gateway.core.errors import AccessError, ErrorCode, GatewayError, RequestError
from gateway.market.config import MarketSettings
from gateway.market.service import MarketService
from gateway.venues.registry import VenueDirectory
from tests.component.api.conftest import ALPHA_KEY, FakeVenue, api_settings

RAW_KEY = "raw-key-0004"


class RawFakeVenue(FakeVenue):
    kind = "binance"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.raw_calls: list[tuple[str, str, dict[str, Any]]] = []

    async def raw_request(self, http_method: str, path: str, params: dict[str, Any]) -> Any:
        self.raw_calls.append((http_method, path, params))
        return {"echo": path, "n": len(self.raw_calls)}


def make(key: str) -> tuple[ApiServices, Session, RawFakeVenue]:
    strategies = [
        StrategySettings(name="alpha", api_key=ALPHA_KEY, permissions=frozenset({Permission.READ, Permission.TRADE})),
        StrategySettings(name="raw", api_key=RAW_KEY, permissions=frozenset(Permission)),
    ]
    settings = api_settings(strategies=strategies)
    raw_venue = RawFakeVenue("bn")
    directory = VenueDirectory({"bn": raw_venue, "sim": FakeVenue("sim")})  # type: ignore[dict-item]
    bus = StreamBus(lambda name, data: b"")
    clock = TestClock()
    services = ApiServices(settings, directory, MarketService(directory, bus, clock, MarketSettings()), bus, clock)
    session = Session("c1", "127.0.0.1:1", 0, OutboundQueue(16, 64, lambda: None), TokenBucket(10))
    session.principal = KeyRing(strategies).authenticate(key)
    return services, session, raw_venue


def table():
    methods = market_methods()
    register_venue_methods(methods)
    return methods


async def test_a_raw_call_reaches_the_venue_with_its_method_path_and_params() -> None:
    services, session, venue = make(RAW_KEY)
    params = {"account": "bn", "http_method": "get", "path": "/fapi/v2/positionRisk", "params": {"symbol": "BTCUSDT"}}
    answer = await table().handle(session, services, Request(1, "venue.raw", params))
    assert answer == {"echo": "/fapi/v2/positionRisk", "n": 1}
    assert venue.raw_calls == [("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})]


async def test_a_key_without_the_raw_permission_is_forbidden_and_nothing_is_sent() -> None:
    services, session, venue = make(ALPHA_KEY)
    with pytest.raises(AccessError) as caught:
        await table().handle(session, services, Request(1, "venue.raw",
                                                        {"account": "bn", "http_method": "GET", "path": "/api/v3/time"}))
    assert caught.value.code == ErrorCode.FORBIDDEN
    assert venue.raw_calls == []


async def test_a_venue_without_a_raw_api_answers_not_supported() -> None:
    services, session, _ = make(RAW_KEY)
    with pytest.raises(GatewayError) as caught:
        await table().handle(session, services, Request(1, "venue.raw",
                                                        {"account": "sim", "http_method": "GET", "path": "/x"}))
    assert caught.value.code == ErrorCode.NOT_SUPPORTED


@pytest.mark.parametrize("bad", [
    {"http_method": "TRACE", "path": "/api/v3/time"},
    {"http_method": "GET", "path": "api/v3/time"},
    {"http_method": "GET", "path": "https://evil.example/x"},
    {"http_method": "GET", "path": "/api/v3/../../etc?x=1"},
    {"http_method": "GET", "path": "/api/v3/../../admin"},
    {"http_method": "GET", "path": "/api/v3/time", "params": ["not", "a", "mapping"]},
    {"http_method": "GET", "path": "/api/v3/time", "params": {"k": {"nested": object.__name__}, **{f"p{i}": i for i in range(70)}}},
    {"path": "/api/v3/time"},
])
async def test_bad_raw_params_are_refused_before_anything_is_sent(bad: dict[str, Any]) -> None:
    services, session, venue = make(RAW_KEY)
    with pytest.raises(RequestError) as caught:
        await table().handle(session, services, Request(1, "venue.raw", {"account": "bn", **bad}))
    assert caught.value.code == ErrorCode.INVALID_PARAMS
    assert venue.raw_calls == []


async def test_a_float_param_goes_to_the_venue_as_the_decimal_text_sent() -> None:
    services, session, venue = make(RAW_KEY)
    params = {"account": "bn", "http_method": "POST", "path": "/fapi/v1/order",
              "params": {"symbol": "BTCUSDT", "price": 0.1, "quantity": 1e-05, "n": 3, "flags": [2.5]}}
    await table().handle(session, services, Request(1, "venue.raw", params))
    (_, _, sent), = venue.raw_calls
    assert sent == {"symbol": "BTCUSDT", "price": "0.1", "quantity": "0.00001", "n": 3, "flags": ["2.5"]}
