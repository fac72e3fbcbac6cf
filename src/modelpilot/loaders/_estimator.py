"""Adapter from a scikit-learn-style estimator (``predict``/``predict_proba``) to :class:`LoadedModel`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.loaders.base import Batch, to_matrix

__all__ = ["EstimatorModel"]


class EstimatorModel:
    """Feeds an estimator a DataFrame when it was fitted on named columns, else a matrix in signature order."""

    def __init__(self, estimator: Any, feature_names: Sequence[str]) -> None:
        if not callable(getattr(estimator, "predict", None)):
            raise InvalidInputError(
                f"loaded object of type {type(estimator).__name__} has no predict() method",
                hint="register an estimator or pipeline with predict()",
            )
        self.estimator = estimator
        fitted = getattr(estimator, "feature_names_in_", None)
        self._frame_columns = [str(c) for c in fitted] if fitted is not None else None
        self.feature_names = list(feature_names) if feature_names else (self._frame_columns or [])

    @property
    def is_classifier(self) -> bool:
        return callable(getattr(self.estimator, "predict_proba", None)) and hasattr(self.estimator, "classes_")

    @property
    def classes(self) -> list[Any] | None:
        if not self.is_classifier:
            return None
        return [c.item() if isinstance(c, np.generic) else c for c in self.estimator.classes_]

    def _inputs(self, batch: Batch) -> Any:
        if self._frame_columns is not None:
            import pandas as pd

            missing = [c for c in self._frame_columns if c not in batch]
            if missing:
                raise InvalidInputError(
                    f"batch is missing feature(s) {missing}",
                    hint="send every feature the model was trained on",
                )
            return pd.DataFrame({c: batch[c] for c in self._frame_columns})
        # Without a signature or fitted names, the caller's column order is the only order there is.
        return to_matrix(batch, self.feature_names or list(batch))

    def predict(self, batch: Batch) -> npt.NDArray[Any]:
        return np.asarray(self.estimator.predict(self._inputs(batch)))

    def predict_proba(self, batch: Batch) -> npt.NDArray[np.float64]:
        if not self.is_classifier:
            raise InvalidInputError(
                "this model is not a classifier: it has no predict_proba()", hint="ask for predictions only"
            )
        return np.asarray(self.estimator.predict_proba(self._inputs(batch)), dtype=np.float64)
