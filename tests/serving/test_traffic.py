"""Traffic plans on the store (SQLite and PostgreSQL): set, history, rollback to the last known-good version."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from modelpilot.audit import AuditLog
from modelpilot.errors import ConflictError, InvalidInputError, NotFoundError
from modelpilot.registry import Registry
from modelpilot.serving.plan import Shadow, TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.models import register_models


@pytest.fixture
def plans(registry: Registry, tmp_path: Path) -> TrafficPlans:
    register_models(registry, tmp_path / "models")
    return TrafficPlans(registry.store)


def test_set_get_history_and_audit(plans: TrafficPlans) -> None:
    assert plans.get("credit") is None and plans.revision() == 0
    first = plans.set(TrafficPlan(model="credit", stable=1), actor="ana", reason="first serve")
    second = plans.set(
        TrafficPlan(model="credit", stable=1, canary=2, weight=5, shadows=(Shadow(4, 0.2),)), actor="bo", reason="c"
    )
    assert (first.revision, second.revision) == (1, 2) and plans.revision() == 2
    assert plans.get("credit") == second.plan
    history = plans.history("credit")
    assert [c.kind for c in history] == ["set", "set"] and history[1].previous == first.plan
    entries = AuditLog(plans.store).entries(action="traffic.set")
    assert [e.actor for e in entries] == ["ana", "bo"]
    evidence = orjson.loads(entries[1].evidence)
    assert evidence["plan"]["weight"] == 5 and evidence["previous"]["canary"] is None and evidence["revision"] == 2
    assert AuditLog(plans.store).verify().ok


def test_unknown_model_or_version_is_refused_and_nothing_changes(plans: TrafficPlans) -> None:
    with pytest.raises(NotFoundError, match="no version"):
        plans.set(TrafficPlan(model="credit", stable=1, canary=9, weight=1), actor="a")
    with pytest.raises(NotFoundError, match="not registered"):
        plans.set(TrafficPlan(model="nope", stable=1), actor="a")
    assert plans.revision() == 0 and plans.get("credit") is None


def test_rollback_drops_the_canary(plans: TrafficPlans) -> None:
    plans.set(TrafficPlan(model="credit", stable=1, canary=2, weight=20, sticky_header="X-User"), actor="a")
    change = plans.rollback("credit", actor="oncall", reason="canary errors")
    assert change.plan == TrafficPlan(model="credit", stable=1, sticky_header="X-User")
    assert change.rolled_back == (2,) and change.kind == "rollback"
    assert AuditLog(plans.store).entries(action="traffic.rollback")[0].reason == "canary errors"


def test_rollback_with_an_idle_canary_restores_the_stable(plans: TrafficPlans) -> None:
    plans.set(TrafficPlan(model="credit", stable=1), actor="a")
    plans.set(TrafficPlan(model="credit", stable=2, canary=4, weight=0), actor="a")
    change = plans.rollback("credit", actor="a", reason="v2 bad")
    assert change.plan == TrafficPlan(model="credit", stable=1) and change.rolled_back == (2, 4)


def test_rollback_restores_the_last_known_good_stable(plans: TrafficPlans) -> None:
    plans.set(TrafficPlan(model="credit", stable=1), actor="a")
    plans.set(TrafficPlan(model="credit", stable=2), actor="a")
    plans.set(TrafficPlan(model="credit", stable=4), actor="a")
    assert plans.rollback("credit", actor="a", reason="v4 bad").plan.stable == 2  # type: ignore[union-attr]
    # v2 turns out bad too: v4 was rolled back from, so the last known-good is v1
    assert plans.rollback("credit", actor="a", reason="v2 bad").plan.stable == 1  # type: ignore[union-attr]
    with pytest.raises(ConflictError, match="known-good"):
        plans.rollback("credit", actor="a", reason="no more")


def test_rollback_needs_a_plan_and_a_reason(plans: TrafficPlans) -> None:
    with pytest.raises(NotFoundError, match="no traffic plan"):
        plans.rollback("credit", actor="a", reason="x")
    plans.set(TrafficPlan(model="credit", stable=1, canary=2, weight=1), actor="a")
    with pytest.raises(InvalidInputError, match="reason"):
        plans.rollback("credit", actor="a", reason=" ")
    assert plans.get("credit") == TrafficPlan(model="credit", stable=1, canary=2, weight=1)
