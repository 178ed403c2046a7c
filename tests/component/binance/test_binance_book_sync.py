"""Over real sockets: the adapter's local book equals the dialect's book after thousands of diffs with
injected gaps (skipped update ids) and a dropped connection, on spot (U/u) and USD-M futures (pu)."""

from __future__ import annotations

import asyncio

import pytest
from dialect_helpers import PERP, SPOT, RecordingSink, adapter_settings, dialect_settings

from gateway.core.clock import SystemClock
from gateway.core.enums import ConnectionState
from gateway.simserver.binance.server import BinanceDialect
from gateway.venues.binance.adapter import BinanceAdapter
from gateway.venues.common.ratelimit import HostBudgets

STEPS = 2_400
BATCH = 100


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_local_book_equals_the_dialect_book_after_gaps_and_a_drop(market: str) -> None:
    symbol = PERP if market == "usdm" else SPOT
    async with BinanceDialect(dialect_settings()) as dialect:
        sink = RecordingSink()
        adapter = BinanceAdapter("bn", adapter_settings(dialect, market), SystemClock(),
                                 budgets=HostBudgets(SystemClock()))
        adapter.bind(sink)
        async with adapter:
            sync = adapter.book(symbol)
            assert sync is not None

            def caught_up() -> bool:
                return sync.is_synced and sync.book.seq == dialect.book(symbol)[0]

            await sink.until(lambda: adapter.state is ConnectionState.OPEN)
            first_id = dialect.book(symbol)[0]
            skips = dropped = 0
            for batch in range(STEPS // BATCH):
                if batch % 3 == 1:  # a lost diff: its ids are spent, the event never sent
                    dialect.faults.skip_depth_symbol = symbol
                    dialect.faults.skip_depth_updates = 1 + batch % 2
                    skips += 1 + batch % 2
                if batch == 12:
                    dropped = dialect.drop_connections(market)
                for _ in range(BATCH):
                    dialect.step()
                    await asyncio.sleep(0)  # let the sockets move (not a wait for anything)
                await sink.until(caught_up)
            bids_ids = dialect.book(symbol)
            assert bids_ids[0] - first_id > STEPS  # thousands of update ids went by
            assert dialect.faults.skipped_depth_updates == skips
            assert dropped >= 1
            last_id, bids, asks = dialect.book(symbol)
            assert sync.book.seq == last_id
            assert sync.book.top(1_000_000) == (bids, asks)
            assert sync.gaps >= 1 and sync.snapshots >= 3
            assert adapter.data is not None and adapter.data.streams["public"].connection.connections >= 2
            states = [state for state, _ in sink.states]
            assert ConnectionState.RECONNECTING in states and states[-1] is ConnectionState.OPEN
