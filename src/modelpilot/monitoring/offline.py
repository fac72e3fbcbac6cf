"""Offline and backfill analysis: run the monitor over a table of rows (a CSV or Parquet file) on the same engine.

The table is cut into windows of ``window`` rows; each window goes through the same sketches, statistics, rules and
alarm persistence as live traffic, and also gets estimated performance (from the model's probabilities and the
profile's calibration) and, when labels are given, realized performance.

Example:
    >>> import numpy as np, pyarrow as pa
    >>> from modelpilot.monitoring.profile import build_profile
    >>> rng = np.random.default_rng(0)
    >>> prof = build_profile({"x": rng.normal(size=4000)}, numeric=["x"])
    >>> x = np.concatenate([rng.normal(size=3000), rng.normal(1, 1, size=3000)])
    >>> report = analyze_table(prof, pa.table({"x": x}), model="m", version=1, window=1000)
    >>> [r.window for r in report.windows if r.alarms], report.windows[3].drifted
    ([4], ['x'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from modelpilot.errors import InvalidInputError
from modelpilot.events.model import InferenceEvent
from modelpilot.loaders.base import LoadedModel
from modelpilot.monitoring.columns import as_text
from modelpilot.monitoring.drift import Baseline
from modelpilot.monitoring.engine import event_columns
from modelpilot.monitoring.judge import Judge
from modelpilot.monitoring.performance.realized import ClassificationAccumulator, RegressionAccumulator
from modelpilot.monitoring.profile import ReferenceProfile, complete_probabilities
from modelpilot.monitoring.results import WindowResult
from modelpilot.monitoring.rules import DriftRule, PerformanceRule, Persistence, QualityRule

__all__ = ["Analysis", "analyze_table", "check_columns"]


@dataclass
class Analysis:
    """The windows of one analysis and the monitor's counters."""

    windows: list[WindowResult]
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def alarms(self) -> list[Any]:
        """Every alarm transition, in order."""
        return [a for w in self.windows for a in w.alarms]


def check_columns(table: pa.Table, profile: ReferenceProfile, *, source: str) -> None:
    """Refuse a table whose feature columns are missing or hold text where the profile expects numbers; the error
    names the row (1 = the first data row) and the column."""
    for col in profile.columns:
        if col.role != "feature":
            continue
        if col.name not in table.column_names:
            raise InvalidInputError(
                f"{source} has no column {col.name!r}",
                hint=f"the version's features are {profile.features}; give a file with these columns",
            )
        data = table.column(col.name)
        if col.kind == "numeric" and not (pa.types.is_integer(data.type) or pa.types.is_floating(data.type)):
            if pa.types.is_boolean(data.type) or pa.types.is_null(data.type):
                continue
            for i, value in enumerate(data.to_pylist()):
                if value is None or value == "":
                    continue
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise InvalidInputError(
                        f"{source} row {i + 1}, column {col.name!r}: {value!r} is not a number",
                        hint="fix the value (or leave it empty for a missing value)",
                        details={"row": i + 1, "column": col.name},
                    ) from None


def _numbers(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if values.dtype.kind == "O":
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if v is not None and v != "":
                out[i] = float(v)
        return out
    return values


def analyze_table(
    profile: ReferenceProfile,
    table: pa.Table,
    *,
    model: str,
    version: int,
    window: int = 1000,
    loaded: LoadedModel | None = None,
    prediction_column: str | None = None,
    proba_columns: Mapping[str, str] | None = None,
    labels: npt.NDArray[Any] | None = None,
    times: npt.NDArray[np.float64] | None = None,
    drift_rule: DriftRule | None = None,
    quality_rule: QualityRule | None = None,
    persistence: Persistence | None = None,
    performance_rule: PerformanceRule | None = None,
    source: str = "data",
) -> Analysis:
    """Run the monitor over ``table`` in windows of ``window`` rows.

    Predictions come from ``prediction_column`` (and class probabilities from ``proba_columns``, class -> column)
    when given, else from running ``loaded`` (the registered model),
    else the windows have features only. ``labels`` (one per row, ``None``/NaN where unknown) give realized
    performance; ``times`` (seconds since the epoch) give each window its time span.
    """
    if window < 1:
        raise InvalidInputError(f"window must be at least 1 row, got {window}", hint="use --window 1000")
    check_columns(table, profile, source=source)
    if labels is not None and len(labels) != table.num_rows:
        raise InvalidInputError(f"{len(labels)} labels for {table.num_rows} rows", hint="give one label per row")
    baseline = Baseline(profile)
    judge = Judge(
        baseline,
        drift_rule=drift_rule,
        quality_rule=quality_rule,
        persistence=persistence,
        performance_rule=performance_rule,
    )
    feature_names = [c.name for c in profile.columns if c.role == "feature"]
    numeric = {c.name for c in profile.columns if c.role == "feature" and c.kind == "numeric"}
    windows: list[WindowResult] = []
    for w, start in enumerate(range(0, table.num_rows, window)):
        chunk = table.slice(start, window)
        feats = {
            n: (_numbers(a) if n in numeric else a)
            for n, a in ((n, chunk.column(n).to_numpy(zero_copy_only=False)) for n in feature_names)
        }
        pred, proba, classes = _outputs(chunk, feats, loaded, prediction_column, proba_columns, profile)
        t = times[start : start + chunk.num_rows] if times is not None else None
        ev = InferenceEvent(
            request_id=f"rows:{start}",
            time=float(np.nanmin(t)) if t is not None and t.size else float(w),
            model=model,
            version=version,
            variant="stable",
            features=feats,
            prediction=pred,
            probabilities=proba,
            classes=classes,
            latency_s=0.0,
            status=200,
        )
        sketch = baseline.sketch().update(event_columns(profile, ev), rows=chunk.num_rows, time=ev.time)
        if t is not None and t.size:
            sketch.start, sketch.end = float(np.nanmin(t)), float(np.nanmax(t))
        realized, labeled = None, 0
        if labels is not None and pred is not None:
            realized, labeled = _realized(profile, labels[start : start + chunk.num_rows], pred, proba)
        windows.append(
            judge.window(
                sketch, model=model, version=version, variant="stable", index=w, realized=realized, labeled=labeled
            )
        )
    counters = {"rows": table.num_rows, "windows": len(windows)}
    return Analysis(windows, counters)


def _outputs(
    chunk: pa.Table,
    feats: Mapping[str, npt.NDArray[Any]],
    loaded: LoadedModel | None,
    prediction_column: str | None,
    proba_columns: Mapping[str, str] | None,
    profile: ReferenceProfile,
) -> tuple[npt.NDArray[Any] | None, npt.NDArray[np.float64] | None, tuple[Any, ...] | None]:
    if prediction_column is not None:
        pred = chunk.column(prediction_column).to_numpy(zero_copy_only=False)
        if not proba_columns:
            return pred, None, None
        classes = tuple(profile.classes or sorted(proba_columns))
        given = {c: chunk.column(col).to_numpy(zero_copy_only=False) for c, col in proba_columns.items()}
        return pred, complete_probabilities(given, classes, chunk.num_rows), classes
    if loaded is None:
        return None, None, None
    pred = np.asarray(loaded.predict(feats))
    if not loaded.is_classifier:
        return pred, None, None
    proba = np.asarray(loaded.predict_proba(feats), dtype=np.float64)
    classes = tuple(loaded.classes) if loaded.classes is not None else tuple(profile.classes or ())
    return pred, proba, classes


def _realized(
    profile: ReferenceProfile,
    labels: npt.NDArray[Any],
    pred: npt.NDArray[Any],
    proba: npt.NDArray[np.float64] | None,
) -> tuple[dict[str, float | None], int]:
    if profile.task == "regression":
        y = np.asarray(labels, dtype=np.float64)
        known = ~np.isnan(y)
        acc = RegressionAccumulator().update(y[known], np.asarray(pred, dtype=np.float64)[known])
        return acc.metrics(), int(known.sum())
    y_text = as_text(labels)
    known = y_text != None  # noqa: E711 (element-wise comparison)
    classes = profile.classes or sorted({str(v) for v in y_text[known]} | {str(v) for v in as_text(pred)})
    cls_acc = ClassificationAccumulator(classes)
    if known.any():
        cls_acc.update(y_text[known], as_text(pred)[known], None if proba is None else proba[known])
    return cls_acc.metrics(), int(known.sum())
