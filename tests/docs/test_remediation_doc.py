"""docs/remediation.md: the policy it shows is examples/remediation/policy.yaml, which loads; the conditions and
actions it lists are the ones the code knows."""

from __future__ import annotations

import re
from pathlib import Path

from modelpilot.control.policy import ACTIONS, Condition, load_policy

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "remediation.md"
POLICY = ROOT / "examples" / "remediation" / "policy.yaml"


def test_the_policy_shown_is_the_example_and_it_loads() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks[0] == POLICY.read_text(encoding="utf-8")
    policy = load_policy(POLICY)
    assert [r.name for r in policy.rules] == ["availability-page", "budget-burning", "lasting-drift"]


def test_every_condition_and_action_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in (*Condition.model_fields, *ACTIONS):
        assert f"`{name}`" in text, name
