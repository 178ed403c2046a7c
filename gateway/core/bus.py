"""The stream bus: named streams, subscribers, encode-once fan-out. Pure: no I/O, no event loop.

A stream has a canonical key (`StreamKey`) and each subscriber holds it under the name it subscribed
with (`sim:BTC/USDT@trade` or the alias `BTCUSDT@trade`); a push carries the subscriber's own name, so
each published event is encoded once per distinct name, never once per subscriber.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

__all__ = ["StreamBus", "StreamKey", "Subscriber"]


class StreamKey(NamedTuple):
    scope: str  # venue name, account name, or "gateway"
    symbol: str  # unified symbol; "" for account and gateway streams
    kind: str  # trade, bbo, depth, depth5, kline_1m, order, fill, status, ...

    def __str__(self) -> str:
        return f"{self.scope}:{self.symbol}@{self.kind}" if self.symbol else f"{self.scope}@{self.kind}"


class Subscriber(Protocol):
    def deliver(self, frame: bytes, stream: str, conflatable: bool) -> None:
        """Take one encoded push. Must not block. `conflatable` frames may be replaced by newer ones."""


Encoder = Callable[[str, Any], bytes]


class StreamBus:
    def __init__(self, encode: Encoder):
        self._encode = encode
        self._subs: dict[StreamKey, dict[str, set[Subscriber]]] = {}

    def subscribe(self, key: StreamKey, name: str, subscriber: Subscriber) -> None:
        self._subs.setdefault(key, {}).setdefault(name, set()).add(subscriber)

    def unsubscribe(self, key: StreamKey, name: str, subscriber: Subscriber) -> None:
        names = self._subs.get(key)
        if names is None:
            return
        holders = names.get(name)
        if holders is not None:
            holders.discard(subscriber)
            if not holders:
                del names[name]
        if not names:
            del self._subs[key]

    def has_subscribers(self, key: StreamKey) -> bool:
        return key in self._subs

    def subscriber_count(self) -> int:
        return sum(len(h) for names in self._subs.values() for h in names.values())

    def keys(self) -> list[StreamKey]:
        return list(self._subs)

    def publish(self, key: StreamKey, data: Any, conflatable: bool) -> int:
        """Encode `data` once per subscribed name and hand it to every subscriber. Returns deliveries."""
        names = self._subs.get(key)
        if not names:
            return 0
        delivered = 0
        for name, holders in list(names.items()):
            frame = self._encode(name, data)
            for subscriber in list(holders):
                subscriber.deliver(frame, name, conflatable)
                delivered += 1
        return delivered
