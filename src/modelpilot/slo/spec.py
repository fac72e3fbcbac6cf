"""SLO specs: the YAML file users write, validated into frozen objects, with errors that name the line and field.

A file holds one or more SLOs under ``slos:``. Each names a model, an SLI (what counts as a good event), an
objective in percent and a period. The same spec drives the in-process evaluator, the Prometheus rules and the
Grafana dashboard, so all three agree on what an error is.

Example:
    >>> specs = parse_specs('''
    ... slos:
    ...   - name: availability
    ...     model: credit
    ...     sli: {kind: availability}
    ...     objective: 99.9
    ...     period: 28d
    ... ''')
    >>> s = specs[0]
    >>> s.id, s.error_budget, s.period_s
    ('credit-availability', 0.001, 2419200.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelpilot.config.yamlcheck import compose, line_of, problems, refuse
from modelpilot.errors import ConfigError, InvalidInputError
from modelpilot.monitoring.performance.estimated import PROPORTION_METRICS as _PROPORTIONS

__all__ = [
    "ALERT_NAMES",
    "PROPORTION_METRICS",
    "SLI_KINDS",
    "Alerting",
    "Sli",
    "SliKind",
    "SloSpec",
    "load_specs",
    "parse_duration",
    "parse_specs",
]

SliKind = Literal[
    "availability",
    "latency",
    "drift_free",
    "data_quality",
    "accuracy",
    "estimated_accuracy",
    "label_coverage",
    "freshness",
]
SLI_KINDS: tuple[str, ...] = SliKind.__args__  # type: ignore[attr-defined]
"""Every SLI kind: two service SLIs (``availability``, ``latency``) and six model SLIs."""

PROPORTION_METRICS: tuple[str, ...] = _PROPORTIONS
"""Metrics an ``accuracy`` or ``estimated_accuracy`` SLI may target: proportions in [0, 1], higher is better."""

ALERT_NAMES: dict[str, str] = {
    "availability": "ModelAvailabilityBudgetBurn",
    "latency": "ModelLatencyBudgetBurn",
    "drift_free": "ModelDriftBudgetBurn",
    "data_quality": "ModelDataQualityBudgetBurn",
    "accuracy": "ModelAccuracyBudgetBurn",
    "estimated_accuracy": "ModelEstimatedAccuracyBudgetBurn",
    "label_coverage": "ModelLabelCoverageBudgetBurn",
    "freshness": "ModelFreshnessBudgetBurn",
}
"""The alert name of each SLI kind (two severities each, ``page`` and ``ticket``); one runbook page per name."""

_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration of one unit (``30s``, ``5m``, ``6h``, ``28d``, ``4w``).

    >>> parse_duration("28d"), parse_duration("5m")
    (2419200.0, 300.0)
    """
    found = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"{text!r} is not a duration; use a number and one unit of s, m, h, d, w (e.g. 28d)")
    return float(int(found.group(1)) * _UNIT_S[found.group(2)])


class Sli(BaseModel):
    """What counts as a good event, by kind.

    - ``availability``: requests answered without a 5xx status;
    - ``latency``: requests answered within ``threshold_s`` (a bucket of the request-duration histogram);
    - ``drift_free``: monitor windows closed without a drift alarm (at ``severity`` or worse);
    - ``data_quality``: rows without any data-quality violation;
    - ``accuracy`` / ``estimated_accuracy``: windows whose realized (from labels) / estimated ``metric`` is above
      ``target`` (a bucket of the window-performance histogram);
    - ``label_coverage``: predictions that received their label before it expired;
    - ``freshness``: evaluation steps at which the model's last event is at most ``max_age_s`` old.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SliKind = Field(description="The SLI kind.")
    threshold_s: float | None = Field(None, gt=0, description="latency: the most a good request may take.")
    metric: str | None = Field(None, description="accuracy kinds: the metric (default accuracy).")
    target: float | None = Field(None, gt=0, lt=1, description="accuracy kinds: the level a good window beats.")
    max_age_s: float | None = Field(None, gt=0, description="freshness: the oldest the last event may be.")
    severity: Literal["warning", "critical"] = Field(
        "warning", description="drift_free: the alarm severity that makes a window bad."
    )

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Sli:
        needs = {"latency": ("threshold_s",), "accuracy": ("target",), "estimated_accuracy": ("target",)}
        needs["freshness"] = ("max_age_s",)
        for name in needs.get(self.kind, ()):
            if getattr(self, name) is None:
                raise ValueError(f"a {self.kind} SLI needs {name}")
        allowed = {"kind", "severity", *needs.get(self.kind, ())}
        if self.kind in ("accuracy", "estimated_accuracy"):
            allowed.add("metric")
        for name in ("threshold_s", "metric", "target", "max_age_s"):
            if name not in allowed and getattr(self, name) is not None:
                raise ValueError(f"{name} does not apply to a {self.kind} SLI")
        if self.metric is not None and self.metric not in PROPORTION_METRICS:
            raise ValueError(f"metric {self.metric!r} is not one of {', '.join(PROPORTION_METRICS)}")
        return self

    @property
    def performance_metric(self) -> str:
        """The targeted metric of an accuracy kind (``accuracy`` unless set)."""
        return self.metric or "accuracy"

    @property
    def is_ratio(self) -> bool:
        """Whether the SLI counts events (every kind but ``freshness``, which samples time)."""
        return self.kind != "freshness"


class Alerting(BaseModel):
    """Burn-rate alerting of one SLO (multiwindow, multi-burn-rate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    page: bool = Field(True, description="Page: 14.4x over 1h and 5m, or 6x over 6h and 30m.")
    ticket: bool = Field(True, description="Ticket: 3x over 1d and 2h, or 1x over 3d and 6h.")
    min_events: int = Field(
        20,
        ge=0,
        description="An alert needs at least this many events in its long window, so one failure on low traffic "
        "does not page (ratio SLIs only).",
    )
    min_bad_events: int = Field(
        2,
        ge=1,
        description="An alert also needs at least this many bad events in its long window, so one error on a quiet "
        "model never pages, however few events it had (ratio SLIs only).",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the alerts.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations on the alerts.")
    runbook_base_url: str = Field(
        "docs/runbooks", description="Where the runbook pages live; an alert links to <base>/<sli kind>.md."
    )

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a Prometheus label name")
            if name in ("severity", "slo", "model", "sloth_id", "sloth_service", "sloth_slo"):
                raise ValueError(f"label {name!r} is set by modelpilot")
        return value


class SloSpec(BaseModel):
    """One SLO: a model, an SLI, an objective in percent over a rolling period, and its alerting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Short name, unique per model: lower-case letters, digits, - and _.")
    model: str = Field(description="The registered model the SLO is about.")
    sli: Sli
    objective: float = Field(description="Percent of good events, above 0 and at most 99.9999 (e.g. 99.5).")
    period: str = Field("28d", description="Rolling period of the error budget, 7d to 90d (e.g. 28d).")
    description: str = Field("", description="What the SLO protects, for people.")
    variants: tuple[Literal["stable", "canary", "fallback", "shadow"], ...] = Field(
        ("stable", "canary", "fallback"),
        description="Variants whose events count (shadows are left out by default: callers never see them).",
    )
    alerting: Alerting = Field(default_factory=lambda: Alerting())

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("use 1 to 63 lower-case letters, digits, - and _ (starting and ending alphanumeric)")
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value or '"' in value or "\\" in value or "\n" in value:
            raise ValueError("a registered model name")
        return value

    @field_validator("objective", mode="before")
    @classmethod
    def _objective_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number (a percentage, e.g. 99.5), not true/false")
        return value

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        if not (0 < value < 100) or not math.isfinite(value):
            raise ValueError("must be strictly between 0 and 100 (a percentage, e.g. 99.5)")
        if value > 99.9999:
            raise ValueError("at most 99.9999: a smaller error budget cannot be told from rounding")
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        seconds = parse_duration(value)
        if not (7 * 86400 <= seconds <= 90 * 86400):
            raise ValueError("must be between 7d and 90d (the longest alert window is 3d)")
        return value

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("list at least one variant")
        return tuple(dict.fromkeys(value))

    @property
    def alert_name(self) -> str:
        """The Prometheus alert name of this SLO's burn-rate alerts."""
        return ALERT_NAMES[self.sli.kind]

    @property
    def runbook_url(self) -> str:
        """Where the alert's runbook lives."""
        return f"{self.alerting.runbook_base_url.rstrip('/')}/{self.sli.kind.replace('_', '-')}.md"

    @property
    def id(self) -> str:
        """``<model>-<name>``: unique across files, the ``sloth_id`` of the rules."""
        return f"{self.model}-{self.name}"

    @property
    def ratio(self) -> float:
        """The objective as a ratio (99.9 -> 0.999)."""
        return round(self.objective / 100.0, 12)

    @property
    def error_budget(self) -> float:
        """The share of events allowed to be bad (99.9 -> 0.001)."""
        return round(1.0 - self.ratio, 12)

    @property
    def period_s(self) -> float:
        """The period in seconds."""
        return parse_duration(self.period)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal["modelpilot/v1"] = "modelpilot/v1"
    slos: list[dict[str, Any]] = Field(min_length=1, description="The SLOs, each checked as a SloSpec.")


# ---------------------------------------------------------------------------------------------------- loading
def parse_specs(
    text: str,
    *,
    source: str = "<slo spec>",
    models: Collection[str] | None = None,
    latency_buckets: Iterable[float] | None = None,
    performance_buckets: Iterable[float] | None = None,
) -> list[SloSpec]:
    """Validate a spec file's text; every problem is named by line and field in one :class:`ConfigError`.

    ``models`` (the registered model names), ``latency_buckets`` and ``performance_buckets`` (the histogram bucket
    bounds) are checked when given: a latency threshold or accuracy target must be a bucket bound, or Prometheus
    could not count it exactly.
    """
    root, data = compose(text, source)
    if data is None or not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a `slos:` list", hint="see docs/slo.md for an example")
    found: list[str] = []

    items: list[dict[str, Any]] = []
    try:  # the file's own keys first, then each SLO on its own, so every SLO's problems are listed together
        items = _File.model_validate(data).slos
    except ValidationError as exc:
        found += problems(exc, root, source)
    specs: list[SloSpec] = []
    for i, item in enumerate(items):
        try:
            specs.append(SloSpec.model_validate(item))
        except ValidationError as exc:
            found += problems(exc, root, source, ("slos", i))
    buckets = None if latency_buckets is None else sorted(float(b) for b in latency_buckets)
    perf = None if performance_buckets is None else sorted(float(b) for b in performance_buckets)
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.id in seen:
            where = f"{source}:{line_of(root, ['slos', i, 'name'])}"
            found.append(f"{where}: slos[{i}].name: {spec.name!r} is used twice for model {spec.model!r}")
        seen.add(spec.id)
        if models is not None and spec.model not in models:
            known = ", ".join(sorted(models)) or "none yet"
            where = f"{source}:{line_of(root, ['slos', i, 'model'])}"
            found.append(f"{where}: slos[{i}].model: {spec.model!r} is not registered (registered: {known})")
        sli = spec.sli
        if buckets is not None and sli.threshold_s is not None and not _among(sli.threshold_s, buckets):
            listed = ", ".join(f"{b:g}" for b in buckets)
            line = line_of(root, ["slos", i, "sli", "threshold_s"])
            found.append(
                f"{source}:{line}: slos[{i}].sli.threshold_s: {sli.threshold_s:g} s is not a bucket of "
                f"modelpilot_request_duration_seconds; use one of {listed}"
            )
        if perf is not None and sli.target is not None and not _among(sli.target, perf):
            listed = ", ".join(f"{b:g}" for b in perf)
            line = line_of(root, ["slos", i, "sli", "target"])
            found.append(
                f"{source}:{line}: slos[{i}].sli.target: {sli.target:g} is not a bucket of "
                f"modelpilot_window_performance_ratio; use one of {listed}"
            )
    refuse(found, "SLO spec", "fix each line named above; nothing was applied")
    return specs


def _among(value: float, bounds: Sequence[float]) -> bool:
    return value in bounds  # exactly: the rendered le="..." label must name the bucket


def load_specs(
    paths: Path | str | Iterable[Path | str],
    *,
    models: Collection[str] | None = None,
    check_buckets: bool = True,
) -> list[SloSpec]:
    """Read and validate one or more spec files (ids must be unique across them).

    With ``check_buckets`` (the default) latency thresholds and accuracy targets are checked against the
    histograms modelpilot exports.
    """
    from modelpilot.telemetry.metrics import LATENCY_BUCKETS, PERFORMANCE_BUCKETS

    items = [paths] if isinstance(paths, Path | str) else list(paths)
    specs: list[SloSpec] = []
    for item in items:
        path = Path(item)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"SLO spec {path} cannot be read: {exc.strerror}", hint="pass an existing file") from None
        specs.extend(
            parse_specs(
                text,
                source=str(path),
                models=models,
                latency_buckets=LATENCY_BUCKETS if check_buckets else None,
                performance_buckets=PERFORMANCE_BUCKETS if check_buckets else None,
            )
        )
    ids = [s.id for s in specs]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InvalidInputError(
            f"SLO ids defined in more than one file: {', '.join(twice)}", hint="give each SLO of a model its own name"
        )
    return specs
