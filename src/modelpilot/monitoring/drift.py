"""Drift of a window against its reference profile: every statistic for every column, computed in one pass.

:class:`Baseline` precomputes the reference histograms of a profile as padded matrices (one for numeric columns,
one for categorical), so comparing a window costs a few vectorised operations whatever the number of columns.

Example:
    >>> import numpy as np
    >>> from modelpilot.monitoring.profile import build_profile
    >>> rng = np.random.default_rng(0)
    >>> prof = build_profile({"x": rng.normal(size=5000)}, numeric=["x"])
    >>> base = Baseline(prof)
    >>> same = base.sketch().update({"x": rng.normal(size=1000)}, rows=1000)
    >>> moved = base.sketch().update({"x": rng.normal(0.5, 1, size=1000)}, rows=1000)
    >>> round(base.compare(same)[0].psi, 2), round(base.compare(moved)[0].psi, 2)
    (0.02, 0.28)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.columns import NumericColumn
from modelpilot.monitoring.performance.calibration import Calibrator
from modelpilot.monitoring.performance.estimated import PerformanceEstimator
from modelpilot.monitoring.profile import ReferenceProfile
from modelpilot.monitoring.sketch import Layout, Sketch
from modelpilot.monitoring.stats import chi2_test, hellinger, js_distance, ks_test, psi, wasserstein

__all__ = ["Baseline", "ColumnDrift"]


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """Every drift statistic of one column in one window (``None`` where a statistic does not apply)."""

    key: str
    role: str
    kind: str
    n: int
    psi: float
    js: float
    hellinger: float
    wasserstein: float | None
    ks: float | None
    chi2: float | None
    p_value: float
    test: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return asdict(self)


def _padded(rows: Sequence[Sequence[int] | npt.NDArray[Any]], width: int) -> npt.NDArray[np.int64]:
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class Baseline:
    """A profile's reference histograms, ready to compare windows with.

    Parameters
    ----------
    profile
        The reference profile.
    """

    def __init__(self, profile: ReferenceProfile) -> None:
        self.profile = profile
        estimator = None
        if profile.calibration is not None and profile.classes is not None:
            try:
                estimator = PerformanceEstimator(Calibrator.from_state(profile.calibration), profile.classes)
            except InvalidInputError:  # a profile from an older build: drift still works; rebuild it to estimate
                estimator = None
        self.layout = Layout(profile.columns, estimator=estimator)
        cols = self.layout.columns
        self.numeric = [i for i, c in enumerate(cols) if c.kind == "numeric"]
        self.categorical = [i for i, c in enumerate(cols) if c.kind == "categorical"]
        self._num_width = max((cols[i].slots for i in self.numeric), default=1)
        self._cat_width = max((cols[i].slots for i in self.categorical), default=1)
        self._ref_num = _padded([cols[i].counts for i in self.numeric], self._num_width)
        self._ref_cat = _padded([cols[i].counts for i in self.categorical], self._cat_width)
        num_cols = [c for c in (cols[i] for i in self.numeric) if isinstance(c, NumericColumn)]
        # positions of the slots: underflow (filled per window), each bin's upper edge, overflow (per window)
        self._positions = np.zeros((len(num_cols), self._num_width))
        for r, c in enumerate(num_cols):
            e = c.edges
            pos = [e[0], *e[1:], e[-1]]
            self._positions[r, : len(pos)] = pos
            self._positions[r, len(pos) :] = e[-1]
        self._last = np.array([c.slots - 1 for c in num_cols], dtype=np.intp)
        self._scale = np.array([c.scale for c in num_cols])

    def sketch(self) -> Sketch:
        """An empty sketch of this profile's layout."""
        return Sketch(self.layout)

    def compare(self, sketch: Sketch) -> list[ColumnDrift]:
        """The drift of every column of ``sketch`` against the reference, in profile order."""
        cols = self.layout.columns
        out: dict[int, ColumnDrift] = {}
        if self.numeric:
            cur = _padded([sketch.counts[self.layout.slice(cols[i].key)] for i in self.numeric], self._num_width)
            ref = self._ref_num
            positions = self._positions.copy()
            j = [self.layout.numeric_pos[i] for i in self.numeric]
            rows = np.arange(len(self.numeric))
            positions[:, 0] = np.minimum(positions[:, 0], np.where(np.isfinite(sketch.low[j]), sketch.low[j], np.inf))
            high = np.where(np.isfinite(sketch.high[j]), sketch.high[j], -np.inf)
            tail = np.maximum(positions[rows, self._last], high)
            for r in range(len(rows)):
                positions[r, self._last[r] :] = tail[r]
            p, js, he = psi(ref, cur), js_distance(ref, cur), hellinger(ref, cur)
            ks, ks_p = ks_test(ref, cur)
            ws = wasserstein(ref, cur, positions, self._scale)
            for r, i in enumerate(self.numeric):
                out[i] = ColumnDrift(
                    key=cols[i].key,
                    role=cols[i].role,
                    kind="numeric",
                    n=int(sketch.present[i]),
                    psi=float(p[r]),
                    js=float(js[r]),
                    hellinger=float(he[r]),
                    wasserstein=float(ws[r]),
                    ks=float(ks[r]),
                    chi2=None,
                    p_value=float(ks_p[r]),
                    test="ks",
                )
        if self.categorical:
            cur = _padded([sketch.counts[self.layout.slice(cols[i].key)] for i in self.categorical], self._cat_width)
            ref = self._ref_cat
            p, js, he = psi(ref, cur), js_distance(ref, cur), hellinger(ref, cur)
            chi, chi_p = chi2_test(ref, cur)
            for r, i in enumerate(self.categorical):
                out[i] = ColumnDrift(
                    key=cols[i].key,
                    role=cols[i].role,
                    kind="categorical",
                    n=int(sketch.present[i]),
                    psi=float(p[r]),
                    js=float(js[r]),
                    hellinger=float(he[r]),
                    wasserstein=None,
                    ks=None,
                    chi2=float(chi[r]),
                    p_value=float(chi_p[r]),
                    test="chi2",
                )
        return [out[i] for i in range(len(cols))]
