"""Settings of the FMZ general-protocol bridge (`fmz:`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.api.config import StrategySettings

__all__ = ["FmzCredential", "FmzSettings"]


def _read_secret(data: dict[str, Any], name: str) -> dict[str, Any]:
    path = data.get(f"{name}_file")
    if path and not data.get(name):
        try:
            return {**data, name: Path(path).read_text(encoding="utf-8").strip()}
        except OSError as exc:
            raise ValueError(f"cannot read {name}_file: {exc.strerror}") from None
    return data


class FmzCredential(BaseModel):
    """One FMZ key pair: who it acts as, and which account each request path trades on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str = Field(min_length=1, max_length=64, description="the api.strategies[] name this key acts as")
    access_key: SecretStr = Field(description="the access key configured on the FMZ exchange")
    access_key_file: str | None = Field(None, description="read access_key from this file (Docker secrets)")
    secret_key: SecretStr = Field(description="the secret key configured on the FMZ exchange")
    secret_key_file: str | None = Field(None, description="read secret_key from this file")
    paths: dict[str, str] = Field(min_length=1, description="request path -> account, e.g. {/sim: sim}")

    @model_validator(mode="before")
    @classmethod
    def _keys_from_files(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = _read_secret(_read_secret(data, "access_key"), "secret_key")
        return data

    @field_validator("access_key", "secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("FMZ keys must be at least 8 characters")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, paths: dict[str, str]) -> dict[str, str]:
        for path in paths:
            if not path.startswith("/") or path != path.rstrip("/") or len(path) < 2:
                raise ValueError(f"path {path!r} must look like /name (a leading slash, no trailing one)")
        return paths


class FmzSettings(BaseModel):
    """The FMZ bridge: `POST http://host:port/<path>` with the general protocol's JSON body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(6666, ge=0, le=65535)
    max_body_bytes: int = Field(65536, ge=1024, le=1 << 24, description="larger bodies are refused (413)")
    credentials: list[FmzCredential] = Field(default_factory=list)

    @field_validator("credentials")
    @classmethod
    def _unique(cls, credentials: list[FmzCredential]) -> list[FmzCredential]:
        keys = [c.access_key.get_secret_value() for c in credentials]
        if len(keys) != len(set(keys)):
            raise ValueError("two FMZ credentials share an access_key")
        return credentials

    def check(self, strategies: Iterable[StrategySettings], accounts: Iterable[str]) -> None:
        """Check the credentials against the configured strategies and accounts.

        Raises:
            ValueError: a credential names an unknown strategy, an unknown account, or an account
                outside its strategy's scope.
        """
        by_name = {s.name: s for s in strategies}
        known = set(accounts)
        for index, credential in enumerate(self.credentials):
            where = f"fmz.credentials.{index}"
            strategy = by_name.get(credential.strategy)
            if strategy is None:
                raise ValueError(f"{where}: unknown strategy {credential.strategy!r} (see api.strategies)")
            for path, account in credential.paths.items():
                if account not in known:
                    raise ValueError(f"{where}.paths.{path}: unknown account {account!r}")
                if strategy.accounts is not None and account not in strategy.accounts:
                    raise ValueError(f"{where}.paths.{path}: strategy {strategy.name!r} may not use {account!r}")
