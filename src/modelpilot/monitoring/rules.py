"""Alarm rules: when a window's drift or data-quality finding counts, and when findings become an alarm.

A column **drifts** in a window when both hold:

1. its *effect size* (PSI by default) reaches the warning threshold (0.1) — or the critical one (0.25); and
2. its test (KS for numbers, chi-squared for categories) is significant after the Benjamini-Hochberg correction
   across every column tested in that window, at false-discovery rate ``alpha`` (0.01).

Effect size alone flags sampling noise in small windows; a p-value alone flags trivial shifts in large ones; the
two together flag shifts that are both real and big enough to matter. A column with fewer than ``min_rows`` values
in the window (30) is not judged.

A **finding** becomes an **alarm** only when it persists: ``k`` of the last ``m`` windows (2 of 3) had a finding at
that severity or above. An alarm resolves when that no longer holds. :class:`AlarmTracker` keeps that memory per
subject and reports transitions (raised, escalated, resolved) with the evidence.

Example:
    >>> benjamini_hochberg([0.001, 0.02, 0.03, 0.5], alpha=0.05)
    [True, True, True, False]
    >>> t = AlarmTracker(k=2, m=3)
    >>> [t.observe("x", s) for s in ["warning", None, "warning", "critical", "critical", None, None]]
    [None, None, 'warning', 'warning', 'critical', 'critical', None]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelpilot.errors import InvalidInputError

__all__ = [
    "AlarmTracker",
    "DriftRule",
    "PerformanceRule",
    "Persistence",
    "QualityRule",
    "Severity",
    "benjamini_hochberg",
    "worse",
]

Severity = Literal["warning", "critical"]
_RANK: dict[str | None, int] = {None: 0, "warning": 1, "critical": 2}


def worse(a: Severity | None, b: Severity | None) -> Severity | None:
    """The more severe of two severities."""
    return a if _RANK[a] >= _RANK[b] else b


def benjamini_hochberg(p_values: Sequence[float], *, alpha: float) -> list[bool]:
    """Which hypotheses are rejected at false-discovery rate ``alpha`` (Benjamini & Hochberg, 1995)."""
    p = np.asarray(p_values, dtype=np.float64)
    n = p.size
    if n == 0:
        return []
    order = np.argsort(p, kind="stable")
    below = p[order] <= alpha * np.arange(1, n + 1) / n
    passed = np.zeros(n, dtype=bool)
    if below.any():
        last = int(np.nonzero(below)[0].max())
        passed[order[: last + 1]] = True
    return passed.tolist()


class DriftRule(BaseModel):
    """When a column's drift counts as a finding.

    The PSI thresholds are the credit-scoring conventions (0.1: "some shift, investigate"; 0.25: "major shift");
    an unchanged column's PSI in a 1000-row window with 20 bins stays near 0.02, well below them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: Literal["psi", "js", "hellinger", "wasserstein"] = "psi"
    warning: float = Field(default=0.1, gt=0)
    critical: float = Field(default=0.25, gt=0)
    alpha: float = Field(default=0.01, gt=0, lt=1)
    min_rows: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DriftRule:
        if self.critical < self.warning:
            raise InvalidInputError(
                f"drift critical threshold {self.critical} is below the warning threshold {self.warning}",
                hint="set critical >= warning",
            )
        return self

    def severity(self, effect: float, significant: bool) -> Severity | None:
        """The finding's severity for an effect size and the corrected test's outcome."""
        if not significant or effect < self.warning:
            return None
        return "critical" if effect >= self.critical else "warning"


class QualityRule(BaseModel):
    """When a column's data-quality ratio in a window counts as a finding.

    Each ratio is measured over the window's rows; for missing values it is the excess over the reference's own
    missing rate. Defaults: 5 % is a warning and 25 % critical for missing, out-of-range and unseen values (a
    single new category or an odd outlier is normal traffic; one row in twenty is a pipeline change); any value of
    the wrong type or any row without the column is a warning (the contract is broken), 5 % of them critical.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    missing: tuple[float, float] = (0.05, 0.25)
    out_of_range: tuple[float, float] = (0.05, 0.25)
    unseen: tuple[float, float] = (0.05, 0.25)
    nonfinite: tuple[float, float] = (1e-9, 0.05)
    wrong_type: tuple[float, float] = (1e-9, 0.05)
    absent: tuple[float, float] = (1e-9, 0.05)
    min_rows: int = Field(default=30, ge=1)

    def severity(self, field: str, ratio: float) -> Severity | None:
        """The severity of one quality ratio."""
        warn, crit = getattr(self, field)
        if ratio >= crit:
            return "critical"
        if ratio >= warn:
            return "warning"
        return None


class PerformanceRule(BaseModel):
    """When a window's performance (estimated or realized) counts as a finding, against the reference performance.

    Classifiers: the metric (accuracy) falling 0.05 below the reference is a warning, 0.10 critical, and only when
    the fall is also beyond ``z`` (3) binomial standard errors at the window's rows, so a small window's sampling
    noise is not a finding. Regressors: the metric (RMSE) rising 10 % above the reference is a warning, 25 % critical.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    classification_metric: str = "accuracy"
    regression_metric: str = "rmse"
    drop: tuple[float, float] = (0.05, 0.10)
    rise: tuple[float, float] = (0.10, 0.25)
    z: float = Field(default=3.0, gt=0)
    min_rows: int = Field(default=100, ge=1)

    def severity(self, task: str | None, reference: float | None, value: float | None, n: int) -> Severity | None:
        """The finding for one window's value of the metric (``None`` when it cannot be judged or is fine)."""
        if reference is None or value is None or n < self.min_rows:
            return None
        if task == "regression":
            if reference <= 0:
                return None
            rise = (value - reference) / reference
            return "critical" if rise >= self.rise[1] else "warning" if rise >= self.rise[0] else None
        fall = reference - value
        bound = self.z * (max(reference * (1 - reference), 1e-12) / n) ** 0.5
        if fall <= bound:
            return None
        return "critical" if fall >= self.drop[1] else "warning" if fall >= self.drop[0] else None

    def metric(self, task: str | None) -> str:
        """The metric judged for a task."""
        return self.regression_metric if task == "regression" else self.classification_metric


class Persistence(BaseModel):
    """How many of the last windows must show a finding before it is an alarm (``k`` of ``m``).

    2 of 3: one noisy window never alarms; a real shift alarms on its second window; a shift that
    comes and goes every other window still does.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(default=2, ge=1)
    m: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _k_le_m(self) -> Persistence:
        if self.k > self.m:
            raise InvalidInputError(f"persistence k={self.k} exceeds m={self.m}", hint="need k <= m")
        return self


class AlarmTracker:
    """Per-subject memory of the last ``m`` findings; turns persistent findings into alarm states.

    Parameters
    ----------
    k, m
        An alarm holds at a severity while at least ``k`` of the last ``m`` findings are at that severity or above.
    """

    def __init__(self, k: int = 2, m: int = 3) -> None:
        Persistence(k=k, m=m)  # validates
        self.k, self.m = k, m
        self._reset()

    def _reset(self) -> None:
        self._history: dict[str, deque[Severity | None]] = {}
        self._state: dict[str, Severity | None] = {}

    def observe(self, subject: str, finding: Severity | None) -> Severity | None:
        """Record one window's finding for ``subject``; return the alarm state after it."""
        hist = self._history.setdefault(subject, deque(maxlen=self.m))
        hist.append(finding)
        critical = sum(1 for s in hist if s == "critical")
        any_ = sum(1 for s in hist if s is not None)
        state: Severity | None = "critical" if critical >= self.k else "warning" if any_ >= self.k else None
        self._state[subject] = state
        return state

    def state(self, subject: str) -> Severity | None:
        """The current alarm state of a subject."""
        return self._state.get(subject)

    def history(self, subject: str) -> list[Severity | None]:
        """The remembered findings of a subject, oldest first."""
        return list(self._history.get(subject, ()))

    @property
    def active(self) -> dict[str, Severity]:
        """Subjects with an alarm, and its severity."""
        return {s: v for s, v in self._state.items() if v is not None}

    def to_state(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"k": self.k, "m": self.m, "history": {s: list(h) for s, h in self._history.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AlarmTracker:
        """Rebuild from :meth:`to_state`."""
        out = cls(int(state["k"]), int(state["m"]))
        for subject, hist in state["history"].items():
            for finding in hist:
                out.observe(subject, finding)
        return out
