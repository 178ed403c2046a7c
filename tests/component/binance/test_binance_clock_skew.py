"""Over real sockets: clock skew beyond recvWindow is corrected: -1021 -> re-sync from /time -> success."""

from __future__ import annotations

import pytest
from dialect_helpers import adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.common.ratelimit import HostBudgets


@pytest.mark.parametrize(("market", "skew_ms"), [("spot", 20_000), ("spot", -20_000), ("usdm", 7_000)])
async def test_skew_beyond_recv_window_is_resynced(market: str, skew_ms: int) -> None:
    async with BinanceDialect(dialect_settings()) as dialect:
        adapter = BinanceAdapter("bn", adapter_settings(dialect, market), SystemClock(),
                                 budgets=HostBudgets(SystemClock()))
        async with adapter:
            rest = adapter.rest
            assert rest is not None
            assert abs(rest.offset.offset_ms) < 1_000
            dialect.faults.time_offset_ms = skew_ms  # the server's clock jumps: our timestamps are now off
            answer = await rest.account()
            assert answer  # spot account / futures balances
            assert rest.time_resyncs == 1
            assert abs(rest.offset.offset_ms - skew_ms) < 1_000
            await rest.account()  # and the next call is right first time
            assert rest.time_resyncs == 1


async def test_a_wrong_secret_is_rejected_not_resynced() -> None:
    from gateway.core.errors import VenueRejected

    async with BinanceDialect(dialect_settings()) as dialect:
        adapter = BinanceAdapter("bn", adapter_settings(dialect, "spot", api_secret="wrong"), SystemClock(),
                                 budgets=HostBudgets(SystemClock()))
        async with adapter:
            assert adapter.rest is not None
            with pytest.raises(VenueRejected) as caught:
                await adapter.rest.account()
            assert caught.value.venue_code == -1022 and adapter.rest.time_resyncs == 0
