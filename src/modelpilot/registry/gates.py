"""Promotion gates: a declarative policy evaluated before an alias moves (pure; no I/O).

A policy is a list of rules, each with a ``type``:

=====================  ==============================================================================
``metric_min``         offline metric ``metric`` must be at least ``min``
``metric_max``         offline metric ``metric`` must be at most ``max``
``max_regression``     ``metric`` may fall behind the current holder by at most ``max_drop`` (absolute, or a
                       fraction of the holder's value with ``relative: true``); ``higher_is_better: false``
                       for losses. Passes when nothing holds the alias yet.
``lineage_required``   each of ``fields`` must be present in the candidate's lineage
``signature_compatible``  requests the current holder accepts must suit the candidate
``artifact_verified``  the candidate's artifact must still hash to its recorded digest
=====================  ==============================================================================

Without ``--policy`` the gate is :data:`DEFAULT_POLICY`: ``artifact_verified`` and ``signature_compatible``.

Example:
    >>> policy = parse_policy({"rules": [{"type": "metric_min", "metric": "auc", "min": 0.8}]})
    >>> report = evaluate(policy, GateSubject(version=2, metrics={"auc": 0.75}), None, artifact_ok=True)
    >>> report.passed, report.results[0].observed, report.results[0].threshold
    (False, '0.75', '>= 0.8')
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelpilot.errors import InvalidInputError
from modelpilot.protocol.signature import Signature, compatibility_problems
from modelpilot.registry.lineage import Lineage

__all__ = [
    "DEFAULT_POLICY",
    "GatePolicy",
    "GateReport",
    "GateSubject",
    "RuleResult",
    "evaluate",
    "load_policy",
    "parse_policy",
]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricMin(_Rule):
    type: Literal["metric_min"]
    metric: str
    min: float


class MetricMax(_Rule):
    type: Literal["metric_max"]
    metric: str
    max: float


class MaxRegression(_Rule):
    type: Literal["max_regression"]
    metric: str
    max_drop: float = Field(ge=0)
    higher_is_better: bool = True
    relative: bool = False


class LineageRequired(_Rule):
    type: Literal["lineage_required"]
    fields: list[str] = Field(min_length=1)


class SignatureCompatible(_Rule):
    type: Literal["signature_compatible"]


class ArtifactVerified(_Rule):
    type: Literal["artifact_verified"]


Rule = Annotated[
    MetricMin | MetricMax | MaxRegression | LineageRequired | SignatureCompatible | ArtifactVerified,
    Field(discriminator="type"),
]
RULE_TYPES = (
    "metric_min",
    "metric_max",
    "max_regression",
    "lineage_required",
    "signature_compatible",
    "artifact_verified",
)


class GatePolicy(BaseModel):
    """A named list of rules; all must pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    rules: list[Rule] = Field(min_length=1)


DEFAULT_POLICY = GatePolicy(
    rules=[ArtifactVerified(type="artifact_verified"), SignatureCompatible(type="signature_compatible")]
)


class GateSubject(BaseModel):
    """What the gate knows about one version."""

    version: int
    metrics: dict[str, float] = Field(default_factory=dict)
    lineage: Lineage = Field(default_factory=Lineage)
    signature: Signature = Field(default_factory=Signature)


class RuleResult(BaseModel):
    """One rule's outcome, with the observed value and the threshold as text for tables."""

    rule: str
    passed: bool
    observed: str
    threshold: str
    detail: str = ""


class GateReport(BaseModel):
    """Every rule's outcome; ``passed`` when all passed."""

    policy: str
    candidate: int
    holder: int | None
    results: list[RuleResult]

    @property
    def passed(self) -> bool:
        """True when every rule passed."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[RuleResult]:
        """The rules that did not pass."""
        return [r for r in self.results if not r.passed]


def parse_policy(data: Any, *, source: str = "policy") -> GatePolicy:
    """Validate a policy mapping; errors name the rule index and field, and list the known rule types."""
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(f"{loc}: {err['msg']}")
        raise InvalidInputError(
            f"{source} is invalid: {'; '.join(problems)}", hint=f"rule types are: {', '.join(RULE_TYPES)}"
        ) from exc


def load_policy(path: Path) -> GatePolicy:
    """Read a YAML policy file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInputError(f"policy file {path} does not exist", hint="check the path") from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"policy file {path} is not valid YAML: {exc}", hint="fix the YAML syntax") from exc
    return parse_policy(data, source=f"policy file {path}")


def _fmt(x: float | None) -> str:
    return "missing" if x is None else f"{x:.6g}"


def _check(rule: Rule, cand: GateSubject, holder: GateSubject | None, artifact_ok: bool | None) -> RuleResult:
    if isinstance(rule, MetricMin):
        v = cand.metrics.get(rule.metric)
        return RuleResult(
            rule=f"metric_min {rule.metric}",
            passed=v is not None and v >= rule.min,
            observed=_fmt(v),
            threshold=f">= {rule.min:g}",
        )
    if isinstance(rule, MetricMax):
        v = cand.metrics.get(rule.metric)
        return RuleResult(
            rule=f"metric_max {rule.metric}",
            passed=v is not None and v <= rule.max,
            observed=_fmt(v),
            threshold=f"<= {rule.max:g}",
        )
    if isinstance(rule, MaxRegression):
        name = f"max_regression {rule.metric}"
        unit = " (relative)" if rule.relative else ""
        threshold = f"drop <= {rule.max_drop:g}{unit}"
        if holder is None:
            return RuleResult(rule=name, passed=True, observed="no current holder", threshold=threshold)
        new, old = cand.metrics.get(rule.metric), holder.metrics.get(rule.metric)
        if new is None or old is None:
            which = f"v{cand.version}" if new is None else f"v{holder.version}"
            return RuleResult(rule=name, passed=False, observed=f"missing on {which}", threshold=threshold)
        drop = (old - new) if rule.higher_is_better else (new - old)
        if rule.relative:
            drop = drop / abs(old) if old else (0.0 if drop <= 0 else float("inf"))
        return RuleResult(
            rule=name,
            passed=drop <= rule.max_drop,
            observed=f"drop {drop:.6g}",
            threshold=threshold,
            detail=f"v{holder.version}={old:.6g}, v{cand.version}={new:.6g}",
        )
    if isinstance(rule, LineageRequired):
        missing = [f for f in rule.fields if cand.lineage.field_value(f) in (None, "")]
        return RuleResult(
            rule="lineage_required",
            passed=not missing,
            observed="all present" if not missing else "missing " + ", ".join(missing),
            threshold=", ".join(rule.fields),
        )
    if isinstance(rule, SignatureCompatible):
        if holder is None:
            return RuleResult(
                rule="signature_compatible", passed=True, observed="no current holder", threshold="compatible"
            )
        problems = compatibility_problems(holder.signature, cand.signature)
        return RuleResult(
            rule="signature_compatible",
            passed=not problems,
            observed="compatible" if not problems else f"{len(problems)} problem(s)",
            threshold=f"compatible with v{holder.version}",
            detail="; ".join(problems),
        )
    # ArtifactVerified
    observed = {True: "digest matches", False: "digest MISMATCH", None: "no artifact"}[artifact_ok]
    return RuleResult(
        rule="artifact_verified",
        passed=artifact_ok is not False,
        observed=observed,
        threshold="sha256 matches registration",
    )


def evaluate(
    policy: GatePolicy, candidate: GateSubject, holder: GateSubject | None, *, artifact_ok: bool | None
) -> GateReport:
    """Evaluate every rule (no short-circuit, so the report shows them all).

    ``artifact_ok`` is the result of re-hashing the candidate's artifact (``None`` when it has none).
    """
    return GateReport(
        policy=policy.name,
        candidate=candidate.version,
        holder=None if holder is None else holder.version,
        results=[_check(r, candidate, holder, artifact_ok) for r in policy.rules],
    )
