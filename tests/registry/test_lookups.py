"""ModelLookups: the registry's answers for event intake, reused for a few seconds, never kept for unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpilot.config import load_settings
from modelpilot.errors import InvalidInputError
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
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
    assert lookups.version_of("credit") == 1  # an unknown name was not kept: asked again
    assert lookups.feature_names("credit") == ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
    reg.register("credit", MODEL, format="python", trust=_trust())
    assert lookups.version_of("credit") == 1  # within ttl_s: the answer held
    now[0] = 5.0
    assert lookups.version_of("credit") == 2  # expired: asked again; no production alias, so the latest
    reg.set_alias("credit", "production", 1, reason="test")
    assert lookups.version_of("credit") == 2
    now[0] = 10.0
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
