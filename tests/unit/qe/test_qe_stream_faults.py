"""Review fixes of the QE session: a refused or garbled listen-key / server-time answer is a typed gateway
error (so every loop backs off and retries instead of dying), one unreadable catch-up record is skipped,
and the decimal options of a create body refuse NaN / inf / negative values."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from test_qe_rest import _env, _rest, aioresponses

from gateway.core.algo_ports import ChildFill, ChildOrder, ParentOrder, ParentSpec
from gateway.core.clock import TestClock
from gateway.core.enums import ConnectionState
from gateway.core.errors import VenueUnavailable
from gateway.venues.common.retry import Backoff
from gateway.venues.qe.body import option_decimal, to_create_body
from gateway.venues.qe.stream import QeUserStream
from gateway.venues.qe.tracker import Tracker

LISTEN_KEY = re.compile(r"^https://qe\.test/strategy-api/user/trading/v2/listen-key.*$")
TIMESTAMP = re.compile(r"^https://qe\.test/timestamp.*$")


async def test_a_refused_or_garbled_listen_key_answer_is_venue_unavailable() -> None:
    async with aiohttp.ClientSession() as session:
        rest = await _rest(session)
        with aioresponses() as mock:
            mock.post(LISTEN_KEY, status=200, payload=_env(200, {"success": False, "message": "too many keys"}))
            mock.post(LISTEN_KEY, status=200, payload=_env(200, {"listenKey": "k", "expireAt": "soon"}))
            mock.post(LISTEN_KEY, status=200, payload=_env(200, {"listenKey": "k", "expireAt": 1_700_003_600}))
            with pytest.raises(VenueUnavailable, match="too many keys"):
                await rest.new_listen_key()
            with pytest.raises(VenueUnavailable, match="listen-key"):
                await rest.new_listen_key()
            assert await rest.new_listen_key() == ("k", 1_700_003_600)


async def test_a_garbled_server_time_answer_is_venue_unavailable() -> None:
    async with aiohttp.ClientSession() as session:
        rest = await _rest(session)
        with aioresponses() as mock:
            mock.get(TIMESTAMP, status=200, payload=_env(200, {"serverTimeMilli": "later"}))
            with pytest.raises(VenueUnavailable, match="timestamp"):
                await rest.sync_time()


async def test_the_stream_survives_refused_listen_keys_and_keeps_retrying() -> None:
    # Before the fix the first `success: false` answer (a QeFormatError) ended run() silently.
    states: list[tuple[ConnectionState, str | None]] = []
    retried = asyncio.Event()

    def on_state(state: ConnectionState, reason: str | None) -> None:
        states.append((state, reason))
        if len(states) >= 3:
            retried.set()

    async with aiohttp.ClientSession() as session:
        rest = await _rest(session)
        with aioresponses() as mock:
            mock.post(LISTEN_KEY, status=200, payload=_env(200, {"success": False, "message": "refused"}),
                      repeat=True)
            stream = QeUserStream("qe", rest, "wss://qe.test", "/api/ws/v2", TestClock(1_700_000_000_000),
                                  Tracker(), lambda e: None, on_state, backoff=Backoff(0, 0))
            task = asyncio.create_task(stream.run())
            try:
                await asyncio.wait_for(retried.wait(), 5.0)
                assert not task.done()  # still retrying, not dead
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    assert stream.keys_created == 0
    assert all(s is ConnectionState.RECONNECTING and "refused" in (r or "") for s, r in states)


class _PagesRest:
    """Answers the catch-up's reads from fixed pages (one garbage record among good ones)."""

    def __init__(self, parents: list[Any], children: list[Any]):
        self.parents, self.children = parents, children

    async def list_master_orders(self, **params: Any) -> Any:
        return {"items": self.parents}

    async def order_fills(self, **params: Any) -> Any:
        return {"items": self.children}


async def test_one_unreadable_catch_up_record_is_skipped_not_fatal() -> None:
    good = {"masterOrderId": "m1", "clientOrderId": "c1", "status": "NEW", "symbol": "BTCUSDT", "side": "BUY",
            "algorithm": "TWAP", "totalQuantity": "0.5", "cumFilledQty": "0.1", "executionDurationSeconds": 600}
    parents = [{"masterOrderId": "bad", "totalQuantity": "NaN"}, good, "not an object"]
    children = [{"orderId": "7", "masterOrderId": "m1", "filledQuantity": "0.1", "filledNotional": "10",
                 "status": "PLACED"},
                {"orderId": "8", "masterOrderId": "m1", "filledQuantity": [1]}]
    emitted: list[object] = []
    stream = QeUserStream("qe", _PagesRest(parents, children), "wss://qe.test", "/api/ws/v2",  # type: ignore[arg-type]
                          TestClock(1_700_000_000_000), Tracker(), emitted.append, lambda s, r: None)
    assert await stream.catch_up() > 0
    assert stream.bad_records == 2 * 2 + 1  # both parent reads see the two bad parents; one bad child
    assert [type(e) for e in emitted] == [ParentOrder, ChildOrder, ChildFill]
    assert emitted[0].parent_id == "m1"  # type: ignore[attr-defined]


def _spec(**options: object) -> ParentSpec:
    return ParentSpec(api_key_id="a", exchange="Binance", market_type="SPOT", symbol="BTCUSDT", side="BUY",
                      algorithm="TWAP", duration_s=600, qty=Decimal(1), options=options)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("limit_price", "NaN", "finite"), ("limit_price", Decimal("Infinity"), "finite"), ("limit_price", "0", "> 0"),
    ("limit_price", "-5", "> 0"), ("up_tolerance", "-0.1", ">= 0"), ("pov_limit", "abc", "a number"),
    ("maker_rate_limit", float("nan"), "finite"), ("pov_limit", True, "a number"),
])
def test_decimal_options_refuse_nan_inf_and_out_of_range_values(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_create_body(_spec(**{name: value}))


def test_decimal_options_keep_unset_and_zero() -> None:
    assert option_decimal("up_tolerance", -1) is None  # QE's "unset": left out
    body = to_create_body(_spec(limit_price="65000.50", pov_min_limit="0", up_tolerance=-1))
    assert body["worstPrice"] == "65000.5" and body["povMinLimit"] == "0" and "upTolerance" not in body
    with pytest.raises(ValueError, match="finite"):
        to_create_body(ParentSpec(api_key_id="a", exchange="Binance", market_type="SPOT", symbol="BTCUSDT",
                                  side="BUY", algorithm="TWAP", duration_s=600, qty=Decimal("NaN")))
