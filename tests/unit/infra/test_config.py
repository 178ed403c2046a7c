from pathlib import Path

import pytest

from gateway.__main__ import main
from gateway.config import collect_secrets, load_settings
from gateway.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


def test_the_default_config_is_valid() -> None:
    settings = load_settings(ROOT / "config" / "gateway.yaml")
    assert list(settings.venues) == ["sim"]
    assert [s.symbol for s in settings.venues["sim"].symbols] == ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"]
    assert settings.api.strategies[0].api_key.get_secret_value() == "local-dev-key"


def test_every_example_config_is_valid() -> None:
    for path in (ROOT / "config" / "examples").glob("*.yaml"):
        load_settings(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("venues: {sim: {kind: sim, seeed: 1}}", "venues.sim.seeed"),
        ("venues: {sim: {kind: sim, seed: abc}}", "venues.sim.seed"),
        ("api: {port: 70000}", "api.port"),
        ("nonsense: 1", "nonsense"),
        ("market: {stale_after_ms: -1}", "market.stale_after_ms"),
        ("log: {format: xml}", "log.format"),
    ],
)
def test_wrong_keys_and_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert caught.value.message.startswith(key + ":") or f"\n{key}:" in caught.value.message


def test_check_config_prints_the_key_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "api: {strategies: [{name: s, api_key: short}]}\nhttp: {portt: 1}\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "http.portt: Extra inputs are not permitted" in err
    assert "api.strategies.0.api_key" in err
    assert "short" not in err  # input values are never echoed


def test_run_refuses_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(write(tmp_path, "venues: {sim: {kind: nope}}"))]) == 2
    assert "venues.sim" in capsys.readouterr().err


def test_check_config_accepts_a_good_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config" / "gateway.yaml")]) == 0
    assert "ok" in capsys.readouterr().out


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "venues: [unclosed"))
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path, "- a list"))


def test_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY__API__PORT", "9123")
    monkeypatch.setenv("GATEWAY__VENUES__SIM__SEED", "7")
    settings = load_settings(write(tmp_path, "api: {port: 9000}\nvenues: {sim: {kind: sim, seed: 1}}"))
    assert settings.api.port == 9123
    assert settings.venues["sim"].seed == 7


def test_secret_files_override_the_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "gateway__http__port").write_text("9555")
    settings = load_settings(write(tmp_path, "http: {port: 9000}"), secrets)
    assert settings.http.port == 9555


def test_strategy_key_from_a_file(tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text("from-a-file-123\n")
    settings = load_settings(
        write(tmp_path, f"api: {{strategies: [{{name: s, api_key_file: {keyfile}, accounts: [sim]}}]}}")
    )
    strategy = settings.api.strategies[0]
    assert strategy.api_key.get_secret_value() == "from-a-file-123"
    assert "from-a-file-123" not in repr(settings)
    assert collect_secrets(settings) == ["from-a-file-123"]


def test_strategy_accounts_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown accounts"):
        load_settings(write(tmp_path, "api: {strategies: [{name: s, api_key: abcdefgh, accounts: [nope]}]}"))
