"""Binance combined market streams: which streams, on which connection, and routing their frames.

Spot has one stream host; USD-M futures split it (fact sheet §0.4, §6.2): depth and bookTicker on
``/public``, aggTrade, kline and markPrice on ``/market``. Each `MarketStream` is one combined-stream
connection, ``<base>/stream?streams=a/b/c``, whose frames ``{"stream", "data"}`` are routed by the stream
name (looked up in a table built at subscription time, never matched by substring) and decoded by the
payload's event type. Streams added while connected are subscribed with one ``SUBSCRIBE`` message and
are part of the URL of every later connection, so a reconnect resubscribes them.

Server pings are answered by the websockets library with the same payload (§6.1: 20 s spot, §6.2:
3 min futures); the connection is renewed before Binance's 24 h cut-off (`ws_max_age_s`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import structlog
from websockets.asyncio.client import ClientConnection

from gateway.core.clock import Clock
from gateway.core.enums import ConnectionState
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.binance.schemas import (
    ControlReply,
    MarketMessage,
    decode_market_message,
    decode_stream_frame,
)
from gateway.venues.common.retry import Backoff
from gateway.venues.common.ws import ResilientWebSocket

__all__ = ["MarketStream", "StreamRoute", "plan_streams"]

MAX_STREAMS_PER_CONNECTION = 1024  # fact sheet §6.1, §6.2


@dataclass(frozen=True, slots=True)
class StreamRoute:
    """Where a stream's messages go: the unified symbol and the channel (depth, trade, kline, ...)."""

    symbol: str
    channel: str  # depthUpdate | trade | aggTrade | bookTicker | kline | markPriceUpdate


def plan_streams(settings: BinanceSettings, natives: dict[str, str]) -> dict[str, dict[str, StreamRoute]]:
    """Return connection name (``public`` / ``market``) -> stream name -> route for `natives` (unified -> native).

    Spot puts every stream on ``public`` (its only host).
    """
    usdm = settings.market == "usdm"
    depth_suffix = {100: "@depth@100ms", 250: "@depth", 500: "@depth@500ms", 1000: "@depth"}[settings.depth_update_ms]
    trade = settings.trade_stream or ("aggTrade" if usdm else "trade")
    plan: dict[str, dict[str, StreamRoute]] = {"public": {}, "market": {}} if usdm else {"public": {}}
    market = "market" if usdm else "public"
    for unified, native in natives.items():
        s = native.lower()
        plan["public"][f"{s}{depth_suffix}"] = StreamRoute(unified, "depthUpdate")
        plan["public"][f"{s}@bookTicker"] = StreamRoute(unified, "bookTicker")
        plan[market][f"{s}@{trade}"] = StreamRoute(unified, trade)
        for interval in settings.kline_intervals:
            plan[market][f"{s}@kline_{interval}"] = StreamRoute(unified, "kline")
        if usdm:
            plan[market][f"{s}@markPrice{'@1s' if settings.mark_price_1s else ''}"] = StreamRoute(unified,
                                                                                               "markPriceUpdate")
    for name, streams in plan.items():
        if len(streams) > MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"{len(streams)} streams on the {name} connection; Binance allows 1024")
    return plan


class MarketStream:
    """One combined-stream connection.

    Args:
        name: ``public`` or ``market`` (for logs and states).
        venue: the venue name.
        base_url: the stream base, e.g. ``wss://stream.binance.com:9443``.
        routes: stream name -> route, subscribed from the first connection on.
        on_message: called with (route, decoded message, receive time ms) for every market message.
        on_open: awaited after every (re)connect, before `OPEN` is reported (resync books here).
        on_state: told `OPEN` / `RECONNECTING` with this connection's name.
        clock: receive timestamps.
        settings: ping, renewal and backoff settings.
        rng: the reconnect jitter source.
    """

    def __init__(
        self,
        name: str,
        venue: str,
        base_url: str,
        routes: dict[str, StreamRoute],
        on_message: Callable[[StreamRoute, MarketMessage, int], None],
        *,
        on_open: Callable[[str], Awaitable[None]] | None = None,
        on_state: Callable[[str, ConnectionState, str | None], None] | None = None,
        clock: Clock,
        settings: BinanceSettings,
        rng: random.Random | None = None,
    ):
        self.name = name
        self._base = base_url.rstrip("/")
        self._routes = dict(routes)
        self._on_message = on_message
        self._on_open = on_open
        self._on_state = on_state
        self._clock = clock
        self._ids = itertools.count(1)
        self.unknown_frames = 0
        self._log = structlog.get_logger("gateway.venues.binance.stream").bind(venue=venue, connection=name)
        self.connection = ResilientWebSocket(
            f"{venue}:{name}", venue, self.url, self._on_raw, on_open=self._opened, on_state=self._state,
            backoff=Backoff(settings.backoff_base_s, settings.backoff_cap_s, floor_s=min(0.05, settings.backoff_base_s)),
            rng=rng, ping_interval_s=settings.ws_ping_interval_s, ping_timeout_s=settings.ws_ping_timeout_s,
            open_timeout_s=settings.request_timeout_s, max_age_s=settings.ws_max_age_s,
        )

    @property
    def streams(self) -> list[str]:
        return list(self._routes)

    def url(self) -> str:
        """Return the combined-stream URL carrying every stream subscribed so far."""
        return f"{self._base}/stream?streams={'/'.join(self._routes)}"

    async def run(self) -> None:
        """Keep the connection up until cancelled (see `ResilientWebSocket.run`)."""
        await self.connection.run()

    async def subscribe(self, routes: dict[str, StreamRoute]) -> None:
        """Add streams: sent as one SUBSCRIBE now if connected, and part of every later connection's URL.

        Raises:
            ValueError: the connection would carry more than 1024 streams.
        """
        new = {name: route for name, route in routes.items() if name not in self._routes}
        if len(self._routes) + len(new) > MAX_STREAMS_PER_CONNECTION:
            raise ValueError("Binance allows 1024 streams per connection")
        self._routes.update(new)
        if new and self.connection.is_open:
            message = {"method": "SUBSCRIBE", "params": list(new), "id": next(self._ids)}
            await self.connection.send(orjson.dumps(message).decode())

    async def _opened(self, ws: ClientConnection) -> None:
        if self._on_open is not None:
            await self._on_open(self.name)

    def _state(self, state: ConnectionState, reason: str | None) -> None:
        if self._on_state is not None:
            self._on_state(self.name, state, reason)

    def _on_raw(self, raw: str | bytes) -> None:
        recv_ts = self._clock.now_ms()
        frame = decode_stream_frame(orjson.loads(raw))
        if isinstance(frame, ControlReply):
            if frame.error is not None:
                self._log.error("stream.control_error", id=frame.id, error=frame.error)
            return
        route = self._routes.get(frame.stream)
        if route is None:
            self.unknown_frames += 1
            return
        message = decode_market_message(frame.data, route.channel)
        if message is not None:
            self._on_message(route, message, recv_ts)
