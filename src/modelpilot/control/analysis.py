"""Canary analysis templates: which checks the judge runs and with which thresholds, in YAML with documented
defaults. Every threshold pairs significance with an effect size (a tiny, significant difference is not a failure)
and has a minimum sample below which the check is inconclusive.

Example:
    >>> a = parse_analysis("name: strict\\nerrors: {tolerance: 0.005}\\nlatency: {enabled: false}\\nrequired: [errors]")
    >>> a.name, a.errors.tolerance, a.errors.alpha, a.latency.enabled, a.required
    ('strict', 0.005, 0.01, False, ('errors',))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelpilot.config.yamlcheck import compose, problems, refuse
from modelpilot.errors import ConfigError

__all__ = [
    "CHECKS",
    "AlarmCheck",
    "Analysis",
    "ErrorCheck",
    "LatencyCheck",
    "PerformanceCheck",
    "PredictionCheck",
    "ShadowCheck",
    "load_analysis",
    "parse_analysis",
]

CHECKS = ("errors", "latency", "predictions", "shadow", "performance", "alarms")
"""Every check, in the order the judge reports them."""


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Run this check.")


class ErrorCheck(_Check):
    """Error rate: fails when the canary fails significantly more often *and* by more than ``tolerance``."""

    alpha: float = Field(0.01, gt=0, lt=0.5, description="One-sided significance of the two-proportion z test.")
    tolerance: float = Field(
        0.01, ge=0, lt=1, description="Error-rate increase (absolute, 0.01 = one point) that is still acceptable."
    )
    min_requests: int = Field(200, ge=1, description="Requests each side needs before a verdict.")


class LatencyCheck(_Check):
    """Latency: Mann-Whitney U for "canary slower", Hodges-Lehmann shift against ``tolerance`` x stable median."""

    alpha: float = Field(0.01, gt=0, lt=0.5, description="One-sided significance of the Mann-Whitney test.")
    tolerance: float = Field(0.10, ge=0, description="Slow-down acceptable, relative to the stable median (0.1: 10%).")
    min_samples: int = Field(100, ge=5, description="Latencies each side needs before a verdict.")


class PredictionCheck(_Check):
    """Prediction distribution: PSI between the canary's and the stable version's predictions, with a
    chi-squared test so that sampling noise on small windows cannot fail a canary."""

    alpha: float = Field(0.01, gt=0, lt=0.5, description="Significance of the chi-squared test of homogeneity.")
    fail_psi: float = Field(0.25, gt=0, description="PSI at or above which a significant shift fails.")
    pass_psi: float = Field(0.10, gt=0, description="PSI below which the distributions count as the same.")
    min_samples: int = Field(200, ge=10, description="Predictions each side needs before a verdict.")
    bins: int = Field(10, ge=2, le=100, description="Quantile bins (of the stable version's) for numeric predictions.")


class ShadowCheck(_Check):
    """Shadow disagreement: on requests both answered, the share where the predictions differ (for numbers: by
    more than ``numeric_tolerance`` relative)."""

    alpha: float = Field(0.01, gt=0, lt=0.5, description="Wilson interval level (1 - alpha) of the disagreement.")
    max_disagreement: float = Field(0.05, gt=0, lt=1, description="Disagreement above which the canary fails.")
    numeric_tolerance: float = Field(0.01, ge=0, description="Relative difference two numeric predictions may have.")
    min_pairs: int = Field(100, ge=1, description="Paired requests needed before a verdict.")


class PerformanceCheck(_Check):
    """Performance (estimated without labels, or realized): fails when the canary is worse than the stable version
    by more than ``tolerance``, beyond sampling error."""

    metric: Literal["accuracy", "precision", "recall", "f1", "roc_auc"] = Field(
        "accuracy", description="The metric compared (a proportion, higher is better)."
    )
    tolerance: float = Field(0.03, ge=0, lt=1, description="Drop acceptable (absolute).")
    alpha: float = Field(0.01, gt=0, lt=0.5, description="One-sided significance of the drop.")
    min_rows: int = Field(300, ge=1, description="Rows each side needs before a verdict.")


class AlarmCheck(_Check):
    """Monitor alarms on the canary version (drift, quality, performance, change)."""

    fail_on: Literal["warning", "critical"] = Field("critical", description="The alarm severity that fails.")


class Analysis(BaseModel):
    """A canary analysis template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("default", description="Recorded with every verdict.")
    errors: ErrorCheck = Field(default_factory=lambda: ErrorCheck())
    latency: LatencyCheck = Field(default_factory=lambda: LatencyCheck())
    predictions: PredictionCheck = Field(default_factory=lambda: PredictionCheck())
    shadow: ShadowCheck = Field(default_factory=lambda: ShadowCheck())
    performance: PerformanceCheck = Field(default_factory=lambda: PerformanceCheck())
    alarms: AlarmCheck = Field(default_factory=lambda: AlarmCheck())
    required: tuple[str, ...] = Field(
        ("errors", "latency"),
        description="Checks that must pass (not just not fail) for the canary to pass; the others must not fail.",
    )

    @field_validator("required")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in CHECKS]
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; the checks are {', '.join(CHECKS)}")
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _required_enabled(self) -> Analysis:
        off = [c for c in self.required if not self.check(c).enabled]
        if off:
            raise ValueError(f"required check(s) {off} are disabled: they could never pass; drop them from required")
        return self

    def check(self, name: str) -> Any:
        """The settings of one check by name."""
        return getattr(self, name)


def parse_analysis(text: str, *, source: str = "<analysis>") -> Analysis:
    """Validate an analysis file's text; every problem is named by line and field in one :class:`ConfigError`."""
    root, data = compose(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of checks", hint="e.g. `errors: {tolerance: 0.01}`")
    try:
        return Analysis.model_validate(data)
    except ValidationError as exc:
        refuse(
            problems(exc, root, source),
            "analysis",
            "fix each line named above (docs/rollouts.md lists every check and its defaults)",
        )
        raise  # pragma: no cover - refuse raised


def load_analysis(path: Path | str | None) -> Analysis:
    """The analysis in ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return Analysis()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"analysis {path} cannot be read: {exc.strerror}", hint="pass an existing file") from None
    return parse_analysis(text, source=str(path))
