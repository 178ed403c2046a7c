"""Settings of an OKX venue session (venue kind ``okx``): one market, SPOT or SWAP.

Facts and their sources: ../shared/venues/okx.md. What the fact sheet marks **unverified** (regional
WebSocket hosts, the algo-order pending states, the WS resubscribe-on-gap recovery as a doc rule) is a
setting here, so it can be corrected without a release (see docs/venues/okx.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from gateway.venues.common.settings import KlineIntervals, UnifiedSymbols, check_market_symbols

__all__ = ["HOSTS", "OkxSettings", "OkxUrlSettings", "ResolvedUrls"]

# Fact sheet §1 (REST hosts) and §6 (WS URLs). Regional WS hosts are unverified: only REST differs here.
HOSTS: dict[str, dict[str, str]] = {
    "global": {"rest": "https://www.okx.com", "ws": "wss://ws.okx.com:8443", "ws_demo": "wss://wspap.okx.com:8443"},
    "us": {"rest": "https://us.okx.com", "ws": "wss://ws.okx.com:8443", "ws_demo": "wss://wspap.okx.com:8443"},
    "eea": {"rest": "https://eea.okx.com", "ws": "wss://ws.okx.com:8443", "ws_demo": "wss://wspap.okx.com:8443"},
}


class OkxUrlSettings(BaseModel):
    """Overrides of the base URLs (None: the region's default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rest: str | None = Field(None, description="REST base, e.g. https://www.okx.com (paths /api/v5/... appended)")
    ws_public: str | None = Field(None, description="e.g. wss://ws.okx.com:8443/ws/v5/public")
    ws_private: str | None = Field(None, description="e.g. wss://ws.okx.com:8443/ws/v5/private")
    ws_business: str | None = Field(None, description="e.g. wss://ws.okx.com:8443/ws/v5/business")


class ResolvedUrls(BaseModel):
    model_config = ConfigDict(frozen=True)

    rest: str
    ws_public: str
    ws_private: str
    ws_business: str


class OkxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["okx"] = "okx"
    market: Literal["spot", "swap"] = Field("spot", description="spot (SPOT instruments) or swap (SWAP perpetuals)")
    region: Literal["global", "us", "eea"] = Field("global", description="which OKX host the account lives on")
    demo: bool = Field(True, description="demo trading: sends x-simulated-trading: 1 and uses the demo WS host")
    api_key: SecretStr | None = Field(None, description="OK-ACCESS-KEY; market data needs none")
    api_secret: SecretStr | None = Field(None, description="HMAC secret (used as UTF-8 text, never hex-decoded)")
    passphrase: SecretStr | None = Field(None, description="OK-ACCESS-PASSPHRASE, chosen when the key was made")
    urls: OkxUrlSettings = OkxUrlSettings()
    symbols: UnifiedSymbols = Field(min_length=1, description="unified symbols, e.g. BTC/USDT (spot), BTC/USDT:USDT (swap)")

    request_timeout_s: float = Field(10.0, gt=0, le=120)
    max_retries: int = Field(4, ge=0, le=20, description="retries of a read after rate limits / 5xx / network errors")
    backoff_base_s: float = Field(0.5, ge=0, le=60)
    backoff_cap_s: float = Field(30.0, ge=0, le=600)
    limit_safety: float = Field(0.9, gt=0, le=1, description="fraction of each per-endpoint limit this daemon spends")
    time_sync_interval_s: float = Field(300.0, gt=0, description="server-time offset refresh period")
    instruments_refresh_s: float = Field(3_600.0, gt=0, description="instruments refresh (tickSz/minSz can change)")

    books_channel: Literal["books", "books5", "bbo-tbt"] = Field(
        "books", description="books: 400-level snapshot + incremental with seqId/prevSeqId")
    published_depth: int = Field(50, gt=0, le=400, description="levels per side in the depth events pushed")
    validate_checksum: bool = Field(True, description="check a non-zero book checksum (OKX now sends 0)")
    kline_intervals: KlineIntervals = Field(default_factory=lambda: ["1m"])
    ws_ping_after_s: float = Field(20.0, gt=0, lt=30, description="send text 'ping' after this long without data")
    ws_login_timeout_s: float = Field(10.0, gt=0, le=60)
    ws_order_timeout_s: float = Field(10.0, gt=0, le=120, description="deadline of one WS order operation")
    orders_over_ws: bool = Field(True, description="place/cancel/amend over the private WS; REST as the fallback")
    user_stream: bool = Field(True, description="open the private and business connections (needs credentials)")
    td_mode: Literal["auto", "cash", "cross", "isolated"] = Field(
        "auto", description="auto: from account config (acctLv): spot cash in modes 1-2, cross otherwise; swap cross")
    max_catchup_s: float = Field(3 * 86_400, gt=0, description="how far back a catch-up reads (fills: 3 days)")

    @model_validator(mode="after")
    def _coherent(self) -> OkxSettings:
        check_market_symbols(self.symbols, self.market == "swap", self.market)
        given = [self.api_key is not None, self.api_secret is not None, self.passphrase is not None]
        if any(given) and not all(given):
            raise ValueError("api_key, api_secret and passphrase go together")
        return self

    @property
    def has_credentials(self) -> bool:
        return self.api_key is not None and self.api_secret is not None and self.passphrase is not None

    @property
    def resolved_urls(self) -> ResolvedUrls:
        """Return the URLs in force: the overrides on top of the region's defaults."""
        host = HOSTS[self.region]
        ws = host["ws_demo" if self.demo else "ws"]
        o = self.urls
        return ResolvedUrls(
            rest=(o.rest or host["rest"]).rstrip("/"),
            ws_public=o.ws_public or f"{ws}/ws/v5/public",
            ws_private=o.ws_private or f"{ws}/ws/v5/private",
            ws_business=o.ws_business or f"{ws}/ws/v5/business",
        )
