"""Settings of the strategy WebSocket, the ops HTTP server, and the strategies' keys."""

from __future__ import annotations

from enum import StrEnum

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["ApiSettings", "HttpSettings", "Permission", "StrategySettings"]


class Permission(StrEnum):
    READ = "read"
    TRADE = "trade"
    RAW = "raw"


class StrategySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    api_key: SecretStr = Field(description="the key this strategy authenticates with")
    api_key_file: str | None = Field(None, description="read api_key from this file (Docker secrets)")
    permissions: frozenset[Permission] = frozenset({Permission.READ})
    accounts: frozenset[str] | None = Field(None, description="accounts this key may use; None means all")

    @model_validator(mode="before")
    @classmethod
    def _key_from_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("api_key_file") and not data.get("api_key"):
            try:
                data = {**data, "api_key": Path(data["api_key_file"]).read_text(encoding="utf-8").strip()}
            except OSError as exc:
                raise ValueError(f"cannot read api_key_file: {exc.strerror}") from None
        return data

    @field_validator("api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("api_key must be at least 8 characters")
        return value


class ApiSettings(BaseModel):
    """The strategy WebSocket (`ws://host:port/path`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    path: str = "/ws"
    max_frame_bytes: int = Field(1 << 20, ge=1024, description="larger frames are refused with close 1009")
    max_queue: int = Field(4096, ge=16, description="frames queued per connection before conflation")
    max_pending_user_frames: int = Field(16384, ge=64, description="unsendable order events before close 1013")
    rate_limit_per_s: float = Field(200.0, gt=0, description="requests per second per connection (burst = 5x)")
    max_subscriptions: int = Field(1000, ge=1)
    max_inflight: int = Field(256, ge=1, description="requests of one connection running at once (pipelining)")
    close_timeout_s: float = Field(2.0, gt=0)
    strategies: list[StrategySettings] = Field(default_factory=list)

    @field_validator("strategies")
    @classmethod
    def _unique(cls, strategies: list[StrategySettings]) -> list[StrategySettings]:
        names = [s.name for s in strategies]
        if len(names) != len(set(names)):
            raise ValueError("strategy names must be unique")
        keys = [s.api_key.get_secret_value() for s in strategies]
        if len(keys) != len(set(keys)):
            raise ValueError("two strategies share an api_key")
        return strategies


class HttpSettings(BaseModel):
    """The ops HTTP server: /health, /ready, /status (and /metrics later)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    admin_key: SecretStr | None = Field(
        None, description="X-Admin-Key of the /admin endpoints (cancel-all, kill switch, sim reset); None: off"
    )
    admin_key_file: str | None = Field(None, description="read admin_key from this file (Docker secrets)")

    @model_validator(mode="before")
    @classmethod
    def _admin_key_from_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("admin_key_file") and not data.get("admin_key"):
            try:
                data = {**data, "admin_key": Path(data["admin_key_file"]).read_text(encoding="utf-8").strip()}
            except OSError as exc:
                raise ValueError(f"cannot read admin_key_file: {exc.strerror}") from None
        return data
