"""The REST client against scripted answers (aioresponses): weights, 429, 418, -1021, retries, errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses as _aioresponses
from structlog.testing import capture_logs

from gateway.core.clock import SystemClock
from gateway.core.errors import VenueRateLimited, VenueRejected, VenueTimeout, VenueUnavailable
from gateway.venues.binance.auth import HmacSigner
from gateway.venues.binance.rest import BinanceRest
from gateway.venues.common.http import HttpClient
from gateway.venues.common.ratelimit import WEIGHT, HostBudgets, RateLimit
from gateway.venues.common.retry import Backoff
from gateway.venues.common.timesync import TimeOffset


class _CompatResponse(ClientResponse):
    # aioresponses 0.7.9 builds responses without the `stream_writer` aiohttp 3.14 requires.
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class aioresponses(_aioresponses):
    def add(self, *args: object, response_class: type[ClientResponse] | None = None, **kwargs: object) -> None:
        super().add(*args, response_class=response_class or _CompatResponse, **kwargs)  # type: ignore[arg-type]


BASE = "https://api.binance.com"
DEPTH = re.compile(r"^https://api\.binance\.com/api/v3/depth\?.*$")
ACCOUNT = re.compile(r"^https://api\.binance\.com/api/v3/account\?.*$")
TIME = "https://api.binance.com/api/v3/time"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(session: aiohttp.ClientSession, budgets: HostBudgets | None = None, max_retries: int = 3) -> BinanceRest:
    clock = SystemClock()
    budgets = budgets or HostBudgets(clock)
    budget = budgets.budget("api.binance.com", [RateLimit(WEIGHT, 60_000, 6_000)])
    return BinanceRest("bn", "spot", HttpClient(session, "bn", timeout_s=2), BASE, budget, clock, TimeOffset(),
                       api_key="key", signer=HmacSigner("secret"), max_retries=max_retries,
                       backoff=Backoff(0.001, 0.01))


DEPTH_BODY = {"lastUpdateId": 5, "bids": [["1.0", "2.0"]], "asks": []}


async def test_used_weight_headers_feed_the_host_budget(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.get(DEPTH, payload=DEPTH_BODY, headers={"X-MBX-USED-WEIGHT-1M": "1234"})
        snap = await rest.depth("BTCUSDT", 100)
    assert snap.lastUpdateId == 5
    assert rest.budget.used(WEIGHT, 60_000, SystemClock().now_ms()) == 1234


async def test_429_backs_off_for_retry_after_then_succeeds(session) -> None:
    rest = client(session)
    loop = asyncio.get_running_loop()
    with aioresponses() as mocked:
        mocked.get(DEPTH, status=429, payload={"code": -1003, "msg": "Too many requests"}, headers={"Retry-After": "0.2"})
        mocked.get(DEPTH, payload=DEPTH_BODY)
        started = loop.time()
        await rest.depth("BTCUSDT", 100)
        waited = loop.time() - started
    assert waited >= 0.19
    assert rest.budget.rate_limited == 1 and rest.retries == 1


async def test_429_pauses_every_session_sharing_the_host(session) -> None:
    budgets = HostBudgets(SystemClock())
    first, second = client(session, budgets), client(session, budgets)
    assert first.budget is second.budget
    with aioresponses() as mocked:
        mocked.get(DEPTH, status=429, payload={"code": -1003, "msg": "x"}, headers={"Retry-After": "30"})
        with pytest.raises(VenueRateLimited):
            await client(session, budgets, max_retries=0).depth("BTCUSDT", 100)
        # the other session has not sent anything yet; it must wait too rather than hit the host
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(second.depth("BTCUSDT", 100), 0.1)
        assert len(mocked.requests[("GET", next(iter(mocked.requests))[1])]) == 1


async def test_418_bans_the_host_and_stops_all_calls_loudly(session) -> None:
    budgets = HostBudgets(SystemClock())
    rest, other = client(session, budgets), client(session, budgets)
    with aioresponses() as mocked:
        mocked.get(DEPTH, status=418, payload={"code": -1003, "msg": "banned"}, headers={"Retry-After": "120"})
        with pytest.raises(VenueRateLimited) as first, capture_logs() as logs:
            await rest.depth("BTCUSDT", 100)
        assert first.value.details["banned"] is True
        with pytest.raises(VenueRateLimited) as refused:
            await other.depth("BTCUSDT", 100)  # refused before any request goes out
        sent = sum(len(calls) for calls in mocked.requests.values())
    assert refused.value.details["banned"] is True and refused.value.retry_after_s > 100
    assert sent == 1
    assert [entry["log_level"] for entry in logs if entry["event"] == "ratelimit.banned"] == ["error"]


async def test_invalid_timestamp_resyncs_the_offset_and_retries_once(session) -> None:
    rest = client(session)
    server_ahead = SystemClock().now_ms() + 30_000
    with aioresponses() as mocked:
        mocked.get(ACCOUNT, status=400, payload={"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
        mocked.get(TIME, payload={"serverTime": server_ahead})
        mocked.get(ACCOUNT, payload={"balances": []})
        assert await rest.account() == {"balances": []}
        sent = [str(url) for (method, url) in mocked.requests]
    assert rest.time_resyncs == 1
    assert 29_000 < rest.offset.offset_ms < 31_000
    assert any("signature=" in url and "timestamp=" in url for url in sent)


async def test_a_second_invalid_timestamp_is_not_retried_forever(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.get(ACCOUNT, status=400, payload={"code": -1021, "msg": "x"}, repeat=True)
        mocked.get(TIME, payload={"serverTime": SystemClock().now_ms()})
        with pytest.raises(VenueRejected) as caught:
            await rest.account()
    assert caught.value.venue_code == -1021 and rest.time_resyncs == 1


async def test_signed_requests_carry_key_header_and_signature(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.get(ACCOUNT, payload={})
        await rest.account()
        (_, url), calls = next(iter(mocked.requests.items()))
    assert calls[0].kwargs["headers"] == {"X-MBX-APIKEY": "key"}
    # aioresponses sorts the recorded query, so the exact order (and so the signature over it) is checked
    # end to end by the dialect server (tests/component/binance); here: what must be there.
    assert re.fullmatch(r"[0-9a-f]{64}", url.query["signature"])
    assert url.query["recvWindow"] == "5000" and int(url.query["timestamp"]) > 0


async def test_5xx_on_a_read_is_retried(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.get(DEPTH, status=503, body="busy")
        mocked.get(DEPTH, payload=DEPTH_BODY)
        await rest.depth("BTCUSDT", 100)
    assert rest.retries == 1


async def test_5xx_on_a_write_means_unknown_outcome(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.post(re.compile(r".*/api/v3/order.*"), status=503, body="busy")
        with pytest.raises(VenueTimeout):
            await rest.call("POST", "/api/v3/order", {"symbol": "BTCUSDT"}, signed=True)
    assert rest.retries == 0


async def test_a_rejection_is_not_retried(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.get(DEPTH, status=400, payload={"code": -1121, "msg": "Invalid symbol."})
        with pytest.raises(VenueRejected) as caught:
            await rest.depth("NOPE", 100)
    assert (caught.value.venue_code, caught.value.venue_message) == (-1121, "Invalid symbol.")
    assert rest.retries == 0


async def test_transient_venue_codes_on_reads_are_retried(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.get(DEPTH, status=400, payload={"code": -1008, "msg": "Server is currently overloaded"})
        mocked.get(DEPTH, payload=DEPTH_BODY)
        await rest.depth("BTCUSDT", 100)
    assert rest.retries == 1


@pytest.mark.parametrize(("exception", "expected"), [
    (TimeoutError(), VenueUnavailable),
    (aiohttp.ClientConnectionError("refused"), VenueUnavailable),
])
async def test_transport_failures_map_to_venue_errors(session, exception, expected) -> None:
    rest = client(session, max_retries=0)
    with aioresponses() as mocked:
        mocked.get(DEPTH, exception=exception)
        with pytest.raises(expected):
            await rest.depth("BTCUSDT", 100)


async def test_a_write_timeout_is_an_unknown_outcome(session) -> None:
    rest = client(session)
    with aioresponses() as mocked:
        mocked.post(re.compile(r".*/api/v3/order.*"), exception=TimeoutError())
        with pytest.raises(VenueTimeout):
            await rest.call("POST", "/api/v3/order", {"symbol": "BTCUSDT"}, signed=True)


async def test_signed_call_without_credentials_is_refused(session) -> None:
    clock = SystemClock()
    budget = HostBudgets(clock).budget("h", [])
    rest = BinanceRest("bn", "spot", HttpClient(session, "bn"), BASE, budget, clock, TimeOffset())
    with pytest.raises(VenueRejected):
        await rest.account()
