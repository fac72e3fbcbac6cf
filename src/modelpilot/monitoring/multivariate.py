"""Multivariate drift: how badly a principal-component model of the reference reconstructs each row.

Fitted on the reference's numeric features (each centred and scaled by its reference mean and standard deviation;
missing values take the mean), the model keeps the fewest components that explain ``variance`` of the variance.
A row's *reconstruction error* is the mean squared difference between the row and its projection back from those
components. When features keep their marginal distributions but their joint structure changes (a correlation
flips, say), no single feature drifts but rows stop lying near the reference's principal subspace and the error
grows. The monitor treats the error as one more numeric column (``@reconstruction_error``) with bins from its
reference quantiles, so the same statistics and alarm rules apply to it.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=2000); ref = {"x": a, "y": a + 0.1 * rng.normal(size=2000)}
    >>> pca = PcaModel.fit(ref, variance=0.9)
    >>> len(pca.components)
    1
    >>> b = rng.normal(size=2000); flipped = {"x": b, "y": -b + 0.1 * rng.normal(size=2000)}
    >>> bool(pca.errors(flipped).mean() > 10 * pca.errors(ref).mean())
    True

References:
    Jolliffe, I. T. (2002). *Principal Component Analysis*, 2nd ed., Springer (ch. 10, outlier detection with the
    residual subspace).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from modelpilot.monitoring.columns import as_float

__all__ = ["PcaModel"]


class PcaModel(BaseModel):
    """Centring, scaling and the kept principal components of the reference's numeric features."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: list[str]
    mean: list[float]
    scale: list[float]
    components: list[list[float]]

    @classmethod
    def fit(
        cls, data: Mapping[str, npt.NDArray[Any]], *, features: Sequence[str] | None = None, variance: float = 0.9
    ) -> PcaModel:
        """Fit on reference columns (all of ``data``, or ``features``); needs at least two features."""
        names = list(features if features is not None else data)
        x = np.column_stack([as_float(data[n])[0] for n in names])
        x = np.where(np.isfinite(x), x, np.nan)
        mean = np.nanmean(x, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.nanstd(x, axis=0)
        scale = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        z = np.where(np.isnan(x), 0.0, (x - mean) / scale)
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        explained = s**2 / max(float((s**2).sum()), 1e-300)
        k = int(np.searchsorted(np.cumsum(explained), variance) + 1)
        k = min(k, len(names) - 1) if len(names) > 1 else 1
        return cls(features=names, mean=mean.tolist(), scale=scale.tolist(), components=vt[:k].tolist())

    @cached_property
    def _arrays(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return np.asarray(self.mean), np.asarray(self.scale), np.asarray(self.components)

    def errors(self, data: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]:
        """The reconstruction error of each row; rows with a feature absent from ``data`` are NaN throughout."""
        rows = len(next(iter(data.values()))) if data else 0
        if any(n not in data for n in self.features):
            return np.full(rows, np.nan)
        x = np.column_stack([as_float(data[n])[0] for n in self.features])
        mean, scale, v = self._arrays
        z = (x - mean) / scale
        z = np.where(np.isfinite(z), z, 0.0)
        residual = z - (z @ v.T) @ v
        out: npt.NDArray[np.float64] = (residual**2).mean(axis=1)
        return out
