"""Reference profiles: the summary of a version's reference data that every window is compared with.

A profile holds one column summary per monitored column (see :mod:`modelpilot.monitoring.columns`): each numeric
feature (quantile bins, moments, missing rate), each categorical feature (top categories and "other"), the
prediction, each class's predicted probability, and the multivariate reconstruction error; plus, when the reference
has labels, the reference performance and the calibration used to estimate performance without labels. It is plain
JSON, stored with the version.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> data = {"age": rng.normal(40, 10, 500), "plan": rng.choice(["a", "b"], 500)}
    >>> prof = build_profile(data, numeric=["age"], categorical=["plan"], predictions=rng.choice([0, 1], 500))
    >>> [c.key for c in prof.columns], prof.task
    (['age', 'plan', '@prediction'], 'classification')
    >>> ReferenceProfile.model_validate_json(prof.model_dump_json()) == prof
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.columns import (
    CategoricalColumn,
    NumericColumn,
    as_text,
    categorical_column,
    numeric_column,
)
from modelpilot.monitoring.multivariate import PcaModel

__all__ = [
    "PROFILE_FORMAT",
    "ProfileColumn",
    "ReferenceProfile",
    "build_profile",
    "complete_probabilities",
    "probability_key",
]

PROFILE_FORMAT = 1
ProfileColumn = Annotated[NumericColumn | CategoricalColumn, Field(discriminator="kind")]
Task = Literal["classification", "regression"]


def probability_key(cls: str) -> str:
    """The column name of one class's predicted probability."""
    return f"proba:{cls}"


def complete_probabilities(
    given: Mapping[str, npt.NDArray[Any]], classes: Sequence[str], rows: int
) -> npt.NDArray[np.float64]:
    """A ``(rows, classes)`` probability matrix in ``classes`` order from the columns ``given`` by class; one missing
    class (a binary model that logs only the positive class's probability) is one minus the others.

    >>> complete_probabilities({"1": np.array([0.8, 0.1])}, ["0", "1"], 2).tolist()
    [[0.19999999999999996, 0.8], [0.9, 0.1]]
    """
    missing = [c for c in classes if c not in given]
    if len(missing) > 1:
        raise InvalidInputError(
            f"probabilities given for {sorted(given)}, classes are {list(classes)}",
            hint="give a probability column for every class (or all but one)",
        )
    unknown = [c for c in given if c not in classes]
    if unknown:
        raise InvalidInputError(f"probability column for unknown class {unknown[0]!r}", hint=f"classes: {classes}")
    cols = {c: np.asarray(v, dtype=np.float64) for c, v in given.items()}
    if missing:
        total = np.zeros(rows) if not cols else np.sum(list(cols.values()), axis=0)
        cols[missing[0]] = np.clip(1.0 - total, 0.0, 1.0)
    return np.column_stack([cols[c] for c in classes]) if classes else np.zeros((rows, 0))


class ReferenceProfile(BaseModel):
    """Everything the monitor needs to know about a version's reference data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = PROFILE_FORMAT
    rows: int
    columns: list[ProfileColumn]
    task: Task | None = None
    classes: list[str] | None = None
    multivariate: PcaModel | None = None
    performance: dict[str, float | None] | None = None
    calibration: dict[str, Any] | None = None

    @property
    def features(self) -> list[str]:
        """The monitored feature names, in order."""
        return [c.name for c in self.columns if c.role == "feature"]

    def column(self, key: str) -> NumericColumn | CategoricalColumn:
        """The column of that key (a feature name, or ``@prediction``, ``@proba:CLASS``, ``@reconstruction_error``)."""
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)


def _task(predictions: npt.NDArray[Any] | None, probabilities: npt.NDArray[Any] | None) -> Task | None:
    if probabilities is not None:
        return "classification"
    if predictions is None:
        return None
    arr = np.asarray(predictions)
    if arr.dtype.kind in "f" and not np.all(np.isnan(arr) | (arr == np.round(arr))):
        return "regression"
    if arr.dtype.kind in "iufb":
        distinct = np.unique(arr[~np.isnan(arr.astype(np.float64))]) if arr.dtype.kind == "f" else np.unique(arr)
        return "classification" if distinct.size <= 50 else "regression"
    return "classification"


def build_profile(
    data: Mapping[str, npt.NDArray[Any]],
    *,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    predictions: npt.NDArray[Any] | None = None,
    probabilities: npt.NDArray[np.float64] | None = None,
    classes: Sequence[Any] | None = None,
    bins: int = 20,
    top_k: int = 20,
    variance: float = 0.9,
    performance: Mapping[str, float | None] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> ReferenceProfile:
    """Profile reference data given as one array per feature.

    Parameters
    ----------
    data
        Reference feature columns.
    numeric, categorical
        Which features are numbers and which are categories (the signature says).
    predictions, probabilities, classes
        The model's outputs on the reference rows (probabilities ``(rows, classes)`` for classifiers).
    bins
        Equal-mass bins per numeric column (20: fine enough for a KS test to see a shift of a quarter of a
        standard deviation at a thousand rows, coarse enough that an unchanged feature's PSI stays near 0.02).
    top_k
        Categories kept by name per categorical column; the rest share "other".
    variance
        Share of variance the multivariate model keeps (used with two or more numeric features).
    performance, calibration
        Reference performance and the estimator's calibration, when the reference has labels.
    """
    if bins < 2:
        raise InvalidInputError(f"bins must be at least 2, got {bins}", hint="use the default of 20")
    if top_k < 1:
        raise InvalidInputError(f"top_k must be at least 1, got {top_k}", hint="use the default of 20")
    if not 0 < variance < 1:
        raise InvalidInputError(f"variance must be in (0, 1), got {variance}", hint="use the default of 0.9")
    missing = [n for n in [*numeric, *categorical] if n not in data]
    if missing:
        raise InvalidInputError(f"reference data has no column {missing[0]!r}", hint="profile the columns it has")
    rows = len(next(iter(data.values()))) if data else 0
    cols: list[NumericColumn | CategoricalColumn] = [numeric_column(n, "feature", data[n], bins=bins) for n in numeric]
    cols += [categorical_column(n, "feature", data[n], top_k=top_k) for n in categorical]
    task = _task(predictions, probabilities)
    if predictions is not None:
        if task == "regression":
            cols.append(numeric_column("prediction", "prediction", predictions, bins=bins))
        else:
            cols.append(categorical_column("prediction", "prediction", predictions, top_k=max(top_k, 50)))
    names: list[str] | None = None
    if probabilities is not None:
        proba = np.asarray(probabilities, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[0] != rows:
            raise InvalidInputError(
                f"probabilities have shape {proba.shape}, expected ({rows}, classes)", hint="one row per reference row"
            )
        names = [str(c) for c in as_text(np.asarray(classes if classes is not None else range(proba.shape[1])))]
        if len(names) != proba.shape[1]:
            raise InvalidInputError(
                f"{len(names)} classes for {proba.shape[1]} probability columns", hint="give one class per column"
            )
        shown = names[1:] if len(names) == 2 else names  # binary: one column says it all
        index = {n: i for i, n in enumerate(names)}
        cols += [numeric_column(probability_key(n), "probability", proba[:, index[n]], bins=bins) for n in shown]
    elif classes is not None:
        names = [str(c) for c in as_text(np.asarray(classes))]
    pca = None
    if len(numeric) >= 2 and rows >= 10:
        pca = PcaModel.fit(data, features=numeric, variance=variance)
        cols.append(numeric_column("reconstruction_error", "multivariate", pca.errors(data), bins=bins))
    return ReferenceProfile(
        rows=rows,
        columns=cols,
        task=task,
        classes=names,
        multivariate=pca,
        performance=dict(performance) if performance is not None else None,
        calibration=dict(calibration) if calibration is not None else None,
    )
