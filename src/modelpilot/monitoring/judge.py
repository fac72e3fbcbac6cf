"""Judging a closed window: drift and quality findings by the rules, alarm state by persistence, with evidence.

Example:
    >>> import numpy as np
    >>> from modelpilot.monitoring.drift import Baseline
    >>> from modelpilot.monitoring.profile import build_profile
    >>> rng = np.random.default_rng(0)
    >>> judge = Judge(Baseline(build_profile({"x": rng.normal(size=5000)}, numeric=["x"])))
    >>> for i in range(3):
    ...     r = judge.window(judge.baseline.sketch().update({"x": rng.normal(1, 1, 1000)}, rows=1000),
    ...                      model="m", version=1, variant="stable", index=i)
    >>> r.drifted, [(a.kind, a.transition, a.severity) for a in r.alarms]
    (['x'], [])
    >>> [c.severity for c in r.drift], judge.drift.active
    (['critical'], {'x': 'critical'})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modelpilot.monitoring.drift import Baseline, ColumnDrift
from modelpilot.monitoring.results import Alarm, AlarmKind, ColumnResult, QualityResult, WindowResult
from modelpilot.monitoring.rules import (
    AlarmTracker,
    DriftRule,
    PerformanceRule,
    Persistence,
    QualityRule,
    Severity,
    benjamini_hochberg,
    worse,
)
from modelpilot.monitoring.sketch import QUALITY_FIELDS, Sketch

__all__ = ["Judge"]

_RANK = {None: 0, "warning": 1, "critical": 2}


class Judge:
    """The rules and the alarm memory of one stream (one model version and variant).

    Parameters
    ----------
    baseline
        The reference to compare windows with.
    drift_rule, quality_rule, persistence
        The rules (see :mod:`modelpilot.monitoring.rules` for the defaults and their reasons).
    """

    def __init__(
        self,
        baseline: Baseline,
        *,
        drift_rule: DriftRule | None = None,
        quality_rule: QualityRule | None = None,
        persistence: Persistence | None = None,
        performance_rule: PerformanceRule | None = None,
    ) -> None:
        self.baseline = baseline
        self.performance_rule = performance_rule or PerformanceRule()
        self.drift_rule = drift_rule or DriftRule()
        self.quality_rule = quality_rule or QualityRule()
        self.persistence = persistence or Persistence()
        self.drift = AlarmTracker(self.persistence.k, self.persistence.m)
        self.quality = AlarmTracker(self.persistence.k, self.persistence.m)
        self.performance = AlarmTracker(self.persistence.k, self.persistence.m)
        # a detector controls its own false alarms: one window with a detection raises, two without resolve
        self.change = AlarmTracker(1, 2)
        self._windows: list[tuple[int, float | None, float | None]] = []
        self._episodes: dict[str, dict[str, Severity]] = {}
        cols = baseline.layout.columns
        self._ref_missing = np.array([c.missing / max(c.n + c.missing, 1) for c in cols])
        self._warn = np.array([getattr(self.quality_rule, f)[0] for f in QUALITY_FIELDS])
        self._crit = np.array([getattr(self.quality_rule, f)[1] for f in QUALITY_FIELDS])

    # ----------------------------------------------------------------------------------------------- drift
    def _drift(self, found: list[ColumnDrift]) -> list[ColumnResult]:
        rule = self.drift_rule
        judged = [d.n >= rule.min_rows for d in found]
        tested = [i for i, ok in enumerate(judged) if ok]
        passed = benjamini_hochberg([found[i].p_value for i in tested], alpha=rule.alpha)
        significant = dict.fromkeys(range(len(found)), False)
        for i, ok in zip(tested, passed, strict=True):
            significant[i] = ok
        out = []
        for i, d in enumerate(found):
            effect = getattr(d, rule.effect)
            sev = rule.severity(effect if effect is not None else 0.0, significant[i]) if judged[i] else None
            # built without validation: every field comes from this module's own computation
            out.append(
                ColumnResult.model_construct(
                    key=d.key, role=d.role, kind=d.kind, n=d.n, psi=d.psi, js=d.js, hellinger=d.hellinger,
                    wasserstein=d.wasserstein, ks=d.ks, chi2=d.chi2, p_value=d.p_value, test=d.test,
                    judged=judged[i], significant=significant[i], severity=sev,
                )
            )  # fmt: skip
        return out

    # ----------------------------------------------------------------------------------------------- quality
    def _quality(self, sketch: Sketch) -> list[QualityResult]:
        rule = self.quality_rule
        rows = max(sketch.rows, 1)
        ratios = sketch.quality_counts / rows  # (columns, fields)
        ratios[:, 0] = np.maximum(ratios[:, 0] - self._ref_missing, 0.0)
        judged = sketch.rows >= rule.min_rows
        level = (ratios >= self._warn).astype(np.int8) + (ratios >= self._crit).astype(np.int8) if judged else None
        out = []
        for c, col in enumerate(self.baseline.layout.columns):
            sev: Severity | None = None
            worst: str | None = None
            if level is not None and level[c].any():
                f = int(np.argmax(level[c]))
                sev, worst = ("critical" if level[c, f] == 2 else "warning"), QUALITY_FIELDS[f]
            out.append(
                QualityResult.model_construct(
                    key=col.key,
                    counts=dict(zip(QUALITY_FIELDS, sketch.quality_counts[c].tolist(), strict=True)),
                    ratios=dict(zip(QUALITY_FIELDS, ratios[c].tolist(), strict=True)),
                    severity=sev,
                    worst=worst,
                )
            )
        return out

    # ----------------------------------------------------------------------------------------------- window
    def window(
        self,
        sketch: Sketch,
        *,
        model: str,
        version: int,
        variant: str,
        index: int,
        unknown_columns: Mapping[str, int] | None = None,
        realized: dict[str, float | None] | None = None,
        labeled: int = 0,
        changes: Mapping[str, int] | None = None,
    ) -> WindowResult:
        """Judge one closed window and return its result, with any alarm transitions.

        ``realized`` (with ``labeled`` rows behind it) is given when the window's labels are known at once (offline
        analysis); live, labels arrive later and are judged by :meth:`realized`.
        """
        estimated = sketch.estimate.metrics() if sketch.estimate is not None and sketch.estimate.n else None
        drift = self._drift(self.baseline.compare(sketch))
        quality = self._quality(sketch)
        self._windows = [*self._windows, (index, sketch.start, sketch.end)][-self.persistence.m :]
        alarms: list[Alarm] = []
        common: dict[str, Any] = {"model": model, "version": version, "variant": variant, "window": index}
        time = sketch.end
        for c in drift:
            self.drift.observe(c.key, c.severity if c.judged else None)
        alarm = self._alarm("drift", self.drift, time, common, {c.key: c for c in drift})
        if alarm:
            alarms.append(alarm)
        for qr in quality:
            self.quality.observe(qr.key, qr.severity)
        alarm = self._alarm("quality", self.quality, time, common, {q.key: q for q in quality})
        if alarm:
            alarms.append(alarm)
        n_est = sketch.estimate.n if sketch.estimate is not None else 0
        perf = {"estimated": (estimated, n_est), "realized": (realized, labeled)}
        alarm = self._performance(perf, time, common)
        if alarm:
            alarms.append(alarm)
        if changes is not None:
            for signal, n in changes.items():
                self.change.observe(signal, None if not n else "critical" if signal == "error_rate" else "warning")
            now = {s: {"detections": n} for s, n in changes.items()}
            alarm = self._alarm("change", self.change, time, common, now)
            if alarm:
                alarms.append(alarm)
        return WindowResult(
            **common,
            start=sketch.start,
            end=sketch.end,
            rows=sketch.rows,
            events=sketch.events,
            errors=sketch.errors,
            mean_latency_s=sketch.mean_latency_s,
            drift=drift,
            quality=quality,
            flagged_rows=sketch.flagged_rows,
            unknown_columns=dict(unknown_columns or {}),
            estimated=estimated,
            realized=realized,
            labeled=labeled,
            changes={k: v for k, v in (changes or {}).items() if v},
            alarms=alarms,
        )

    def _performance(
        self,
        values: Mapping[str, tuple[Mapping[str, float | None] | None, int]],
        time: float | None,
        common: dict[str, Any],
    ) -> Alarm | None:
        rule = self.performance_rule
        profile = self.baseline.profile
        metric = rule.metric(profile.task)
        reference = (profile.performance or {}).get(metric)
        now: dict[str, Any] = {}
        for source, (metrics, n) in values.items():
            if metrics is None:
                continue
            value = metrics.get(metric)
            finding = rule.severity(profile.task, reference, value, n)
            subject = f"{source}:{metric}"
            self.performance.observe(subject, finding)
            now[subject] = {"value": value, "reference": reference, "rows": n, "finding": finding}
        return self._alarm("performance", self.performance, time, common, now)

    def realized(
        self,
        metrics: Mapping[str, float | None],
        n: int,
        *,
        model: str,
        version: int,
        variant: str,
        index: int,
        time: float | None = None,
    ) -> Alarm | None:
        """Judge one window of joined labels (live): a performance alarm transition, if any."""
        common: dict[str, Any] = {"model": model, "version": version, "variant": variant, "window": index}
        return self._performance({"realized": (metrics, n)}, time, common)

    def _alarm(
        self,
        kind: AlarmKind,
        tracker: AlarmTracker,
        time: float | None,
        common: dict[str, Any],
        now: Mapping[str, Any],
    ) -> Alarm | None:
        """The alarm event of this window, if any. An alarm is an *episode*: raised when a first subject alarms,
        then reported again only with news (a new subject, or a higher severity: ``changed``, ``escalated``), and
        resolved when no subject alarms. A subject moving between warning and critical does not flap it."""
        after = dict(tracker.active)
        episode = self._episodes.get(kind)
        if not after:
            if episode is None:
                return None
            transition, subjects = "resolved", dict(episode)
            del self._episodes[kind]
        elif episode is None:
            transition, subjects = "raised", after
            self._episodes[kind] = dict(after)
        else:
            merged = dict(episode)
            for key, sev in after.items():
                merged[key] = worse(merged.get(key), sev) or sev
            if merged == episode:
                return None
            top = max(_RANK[v] for v in episode.values())
            transition = "escalated" if max(_RANK[v] for v in merged.values()) > top else "changed"
            subjects = self._episodes[kind] = merged
        severity: Severity | None = None
        for sev in subjects.values():
            severity = worse(severity, sev)
        if transition == "resolved":
            severity = None
        rules: dict[str, Any] = {
            "drift": self.drift_rule,
            "quality": self.quality_rule,
            "performance": self.performance_rule,
            "change": Persistence(k=1, m=2),
        }
        involved = sorted(set(subjects) | set(after))

        def plain(value: Any) -> Any:
            return value.model_dump(mode="json") if hasattr(value, "model_dump") else value

        evidence = {
            "rule": rules[kind].model_dump(mode="json"),
            "persistence": self.persistence.model_dump(),
            "windows": [{"window": i, "start": s, "end": e} for i, s, e in self._windows],
            "columns": {
                key: {"this_window": plain(now.get(key)), "findings": tracker.history(key)} for key in involved
            },
        }
        return Alarm(
            **common,
            kind=kind,
            transition=transition,
            severity=severity,
            subjects=subjects if transition != "resolved" else {},
            time=time,
            evidence=evidence,
        )

    def to_state(self) -> dict[str, Any]:
        """Plain JSON types: the alarm memories and the last windows' spans."""
        return {
            "drift": self.drift.to_state(),
            "quality": self.quality.to_state(),
            "performance": self.performance.to_state(),
            "change": self.change.to_state(),
            "episodes": self._episodes,
            "windows": self._windows,
        }

    def restore(self, state: Mapping[str, Any]) -> Judge:
        """Load :meth:`to_state` into this judge (same baseline and rules)."""
        self.drift = AlarmTracker.from_state(state["drift"])
        self.quality = AlarmTracker.from_state(state["quality"])
        if "performance" in state:
            self.performance = AlarmTracker.from_state(state["performance"])
        if "change" in state:
            self.change = AlarmTracker.from_state(state["change"])
        self._episodes = {k: dict(v) for k, v in state.get("episodes", {}).items()}
        self._windows = [(int(i), s, e) for i, s, e in state["windows"]]
        return self
