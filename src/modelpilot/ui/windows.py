"""Monitor windows shaped for the dashboard: drift by column and window, data-quality findings, and estimated
against realized performance. Pure: window results in, plain JSON-ready dicts out.

Example:
    >>> drift_matrix([])["rows"], performance([])["metric"]
    ([], None)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from modelpilot.monitoring.results import WindowResult
from modelpilot.ui.shape import worst

__all__ = ["drift_matrix", "performance", "quality"]

_RANK = {None: 0, "warning": 1, "critical": 2}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _column_label(w: WindowResult) -> str:
    return f"v{w.version}{'' if w.variant == 'stable' else w.variant[0]} #{w.window}"


def drift_matrix(windows: Sequence[WindowResult], last: int = 24) -> dict[str, Any]:
    """Drift by column (rows) and traffic window (columns, oldest first): PSI, severity and a description."""
    traffic = [w for w in windows if w.kind == "traffic"][-last:]
    features: list[str] = []
    others: list[str] = []
    for w in traffic:
        for c in w.drift:
            group = features if c.role == "feature" else others
            if c.key not in features and c.key not in others:
                group.append(c.key)
    rows = features + others
    values: list[list[float | None]] = [[None] * len(traffic) for _ in rows]
    marks: list[list[str | None]] = [[None] * len(traffic) for _ in rows]
    tips: list[list[str]] = [[""] * len(traffic) for _ in rows]
    index = {key: i for i, key in enumerate(rows)}
    for j, w in enumerate(traffic):
        where = f"v{w.version} {w.variant} window {w.window}"
        for c in w.drift:
            i = index[c.key]
            values[i][j] = _finite(c.psi) if c.judged else None
            marks[i][j] = c.severity
            judged = (
                f"PSI {c.psi:.3f}, JS {c.js:.3f}, p={c.p_value:.2g} ({c.test}), n={c.n}"
                if c.judged
                else f"not judged (n={c.n})"
            )
            tips[i][j] = f"{c.key} | {where} | {judged}" + (f" | {c.severity}" if c.severity else "")
        for i, key in enumerate(rows):
            if not tips[i][j]:
                tips[i][j] = f"{key} | {where} | not measured"
    return {
        "rows": rows,
        "columns": [_column_label(w) for w in traffic],
        "windows": [
            {"version": w.version, "variant": w.variant, "window": w.window, "end": w.end, "rows": w.rows}
            for w in traffic
        ],
        "psi": values,
        "severity": marks,
        "tips": tips,
        "drifted": sorted({c.key for w in traffic[-3:] for c in w.drift if c.severity is not None}),
    }


def _ordinals(windows: Sequence[WindowResult]) -> tuple[dict[int, int], list[float]]:
    """Windows in the order they closed: position by ``id()`` of the window, and each position's end time."""
    closed = sorted((w for w in windows if w.end is not None), key=lambda w: w.end or 0.0)
    return {id(w): i for i, w in enumerate(closed)}, [w.end or 0.0 for w in closed]


def quality(windows: Sequence[WindowResult], last: int = 24) -> dict[str, Any]:
    """Data-quality findings of the last traffic windows by column, and the share of flagged rows per window
    (``x``: the window's position in the order windows closed; ``times``: each position's end time)."""
    traffic = [w for w in windows if w.kind == "traffic"][-last:]
    findings: dict[str, dict[str, Any]] = {}
    for w in traffic:
        for q in w.quality:
            if q.severity is None:
                continue
            f = findings.setdefault(q.key, {"column": q.key, "windows": 0, "severity": None})
            f["windows"] += 1
            f["severity"] = worst([f["severity"], q.severity])
            f["worst"] = q.worst
            f["ratios"] = {k: v for k, v in q.ratios.items() if v > 0}
            f["last"] = _column_label(w)
            f["time"] = w.end
    unknown: dict[str, int] = {}
    for w in traffic:
        for key, n in w.unknown_columns.items():
            unknown[key] = unknown.get(key, 0) + n
    order, times = _ordinals(traffic)
    return {
        "findings": sorted(findings.values(), key=lambda f: (-_RANK.get(f["severity"], 0), f["column"])),
        "flagged": [
            {
                "series": f"v{w.version} {w.variant}",
                "x": order[id(w)],
                "share": w.flagged_rows / w.rows if w.rows else 0,
            }
            for w in traffic
            if id(w) in order
        ],
        "times": times,
        "unknown_columns": unknown,
    }


def performance(windows: Sequence[WindowResult], metric: str | None = None) -> dict[str, Any]:
    """Estimated (traffic windows, no labels needed) and realized (label windows) performance, window by window
    (``x``: the window's position in the order windows closed; ``times``: each position's end time)."""
    metrics: list[str] = []
    for w in windows:
        for name in (*(w.estimated or {}), *(w.realized or {})):
            if name not in metrics:
                metrics.append(name)
    chosen = metric if metric in metrics else "accuracy" if "accuracy" in metrics else next(iter(metrics), None)
    order, times = _ordinals(windows)
    series: dict[tuple[int, str, str], list[list[float]]] = {}
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for w in windows:
        if id(w) not in order or chosen is None:
            continue
        source = w.estimated if w.kind == "traffic" else w.realized
        kind = "estimated" if w.kind == "traffic" else "realized"
        value = _finite((source or {}).get(chosen))
        if value is not None:
            series.setdefault((w.version, w.variant, kind), []).append([order[id(w)], value])
        row = latest.setdefault((w.version, w.variant), {"version": w.version, "variant": w.variant})
        row[kind] = value if value is not None else row.get(kind)
        if w.kind == "labels" and w.reconciliation and chosen in w.reconciliation:
            row["within"] = bool(w.reconciliation[chosen].get("within"))
            row["labeled"] = row.get("labeled", 0) + w.labeled
    return {
        "metric": chosen,
        "metrics": metrics,
        "series": [
            {"name": f"v{v} {variant} {kind}", "kind": kind, "points": pts}
            for (v, variant, kind), pts in sorted(series.items())
        ],
        "times": times,
        "latest": [latest[k] for k in sorted(latest)],
    }
