"""Settings of a Lighter venue session (venue kind ``lighter``): one account, perpetual markets.

Facts: ../shared/venues/lighter.md. What the fact sheet marks **unverified** is a setting here (see the
"verified / unverified" table of docs/venues/lighter.md), so it can be corrected without a release.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from gateway.core.events import KLINE_INTERVALS
from gateway.core.symbols import parse_symbol

__all__ = ["PROFILES", "LighterSettings", "LighterUrlSettings"]

# profile -> (REST base, WebSocket URL, chain id); fact sheet §2
PROFILES: dict[str, tuple[str, str, int]] = {
    "mainnet": ("https://mainnet.zklighter.elliot.ai", "wss://mainnet.zklighter.elliot.ai/stream", 304),
    "testnet": ("https://testnet.zklighter.elliot.ai", "wss://testnet.zklighter.elliot.ai/stream", 300),
}


class LighterUrlSettings(BaseModel):
    """Overrides of the profile's endpoints (the fake, a proxy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rest: str | None = Field(None, description="REST base, e.g. https://mainnet.zklighter.elliot.ai")
    stream: str | None = Field(None, description="WebSocket URL, e.g. wss://mainnet.zklighter.elliot.ai/stream")


class LighterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["lighter"] = "lighter"
    profile: Literal["mainnet", "testnet"] = "mainnet"
    urls: LighterUrlSettings = LighterUrlSettings()
    chain_id: int | None = Field(None, description="None: the profile's (mainnet 304, testnet 300); part of every hash")
    account_index: int = Field(gt=0, description="the Lighter account index (the signer refuses <= 0)")
    api_keys: dict[int, SecretStr] = Field(
        default_factory=dict,
        description="api_key_index (2..254) -> API private key (hex, 0x optional); none: read-only session")
    symbols: list[str] = Field(min_length=1, description="unified symbols, e.g. ETH/USDC:USDC (Lighter market ETH)")
    quote_asset: str = Field("USDC", description="the collateral asset; perps are named BASE/USDC:USDC")

    request_timeout_s: float = Field(10.0, gt=0, le=120)
    max_retries: int = Field(3, ge=0, le=20, description="retries of a read after 5xx / network errors")
    backoff_base_s: float = Field(0.5, ge=0, le=60)
    backoff_cap_s: float = Field(30.0, ge=0, le=600)
    markets_refresh_s: float = Field(3_600.0, gt=0, description="orderBookDetails refresh period")
    decimals_source: Literal["details", "supported"] = Field(
        "details", description="which decimals scale prices/sizes: size/price_decimals of orderBookDetails, or "
                               "supported_* of orderBooks (which one is authoritative is unverified)")

    market_stream: bool = Field(True, description="feed the market cache from the order_book channel")
    account_stream: bool = Field(True, description="subscribe account_all_orders (needs an API key)")
    poll_interval_s: float = Field(2.0, gt=0, description="market cache REST polling period (the stream's fallback)")
    cache_stale_s: float = Field(10.0, gt=0, description="a cache entry older than this is stale")
    candle_resolution: dict[str, str] = Field(
        default_factory=lambda: {k: k for k in KLINE_INTERVALS},
        description="gateway interval -> Lighter candle resolution string (the strings are unverified)")

    max_slippage: Decimal = Field(Decimal("0.005"), ge=0, lt=1, description="market orders: worst price bound "
                                  "= best bid/ask (or last) x (1 +- max_slippage), as the seed's default")
    order_expiry_ms: int = Field(-1, description="GTT expiry: -1 = the signer's 28 days, else ms from now")
    auth_token_ttl_s: int = Field(600, ge=60, le=8 * 3_600, description="auth token lifetime (max 8 h)")
    auth_token_refresh_s: int = Field(120, ge=10, description="renew the token this long before it expires")
    auth_header: Literal["header", "query"] = Field(
        "header", description="REST auth token: the authorization header (SDK 1.1.8) or an auth query "
                              "parameter (older Go code; unverified)")
    pending_poll_s: float = Field(0.5, gt=0, description="period of the check of accepted-but-unseen orders")
    pending_reject_after_s: float = Field(
        30.0, gt=0, description="an accepted order the venue never shows within this is reported rejected")
    price_protection: bool | None = Field(None, description="sendTx price_protection form field (None: not sent; "
                                                            "semantics unverified)")
    ws_ping_interval_s: float | None = Field(30.0, gt=0, description="client pings (the server idles out at 2 min)")

    @field_validator("symbols")
    @classmethod
    def _perps(cls, value: list[str]) -> list[str]:
        out = []
        for text in value:
            symbol = parse_symbol(text)
            if symbol.settle is None:
                raise ValueError(f"{text!r}: Lighter perps are BASE/QUOTE:SETTLE, e.g. ETH/USDC:USDC")
            out.append(str(symbol))
        return out

    @field_validator("api_keys")
    @classmethod
    def _key_indexes(cls, value: dict[int, SecretStr]) -> dict[int, SecretStr]:
        for index in value:
            if not 0 <= index <= 254:
                raise ValueError("api_key_index must be 0..254 (0 and 1 are the web and mobile keys)")
        return value

    @property
    def rest_url(self) -> str:
        return (self.urls.rest or PROFILES[self.profile][0]).rstrip("/")

    @property
    def stream_url(self) -> str:
        return self.urls.stream or PROFILES[self.profile][1]

    @property
    def resolved_chain_id(self) -> int:
        return self.chain_id if self.chain_id is not None else PROFILES[self.profile][2]
