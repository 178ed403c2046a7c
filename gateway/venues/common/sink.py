"""`NullSink`: where a venue session pushes before the daemon binds it (start-up, tests, tools)."""

from __future__ import annotations

from gateway.core.enums import ConnectionState
from gateway.core.events import MarketEvent

__all__ = ["NullSink"]


class NullSink:
    """A `VenueSink` that drops everything: a session may push before `bind` is called."""

    def on_market(self, event: MarketEvent) -> None:
        pass

    def on_user(self, event: object) -> None:
        pass

    def on_connection(self, venue: str, state: ConnectionState, reason: str | None = None) -> None:
        pass
