"""ModelLookups: the registry's answers for event intake, reused for a few seconds, never kept for unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpilot.config import load_settings
from modelpilot.errors import InvalidInputError
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry, VersionInfo
from modelpilot.registry.lookups import ModelLookups

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
MODEL = f"{EXAMPLE / 'model.py'}:CreditModel"


def test_answers_are_reused_until_they_expire(tmp_path: Path) -> None:
    reg = Registry.open(load_settings(home=tmp_path / "home", actor="test"))
    now = [0.0]
    lookups = ModelLookups(reg, ttl_s=5.0, clock=lambda: now[0])
    with pytest.raises(InvalidInputError, match="'credit' is not registered"):
        lookups.version_of("credit")
    assert lookups.feature_names("credit") is None
    reg.register(
        "credit", MODEL, format="python", reference=EXAMPLE / "reference.csv", target="default", trust=_trust()
    )
    with pytest.raises(InvalidInputError, match="not registered"):
        lookups.version_of("credit")  # within miss_ttl_s (1 s) the miss is remembered
    now[0] = 1.0
    assert lookups.version_of("credit") == 1  # then asked again
    assert lookups.feature_names("credit") == ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
    reg.register("credit", MODEL, format="python", trust=_trust())
    assert lookups.version_of("credit") == 1  # within ttl_s: the answer held
    now[0] = 6.0
    assert lookups.version_of("credit") == 2  # expired: asked again; no production alias, so the latest
    reg.set_alias("credit", "production", 1, reason="test")
    assert lookups.version_of("credit") == 2
    now[0] = 11.0
    assert lookups.version_of("credit") == 1  # the alias wins once the answer expired


def test_the_cache_holds_at_most_max_models(tmp_path: Path) -> None:
    reg = Registry.open(load_settings(home=tmp_path / "home", actor="test"))
    reg.register("credit", MODEL, format="python", trust=_trust())
    lookups = ModelLookups(reg, max_models=2)
    for _ in range(3):
        lookups.version_of("credit")
    assert len(lookups._versions) == 1


def _trust() -> TrustRequest:
    return TrustRequest(trust_code=True, reason="test")


def test_made_up_names_and_versions_cost_one_query_a_second(tmp_path: Path) -> None:
    from modelpilot.errors import NotFoundError

    reg = Registry.open(load_settings(home=tmp_path / "home", actor="test"))
    reg.register("credit", MODEL, format="python", trust=_trust())
    queries = []
    real = reg.versions

    def counted(name: str) -> list[VersionInfo]:
        queries.append(name)
        return real(name)

    reg.versions = counted  # type: ignore[method-assign]
    now = [0.0]
    lookups = ModelLookups(reg, clock=lambda: now[0])
    for _ in range(50):
        with pytest.raises(NotFoundError, match="'ghost' is not registered"):
            lookups.check("ghost", 1)
        with pytest.raises(NotFoundError, match="has no version 7"):
            lookups.check("credit", 7)
    assert queries == ["ghost", "credit"]  # once each, not 50 times
    now[0] = 1.0
    lookups.check("credit", 1)
    with pytest.raises(NotFoundError):
        lookups.check("credit", 7)
    assert queries == ["ghost", "credit", "credit"]  # the unknown version is asked again after a second
