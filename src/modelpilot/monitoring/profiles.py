"""Building, storing and finding the reference profile of each registered version (the shell around
:mod:`modelpilot.monitoring.profile`).

A profile is built from the version's reference data: the model runs on it for the distribution of its predictions
and probabilities, and when the reference holds the target, the reference performance and the calibration of the
performance estimator come from it too. It is stored as JSON beside the version, built at registration, rebuilt on
demand (``modelpilot profile NAME --rebuild``) and built lazily the first time the monitor needs one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import sqlalchemy as sa

from modelpilot.errors import InvalidInputError, NotFoundError
from modelpilot.loaders.base import LoadedModel
from modelpilot.monitoring.columns import as_text
from modelpilot.monitoring.performance.calibration import Calibrator
from modelpilot.monitoring.performance.estimated import reference_metrics
from modelpilot.monitoring.performance.realized import RegressionAccumulator
from modelpilot.monitoring.profile import ReferenceProfile, build_profile, complete_probabilities
from modelpilot.protocol.signature import Signature
from modelpilot.registry import Registry
from modelpilot.storage import tables as t

__all__ = ["ProfileStore", "feature_kinds", "profile_from_table", "table_columns"]

_CHUNK = 50_000


def feature_kinds(signature: Signature) -> tuple[list[str], list[str]]:
    """The numeric and the categorical features of a signature (date-times are not profiled)."""
    numeric = [f.name for f in signature.features if f.type in ("integer", "float")]
    categorical = [f.name for f in signature.features if f.type in ("boolean", "category", "string")]
    return numeric, categorical


def table_columns(table: pa.Table, names: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    """Columns of an Arrow table as numpy arrays (nulls become NaN or ``None``)."""
    return {n: table.column(n).to_numpy(zero_copy_only=False) for n in names}


def _run_model(
    model: LoadedModel, table: pa.Table, names: Sequence[str]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64] | None]:
    preds: list[npt.NDArray[Any]] = []
    probas: list[npt.NDArray[np.float64]] = []
    for start in range(0, table.num_rows, _CHUNK):
        batch = table_columns(table.slice(start, _CHUNK), names)
        preds.append(np.asarray(model.predict(batch)))
        if model.is_classifier:
            probas.append(np.asarray(model.predict_proba(batch), dtype=np.float64))
    return np.concatenate(preds), (np.concatenate(probas) if probas else None)


def profile_from_table(
    table: pa.Table,
    signature: Signature,
    *,
    model: LoadedModel | None = None,
    target: str | None = None,
    prediction_column: str | None = None,
    proba_columns: Mapping[str, str] | None = None,
    bins: int = 20,
    top_k: int = 20,
) -> ReferenceProfile:
    """Profile reference data: the model's outputs come from ``model`` or from the named columns."""
    numeric, categorical = feature_kinds(signature)
    data = table_columns(table, [*numeric, *categorical])
    predictions: npt.NDArray[Any] | None = None
    proba: npt.NDArray[np.float64] | None = None
    classes: list[Any] | None = None
    if prediction_column is not None:
        predictions = table.column(prediction_column).to_numpy(zero_copy_only=False)
        if proba_columns:
            seen = {str(v) for v in as_text(predictions) if v is not None}
            if target is not None:
                seen |= {str(v) for v in as_text(table.column(target).to_numpy(zero_copy_only=False)) if v is not None}
            classes = sorted(seen | set(proba_columns))
            given = {c: table.column(col).to_numpy(zero_copy_only=False) for c, col in proba_columns.items()}
            proba = complete_probabilities(given, classes, table.num_rows)
    elif model is not None:
        predictions, proba = _run_model(model, table, signature.names)
        classes = model.classes if proba is not None else None
        if proba is not None and classes is None:
            classes = list(range(proba.shape[1]))
    performance: dict[str, float | None] | None = None
    calibration: dict[str, Any] | None = None
    if target is not None and predictions is not None:
        y = table.column(target).to_numpy(zero_copy_only=False)
        if proba is not None and classes is not None:
            labels = [str(c) for c in as_text(np.asarray(classes, dtype=object))]
            y_text, pred_text = as_text(y), as_text(predictions)
            performance = reference_metrics(y_text, pred_text, proba, classes=labels)
            calibration = Calibrator.fit(y_text, proba, classes=labels).to_state()
        elif np.asarray(predictions).dtype.kind in "iuf" and np.asarray(y).dtype.kind in "iuf":
            performance = RegressionAccumulator().update(y, predictions).metrics()
    return build_profile(
        data,
        numeric=numeric,
        categorical=categorical,
        predictions=predictions,
        probabilities=proba,
        classes=classes,
        bins=bins,
        top_k=top_k,
        performance=performance,
        calibration=calibration,
    )


class ProfileStore:
    """Profiles of registered versions, kept in the store.

    Parameters
    ----------
    registry
        The registry whose versions (and store) are profiled.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self._cache: dict[tuple[str, int], ReferenceProfile | None] = {}

    def _model_id(self, name: str) -> int:
        with self.store.read() as conn:
            row = conn.execute(sa.select(t.models.c.id).where(t.models.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"model {name!r} is not registered", hint="see `modelpilot models`")
        return int(row.id)

    def stored(self, name: str, version: int) -> ReferenceProfile | None:
        """The stored profile, if one was built."""
        model_id = self._model_id(name)
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(t.profiles.c.profile).where(
                    (t.profiles.c.model_id == model_id) & (t.profiles.c.version == version)
                )
            ).first()
        return None if row is None else ReferenceProfile.model_validate(row.profile)

    def build(self, name: str, version: int, *, actor: str | None = None) -> ReferenceProfile:
        """Build (or rebuild) a version's profile from its reference data and store it."""
        v = self.registry.get(name, version)
        if v.reference_digest is None:
            raise InvalidInputError(
                f"{name} v{version} has no reference data to profile",
                hint="register a version with --reference FILE",
            )
        table = self.registry.reference(name, version)
        if v.outputs is not None:  # served elsewhere: its outputs on the reference rows are columns of the data
            profile = profile_from_table(
                table,
                v.signature,
                target=v.target,
                prediction_column=v.outputs.prediction,
                proba_columns=v.outputs.probabilities,
            )
        else:
            profile = profile_from_table(table, v.signature, model=self.registry.load(name, version), target=v.target)
        model_id = self._model_id(name)
        values = {
            "profile": profile.model_dump(mode="json"),
            "built_at": datetime.now(UTC),
            "built_by": actor or self.registry.actor,
        }
        with self.store.write() as conn:
            updated = conn.execute(
                sa.update(t.profiles)
                .where((t.profiles.c.model_id == model_id) & (t.profiles.c.version == version))
                .values(**values)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(t.profiles).values(model_id=model_id, version=version, **values))
        self._cache[(name, version)] = profile
        return profile

    def get(self, name: str, version: int) -> ReferenceProfile | None:
        """The profile of a version, built now if it has reference data but no profile yet (``None`` if it has
        no reference data, or the model or version is unknown)."""
        key = (name, version)
        if self._cache.get(key) is not None:
            return self._cache[key]
        try:
            profile = self.stored(name, version)
            if profile is None and self.registry.get(name, version).reference_digest is not None:
                profile = self.build(name, version)
        except NotFoundError:
            profile = None
        if profile is not None:  # only found profiles are kept: a version may get one later
            self._cache[key] = profile
        return profile
