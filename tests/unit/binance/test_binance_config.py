"""BinanceSettings: URL defaults per market and testnet, overrides, validation, the `kind` union."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import Settings
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.sim.config import SimSettings


@pytest.mark.parametrize(("market", "testnet", "rest", "public", "market_url"), [
    ("spot", False, "https://api.binance.com", "wss://stream.binance.com:9443", "wss://stream.binance.com:9443"),
    ("spot", True, "https://testnet.binance.vision", "wss://stream.testnet.binance.vision",
     "wss://stream.testnet.binance.vision"),
    ("usdm", False, "https://fapi.binance.com", "wss://fstream.binance.com/public", "wss://fstream.binance.com/market"),
    ("usdm", True, "https://testnet.binancefuture.com", "wss://fstream.binancefuture.com",
     "wss://fstream.binancefuture.com"),
])
def test_default_urls(market: str, testnet: bool, rest: str, public: str, market_url: str) -> None:
    symbol = "BTC/USDT:USDT" if market == "usdm" else "BTC/USDT"
    urls = BinanceSettings(market=market, testnet=testnet, symbols=[symbol]).resolved_urls
    assert (urls.rest, urls.stream_public, urls.stream_market) == (rest, public, market_url)


def test_overrides_win() -> None:
    urls = BinanceSettings(symbols=["BTC/USDT"], urls={"rest": "http://127.0.0.1:1/", "stream_public": "ws://x"}
                           ).resolved_urls
    assert (urls.rest, urls.stream_public) == ("http://127.0.0.1:1", "ws://x")


@pytest.mark.parametrize("bad", [
    {"market": "spot", "symbols": ["BTC/USDT:USDT"]},
    {"market": "usdm", "symbols": ["BTC/USDT"]},
    {"market": "usdm", "symbols": ["BTC/USDT:USDT"], "depth_snapshot_limit": 5000},
    {"market": "spot", "symbols": ["BTC/USDT"], "depth_update_ms": 250},
    {"symbols": ["BTC/USDT"], "api_key": "k"},
    {"symbols": ["BTC/USDT"], "recv_window_ms": 60_001},
    {"symbols": ["BTC/USDT"], "kline_intervals": ["2m"]},
    {"symbols": []},
    {"symbols": ["BTC/USDT"], "unknown": 1},
])
def test_invalid_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        BinanceSettings(**bad)


def test_secrets_never_print() -> None:
    settings = BinanceSettings(symbols=["BTC/USDT"], api_key="visible-key", api_secret="hidden-secret")
    assert "hidden-secret" not in repr(settings) and "visible-key" not in repr(settings)


def test_the_root_settings_pick_the_model_by_kind() -> None:
    settings = Settings(venues={"bn": {"kind": "binance", "market": "usdm", "symbols": ["BTC/USDT:USDT"]},
                                "sim": {"kind": "sim"}, "plain": {}})
    assert isinstance(settings.venues["bn"], BinanceSettings)
    assert isinstance(settings.venues["sim"], SimSettings) and isinstance(settings.venues["plain"], SimSettings)


def test_errors_name_the_key_the_user_wrote(tmp_path) -> None:
    from gateway.config import load_settings
    from gateway.core.errors import ConfigError

    path = tmp_path / "gateway.yaml"
    path.write_text("venues: {bn: {kind: binance, symbols: [BTC/USDT], recv_window_ms: 0}}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.message.startswith("venues.bn.recv_window_ms:")
