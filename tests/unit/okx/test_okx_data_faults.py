"""A books push with a garbage level reaching `MarketData`: nothing of it is applied, no exception escapes,
and the channel is re-subscribed once for a fresh snapshot."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from gateway.core.clock import TestClock
from gateway.core.enums import MarketType
from gateway.core.events import Depth
from gateway.core.instruments import Instrument
from gateway.venues.okx.config import OkxSettings
from gateway.venues.okx.data import MarketData
from gateway.venues.okx.instruments import SymbolMap


class _Socket:
    def __init__(self) -> None:
        self.resubscribed: list[dict[str, Any]] = []
        self.done = asyncio.Event()

    def add_subscription(self, arg: dict[str, Any]) -> None:
        pass

    async def resubscribe(self, arg: dict[str, Any]) -> None:
        self.resubscribed.append(arg)
        self.done.set()


async def test_a_garbage_book_level_is_never_half_applied_and_resubscribes() -> None:
    instrument = Instrument(venue="okx", symbol="BTC/USDT", native="BTC-USDT", base="BTC", quote="USDT",
                            type=MarketType.SPOT, tick_size=Decimal("0.1"), step_size=Decimal("0.0001"),
                            min_qty=Decimal("0.0001"), min_notional=Decimal(0))
    symbols = SymbolMap([instrument])
    market: list[Any] = []
    socket = _Socket()
    settings = OkxSettings(market="spot", symbols=["BTC/USDT"], kline_intervals=[])
    data = MarketData("okx", settings, lambda: symbols, TestClock(1_700_000_000_000),
                      lambda: SimpleNamespace(on_market=market.append),  # type: ignore[arg-type,return-value]
                      lambda *a, **k: socket)
    arg = {"channel": "books", "instId": "BTC-USDT"}
    data._on_push({"arg": arg, "action": "snapshot", "data": [
        {"seqId": 10, "prevSeqId": -1, "bids": [["100", "1", "0", "1"]], "asks": [["101", "1", "0", "1"]]}]})
    book = data.books["BTC-USDT"]
    before = book.levels(10)
    data._on_push({"arg": arg, "action": "update", "data": [
        {"seqId": 11, "prevSeqId": 10, "bids": [["100", "0", "0", "0"]], "asks": [["102", "NaN?", "0", "1"]]}]})
    await asyncio.wait_for(socket.done.wait(), 5.0)
    assert book.levels(10) == before and not book.is_synced  # the bid deletion was not applied either
    assert socket.resubscribed == [arg] and data.resubscribes == 1
    assert [type(e) for e in market] == [Depth]  # only the snapshot was published
