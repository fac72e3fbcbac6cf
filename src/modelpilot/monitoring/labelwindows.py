"""Windows of joined labels (live): realized performance, the estimate on the same rows, and their reconciliation.

Labels arrive after their predictions' windows have closed, so realized performance is measured in windows of its
own: each holds the labelled rows of one model version and variant until it has ``rows`` of them or ``seconds``
have passed. The estimate is recomputed on exactly those rows, so :func:`reconcile` compares like with like.

Example:
    >>> import numpy as np
    >>> from modelpilot.monitoring.performance.joins import Joined
    >>> lw = LabelWindow(task="classification", classes=["0", "1"], estimator=None)
    >>> j = Joined("r1", "m", 1, "stable", np.array([1, 0]), None, None, np.array([1, 1]), 0.0, 5.0)
    >>> lw.add(j).n, lw.realized()["accuracy"]
    (2, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.columns import as_text
from modelpilot.monitoring.performance.estimated import EstimateAccumulator, PerformanceEstimator, reconcile
from modelpilot.monitoring.performance.joins import Joined
from modelpilot.monitoring.performance.realized import ClassificationAccumulator, RegressionAccumulator

__all__ = ["LabelWindow"]


class LabelWindow:
    """The joined rows of one stream since its last label window closed.

    Parameters
    ----------
    task
        ``classification`` or ``regression`` (from the profile).
    classes
        The profile's classes (classification).
    estimator
        The profile's performance estimator, if it has a calibration.
    """

    def __init__(
        self, *, task: str | None, classes: Sequence[str] | None, estimator: PerformanceEstimator | None
    ) -> None:
        self.task = task
        self.classes = list(classes) if classes is not None else None
        self.estimator = estimator
        self._reset()

    def _reset(self) -> None:
        self.acc: ClassificationAccumulator | RegressionAccumulator = (
            RegressionAccumulator() if self.task == "regression" else ClassificationAccumulator(self.classes)
        )
        self.estimate: EstimateAccumulator | None = self.estimator.accumulator() if self.estimator else None
        self.n = 0
        self.invalid = 0
        self.start: float | None = None
        self.end: float | None = None

    def add(self, joined: Joined) -> LabelWindow:
        """Add one joined request's rows (a label that does not fit is counted in ``invalid``, never raised)."""
        try:
            if self.task == "regression":
                self.acc.update(np.asarray(joined.label, dtype=np.float64), np.asarray(joined.prediction, np.float64))
            else:
                proba = joined.probabilities
                self.acc.update(as_text(joined.label), as_text(joined.prediction), proba)
                if self.estimate is not None and proba is not None:
                    self.estimate.update(as_text(joined.prediction), proba)
        except (InvalidInputError, ValueError, TypeError):
            self.invalid += len(joined.label)
            return self
        self.n += len(joined.label)
        t = joined.label_time
        self.start = t if self.start is None else min(self.start, t)
        self.end = t if self.end is None else max(self.end, t)
        return self

    def realized(self) -> dict[str, float | None]:
        """Realized metrics of the rows so far."""
        return self.acc.metrics()

    def estimated(self) -> dict[str, float | None] | None:
        """The estimate on the same rows (classifiers with a calibration)."""
        return self.estimate.metrics() if self.estimate is not None and self.estimate.n else None

    def reconciliation(self) -> dict[str, dict[str, Any]] | None:
        """Estimated vs realized on the same rows, with the sampling bound."""
        est = self.estimated()
        if est is None:
            return None
        real = self.realized()
        sizes = self.acc.sample_sizes() if isinstance(self.acc, ClassificationAccumulator) else None
        return reconcile({k: v for k, v in est.items() if k in real}, real, self.n, sizes=sizes)

    def to_state(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "acc": self.acc.to_state(),
            "estimate": self.estimate.to_state() if self.estimate is not None else None,
            "n": self.n,
            "invalid": self.invalid,
            "start": self.start,
            "end": self.end,
        }

    def restore(self, state: Mapping[str, Any]) -> LabelWindow:
        """Load :meth:`to_state`."""
        if self.task == "regression":
            self.acc = RegressionAccumulator.from_state(state["acc"])
        else:
            self.acc = ClassificationAccumulator.from_state(state["acc"])
        if self.estimator is not None and state.get("estimate") is not None:
            self.estimate = EstimateAccumulator.from_state(state["estimate"], self.estimator)
        self.n, self.invalid = int(state["n"]), int(state["invalid"])
        self.start, self.end = state["start"], state["end"]
        return self
