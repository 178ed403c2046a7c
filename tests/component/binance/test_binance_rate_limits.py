"""Over real sockets: 429 storms never reach a 418 (the client backs off per Retry-After, and every
session of the daemon shares one budget per host); a client that ignores Retry-After is banned; a ban
stops every call to the host until it lifts."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from dialect_helpers import SPOT, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.errors import VenueRateLimited
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.common.ratelimit import HostBudgets

SETTINGS = {"spot_weight_limit": 120, "weight_interval_s": 1, "retry_after_s": 0.3, "ban_after": 3, "ban_s": 30}


async def test_429_storm_from_two_sessions_never_reaches_418() -> None:
    async with BinanceDialect(dialect_settings(**SETTINGS)) as dialect:
        budgets = HostBudgets(SystemClock())  # the daemon's: both sessions spend one budget
        first = BinanceAdapter("a", adapter_settings(dialect, "spot"), SystemClock(), budgets=budgets)
        second = BinanceAdapter("b", adapter_settings(dialect, "spot"), SystemClock(), budgets=budgets)
        async with first, second:
            assert first.rest is not None and second.rest is not None
            assert first.rest.budget is second.rest.budget
            dialect.faults.answer_429 = 4  # a storm of 429s on top of the weight limit
            dialect.faults.retry_after_s = 0.3

            async def hammer(adapter: BinanceAdapter) -> None:
                for _ in range(12):
                    await adapter.fetch_depth(SPOT, 100)  # weight 5 each; 8 callers x 12 x 5 >> 120/s

            await asyncio.wait_for(asyncio.gather(*(hammer(a) for a in (first, second) for _ in range(4))), 30)
        limiter = dialect.limiters["spot"]
        assert limiter.answered_429 >= 4  # the storm happened
        assert limiter.answered_418 == 0  # and never escalated
        assert limiter.violations < limiter.ban_after


async def test_a_client_ignoring_retry_after_gets_banned() -> None:
    # The negative control: the dialect does escalate, so the test above means something.
    async with BinanceDialect(dialect_settings(**SETTINGS)) as dialect:
        dialect.faults.answer_429 = 1
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                async with session.get(f"{dialect.rest_url}/api/v3/ping") as response:
                    statuses.append(response.status)
                await asyncio.sleep(0.06)  # a naive poller: a fixed pace that ignores Retry-After
        assert statuses[0] == 429 and 418 in statuses


async def test_a_ban_stops_every_call_to_the_host_until_it_lifts() -> None:
    async with BinanceDialect(dialect_settings(**SETTINGS)) as dialect:
        budgets = HostBudgets(SystemClock())
        adapter = BinanceAdapter("a", adapter_settings(dialect, "spot"), SystemClock(), budgets=budgets)
        other = BinanceAdapter("b", adapter_settings(dialect, "spot"), SystemClock(), budgets=budgets)
        async with adapter, other:
            dialect.faults.answer_418 = 1
            dialect.faults.ban_s = 30
            with pytest.raises(VenueRateLimited) as banned:
                await adapter.fetch_ticker(SPOT)
            assert banned.value.details["banned"] is True
            before = dialect.requests
            with pytest.raises(VenueRateLimited) as refused:
                await other.fetch_depth(SPOT, 10)
            assert refused.value.details["banned"] is True
            assert dialect.requests == before  # nothing reached the host
