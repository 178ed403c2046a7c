"""Base URLs of Binance spot and USD-M futures, production and testnet (fact sheet §2, §4, §5, §6, §7).

USD-M futures market streams are split over three paths since 2026-04-23 (fact sheet §0.4, §6.2):
``/public`` carries depth and bookTicker, ``/market`` carries aggTrade, kline and markPrice, ``/private``
user data. Whether the futures testnet has the same split is **unverified**: its defaults here use the
unsplit host for both, and every URL can be overridden in the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULTS", "ResolvedUrls", "resolve_urls"]

Market = Literal["spot", "usdm"]


@dataclass(frozen=True, slots=True)
class ResolvedUrls:
    """The URLs one session uses.

    Attributes:
        rest: REST base (paths ``/api/v3/...`` or ``/fapi/v1/...`` are appended).
        stream_public: stream base for depth and bookTicker (spot: the only stream host).
        stream_market: stream base for trades, klines and mark price (spot: same as public).
        stream_private: futures user-data stream base (slice 2).
        ws_api: WebSocket API URL (slice 2).
    """

    rest: str
    stream_public: str
    stream_market: str
    stream_private: str
    ws_api: str


DEFAULTS: dict[tuple[Market, bool], ResolvedUrls] = {
    # (market, testnet)
    ("spot", False): ResolvedUrls(
        rest="https://api.binance.com",
        stream_public="wss://stream.binance.com:9443",
        stream_market="wss://stream.binance.com:9443",
        stream_private="wss://stream.binance.com:9443",  # unused: spot user data is on the WS API now
        ws_api="wss://ws-api.binance.com:443/ws-api/v3",
    ),
    ("spot", True): ResolvedUrls(
        rest="https://testnet.binance.vision",
        stream_public="wss://stream.testnet.binance.vision",
        stream_market="wss://stream.testnet.binance.vision",
        stream_private="wss://stream.testnet.binance.vision",
        ws_api="wss://ws-api.testnet.binance.vision/ws-api/v3",
    ),
    ("usdm", False): ResolvedUrls(
        rest="https://fapi.binance.com",
        stream_public="wss://fstream.binance.com/public",
        stream_market="wss://fstream.binance.com/market",
        stream_private="wss://fstream.binance.com/private",
        ws_api="wss://ws-fapi.binance.com/ws-fapi/v1",
    ),
    ("usdm", True): ResolvedUrls(
        rest="https://testnet.binancefuture.com",
        stream_public="wss://fstream.binancefuture.com",  # unverified whether /public exists on testnet
        stream_market="wss://fstream.binancefuture.com",  # unverified whether /market exists on testnet
        stream_private="wss://fstream.binancefuture.com",
        ws_api="wss://testnet.binancefuture.com/ws-fapi/v1",
    ),
}


def resolve_urls(market: Market, testnet: bool, overrides: dict[str, str | None]) -> ResolvedUrls:
    """Return the defaults for (`market`, `testnet`) with every non-None entry of `overrides` applied."""
    base = DEFAULTS[(market, testnet)]
    values = {name: (overrides.get(name) or getattr(base, name)).rstrip("/") for name in ResolvedUrls.__slots__}
    return ResolvedUrls(**values)
