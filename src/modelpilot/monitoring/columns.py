"""The reference summary of one monitored column, and how values fall into its bins or categories.

A *column* is anything the monitor compares with the reference: a feature, the prediction, one class's predicted
probability, or the multivariate reconstruction error. Numeric columns are summarised by bins whose edges are the
reference's quantiles; categorical columns by the counts of their most frequent categories plus an "other" bucket.
Windows count into exactly these bins, so a window and the reference are two histograms on the same support.

Numeric slots, for ``k`` edges ``e[0] <= ... <= e[k-1]`` (``e[0]`` the reference minimum, ``e[k-1]`` its maximum):
slot 0 counts values below ``e[0]`` (underflow), slot ``i`` (1 ≤ i ≤ k-1) counts ``(e[i-1], e[i]]`` with the first bin
closed on the left, and slot ``k`` counts values above ``e[k-1]`` (overflow). Categorical slots are the top
categories in order, then "other" (any other value).

Example:
    >>> import numpy as np
    >>> col = numeric_column("age", "feature", np.arange(100.0), bins=4)
    >>> col.edges, col.counts
    ([0.0, 24.75, 49.5, 74.25, 99.0], [0, 25, 25, 25, 25, 0])
    >>> numeric_slots(col.edges, np.array([-1.0, 0.0, 24.75, 30.0, 99.0, 120.0])).tolist()
    [0, 1, 1, 2, 4, 5]
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CategoricalColumn",
    "Column",
    "NumericColumn",
    "Role",
    "as_float",
    "as_text",
    "categorical_column",
    "category_lookup",
    "category_slots",
    "numeric_column",
    "numeric_slots",
    "quantile_edges",
    "search_edges",
]

Role = Literal["feature", "prediction", "probability", "multivariate"]


class NumericColumn(BaseModel):
    """A numeric column of the reference: bin edges from its quantiles, counts per slot, moments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: Role
    kind: Literal["numeric"] = "numeric"
    edges: list[float] = Field(min_length=2)
    counts: list[int]
    n: int = Field(description="finite values counted")
    missing: int = 0
    mean: float = 0.0
    std: float = 0.0

    @property
    def key(self) -> str:
        """The name a window looks the column up by: the feature name, or ``@name`` for derived columns."""
        return self.name if self.role == "feature" else f"@{self.name}"

    @property
    def slots(self) -> int:
        """Underflow, the bins, overflow."""
        return len(self.edges) + 1

    @property
    def scale(self) -> float:
        """What distances are divided by: the reference standard deviation (the range, or 1, when it is 0)."""
        if self.std > 0:
            return self.std
        span = self.edges[-1] - self.edges[0]
        return span if span > 0 else 1.0


class CategoricalColumn(BaseModel):
    """A categorical column of the reference: its top categories' counts and an "other" count."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: Role
    kind: Literal["categorical"] = "categorical"
    categories: list[str]
    counts: list[int]
    known: list[str] | None = Field(
        default=None, description="every category seen in the reference (None when there were too many to keep)"
    )
    n: int
    missing: int = 0

    @property
    def key(self) -> str:
        """The name a window looks the column up by: the feature name, or ``@name`` for derived columns."""
        return self.name if self.role == "feature" else f"@{self.name}"

    @property
    def slots(self) -> int:
        """The top categories, then "other"."""
        return len(self.categories) + 1


Column = NumericColumn | CategoricalColumn


def as_float(values: npt.NDArray[Any] | list[Any]) -> tuple[npt.NDArray[np.float64], int]:
    """Values as float64 (missing → NaN) and how many were not numbers at all (those become NaN too)."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.dtype.kind in "iufb":
        return arr.astype(np.float64, copy=False), 0
    out = np.full(len(arr), np.nan)
    wrong = 0
    for i, v in enumerate(arr):
        if v is None:
            continue
        if isinstance(v, int | float | np.number) and not isinstance(v, bool):
            out[i] = float(v)
        else:
            wrong += 1
    return out, wrong


_TEXT_TYPES = {str, type(None)}


def as_text(values: npt.NDArray[Any] | list[Any]) -> npt.NDArray[Any]:
    """Values as an object array of strings, ``None`` where missing (NaN counts as missing)."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.dtype.kind in "US":
        return arr.astype(str).astype(object)
    if arr.dtype.kind == "b":
        return np.where(arr, "true", "false").astype(object)
    if arr.dtype.kind in "iu":
        return arr.astype(str).astype(object)
    if arr.dtype.kind == "O" and arr.ndim == 1 and set(map(type, arr)) <= _TEXT_TYPES:
        return arr.copy()  # strings and None already (the common case for a categorical column): no loop
    out = np.empty(len(arr), dtype=object)
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = None
        elif isinstance(v, bool | np.bool_):
            out[i] = "true" if v else "false"
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def quantile_edges(finite: npt.NDArray[np.float64], bins: int) -> list[float]:
    """Bin edges for ``bins`` equal-mass bins of the reference values (fewer when values repeat).

    A column with at most ``bins`` distinct values (counts, flags, small integers) gets one bin per value, with edges
    half-way between neighbours, so each value keeps a bin of its own.
    """
    if finite.size == 0:
        return [0.0, 0.0]
    distinct = np.unique(finite)
    if distinct.size == 1:
        return [float(distinct[0])] * 2
    if distinct.size <= bins:
        mids = (distinct[:-1] + distinct[1:]) / 2
        return [float(distinct[0]), *(float(m) for m in mids), float(distinct[-1])]
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
    return [float(e) for e in edges]


def search_edges(edges: list[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The edges to search: the first one nudged down to the next float, so the minimum itself lands in bin 1."""
    e = np.array(edges, dtype=np.float64)
    e[0] = np.nextafter(e[0], -np.inf)
    return e


def numeric_slots(edges: list[float] | npt.NDArray[np.float64], x: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The slot of each finite value (see the module docstring); NaN must be removed first."""
    return np.searchsorted(search_edges(edges), x, side="left")


def numeric_column(name: str, role: Role, values: npt.NDArray[Any], *, bins: int = 20) -> NumericColumn:
    """Profile numeric reference values (NaN is missing; ±inf counts as missing too, it has no bin)."""
    x, _ = as_float(values)
    finite = x[np.isfinite(x)]
    edges = quantile_edges(finite, bins)
    counts = np.bincount(numeric_slots(edges, finite), minlength=len(edges) + 1)
    return NumericColumn(
        name=name,
        role=role,
        edges=edges,
        counts=[int(c) for c in counts],
        n=int(finite.size),
        missing=int(x.size - finite.size),
        mean=float(finite.mean()) if finite.size else 0.0,
        std=float(finite.std()) if finite.size else 0.0,
    )


def categorical_column(
    name: str, role: Role, values: npt.NDArray[Any], *, top_k: int = 20, known_limit: int = 10_000
) -> CategoricalColumn:
    """Profile categorical reference values: the ``top_k`` most frequent categories and "other"."""
    text = as_text(values)
    present = text[text != None]  # noqa: E711 (element-wise comparison)
    cats, counts = np.unique(present.astype(str), return_counts=True) if present.size else (np.array([]), np.array([]))
    order = sorted(range(len(cats)), key=lambda i: (-int(counts[i]), str(cats[i])))
    top = order[:top_k]
    other = int(sum(int(counts[i]) for i in order[top_k:]))
    return CategoricalColumn(
        name=name,
        role=role,
        categories=[str(cats[i]) for i in top],
        counts=[*(int(counts[i]) for i in top), other],
        known=sorted(str(c) for c in cats) if len(cats) <= known_limit else None,
        n=int(present.size),
        missing=int(text.size - present.size),
    )


def category_lookup(
    column: CategoricalColumn, text: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_] | None]:
    """The slot of each present (non-missing) value, and which values the reference never saw.

    The mask is ``None`` when no value is unseen (or the reference kept no list of known categories), so a clean
    batch costs nothing more than its slots.

    Example:
        >>> col = categorical_column("c", "feature", np.array(["a", "a", "b", "c"]), top_k=1)
        >>> slots, unseen = category_lookup(col, np.array(["a", "zz", "c"], dtype=object))
        >>> slots.tolist(), unseen.tolist() if unseen is not None else None
        ([0, 1, 1], [False, True, False])
    """
    index = {c: i for i, c in enumerate(column.categories)}
    other = len(column.categories)
    uniq, inverse = np.unique(text.astype(str), return_inverse=True)
    names = [str(u) for u in uniq]
    slot_of = np.array([index.get(u, other) for u in names], dtype=np.intp)
    unseen: npt.NDArray[np.bool_] | None = None
    if column.known is not None:
        known = set(column.known)
        unseen_of = np.array([u not in known for u in names], dtype=np.bool_)
        if unseen_of.any():
            unseen = unseen_of[inverse]
    return slot_of[inverse], unseen


def category_slots(column: CategoricalColumn, text: npt.NDArray[Any]) -> tuple[npt.NDArray[np.intp], int]:
    """The slot of each present (non-missing) value, and how many values the reference never saw."""
    slots, unseen = category_lookup(column, text)
    return slots, int(np.count_nonzero(unseen)) if unseen is not None else 0
