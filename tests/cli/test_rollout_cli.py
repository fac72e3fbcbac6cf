"""`modelpilot rollout`: start, status, pause, resume, approve, abort; bad input is refused with the field named
and nothing changed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.models import register_models


@pytest.fixture
def home(tmp_path: Path) -> list[str]:
    registry = Registry.open(load_settings(home=tmp_path / "home", actor="tester"))
    register_models(registry, tmp_path / "src")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    registry.store.close()
    return ["--home", str(tmp_path / "home")]


def plan(home: list[str]) -> TrafficPlan | None:
    registry = Registry.open(load_settings(home=Path(home[1]), actor="tester"))
    try:
        return TrafficPlans(registry.store).get("credit")
    finally:
        registry.store.close()


def test_a_rollout_from_start_to_abort(home: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*home, "rollout", "start", "credit", "--version", "2", "--steps", "20,60,100",
                 "--approve-at", "60", "--reason", "new features"]) == 0  # fmt: skip
    assert "rollout 1: credit v2 against v1" in capsys.readouterr().out
    assert plan(home) == TrafficPlan(model="credit", stable=1, canary=2, weight=20)
    assert main([*home, "rollout", "status", "credit", "-o", "json"]) == 0
    [row] = orjson.loads(capsys.readouterr().out)
    assert (row["phase"], row["weight"], row["spec"]["steps"]) == ("canary", 20.0, [20.0, 60.0, 100.0])
    assert main([*home, "rollout", "pause", "credit", "--reason", "load test tonight"]) == 0
    assert main([*home, "rollout", "status"]) == 0
    assert "paused" in capsys.readouterr().out
    assert plan(home) == TrafficPlan(model="credit", stable=1, canary=2, weight=20)  # held
    assert main([*home, "rollout", "approve", "credit"]) != 0  # not waiting for approval
    assert "not waiting for approval" in capsys.readouterr().err
    assert main([*home, "rollout", "resume", "credit", "--reason", "load test done"]) == 0
    assert main([*home, "rollout", "abort", "credit", "--reason", "changed plans"]) == 0
    assert plan(home) == TrafficPlan(model="credit", stable=1)  # all traffic back on stable at once
    capsys.readouterr()
    assert main([*home, "rollout", "status", "credit", "-o", "json"]) == 0
    [row] = orjson.loads(capsys.readouterr().out)
    assert (row["phase"], row["reason"]) == ("aborted", "changed plans")
    assert main([*home, "audit", "log", "--model", "credit"]) == 0
    log = capsys.readouterr().out
    for action in ("rollout.start", "rollout.pause", "rollout.resume", "rollout.abort"):
        assert action in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "5,50"], "the last step must be 100"),
        (["--steps", "5,x,100"], "--steps '5,x,100': not a list of weights"),
        (["--interval", "1 minute"], "--interval"),
        (["--approve-at", "30"], "approve_at 30 is not one of the steps"),
        (["--version", "1"], "already the stable version"),
        (["--version", "9"], "9"),
    ],
)
def test_bad_starts_name_the_field_and_change_nothing(
    home: list[str], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    base = ["rollout", "start", "credit", "--reason", "x"]
    if "--version" not in args:
        base += ["--version", "2"]
    assert main([*home, *base, *args]) != 0
    assert message in capsys.readouterr().err
    assert plan(home) == TrafficPlan(model="credit", stable=1)


def test_one_active_rollout_per_model(home: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*home, "rollout", "start", "credit", "--version", "2", "--reason", "a"]) == 0
    assert main([*home, "rollout", "start", "credit", "--version", "3", "--reason", "b"]) != 0
    assert "already has an active rollout (of v2)" in capsys.readouterr().err
    assert plan(home) == TrafficPlan(model="credit", stable=1, canary=2, weight=5)
    assert main([*home, "rollout", "status", "nosuch"]) != 0
