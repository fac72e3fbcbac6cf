"""Input signatures: inferred from reference data, validated against it, and compared between versions.

They belong to the protocol layer because the registry, the loaders and the server all share them.

A signature lists each feature's name, type (``integer``, ``float``, ``boolean``, ``category``, ``string``,
``datetime``), whether it may be missing, the observed range of numbers and the set of categories.

Example:
    >>> import pyarrow as pa
    >>> t = pa.table({"age": [31, 45], "plan": ["a", "b"], "y": [0, 1]})
    >>> sig = infer_signature(t, target="y")
    >>> [(f.name, f.type) for f in sig.features], sig.target.name
    ([('age', 'integer'), ('plan', 'category')], 'y')
    >>> validate_table(sig, pa.table({"age": [40], "plan": ["z"], "y": [1]}))
    ["column 'plan': values not among the signature's categories: ['z']"]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Feature",
    "FeatureType",
    "Outputs",
    "Signature",
    "compatibility_problems",
    "infer_signature",
    "validate_table",
]

FeatureType = Literal["integer", "float", "boolean", "category", "string", "datetime"]
_NUMERIC = ("integer", "float")


class Feature(BaseModel):
    """One input column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: FeatureType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


class Outputs(BaseModel):
    """Which columns of the reference data (and of outside events) hold the outputs of a model served elsewhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prediction: str = Field(min_length=1)
    probabilities: dict[str, str] = Field(default_factory=dict, description="class label -> column")

    @property
    def columns(self) -> list[str]:
        """Every output column."""
        return [self.prediction, *self.probabilities.values()]


class Signature(BaseModel):
    """The inputs a version accepts (and its target column, when it has one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[Feature] = Field(default_factory=list)
    target: Feature | None = None

    @property
    def names(self) -> list[str]:
        """Feature names in order."""
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature | None:
        """The feature of that name, if any."""
        return next((f for f in self.features if f.name == name), None)


def _infer_feature(name: str, col: pa.ChunkedArray, max_categories: int) -> Feature:
    typ = col.type
    if pa.types.is_dictionary(typ):
        col = col.cast(typ.value_type)
        typ = typ.value_type
    nulls = col.null_count
    if pa.types.is_floating(typ):
        nan = int(pc.sum(pc.is_nan(col)).as_py() or 0)
        nulls += nan
    nullable = nulls > 0
    if pa.types.is_boolean(typ):
        return Feature(name=name, type="boolean", nullable=nullable)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        values = col.to_numpy(zero_copy_only=False).astype("float64")
        finite = values[np.isfinite(values)]
        lo = float(finite.min()) if finite.size else None
        hi = float(finite.max()) if finite.size else None
        kind: FeatureType = "integer" if pa.types.is_integer(typ) else "float"
        return Feature(name=name, type=kind, nullable=nullable, min=lo, max=hi)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        distinct = pc.unique(col.drop_null())
        if len(distinct) <= max_categories:
            return Feature(
                name=name,
                type="category",
                nullable=nullable,
                categories=sorted(str(v) for v in distinct.to_pylist()),
            )
        return Feature(name=name, type="string", nullable=nullable)
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        return Feature(name=name, type="datetime", nullable=nullable)
    from modelpilot.errors import InvalidInputError

    raise InvalidInputError(
        f"column {name!r} has type {typ}, which a signature cannot describe",
        hint="give it a number, boolean, text or date type, or drop it from the reference data",
    )


def infer_signature(table: pa.Table, *, target: str | None = None, max_categories: int = 1000) -> Signature:
    """Describe every column of ``table``; ``target`` (if given) becomes the signature's target."""
    feats = [_infer_feature(n, table.column(n), max_categories) for n in table.column_names if n != target]
    tgt = _infer_feature(target, table.column(target), max_categories) if target else None
    return Signature(features=feats, target=tgt)


def _problems_for(feat: Feature, col: pa.ChunkedArray) -> list[str]:
    got = _infer_feature(feat.name, col, max_categories=1 << 30)
    out: list[str] = []
    where = f"column {feat.name!r}"
    widening = feat.type == "float" and got.type == "integer"
    text_ok = feat.type in ("category", "string") and got.type in ("category", "string")
    if got.type != feat.type and not widening and not text_ok:
        return [f"{where}: has type {got.type}, the signature says {feat.type}"]
    if got.nullable and not feat.nullable:
        out.append(f"{where}: has missing values, the signature says it may not")
    if feat.type in _NUMERIC:
        if feat.min is not None and got.min is not None and got.min < feat.min:
            out.append(f"{where}: minimum {got.min:g} is below the signature's {feat.min:g}")
        if feat.max is not None and got.max is not None and got.max > feat.max:
            out.append(f"{where}: maximum {got.max:g} is above the signature's {feat.max:g}")
    if feat.type == "category" and feat.categories is not None and got.categories is not None:
        unknown = sorted(set(got.categories) - set(feat.categories))
        if unknown:
            shown = unknown[:5] + (["..."] if len(unknown) > 5 else [])
            out.append(f"{where}: values not among the signature's categories: {shown}")
    return out


def validate_table(signature: Signature, table: pa.Table) -> list[str]:
    """Every way ``table`` fails to match ``signature`` (empty when it matches)."""
    problems: list[str] = []
    known = set(signature.names) | ({signature.target.name} if signature.target else set())
    for name in table.column_names:
        if name not in known:
            problems.append(f"column {name!r}: not in the signature")
    for feat in [*signature.features, *([signature.target] if signature.target else [])]:
        if feat.name not in table.column_names:
            problems.append(f"column {feat.name!r}: missing from the data")
            continue
        problems.extend(_problems_for(feat, table.column(feat.name)))
    return problems


def compatibility_problems(current: Signature, candidate: Signature) -> list[str]:
    """Why requests that ``current`` accepts would not suit ``candidate`` (empty when compatible).

    The candidate may drop features (it ignores them) and may widen ``integer`` to ``float``; it may not need
    a feature the current version does not get, nor change a feature's type.
    """
    problems: list[str] = []
    for feat in candidate.features:
        old = current.feature(feat.name)
        if old is None:
            problems.append(f"feature {feat.name!r} is required by the candidate but not sent to the current version")
        elif (
            old.type != feat.type
            and not (old.type == "integer" and feat.type == "float")
            and not ({old.type, feat.type} <= {"category", "string"})
        ):
            problems.append(f"feature {feat.name!r} changes type from {old.type} to {feat.type}")
    return problems
