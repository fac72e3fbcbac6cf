"""`modelpilot analyze` (the monitor over a file) and `modelpilot profile` (a version's reference profile)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import typer

from modelpilot.cli.context import registry
from modelpilot.cli.output import OutputFormat, console, emit, table
from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.monitoring.offline import Analysis, analyze_table
from modelpilot.monitoring.profiles import ProfileStore
from modelpilot.monitoring.results import WindowResult
from modelpilot.registry.reference import read_table

__all__ = ["alarms", "analyze", "drift", "performance", "profile"]

OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


def _labels(data: pa.Table, labels_file: Path, id_column: str | None, label_column: str) -> npt.NDArray[Any]:
    if id_column is None:
        raise InvalidInputError("--labels needs --id-column", hint="name the column both files share, e.g. request_id")
    lab = read_table(labels_file, what="labels")
    for where, t in (("data file", data), (f"labels file {labels_file}", lab)):
        if id_column not in t.column_names:
            raise InvalidInputError(f"the {where} has no column {id_column!r}", hint="check --id-column")
    if label_column not in lab.column_names:
        raise InvalidInputError(
            f"labels file {labels_file} has no column {label_column!r}",
            hint="name it with --label-column (default: the version's target)",
        )
    keys = [str(k) for k in lab.column(id_column).to_pylist()]
    values = lab.column(label_column).to_pylist()
    by_id = dict(zip(keys, values, strict=True))
    out = np.empty(data.num_rows, dtype=object)
    for i, k in enumerate(data.column(id_column).to_pylist()):
        out[i] = by_id.get(str(k))
    return out


def _times(data: pa.Table, column: str) -> npt.NDArray[np.float64]:
    if column not in data.column_names:
        raise InvalidInputError(f"the data file has no column {column!r}", hint="check --time-column")
    col = data.column(column)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        col = pc.cast(pc.cast(col, pa.timestamp("ms", tz="UTC")), pa.int64())
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64) / 1000.0
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    raise InvalidInputError(
        f"time column {column!r} holds {col.type}", hint="give ISO 8601 times or seconds since the epoch"
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _render(name: str, version: int, analysis: Analysis) -> Any:
    rows = []
    for w in analysis.windows:
        drifted = ", ".join(
            f"{c.key} ({c.psi:.2f}{'!' if c.severity == 'critical' else ''})" for c in w.drift if c.severity
        )
        quality = ", ".join(f"{q.key}: {q.worst} {q.ratios[q.worst]:.0%}" for q in w.quality if q.severity and q.worst)
        est = (w.estimated or {}).get("accuracy")
        real = (w.realized or {}).get("accuracy", (w.realized or {}).get("rmse"))
        alarms = "; ".join(f"{a.kind} {a.transition} ({a.severity or 'clear'})" for a in w.alarms)
        rows.append([w.window, w.rows, drifted, quality, _fmt(est), _fmt(real), alarms])
    cols = ["window", "rows", "drift (PSI; ! critical)", "quality", "est. accuracy", "realized", "alarms"]
    return table(cols, rows, title=f"{name} v{version}: {len(analysis.windows)} windows")


def analyze(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet file of rows to analyse.")],
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version or alias (default: latest).")] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="CSV or Parquet file of true labels.")] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="Column joining labels to rows.")] = None,
    label_column: Annotated[str | None, typer.Option("--label-column", help="Label column (default: target).")] = None,
    prediction_column: Annotated[
        str | None, typer.Option("--prediction-column", help="Use this column instead of running the model.")
    ] = None,
    time_column: Annotated[str | None, typer.Option("--time-column", help="Row times, for window spans.")] = None,
    window: Annotated[int, typer.Option("--window", help="Rows per window.")] = 1000,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Run the monitor over a file: drift, quality, estimated and realized performance and alarms per window."""
    reg = registry(ctx)
    v = reg.resolve(name, version) if version is not None else reg.versions(name)[-1]
    store = ProfileStore(reg)
    prof = store.get(name, v.version)
    if prof is None:
        raise InvalidInputError(
            f"{name} v{v.version} has no reference profile", hint="register the version with --reference FILE"
        )
    table_ = read_table(data, what="data")
    label_values = None
    if labels is not None:
        label_values = _labels(table_, labels, id_column, label_column or v.target or "label")
    elif v.target is not None and v.target in table_.column_names:
        label_values = table_.column(v.target).to_numpy(zero_copy_only=False)
    proba_columns = None
    if prediction_column is None and v.outputs is not None:  # served elsewhere: its outputs are in the file
        prediction_column, proba_columns = v.outputs.prediction, v.outputs.probabilities
    for column in [prediction_column, *(proba_columns or {}).values()]:
        if column is not None and column not in table_.column_names:
            raise InvalidInputError(
                f"the data file has no column {column!r}",
                hint="check --prediction-column"
                if v.outputs is None
                else "give the outputs the version was registered with",
            )
    loaded = reg.load(name, v.version) if prediction_column is None else None
    analysis = analyze_table(
        prof,
        table_,
        model=name,
        version=v.version,
        window=window,
        loaded=loaded,
        prediction_column=prediction_column,
        proba_columns=proba_columns,
        labels=label_values,
        times=_times(table_, time_column) if time_column else None,
        source=f"data file {data}",
    )
    payload = {
        "model": name,
        "version": v.version,
        "windows": [w.model_dump(mode="json") for w in analysis.windows],
        "alarms": [a.model_dump(mode="json") for a in analysis.alarms],
        "counters": analysis.counters,
    }
    emit(payload, output, lambda: _render(name, v.version, analysis))
    if output is OutputFormat.table:
        _summary(analysis.windows)


def _summary(windows: list[WindowResult]) -> None:
    alarms = [a for w in windows for a in w.alarms]
    if not alarms:
        console.print("no alarms")
        return
    for a in alarms:
        subjects = ", ".join(f"{k} ({s})" for k, s in sorted(a.subjects.items())) or "-"
        console.print(f"window {a.window}: {a.kind} alarm {a.transition}: {subjects}")


def profile(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version or alias (default: latest).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build it again from the reference data.")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """A version's reference profile: bins, categories, prediction distribution, calibration."""
    reg = registry(ctx)
    v = reg.resolve(name, version) if version is not None else reg.versions(name)[-1]
    store = ProfileStore(reg)
    prof = store.build(name, v.version) if rebuild else store.get(name, v.version)
    if prof is None:
        raise InvalidInputError(
            f"{name} v{v.version} has no reference data to profile", hint="register a version with --reference FILE"
        )

    def render() -> Any:
        rows = []
        for c in prof.columns:
            if c.kind == "numeric":
                summary = f"{len(c.edges) - 1} bins over [{c.edges[0]:.4g}, {c.edges[-1]:.4g}], mean {c.mean:.4g}"
            else:
                summary = f"{len(c.categories)} categories: {', '.join(c.categories[:5])}"
            rows.append([c.key, c.role, c.kind, c.n, c.missing, summary])
        perf = ", ".join(f"{k} {val:.3f}" for k, val in (prof.performance or {}).items() if val is not None)
        title = f"{name} v{v.version}: profile of {prof.rows} reference rows" + (f" ({perf})" if perf else "")
        return table(["column", "role", "kind", "values", "missing", "summary"], rows, title=title)

    emit(prof.model_dump(mode="json"), output, render)


def _version_of(ctx: typer.Context, name: str, version: str | None) -> int | None:
    return registry(ctx).resolve(name, version).version if version is not None else None


def drift(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version or alias (default: all).")] = None,
    last: Annotated[int, typer.Option("--last", "-n", help="How many recent windows.")] = 10,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Drift and data quality of the last windows the monitor judged (from the store)."""
    registry(ctx).versions(name)  # an unknown model is an error, not an empty table
    history = MonitorHistory(registry(ctx).store)
    windows = [
        w for w in history.windows(name, version=_version_of(ctx, name, version), last=last * 2) if w.kind == "traffic"
    ][-last:]

    def render() -> Any:
        rows = []
        for w in windows:
            worst = sorted((c for c in w.drift if c.judged), key=lambda c: -c.psi)[:3]
            top = ", ".join(f"{c.key} {c.psi:.2f}{'*' if c.severity else ''}" for c in worst)
            quality = ", ".join(f"{q.key}: {q.worst}" for q in w.quality if q.severity and q.worst)
            rows.append([f"v{w.version}", w.variant, w.window, _time(w.end), w.rows, top, quality])
        cols = ["version", "variant", "window", "ended", "rows", "highest PSI (* = drift)", "quality"]
        return table(cols, rows, title=f"{name}: last {len(windows)} windows")

    emit([w.model_dump(mode="json") for w in windows], output, render)


def performance(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version or alias (default: all).")] = None,
    last: Annotated[int, typer.Option("--last", "-n", help="How many recent windows.")] = 10,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Estimated performance per traffic window and realized performance per window of joined labels."""
    registry(ctx).versions(name)
    history = MonitorHistory(registry(ctx).store)
    windows = history.windows(name, version=_version_of(ctx, name, version), last=last)

    def render() -> Any:
        rows = []
        for w in windows:
            metrics = w.realized if w.kind == "labels" else w.estimated
            shown = ", ".join(f"{k} {v:.3f}" for k, v in (metrics or {}).items() if v is not None and k != "log_loss")
            within = ""
            if w.reconciliation:
                ok = [r["within"] for r in w.reconciliation.values() if r["within"] is not None]
                within = "yes" if ok and all(ok) else "NO" if ok else ""
            kind = "realized" if w.kind == "labels" else "estimated"
            rows.append([f"v{w.version}", w.variant, kind, w.window, _time(w.end), w.rows, shown, within])
        cols = ["version", "variant", "kind", "window", "ended", "rows", "metrics", "estimate within bound"]
        return table(cols, rows, title=f"{name}: performance")

    emit([w.model_dump(mode="json") for w in windows], output, render)


def alarms(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Model name (default: every model).")] = None,
    last: Annotated[int, typer.Option("--last", "-n", help="How many recent alarm transitions.")] = 20,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Recent alarm transitions (drift, quality, performance) with the columns involved."""
    items = MonitorHistory(registry(ctx).store).alarms(name, last=last)

    def render() -> Any:
        rows = [
            [a.model, f"v{a.version}", a.variant, a.kind, a.transition, a.severity or "clear", a.window, _time(a.time),
             ", ".join(f"{k} ({s})" for k, s in sorted(a.subjects.items()))]
            for a in items
        ]  # fmt: skip
        cols = ["model", "version", "variant", "kind", "transition", "severity", "window", "time", "subjects"]
        return table(cols, rows, title="alarms")

    emit([a.model_dump(mode="json") for a in items], output, render)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
