"""Settings of a Quantum Execute venue session (venue kind ``qe``).

Facts and their sources: ../shared/venues/qe.md. What the fact sheet marks **unverified** is a setting
here (hosts, the ``/strategy-api`` prefix, the WebSocket host, the request budget), so it can be
corrected without a release; docs/venues/qe.md lists which is which.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from gateway.core.symbols import parse_symbol

__all__ = ["EXCHANGES", "QeSettings"]

# Fact sheet §9: the V2 exchange whitelist, spelled as QE spells it.
EXCHANGES = ("Binance", "OKX", "LTP", "Deribit", "Hyperliquid", "Bybit", "Bitget")

_REST = {"production": "https://api.quantumexecute.com", "test": "https://testapi.quantumexecute.com"}
_WS = {"production": "wss://www.quantumexecute.com", "test": "wss://test.quantumexecute.com"}


class QeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["qe"] = "qe"
    environment: Literal["production", "test"] = Field("production", description="picks the default hosts")
    api_key: SecretStr | None = Field(None, description="the QE Strategy API key (X-MBX-APIKEY); env or secret file")
    api_secret: SecretStr | None = Field(None, description="its HMAC secret; env or secret file")
    rest_url: str | None = Field(None, description="REST base (None: production api., test testapi.; §1)")
    ws_url: str | None = Field(
        None, description="WebSocket base (None: production www. (unverified), test test.; §1)")
    strategy_api_prefix: str = Field(
        "/strategy-api", description="prefix of the V2 user paths (unverified which paths need it; '' for none)")
    v1_prefix: str = Field("", description="prefix of the public and V1 paths (unverified)")
    ws_path: str = Field("/api/ws/v2", description="user stream path; the listen key goes in ?listen_key=")

    exchange: str = Field("Binance", description="the exchange of the bound account parents run on")
    api_key_id: str | None = Field(
        None, description="the bound exchange account (apiKeyId); None: the default one QE lists for `exchange`")
    symbols: list[str] = Field(min_length=1, description="unified symbols parents may trade, e.g. BTC/USDT")
    min_duration_s: int = Field(
        10, ge=0, description="execution_duration_s must exceed this (QE: > 10; lower it only against the dialect)")
    qty_decimals: int = Field(8, ge=0, le=18, description="quantities and notionals are rounded down to this")

    recv_window_ms: int | None = Field(5_000, ge=1, le=60_000, description="recvWindow (None: not sent)")
    request_timeout_s: float = Field(10.0, gt=0, le=120)
    max_retries: int = Field(3, ge=0, le=20, description="retries of a read after 429 / 5xx / network errors")
    backoff_base_s: float = Field(0.5, ge=0, le=60)
    backoff_cap_s: float = Field(30.0, ge=0, le=600)
    requests_per_minute: int = Field(600, gt=0, description="this daemon's request budget per host (unverified)")
    time_sync_interval_s: float = Field(300.0, gt=0, description="server-time offset refresh (GET /timestamp)")

    listen_key_renew_before_s: float = Field(
        3_600.0, gt=0, description="re-create the listen key this long before its expireAt (no refresh exists)")
    ws_ping_interval_s: float | None = Field(5.0, gt=0, description="protocol pings (the SDK pings every 1 s)")
    ws_ping_timeout_s: float | None = Field(10.0, gt=0)
    catchup_page_size: int = Field(100, ge=1, le=100, description="pageSize of the REST catch-up (<= 100)")
    catchup_open_only: bool = Field(
        False, description="catch up only running parents (faster; misses parents that ended while away)")
    max_catchup_parents: int = Field(500, ge=1, description="at most this many recent parents per catch-up")

    @field_validator("symbols")
    @classmethod
    def _unified(cls, value: list[str]) -> list[str]:
        return [str(parse_symbol(s)) for s in value]

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        for known in EXCHANGES:
            if known.lower() == value.lower():
                return known
        raise ValueError(f"exchange must be one of {', '.join(EXCHANGES)}")

    @field_validator("strategy_api_prefix", "v1_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("a path prefix starts with '/'")
        return value

    @property
    def resolved_rest_url(self) -> str:
        return (self.rest_url or _REST[self.environment]).rstrip("/")

    @property
    def resolved_ws_url(self) -> str:
        return (self.ws_url or _WS[self.environment]).rstrip("/")

    @property
    def qty_quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.qty_decimals)
