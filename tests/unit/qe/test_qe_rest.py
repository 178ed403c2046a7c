"""The REST client's error mapping (one place) and signing on the wire, with aioresponses."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import orjson
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses as _aioresponses

from gateway.core.clock import TestClock
from gateway.core.errors import VenueRejected, VenueTimeout, VenueUnavailable
from gateway.venues.common.http import HttpClient
from gateway.venues.common.ratelimit import HostBudgets, RateLimit
from gateway.venues.common.retry import Backoff
from gateway.venues.common.timesync import TimeOffset
from gateway.venues.qe.auth import HmacSigner, verify
from gateway.venues.qe.rest import REQUESTS, QeRest


class _CompatResponse(ClientResponse):
    # aioresponses 0.7.9 builds responses without the `stream_writer` aiohttp 3.14 requires.
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class aioresponses(_aioresponses):
    def add(self, *args: object, response_class: type[ClientResponse] | None = None, **kwargs: object) -> None:
        super().add(*args, response_class=response_class or _CompatResponse, **kwargs)  # type: ignore[arg-type]


BASE = "https://qe.test"
MO = re.compile(r"^https://qe\.test/strategy-api/user/trading/v2/master-orders.*$")


def _env(code: int, message: object) -> dict[str, object]:
    return {"code": code, "reason": "", "message": message, "traceId": "t", "serverTime": 1}


async def _rest(session: aiohttp.ClientSession) -> QeRest:
    clock = TestClock(1_700_000_000_000)
    budget = HostBudgets(clock).budget("qe.test", [RateLimit(REQUESTS, 60_000, 1000)])
    return QeRest("qe", HttpClient(session, "qe"), BASE, v2_prefix="/strategy-api", v1_prefix="", budget=budget,
                  clock=clock, offset=TimeOffset(), api_key="K", signer=HmacSigner("S"), recv_window_ms=5000,
                  max_retries=2, backoff=Backoff(0, 0))


async def test_http_200_with_error_code_is_a_rejection_with_the_venue_code() -> None:
    async with aiohttp.ClientSession() as session:
        rest = await _rest(session)
        with aioresponses() as mock:
            mock.post(MO, status=200, payload=_env(400, "totalQuantity must be > 0"))
            with pytest.raises(VenueRejected) as err:
                await rest.create_master_order({"symbol": "BTCUSDT"})
        assert err.value.venue_code == 400 and "totalQuantity" in str(err.value.venue_message)


async def test_a_write_answered_5xx_or_garbage_has_an_unknown_outcome() -> None:
    async with aiohttp.ClientSession() as session:
        rest = await _rest(session)
        with aioresponses() as mock:
            mock.post(MO, status=200, payload=_env(500, "internal"))
            mock.post(MO, status=200, body=b"<html>")
            for _ in range(2):
                with pytest.raises(VenueTimeout):
                    await rest.create_master_order({"symbol": "BTCUSDT"})


async def test_reads_are_retried_and_garbage_on_a_read_is_unavailable() -> None:
    async with aiohttp.ClientSession() as session:
        rest = await _rest(session)
        with aioresponses() as mock:
            mock.get(MO, status=503, body=b"busy")
            mock.get(MO, status=200, payload=_env(200, {"items": [], "total": 0}))
            assert await rest.list_master_orders(page=1) == {"items": [], "total": 0}
            assert rest.retries == 1
            for _ in range(3):
                mock.get(MO, status=200, body=b"garbage")
            with pytest.raises(VenueUnavailable):
                await rest.list_master_orders(page=1)


async def test_v2_write_is_signed_over_query_and_body_and_sends_the_api_key_header() -> None:
    async with aiohttp.ClientSession() as session:
        rest = await _rest(session)
        with aioresponses() as mock:
            mock.put(MO, status=200, payload=_env(200, {"success": True}))
            await rest.master_order_action("m1", "cancel", {"reason": "risk"})
            (_method, url), calls = next(iter(mock.requests.items()))
        call = calls[0]
        query = dict(parse_qsl(urlsplit(str(url)).query))
        signature = query.pop("signature")
        assert set(query) == {"timestamp", "recvWindow"}
        assert call.kwargs["headers"]["X-MBX-APIKEY"] == "K"
        body = orjson.loads(call.kwargs["data"])
        assert body == {"reason": "risk"}
        assert verify(HmacSigner("S"), query, body, signature)
        assert str(url).startswith(f"{BASE}/strategy-api/user/trading/v2/master-orders/m1/cancel?")
