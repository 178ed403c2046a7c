"""Settings of a Binance venue session (venue kind ``binance``): one market, spot or USD-M futures.

Facts and their sources: ../shared/venues/binance.md. What the fact sheet marks **unverified** is a
setting here, so it can be corrected without a release (see docs/venues/binance.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from gateway.venues.binance.urls import ResolvedUrls, resolve_urls
from gateway.venues.common.settings import KlineIntervals, UnifiedSymbols, check_market_symbols

__all__ = ["SPOT_DEPTH_LIMITS", "USDM_DEPTH_LIMITS", "BinanceSettings", "BinanceUrlSettings"]

USDM_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)  # fact sheet §4: /fapi/v1/depth valid limits
SPOT_DEPTH_LIMITS = (1, 5000)  # fact sheet §2: /api/v3/depth limit 1..5000
_SPOT_SPEEDS = (100, 1000)  # @depth@100ms, @depth (fact sheet §6.1)
_USDM_SPEEDS = (100, 250, 500)  # @depth@100ms, @depth (250 ms), @depth@500ms (fact sheet §6.2)


class BinanceUrlSettings(BaseModel):
    """Overrides of the base URLs (None: the fact sheet's default for the market and testnet flag)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rest: str | None = Field(None, description="REST base, e.g. https://api.binance.com")
    stream_public: str | None = Field(None, description="stream base for depth/bookTicker (spot: all streams)")
    stream_market: str | None = Field(None, description="usdm: stream base for aggTrade/kline/markPrice")
    stream_private: str | None = Field(None, description="usdm: user-data stream base, e.g. .../private")
    ws_api: str | None = Field(None, description="WebSocket API URL (spot: user data; usdm: ws-fapi orders)")


class BinanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["binance"] = "binance"
    market: Literal["spot", "usdm"] = Field("spot", description="spot, or usdm (USDT-margined futures)")
    testnet: bool = False
    api_key: SecretStr | None = Field(None, description="X-MBX-APIKEY; market data needs none")
    api_secret: SecretStr | None = Field(None, description="HMAC secret (or use ed25519_private_key)")
    ed25519_private_key: SecretStr | None = Field(None, description="PEM (PKCS#8) Ed25519 private key")
    urls: BinanceUrlSettings = BinanceUrlSettings()
    symbols: UnifiedSymbols = Field(min_length=1, description="unified symbols to stream, e.g. BTC/USDT, BTC/USDT:USDT")

    recv_window_ms: int = Field(5_000, ge=1, le=60_000, description="recvWindow of signed requests")
    request_timeout_s: float = Field(10.0, gt=0, le=120)
    max_retries: int = Field(4, ge=0, le=20, description="retries of a read after 429 / 5xx / network errors")
    backoff_base_s: float = Field(0.5, ge=0, le=60)
    backoff_cap_s: float = Field(30.0, ge=0, le=600)
    weight_limit: int | None = Field(
        None, gt=0, description="REQUEST_WEIGHT per minute until exchangeInfo tells (None: spot 6000, usdm 2400)"
    )
    weight_safety: float = Field(0.9, gt=0, le=1, description="fraction of each limit this daemon spends")
    time_sync_interval_s: float = Field(300.0, gt=0, description="server-time offset refresh period")
    instruments_refresh_s: float = Field(3_600.0, gt=0, description="exchangeInfo refresh period")

    depth_snapshot_limit: int = Field(1_000, description="levels of the REST snapshot the local book starts from")
    depth_update_ms: int = Field(100, description="diff-depth speed: spot 100|1000, usdm 100|250|500")
    published_depth: int = Field(50, gt=0, le=1_000, description="levels per side in the depth events pushed")
    book_buffer_limit: int = Field(10_000, gt=0, description="diffs buffered per symbol while a snapshot loads")
    trade_stream: Literal["trade", "aggTrade"] | None = Field(
        None, description="None: trade on spot, aggTrade on usdm (usdm @trade routing is unverified)"
    )
    kline_intervals: KlineIntervals = Field(default_factory=lambda: ["1m"])
    mark_price_1s: bool = Field(True, description="usdm: markPrice@1s instead of the 3 s stream")

    ws_ping_interval_s: float | None = Field(30.0, gt=0, description="client pings (the server pings too)")
    ws_ping_timeout_s: float | None = Field(30.0, gt=0)
    ws_max_age_s: float = Field(23.5 * 3_600, gt=0, le=24 * 3_600, description="renew before the 24 h cut-off")

    # --- trading and user data (slice 2) ---------------------------------------------------------------
    client_order_id_alphabet: str | None = Field(
        None, description="regex class body of client order ids (None: spot A-Za-z0-9_- (unverified), "
                          "usdm .A-Z:/a-z0-9_-)")
    client_order_id_max_len: int = Field(36, ge=1, le=36)
    working_type: Literal["CONTRACT_PRICE", "MARK_PRICE"] = Field(
        "CONTRACT_PRICE", description="usdm conditional orders: the price their trigger watches")
    price_protect: bool = Field(False, description="usdm conditional orders: priceProtect")
    history_window_s: float | None = Field(
        None, gt=0, description="span of one allOrders / myTrades / userTrades query (None: spot 24 h; usdm 7 d, "
                                "unverified)")
    max_catchup_s: float = Field(7 * 86_400, gt=0, description="how far back a catch-up reads at most")
    balance_version: Literal["v2", "v3"] = Field("v3", description="usdm /fapi/<v>/balance")
    position_risk_version: Literal["v2", "v3"] = Field(
        "v2", description="usdm /fapi/<v>/positionRisk (v2 carries leverage and margin type; v3 does not)")
    user_stream: bool = Field(True, description="open the user-data stream (needs api_key)")
    listen_key_keepalive_s: float = Field(1_800.0, gt=0, le=3_600, description="usdm listenKey keepalive period")
    user_stream_silence_s: float | None = Field(
        900.0, gt=0, description="the watchdog flags a user stream silent this long (None: no watchdog)")
    user_stream_silence_action: Literal["flag", "reconnect"] = Field(
        "reconnect", description="reconnect: also renew the connection (the gateway then reconciles)")
    orders_over_ws: bool = Field(
        False, description="place / cancel / query orders (and usdm amends) over the WebSocket API (spot ws-api, "
                           "usdm ws-fapi), REST as the fallback")
    ws_session_logon: bool = Field(
        True, description="Ed25519 keys: session.logon once per WebSocket API connection, then unsigned requests "
                          "(HMAC keys always sign each request)")
    ws_api_timeout_s: float = Field(10.0, gt=0, le=120, description="deadline of one WebSocket API request")
    order_wait_s: float = Field(
        1.0, ge=0, le=60, description="how long an order may wait for room in the account's ORDERS budget "
                                      "before it is refused (RATE_LIMITED, nothing sent)")

    @model_validator(mode="after")
    def _coherent(self) -> BinanceSettings:
        perp = self.market == "usdm"
        check_market_symbols(self.symbols, perp, self.market)
        if perp:
            if self.depth_snapshot_limit not in USDM_DEPTH_LIMITS:
                raise ValueError(f"usdm depth_snapshot_limit must be one of {USDM_DEPTH_LIMITS}")
            if self.depth_update_ms not in _USDM_SPEEDS:
                raise ValueError(f"usdm depth_update_ms must be one of {_USDM_SPEEDS}")
        else:
            if not SPOT_DEPTH_LIMITS[0] <= self.depth_snapshot_limit <= SPOT_DEPTH_LIMITS[1]:
                raise ValueError("spot depth_snapshot_limit must be within 1..5000")
            if self.depth_update_ms not in _SPOT_SPEEDS:
                raise ValueError(f"spot depth_update_ms must be one of {_SPOT_SPEEDS}")
        if self.api_key is not None and self.api_secret is None and self.ed25519_private_key is None:
            raise ValueError("api_key needs api_secret or ed25519_private_key")
        return self

    @property
    def resolved_urls(self) -> ResolvedUrls:
        """Return the URLs in force: the overrides on top of the defaults."""
        return resolve_urls(self.market, self.testnet, self.urls.model_dump())

    @property
    def resolved_history_window_s(self) -> float:
        """The span of one history query: the setting, else spot 24 h (§2), usdm 7 d (unverified)."""
        if self.history_window_s is not None:
            return self.history_window_s
        return 7 * 86_400.0 if self.market == "usdm" else 86_400.0

    @property
    def default_order_limits(self) -> list[tuple[int, int]]:
        """ORDERS limits as (interval ms, limit) assumed until exchangeInfo says (§4: usdm 300 / 10 s and
        1200 / min; spot's vary and are read from exchangeInfo only)."""
        return [(10_000, 300), (60_000, 1_200)] if self.market == "usdm" else []

    @property
    def default_weight_limit(self) -> int:
        """REQUEST_WEIGHT per minute assumed until exchangeInfo says (fact sheet §2: 6000; §4: 2400)."""
        if self.weight_limit is not None:
            return self.weight_limit
        return 2_400 if self.market == "usdm" else 6_000
