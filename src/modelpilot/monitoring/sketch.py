"""Mergeable window sketches: bin and category counts, moments and data-quality counts for every monitored column.

A :class:`Sketch` summarises a span of rows against one reference profile's columns. Two sketches of the same
layout merge by addition (counts and sums add, minima and maxima combine), so windows, and partial windows from
different Kafka partitions, combine into exactly what one sketch over all their rows would hold: the counts are
equal integers; the float sums agree to rounding.

Besides the per-column counts, a sketch counts the rows with at least one data-quality violation in any input
column (:attr:`Sketch.flagged_rows`; the model's outputs are not judged there): what a "share of rows without
data-quality violations" objective needs. Each row is counted by exactly one sketch, so this count adds on merge
too.

Example:
    >>> import numpy as np
    >>> from modelpilot.monitoring.columns import numeric_column
    >>> layout = Layout([numeric_column("x", "feature", np.arange(100.0), bins=4)])
    >>> a = Sketch(layout).update({"x": np.array([1.0, 50.0, np.nan])}, rows=3)
    >>> b = Sketch(layout).update({"x": np.array([200.0])}, rows=1)
    >>> m = a.merge(b)
    >>> m.rows, m.column_counts("x").tolist(), m.quality("x")["missing"], m.quality("x")["out_of_range"]
    (4, [0, 1, 0, 1, 0, 1], 1, 1)
    >>> m.flagged_rows  # rows with at least one data-quality violation: the NaN and the 200.0
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.columns import (
    CategoricalColumn,
    Column,
    NumericColumn,
    as_float,
    as_text,
    category_lookup,
    search_edges,
)
from modelpilot.monitoring.performance.estimated import EstimateAccumulator, PerformanceEstimator

__all__ = ["QUALITY_FIELDS", "Layout", "Sketch"]

QUALITY_FIELDS = ("missing", "nonfinite", "wrong_type", "out_of_range", "unseen", "absent")
"""Per column: missing values; ±inf; values of the wrong type; numbers outside the reference range; categories the
reference never saw; rows whose event did not carry the column at all."""


class Layout:
    """Where each column's slots sit in a sketch's flat count array (shared by every sketch of one profile)."""

    def __init__(self, columns: Sequence[Column], *, estimator: PerformanceEstimator | None = None) -> None:
        keys = [c.key for c in columns]
        self.estimator = estimator
        self.proba_keys = [f"@proba:{c}" for c in estimator.classes] if estimator is not None else []
        if len(set(keys)) != len(keys):
            raise InvalidInputError("columns of a layout must have distinct keys", hint=f"got {keys}")
        self.columns: tuple[Column, ...] = tuple(columns)
        self.keys = keys
        self.index = {k: i for i, k in enumerate(keys)}
        sizes = [c.slots for c in columns]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.size = int(self.offsets[-1])
        self.numeric = [i for i, c in enumerate(columns) if isinstance(c, NumericColumn)]
        self.numeric_pos = {i: j for j, i in enumerate(self.numeric)}
        self.edges = {i: search_edges(c.edges) for i, c in enumerate(columns) if c.kind == "numeric"}

    def slice(self, key: str) -> slice:
        """The slots of one column in the flat count array."""
        i = self.index[key]
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))


class Sketch:
    """Counts and moments of a span of rows, per column of a :class:`Layout`.

    Parameters
    ----------
    layout
        The columns (from a reference profile).
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._reset()

    def _reset(self) -> None:
        n_cols, n_num = len(self.layout.columns), len(self.layout.numeric)
        self.rows = 0
        self.events = 0
        self.errors = 0
        self.flagged_rows = 0  # rows with at least one quality violation in any input (feature) column
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self.start: float | None = None
        self.end: float | None = None
        self.counts = np.zeros(self.layout.size, dtype=np.int64)
        self.present = np.zeros(n_cols, dtype=np.int64)  # values counted in a slot
        self.quality_counts = np.zeros((n_cols, len(QUALITY_FIELDS)), dtype=np.int64)
        self.total = np.zeros(n_num, dtype=np.float64)
        self.total_sq = np.zeros(n_num, dtype=np.float64)
        self.low = np.full(n_num, np.inf)
        self.high = np.full(n_num, -np.inf)
        est = self.layout.estimator
        self.estimate: EstimateAccumulator | None = est.accumulator() if est is not None else None

    # ----------------------------------------------------------------------------------------------- update
    def update(
        self,
        columns: Mapping[str, npt.NDArray[Any]],
        *,
        rows: int,
        time: float | None = None,
        errors: int = 0,
        latency_s: float | None = None,
        events: int = 1,
    ) -> Sketch:
        """Count ``rows`` rows given as one array per column key; a key that is absent counts as ``absent``.

        A row with any violation (in any feature column, an absent one included) adds one to :attr:`flagged_rows`.
        Per-row masks are built only for columns that had a violation in this batch, and not at all when a feature
        column is absent (then every row is flagged).
        """
        self.count_stats(rows=rows, events=events, errors=errors, latency_s=latency_s, time=time)
        return self.count_columns(columns, rows=rows)

    def count_stats(
        self, *, rows: int, events: int = 1, errors: int = 0, latency_s: float | None = None, time: float | None = None
    ) -> Sketch:
        """Count rows, events, errors, latency and time without any column (the batch path counts the columns of
        many events at once with :meth:`count_columns`)."""
        self.rows += rows
        self.events += events
        self.errors += errors
        if latency_s is not None:
            self.latency_sum += latency_s * events
            self.latency_max = max(self.latency_max, latency_s)
        if time is not None:
            self.start = time if self.start is None else min(self.start, time)
            self.end = time if self.end is None else max(self.end, time)
        return self

    def count_columns(
        self, columns: Mapping[str, npt.NDArray[Any]], *, rows: int, bounds: Sequence[int] | None = None
    ) -> Sketch:
        """Count ``rows`` rows of columns into the slots, quality counts, moments and estimate, and nothing else.

        The batch path (:meth:`~modelpilot.monitoring.windows.Windower.add_batch`) keeps the row, event, error,
        latency and time counts itself and hands the columns of many events here at once. ``bounds`` are the
        events' first rows within ``columns`` (then the end): predictions outside the profile's classes keep only
        their own event out of the performance estimate, as they would one event at a time.
        """
        q = self.quality_counts
        absent = QUALITY_FIELDS.index("absent")
        arrays = [columns.get(key) for key in self.layout.keys]
        # Rows are flagged for their inputs only (the model's outputs are not data quality); an absent input column
        # flags every row.
        whole = rows > 0 and any(
            v is None and c.role == "feature" for c, v in zip(self.layout.columns, arrays, strict=True)
        )
        flagged: npt.NDArray[np.bool_] | None = None
        for i, (col, values) in enumerate(zip(self.layout.columns, arrays, strict=True)):
            if values is None:
                q[i, absent] += rows
                continue
            if len(values) != rows:
                raise InvalidInputError(
                    f"column {col.key!r} has {len(values)} values for {rows} rows",
                    hint="send one value per row for every column",
                )
            flag = not whole and col.role == "feature"
            if isinstance(col, NumericColumn):
                bad = self._numeric(i, col, values, flag=flag)
            else:
                bad = self._categorical(i, col, values, flag=flag)
            if bad is not None:
                flagged = bad if flagged is None else np.logical_or(flagged, bad, out=flagged)
        if whole:
            self.flagged_rows += rows
        elif flagged is not None:
            self.flagged_rows += int(np.count_nonzero(flagged))
        estimated = self.estimate is None or not rows or self._estimate(columns)
        if not estimated and bounds is not None and len(bounds) > 2:
            for lo, hi in pairwise(bounds):  # one event at a time, as if unbatched
                if hi > lo:
                    self._estimate({k: v[lo:hi] for k, v in columns.items()})
        return self

    def _estimate(self, columns: Mapping[str, npt.NDArray[Any]]) -> bool:
        """Add the rows to the performance estimate; False when their predictions are outside the classes."""
        assert self.estimate is not None
        keys = self.layout.proba_keys
        if "@prediction" not in columns or any(k not in columns for k in keys):
            return True
        proba = np.column_stack([np.asarray(columns[k], dtype=np.float64) for k in keys])
        ok = np.isfinite(proba).all(axis=1)
        if not ok.all():
            proba = proba[ok]
        if proba.shape[0] == 0:
            return True
        pred = as_text(np.asarray(columns["@prediction"]))[ok]
        try:
            self.estimate.update(pred, proba)
        except InvalidInputError:  # predictions outside the profile's classes: counted as quality, not estimated
            return False
        return True

    def _numeric(
        self, i: int, col: NumericColumn, values: npt.NDArray[Any], *, flag: bool
    ) -> npt.NDArray[np.bool_] | None:
        """Count one numeric column; with ``flag``, return a fresh mask of its rows with a violation (``None``
        when it has none): missing (unless the reference had missing values), non-finite or wrongly typed values
        (all NaN or inf in ``x``), and values in the underflow or overflow slot (out of range)."""
        x, wrong = as_float(values)
        q = self.quality_counts[i]
        finite_mask = np.isfinite(x)
        bad: npt.NDArray[np.bool_] | None = None
        if finite_mask.all():
            finite = x
        else:
            finite = x[finite_mask]
            nan = int(np.isnan(x).sum())
            q[0] += nan - wrong  # missing (values that were not numbers became NaN too)
            q[1] += x.size - finite.size - nan  # ±inf
            q[2] += wrong
            if flag:  # a missing value is no violation in a column the reference had missing values in too
                bad = ~finite_mask if col.missing == 0 else np.isinf(x) | _wrongly_typed(values, wrong)
        if finite.size == 0:
            return bad
        slot = np.searchsorted(self.layout.edges[i], finite)
        binned = np.bincount(slot, minlength=col.slots)
        start = int(self.layout.offsets[i])
        self.counts[start : start + col.slots] += binned
        outside = int(binned[0] + binned[-1])
        q[3] += outside
        self.present[i] += finite.size
        if flag and outside:
            out_of_range = (slot == 0) | (slot == col.slots - 1)
            if bad is None:
                bad = out_of_range
            else:
                bad[finite_mask] = out_of_range  # those positions of ``bad`` were all False (finite values)
        j = self.layout.numeric_pos[i]
        with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308: the moments saturate at inf
            self.total[j] += float(finite.sum())
            self.total_sq[j] += float(np.dot(finite, finite))
        self.low[j] = min(self.low[j], float(finite.min()))
        self.high[j] = max(self.high[j], float(finite.max()))
        return bad

    def _categorical(
        self, i: int, col: CategoricalColumn, values: npt.NDArray[Any], *, flag: bool
    ) -> npt.NDArray[np.bool_] | None:
        """Count one categorical column; with ``flag``, return a fresh mask of its rows with a violation (``None``
        when it has none): missing values (unless the reference had missing values) and categories the reference
        never saw."""
        text = as_text(values)
        mask = text != None  # noqa: E711 (element-wise comparison)
        present = text[mask]
        q = self.quality_counts[i]
        missing = text.size - present.size
        q[0] += missing
        bad = ~mask if flag and missing and col.missing == 0 else None  # missing is normal if the reference had it
        if present.size == 0:
            return bad
        slots, unseen = category_lookup(col, present)
        start = int(self.layout.offsets[i])
        self.counts[start : start + col.slots] += np.bincount(slots, minlength=col.slots)
        self.present[i] += present.size
        if unseen is not None:
            q[4] += int(np.count_nonzero(unseen))
            if flag and bad is None and not missing:  # no value missing: the present values are all the rows
                bad = unseen
            elif flag:
                if bad is None:
                    bad = np.zeros(text.size, dtype=np.bool_)
                bad[mask] = unseen  # those positions of ``bad`` were all False (present values)
        return bad

    # ----------------------------------------------------------------------------------------------- merge
    def merge(self, other: Sketch) -> Sketch:
        """A new sketch holding both (the same layout is required)."""
        if other.layout is not self.layout and other.layout.keys != self.layout.keys:
            raise InvalidInputError("cannot merge sketches of different layouts", hint="merge windows of one profile")
        out = Sketch(self.layout)
        out.rows = self.rows + other.rows
        out.events = self.events + other.events
        out.errors = self.errors + other.errors
        out.flagged_rows = self.flagged_rows + other.flagged_rows
        out.latency_sum = self.latency_sum + other.latency_sum
        out.latency_max = max(self.latency_max, other.latency_max)
        starts = [t for t in (self.start, other.start) if t is not None]
        ends = [t for t in (self.end, other.end) if t is not None]
        out.start = min(starts) if starts else None
        out.end = max(ends) if ends else None
        out.counts = self.counts + other.counts
        out.present = self.present + other.present
        out.quality_counts = self.quality_counts + other.quality_counts
        out.total = self.total + other.total
        out.total_sq = self.total_sq + other.total_sq
        out.low = np.minimum(self.low, other.low)
        out.high = np.maximum(self.high, other.high)
        if self.estimate is not None and other.estimate is not None:
            out.estimate = self.estimate.merge(other.estimate)
        return out

    # ----------------------------------------------------------------------------------------------- read
    def column_counts(self, key: str) -> npt.NDArray[np.int64]:
        """The slot counts of one column."""
        return self.counts[self.layout.slice(key)]

    def quality(self, key: str) -> dict[str, int]:
        """The data-quality counts of one column."""
        row = self.quality_counts[self.layout.index[key]]
        return {f: int(v) for f, v in zip(QUALITY_FIELDS, row, strict=True)}

    def moments(self, key: str) -> dict[str, float | None]:
        """Mean, standard deviation, minimum and maximum of a numeric column's finite values."""
        i = self.layout.index[key]
        j = self.layout.numeric_pos[i]
        n = int(self.present[i])
        if n == 0:
            return {"mean": None, "std": None, "min": None, "max": None}
        mean = self.total[j] / n
        with np.errstate(over="ignore", invalid="ignore"):
            var = max(self.total_sq[j] / n - mean * mean, 0.0)
        return {"mean": mean, "std": var**0.5, "min": float(self.low[j]), "max": float(self.high[j])}

    @property
    def mean_latency_s(self) -> float | None:
        """Mean latency per event, when latencies were given."""
        return self.latency_sum / self.events if self.events else None

    # ----------------------------------------------------------------------------------------------- state
    def to_state(self) -> dict[str, Any]:
        """Plain JSON types (infinite minima/maxima of empty columns become ``None``)."""

        def finite_or_none(a: npt.NDArray[np.float64]) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in a]

        return {
            "keys": list(self.layout.keys),
            "rows": self.rows,
            "events": self.events,
            "errors": self.errors,
            "flagged_rows": self.flagged_rows,
            "latency_sum": self.latency_sum,
            "latency_max": self.latency_max,
            "start": self.start,
            "end": self.end,
            "counts": self.counts.tolist(),
            "present": self.present.tolist(),
            "quality": self.quality_counts.tolist(),
            "total": self.total.tolist(),
            "total_sq": self.total_sq.tolist(),
            "low": finite_or_none(self.low),
            "high": finite_or_none(self.high),
            "estimate": self.estimate.to_state() if self.estimate is not None else None,
        }

    @classmethod
    def from_state(cls, layout: Layout, state: Mapping[str, Any]) -> Sketch:
        """Rebuild a sketch from :meth:`to_state` (the layout must have the same column keys)."""
        if list(state["keys"]) != layout.keys:
            raise InvalidInputError(
                "the saved window's columns differ from the profile's",
                hint="the reference profile changed since the snapshot; the window cannot be restored",
            )
        out = cls(layout)
        out.rows, out.events, out.errors = int(state["rows"]), int(state["events"]), int(state["errors"])
        out.flagged_rows = int(state.get("flagged_rows", 0))  # states saved before it was counted: 0
        out.latency_sum, out.latency_max = float(state["latency_sum"]), float(state["latency_max"])
        out.start, out.end = state["start"], state["end"]
        out.counts = np.asarray(state["counts"], dtype=np.int64)
        out.present = np.asarray(state["present"], dtype=np.int64)
        out.quality_counts = np.asarray(state["quality"], dtype=np.int64).reshape(len(layout.columns), -1)
        out.total = np.asarray(state["total"], dtype=np.float64)
        out.total_sq = np.asarray(state["total_sq"], dtype=np.float64)
        out.low = np.array([np.inf if v is None else v for v in state["low"]], dtype=np.float64)
        out.high = np.array([-np.inf if v is None else v for v in state["high"]], dtype=np.float64)
        if layout.estimator is not None and state.get("estimate") is not None:
            out.estimate = EstimateAccumulator.from_state(state["estimate"], layout.estimator)
        return out


def _wrongly_typed(values: npt.NDArray[Any], wrong: int) -> npt.NDArray[np.bool_]:
    """Which values are neither numbers nor missing (only looked for when :func:`as_float` found some)."""
    if not wrong:
        return np.zeros(len(values), dtype=np.bool_)
    return np.fromiter(
        (v is not None and (isinstance(v, bool) or not isinstance(v, int | float | np.number)) for v in values),
        dtype=np.bool_,
        count=len(values),
    )
