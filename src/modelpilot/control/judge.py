"""The canary judge: canary against stable over the same period, check by check, pass / fail / inconclusive with
every statistic, threshold and sample size as evidence. Pure: samples in, a :class:`Verdict` out.

Each check fails only when the data show the canary worse by *more than its tolerance* (the one-sided confidence
bound of the difference is beyond it), and passes only when they bound the difference inside the tolerance;
everything between, and anything below a check's minimum sample, is *inconclusive*: the judge never calls a verdict
on noise. The canary fails if any check fails; it passes when every required check (errors and latency by default)
passes and no other fails.

Example:
    >>> import numpy as np
    >>> from modelpilot.control.samples import VariantSample
    >>> rng = np.random.default_rng(7)
    >>> stable, canary = VariantSample(rng=rng), VariantSample(rng=rng)
    >>> for i in range(2000):
    ...     _ = stable.add(f"s{i}", latency_s=rng.gamma(4, 0.01), ok=rng.random() > 0.01)
    ...     _ = canary.add(f"c{i}", latency_s=rng.gamma(4, 0.01) * 1.5, ok=rng.random() > 0.01)
    >>> v = CanaryJudge().judge(stable, canary)
    >>> v.outcome, v.failed, v.check("errors").outcome
    ('fail', ['latency'], 'pass')
    >>> round(v.check("latency").statistics["shift_s"], 4), v.check("latency").thresholds["tolerance_s"]
    (0.0181, 0.003579)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import special

from modelpilot.control.analysis import CHECKS, Analysis
from modelpilot.control.samples import VariantSample
from modelpilot.control.stats import hodges_lehmann, mann_whitney_greater, two_proportions_greater, wilson
from modelpilot.monitoring.stats import chi2_test, psi

__all__ = ["CanaryJudge", "CheckResult", "Outcome", "Performance", "Verdict"]

Outcome = Literal["pass", "fail", "inconclusive", "skipped"]
_SEVERITY = {"warning": 1, "critical": 2}


class CheckResult(BaseModel):
    """One check's outcome and its evidence."""

    model_config = ConfigDict(frozen=True)

    name: str
    outcome: Outcome
    reason: str
    statistics: dict[str, float | None] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    samples: dict[str, int] = Field(default_factory=dict)


class Verdict(BaseModel):
    """The judge's answer for one interval."""

    model_config = ConfigDict(frozen=True)

    outcome: Literal["pass", "fail", "inconclusive"]
    analysis: str
    checks: list[CheckResult]
    time: float = 0.0

    @property
    def failed(self) -> list[str]:
        """The checks that failed."""
        return [c.name for c in self.checks if c.outcome == "fail"]

    def check(self, name: str) -> CheckResult:
        """One check's result by name."""
        return next(c for c in self.checks if c.name == name)


@dataclass(frozen=True, slots=True)
class Performance:
    """A performance figure of one variant over the interval (estimated or realized) and the rows behind it."""

    value: float
    rows: int


def _z(alpha: float) -> float:
    return float(special.ndtri(1.0 - alpha))


class CanaryJudge:
    """Runs an :class:`~modelpilot.control.analysis.Analysis` on two samples."""

    def __init__(self, analysis: Analysis | None = None) -> None:
        self.analysis = analysis or Analysis()

    def judge(
        self,
        stable: VariantSample,
        canary: VariantSample,
        *,
        performance: tuple[Performance | None, Performance | None] | None = None,
        alarms: Mapping[str, str] | None = None,
        time: float = 0.0,
    ) -> Verdict:
        """Compare ``canary`` with ``stable``. ``performance`` is (stable, canary); ``alarms`` maps an active alarm
        kind on the canary version to its severity (``None``: not known, the check is skipped)."""
        a = self.analysis
        run = {
            "errors": lambda: self._errors(stable, canary),
            "latency": lambda: self._latency(stable, canary),
            "predictions": lambda: self._predictions(stable, canary),
            "shadow": lambda: self._shadow(stable, canary),
            "performance": lambda: self._performance(performance),
            "alarms": lambda: self._alarms(alarms),
        }
        checks = [
            run[name]() if a.check(name).enabled else CheckResult(name=name, outcome="skipped", reason="disabled")
            for name in CHECKS
        ]
        by_name = {c.name: c.outcome for c in checks}
        if "fail" in by_name.values():
            outcome: Literal["pass", "fail", "inconclusive"] = "fail"
        elif all(by_name[r] == "pass" for r in a.required):
            outcome = "pass"
        else:
            outcome = "inconclusive"
        return Verdict(outcome=outcome, analysis=a.name, checks=checks, time=time)

    # ----------------------------------------------------------------------------------------------- checks
    def _errors(self, s: VariantSample, c: VariantSample) -> CheckResult:
        cfg = self.analysis.errors
        samples = {"stable_requests": s.requests, "canary_requests": c.requests}
        thresholds = {"alpha": cfg.alpha, "tolerance": cfg.tolerance, "min_requests": cfg.min_requests}
        if min(s.requests, c.requests) < cfg.min_requests:
            return _few("errors", samples, thresholds, f"fewer than {cfg.min_requests} requests on a side")
        p_value, (low, high) = two_proportions_greater(c.errors, c.requests, s.errors, s.requests, alpha=2 * cfg.alpha)
        rate_s, rate_c = s.errors / s.requests, c.errors / c.requests
        stats = {"stable_rate": rate_s, "canary_rate": rate_c, "difference": rate_c - rate_s, "p_value": p_value}
        stats |= {"difference_low": low, "difference_high": high}
        if low > cfg.tolerance:  # worse by more than the tolerance, at the test's confidence
            outcome, why = (
                "fail",
                f"canary error rate {rate_c:.2%} vs {rate_s:.2%} (at least {low:+.2%}; p={p_value:.2g})",
            )
        elif high < cfg.tolerance:
            outcome, why = "pass", f"error rate difference at most {high:+.2%} (tolerance {cfg.tolerance:.2%})"
        else:
            outcome, why = "inconclusive", f"difference could be up to {high:+.2%}"
        return CheckResult(name="errors", outcome=outcome, reason=why, statistics=stats, thresholds=thresholds,
                           samples=samples)  # fmt: skip

    def _latency(self, s: VariantSample, c: VariantSample) -> CheckResult:
        cfg = self.analysis.latency
        ls, lc = s.latencies, c.latencies
        samples = {"stable_latencies": int(ls.size), "canary_latencies": int(lc.size)}
        thresholds: dict[str, float] = {"alpha": cfg.alpha, "tolerance": cfg.tolerance, "min_samples": cfg.min_samples}
        if min(ls.size, lc.size) < cfg.min_samples:
            return _few("latency", samples, thresholds, f"fewer than {cfg.min_samples} latencies on a side")
        median = float(np.median(ls))
        limit = cfg.tolerance * median
        thresholds["tolerance_s"] = round(limit, 6)
        p_value = mann_whitney_greater(lc, ls)
        shift, low, high = hodges_lehmann(lc, ls, alpha=2 * cfg.alpha)
        stats = {"stable_median_s": median, "canary_median_s": float(np.median(lc)), "shift_s": shift}
        stats |= {"shift_low_s": low, "shift_high_s": high, "p_value": p_value}
        if low > limit:  # slower by more than the tolerance, at the test's confidence
            why = f"canary slower by {shift * 1000:.1f} ms (at least {low * 1000:.1f} ms; p={p_value:.2g})"
            outcome = "fail"
        elif high < limit:
            outcome, why = "pass", f"slow-down at most {high * 1000:.1f} ms (tolerance {limit * 1000:.1f} ms)"
        else:
            outcome, why = "inconclusive", f"slow-down could be up to {high * 1000:.1f} ms"
        return CheckResult(name="latency", outcome=outcome, reason=why, statistics=stats, thresholds=thresholds,
                           samples=samples)  # fmt: skip

    def _predictions(self, s: VariantSample, c: VariantSample) -> CheckResult:
        cfg = self.analysis.predictions
        samples = {"stable_predictions": s.predictions, "canary_predictions": c.predictions}
        thresholds = {"alpha": cfg.alpha, "fail_psi": cfg.fail_psi, "pass_psi": cfg.pass_psi}
        thresholds["min_samples"] = cfg.min_samples
        if s.predictions == 0 and c.predictions == 0:
            return CheckResult(name="predictions", outcome="skipped", reason="no predictions", samples=samples)
        if min(s.predictions, c.predictions) < cfg.min_samples:
            return _few("predictions", samples, thresholds, f"fewer than {cfg.min_samples} predictions on a side")
        ref, cur = _histograms(s, c, cfg.bins)
        value = float(psi(ref[None, :], cur[None, :])[0])
        _, p = chi2_test(ref[None, :], cur[None, :])
        p_value = float(p[0])
        stats: dict[str, float | None] = {"psi": value, "p_value": p_value}
        if value >= cfg.fail_psi and p_value < cfg.alpha:
            outcome, why = "fail", f"prediction distribution shifted (PSI {value:.3f}, p={p_value:.2g})"
        elif value < cfg.pass_psi:
            outcome, why = "pass", f"prediction distributions alike (PSI {value:.3f})"
        else:
            outcome, why = (
                "inconclusive",
                f"PSI {value:.3f} between {cfg.pass_psi} and {cfg.fail_psi} or not significant",
            )
        return CheckResult(name="predictions", outcome=outcome, reason=why, statistics=stats, thresholds=thresholds,
                           samples=samples)  # fmt: skip

    def _shadow(self, s: VariantSample, c: VariantSample) -> CheckResult:
        cfg = self.analysis.shadow
        pairs = [(s.by_request[r], p) for r, p in c.by_request.items() if r in s.by_request]
        same = [(a, b) for a, b in pairs if len(a) == len(b)]
        rows = sum(len(a) for a, _ in same)
        differ = sum(_differ(x, y, cfg.numeric_tolerance) for a, b in same for x, y in zip(a, b, strict=True))
        samples = {"pairs": len(pairs), "rows": rows}
        thresholds = {"alpha": cfg.alpha, "max_disagreement": cfg.max_disagreement, "min_pairs": cfg.min_pairs}
        if not pairs:
            return CheckResult(name="shadow", outcome="skipped", reason="no request answered by both", samples=samples)
        if len(pairs) < cfg.min_pairs or rows == 0:
            return _few("shadow", samples, thresholds, f"fewer than {cfg.min_pairs} paired requests")
        low, high = wilson(differ, rows, alpha=2 * cfg.alpha)
        stats: dict[str, float | None] = {"disagreement": differ / rows, "low": low, "high": high}
        if low > cfg.max_disagreement:
            outcome, why = "fail", f"canary disagrees with stable on {differ / rows:.1%} of rows"
        elif high < cfg.max_disagreement:
            outcome, why = "pass", f"disagreement at most {high:.1%}"
        else:
            outcome, why = "inconclusive", f"disagreement could be up to {high:.1%}"
        return CheckResult(name="shadow", outcome=outcome, reason=why, statistics=stats, thresholds=thresholds,
                           samples=samples)  # fmt: skip

    def _performance(self, both: tuple[Performance | None, Performance | None] | None) -> CheckResult:
        cfg = self.analysis.performance
        stable, canary = both if both is not None else (None, None)
        if stable is None or canary is None:
            return CheckResult(name="performance", outcome="skipped", reason=f"no {cfg.metric} for both versions")
        samples = {"stable_rows": stable.rows, "canary_rows": canary.rows}
        thresholds = {"alpha": cfg.alpha, "tolerance": cfg.tolerance, "min_rows": cfg.min_rows}
        if min(stable.rows, canary.rows) < cfg.min_rows:
            return _few("performance", samples, thresholds, f"fewer than {cfg.min_rows} rows on a side")
        diff = canary.value - stable.value
        var = sum(max(p.value * (1 - p.value), 1e-12) / p.rows for p in (stable, canary))
        se = math.sqrt(var)
        z = _z(cfg.alpha)
        stats: dict[str, float | None] = {"stable": stable.value, "canary": canary.value, "difference": diff}
        stats["standard_error"] = se
        if diff + z * se < -cfg.tolerance:  # worse by more than the tolerance, at the test's confidence
            outcome, why = "fail", f"canary {cfg.metric} {canary.value:.3f} vs {stable.value:.3f}"
        elif diff - z * se > -cfg.tolerance:
            outcome, why = "pass", f"{cfg.metric} drop at most {max(0.0, -(diff - z * se)):.3f}"
        else:
            outcome, why = "inconclusive", f"{cfg.metric} could be down by {-(diff - z * se):.3f}"
        return CheckResult(name="performance", outcome=outcome, reason=why, statistics=stats, thresholds=thresholds,
                           samples=samples)  # fmt: skip

    def _alarms(self, alarms: Mapping[str, str] | None) -> CheckResult:
        cfg = self.analysis.alarms
        if alarms is None:
            return CheckResult(name="alarms", outcome="skipped", reason="monitor alarms not known")
        worst = {k: v for k, v in alarms.items() if _SEVERITY.get(v, 0) >= _SEVERITY[cfg.fail_on]}
        stats: dict[str, float | None] = {k: float(_SEVERITY.get(v, 0)) for k, v in sorted(alarms.items())}
        if worst:
            why = "active alarm(s) on the canary: " + ", ".join(f"{k} ({v})" for k, v in sorted(worst.items()))
            return CheckResult(name="alarms", outcome="fail", reason=why, statistics=stats)
        return CheckResult(
            name="alarms", outcome="pass", reason=f"no {cfg.fail_on} alarm on the canary", statistics=stats
        )


def _few(name: str, samples: dict[str, int], thresholds: dict[str, Any], why: str) -> CheckResult:
    return CheckResult(name=name, outcome="inconclusive", reason=why, samples=samples, thresholds=thresholds)


def _differ(x: Any, y: Any, tolerance: float) -> bool:
    if isinstance(x, int | float) and isinstance(y, int | float) and not isinstance(x, bool):
        return abs(x - y) > tolerance * max(abs(x), abs(y), 1e-12)
    return bool(x != y)


def _histograms(s: VariantSample, c: VariantSample, bins: int) -> tuple[Any, Any]:
    """Stable and canary prediction counts on the same slots: categories (union), then numeric quantile bins."""
    keys = sorted(set(s.categories) | set(c.categories))
    ref = [s.categories.get(k, 0) for k in keys]
    cur = [c.categories.get(k, 0) for k in keys]
    ns, nc = s.numbers, c.numbers
    if ns.size and nc.size:
        edges = np.unique(np.quantile(ns, np.linspace(0, 1, bins + 1)[1:-1]))
        ref += np.bincount(np.searchsorted(edges, ns), minlength=edges.size + 1).tolist()
        cur += np.bincount(np.searchsorted(edges, nc), minlength=edges.size + 1).tolist()
    return np.asarray(ref, dtype=np.float64), np.asarray(cur, dtype=np.float64)
