"""The settings root: a YAML file, overridden by environment variables, overridden by secret files.

- file: `gateway run --config config/gateway.yaml`
- env:  `GATEWAY__API__PORT=9000`, `GATEWAY__VENUES__SIM__SEED=7` (sections joined by `__`)
- secret files (Docker secrets, `--secrets-dir`, default /run/secrets when it exists): one file per
  value, named like the env key in lower case, e.g. `gateway__venues__binance__api_secret`.

Unknown keys anywhere are errors. Each component defines its own slice; this module only composes them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gateway.api.config import ApiSettings, HttpSettings
from gateway.api.fmz.config import FmzSettings
from gateway.core.errors import ConfigError
from gateway.market.config import MarketSettings
from gateway.orders.algo.config import AlgoSettings
from gateway.orders.brackets.config import BracketsSettings
from gateway.orders.config import OrdersSettings
from gateway.venues.binance.config import BinanceSettings
from gateway.venues.lighter.config import LighterSettings
from gateway.venues.okx.config import OkxSettings
from gateway.venues.qe.config import QeSettings
from gateway.venues.sim.config import SimSettings

__all__ = ["LogSettings", "Settings", "collect_secrets", "format_errors", "load_settings"]

DEFAULT_SECRETS_DIR = "/run/secrets"


def _venue_kind(value: Any) -> str:
    # `kind` picks the venue's settings model; a venue without one is the sim (as before kinds existed).
    return str(value.get("kind", "sim") if isinstance(value, dict) else getattr(value, "kind", "sim"))


# One member per venue kind, discriminated by `kind`.
# Adding a venue kind: one line here, one import above, one branch in venues/factory.py.
_VENUE_KINDS = frozenset({"sim", "binance", "okx", "qe", "lighter"})
VenueSettings = Annotated[
    Annotated[SimSettings, Tag("sim")]
    | Annotated[BinanceSettings, Tag("binance")]
    | Annotated[OkxSettings, Tag("okx")]
    | Annotated[QeSettings, Tag("qe")]
    | Annotated[LighterSettings, Tag("lighter")],
    Discriminator(_venue_kind),
]


class LogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    level: str = Field("info", pattern="^(debug|info|warning|error)$")
    format: str = Field("auto", pattern="^(auto|json|console)$", description="auto: console on a TTY, else JSON")


class PersistenceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: str = Field("data", description="where the gateway keeps its state; a volume in Docker")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY__",
        env_nested_delimiter="__",
        secrets_nested_delimiter="__",
        secrets_prefix="gateway__",
        extra="forbid",
        frozen=True,
    )

    venues: dict[str, VenueSettings] = Field(default_factory=lambda: {"sim": SimSettings()})
    default_venue: str | None = None
    api: ApiSettings = ApiSettings()
    http: HttpSettings = HttpSettings()
    fmz: FmzSettings = FmzSettings()
    market: MarketSettings = MarketSettings()
    log: LogSettings = LogSettings()
    persistence: PersistenceSettings = PersistenceSettings()
    orders: OrdersSettings = OrdersSettings()
    brackets: BracketsSettings = BracketsSettings()
    algos: AlgoSettings = Field(default_factory=AlgoSettings)
    shutdown_timeout_s: float = Field(5.0, gt=0, le=300)

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if not self.venues:
            raise ValueError("at least one venue must be configured")
        if self.default_venue is not None and self.default_venue not in self.venues:
            raise ValueError(f"default_venue {self.default_venue!r} is not among the venues")
        for name in self.venues:
            if not name or any(c in name for c in ":@/ ") or name == "gateway":
                raise ValueError(f"venue name {name!r} may not be empty, 'gateway', or contain ':', '@', '/', ' '")
        unknown_risk = set(self.orders.risk) - {s.name for s in self.api.strategies}
        if unknown_risk:
            raise ValueError(f"orders.risk names unknown strategies {sorted(unknown_risk)}")
        for strategy in self.api.strategies:
            unknown = (strategy.accounts or frozenset()) - set(self.venues)
            if unknown:
                raise ValueError(f"strategy {strategy.name!r} names unknown accounts {sorted(unknown)}")
        self.fmz.check(self.api.strategies, self.venues)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest priority first: env beats secret files beats the YAML file (passed as init values).
        return env_settings, NestedSecretsSettingsSource(file_secret_settings), init_settings


def load_settings(path: str | Path | None, secrets_dir: str | Path | None = None) -> Settings:
    """Load the YAML file at `path` (None: defaults only) with env and secret-file overrides.

    Raises:
        ConfigError: the file is missing or not YAML, or a value is invalid; the message names each key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        data = loaded or {}
    if secrets_dir is None and os.path.isdir(DEFAULT_SECRETS_DIR):
        secrets_dir = DEFAULT_SECRETS_DIR
    try:
        return Settings(**data, _secrets_dir=secrets_dir)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None


def format_errors(exc: ValidationError) -> str:
    """One line per error: the dotted key path, then what is wrong. Input values are never echoed."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error["loc"]
        if len(loc) > 2 and loc[0] == "venues" and loc[2] in _VENUE_KINDS:
            loc = loc[:2] + loc[3:]  # the union's tag (the venue kind) is not a key the user wrote
        path = ".".join(str(part) for part in loc) or "(root)"
        lines.append(f"{path}: {error['msg']}")
    return "\n".join(lines)


def collect_secrets(model: BaseModel) -> list[str]:
    """Every SecretStr value in the settings tree, for the log redactor."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                found.append(secret)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    walk(model)
    return found
