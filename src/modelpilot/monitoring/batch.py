"""The monitor's batch path: a stream's events cut into runs whose columns are concatenated once.

:func:`slices` cuts a stream's events where the column names change; :func:`runs` checks each slice with
whole-column operations (one type and one value per row in every column of every event) and concatenates it, or
takes it apart event by event when something is off, leaving malformed events out. :func:`event_columns` is what
one event gives the monitor. :class:`~modelpilot.monitoring.engine.Monitor` folds the runs into its windows.

Example:
    >>> import numpy as np
    >>> from modelpilot.events import InferenceEvent
    >>> from modelpilot.monitoring.profile import build_profile
    >>> prof = build_profile({"x": np.arange(100.0)}, numeric=["x"])
    >>> evs = [InferenceEvent(request_id=str(i), time=0.0, model="m", version=1, variant="stable",
    ...                       features={"x": np.arange(float(i + 1))}, prediction=None, latency_s=0.0, status=200)
    ...        for i in range(3)]
    >>> [(members, cols["x"].tolist()) for members, cols in runs(prof, evs, *slices(evs)[0])]
    [([(0, 1), (1, 2), (2, 3)], [0.0, 0.0, 1.0, 0.0, 1.0, 2.0])]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.events.model import InferenceEvent
from modelpilot.monitoring.columns import as_text
from modelpilot.monitoring.profile import ReferenceProfile, probability_key

__all__ = ["Members", "event_columns", "event_rows", "runs", "slices"]


def event_columns(profile: ReferenceProfile, ev: InferenceEvent) -> dict[str, npt.NDArray[Any]]:
    """The columns an event gives the monitor: its features, prediction, probabilities, reconstruction error."""
    cols: dict[str, npt.NDArray[Any]] = dict(ev.features)
    if ev.prediction is not None:
        cols["@prediction"] = np.asarray(ev.prediction)
    if ev.probabilities is not None and profile.classes is not None:
        proba = np.asarray(ev.probabilities)
        names = [str(c) for c in as_text(np.asarray(ev.classes, dtype=object))] if ev.classes else list(profile.classes)
        if proba.ndim == 2 and proba.shape[1] == len(names):
            for j, name in enumerate(names):
                cols[f"@{probability_key(name)}"] = proba[:, j]
    if profile.multivariate is not None:
        cols["@reconstruction_error"] = profile.multivariate.errors(ev.features)
    return cols


def event_rows(ev: InferenceEvent) -> int:
    """An event's rows, or -2 when a column has no length (a scalar where an array belongs: malformed)."""
    try:
        return ev.rows
    except TypeError:
        return -2


def slices(evs: list[InferenceEvent]) -> list[tuple[int, int]]:
    """Cut a stream's events into slices whose successful events carry the same column names (checked cheaply;
    :func:`runs` verifies the rest). Failed calls bring no columns and stay in the slice they fall in."""
    out: list[tuple[int, int]] = []
    lo, key = 0, None
    for i, ev in enumerate(evs):
        if ev.status != 200:
            continue
        k = (tuple(ev.features), ev.prediction is None, ev.probabilities is None, ev.classes)
        if k != key:
            if i > lo:
                out.append((lo, i))
            lo, key = i, k
    out.append((lo, len(evs)))
    return out


Members = list[tuple[int, int]]
"""Events of a run by position, with their rows (-1 for a failed call)."""


def runs(
    profile: ReferenceProfile, evs: list[InferenceEvent], lo: int, hi: int
) -> list[tuple[Members, dict[str, npt.NDArray[Any]]]]:
    """The runs of ``evs[lo:hi]``: their events and concatenated columns. One run when every column has one type
    and one value per row in every event (the common case, checked with whole-column operations); otherwise each
    event is checked on its own, malformed ones are left out and the others grouped by :func:`_signature`."""
    ok = [ev for ev in evs[lo:hi] if ev.status == 200]
    members = [(i, event_rows(evs[i]) if evs[i].status == 200 else -1) for i in range(lo, hi)]
    if not ok:
        return [(members, {})]
    if all(n >= 0 for i, n in members if evs[i].status == 200):
        columns = _fast_columns(profile, ok, [n for _, n in members if n >= 0])
        if columns is not None:
            return [(members, columns)]
    out: list[tuple[Members, dict[str, npt.NDArray[Any]]]] = []
    run: list[InferenceEvent] = []
    run_members: Members = []
    run_sig: tuple[Any, ...] | None = None
    for i, n_rows in members:
        ev = evs[i]
        if ev.status == 200:
            sig = _signature(profile, ev, n_rows) if n_rows >= 0 else None
            if sig is None:
                continue  # malformed
            if sig != run_sig and run:
                out.append((run_members, _run_columns(profile, run, run_sig)))
                run, run_members = [], []
            run_sig = sig
            run.append(ev)
        run_members.append((i, n_rows))
    if run_members:
        out.append((run_members, _run_columns(profile, run, run_sig) if run else {}))
    return out


def _fast_columns(
    profile: ReferenceProfile, run: list[InferenceEvent], rows: list[int]
) -> dict[str, npt.NDArray[Any]] | None:
    """Concatenate the columns of events with the same column names, or ``None`` when any column mixes value types
    or has a length other than its event's rows (then the events are taken apart one by one)."""
    first = run[0]
    if len(run) == 1:
        sig = _signature(profile, first, rows[0])
        return None if sig is None else _run_columns(profile, run, sig)
    want = np.asarray(rows, dtype=np.int64)
    total = int(want.sum())

    def joined(arrays: list[Any]) -> npt.NDArray[Any] | None:
        if len({a.dtype for a in arrays}) != 1:
            return None
        if any(a.ndim != 1 for a in arrays):
            return None
        if not np.array_equal(np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays)), want):
            return None
        try:
            out = np.concatenate(arrays)
        except ValueError:  # arrays of different dimensions
            return None
        return out if out.ndim == 1 and len(out) == total else None

    feats: dict[str, npt.NDArray[Any]] = {}
    for name in first.features:
        column = joined([ev.features[name] for ev in run])
        if column is None:
            return None
        feats[name] = column
    cols: dict[str, npt.NDArray[Any]] = dict(feats)
    if first.prediction is not None:
        pred = joined([np.asarray(ev.prediction) for ev in run])
        if pred is None:
            return None
        cols["@prediction"] = pred
    if first.probabilities is not None and profile.classes is not None:
        names = (
            [str(c) for c in as_text(np.asarray(first.classes, dtype=object))]
            if first.classes
            else list(profile.classes)
        )
        probas = [np.asarray(ev.probabilities) for ev in run]
        if not all(p.ndim == 2 for p in probas):
            return None
        widths = {p.shape[1] for p in probas}
        if len(widths) != 1:
            return None
        if widths == {len(names)}:
            if not np.array_equal(np.fromiter(map(len, probas), dtype=np.int64, count=len(probas)), want):
                return None
            proba = np.concatenate(probas)
            for j, name in enumerate(names):
                cols[f"@{probability_key(name)}"] = proba[:, j]
    if profile.multivariate is not None:
        if not feats and total:
            return None
        cols["@reconstruction_error"] = profile.multivariate.errors(feats)
    return cols


def _signature(profile: ReferenceProfile, ev: InferenceEvent, rows: int) -> tuple[Any, ...] | None:
    """What events must share to have their columns concatenated (names and kinds of values, the probability
    columns); ``None`` when a column's length is not the event's row count (a malformed event)."""
    feats = tuple((name, v.dtype.kind) for name, v in ev.features.items())
    for v in ev.features.values():
        if v.ndim != 1 or len(v) != rows:
            return None
    pred = ev.prediction
    if pred is not None:
        pred = np.asarray(pred)
        if pred.ndim != 1 or len(pred) != rows:
            return None
    classes: tuple[Any, ...] | None = None
    if ev.probabilities is not None and profile.classes is not None:
        proba = np.asarray(ev.probabilities)
        names = ev.classes if ev.classes else tuple(profile.classes)
        if proba.ndim == 2 and proba.shape[1] == len(names):
            if proba.shape[0] != rows:
                return None
            classes = (ev.classes,)
    if profile.multivariate is not None and not ev.features and rows:
        return None  # no features: no reconstruction error for its rows
    return feats, None if pred is None else pred.dtype.kind, classes


def _run_columns(
    profile: ReferenceProfile, run: list[InferenceEvent], sig: tuple[Any, ...] | None
) -> dict[str, npt.NDArray[Any]]:
    """The columns of consecutive events with one signature, concatenated in event order (see
    :func:`event_columns` for one event)."""
    if len(run) == 1:
        return event_columns(profile, run[0])
    assert sig is not None
    feats = {name: np.concatenate([ev.features[name] for ev in run]) for name, _ in sig[0]}
    cols: dict[str, npt.NDArray[Any]] = dict(feats)
    if sig[1] is not None:
        cols["@prediction"] = np.concatenate([np.asarray(ev.prediction) for ev in run])
    if sig[2] is not None:
        given = sig[2][0]
        assert profile.classes is not None
        names = [str(c) for c in as_text(np.asarray(given, dtype=object))] if given else list(profile.classes)
        proba = np.concatenate([np.asarray(ev.probabilities) for ev in run])
        for j, name in enumerate(names):
            cols[f"@{probability_key(name)}"] = proba[:, j]
    if profile.multivariate is not None:
        cols["@reconstruction_error"] = profile.multivariate.errors(feats)
    return cols
