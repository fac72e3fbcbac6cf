from __future__ import annotations

from pathlib import Path

import pytest

from modelpilot.config import load_settings
from modelpilot.errors import ConfigError


def test_defaults_and_derived_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELPILOT_HOME", raising=False)
    s = load_settings()
    assert s.home == Path(".modelpilot") and s.store_url == "sqlite:///.modelpilot/modelpilot.db"
    assert s.artifacts_dir == Path(".modelpilot/artifacts")


def test_precedence_options_over_env_over_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "mp.yaml"
    cfg.write_text("home: /from/yaml\nactor: yaml-actor\nregistry:\n  max_categories: 7\n")
    monkeypatch.setenv("MODELPILOT_ACTOR", "env-actor")
    monkeypatch.setenv("MODELPILOT_REGISTRY__PRODUCTION_ALIAS", "prod")
    s = load_settings(cfg)
    assert (str(s.home), s.actor, s.registry.max_categories, s.registry.production_alias) == (
        "/from/yaml",
        "env-actor",
        7,
        "prod",
    )
    assert load_settings(cfg, actor="cli").actor == "cli"


def test_settings_are_frozen() -> None:
    s = load_settings(home="/tmp/x")
    with pytest.raises(ValueError, match="frozen"):
        s.home = Path("/elsewhere")  # type: ignore[misc]


def test_unknown_keys_and_bad_values_name_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "mp.yaml"
    cfg.write_text("hmoe: /typo\n")
    with pytest.raises(ConfigError, match="hmoe"):
        load_settings(cfg)
    cfg.write_text("registry:\n  max_categories: 0\n")
    with pytest.raises(ConfigError, match=r"registry\.max_categories"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="store"):
        load_settings(store="mysql://x")
    cfg.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path / "missing.yaml")
