"""``--format external``: a model served elsewhere (KServe, Seldon, a batch job) that modelpilot only monitors.

Nothing is loaded or run: the version holds a signature, reference data and the names of the reference columns that
hold the model's outputs (:class:`~modelpilot.protocol.signature.Outputs`). Its events come from outside: CloudEvents
posted to ``POST /v1/events``, or files given to ``modelpilot analyze``.

Example:
    >>> from modelpilot.protocol.signature import Signature
    >>> model = ExternalLoader().load(None, entrypoint=None, trust={"kind": "external"}, signature=Signature())
    >>> model.predict({})
    Traceback (most recent call last):
    ...
    modelpilot.errors.InvalidInputError: this version is served elsewhere; modelpilot only monitors it
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.loaders.base import Batch, LoadedModel, TrustRequest, register_loader
from modelpilot.protocol.signature import Signature

__all__ = ["ExternalLoader", "ExternalModel"]


class ExternalModel:
    """Stands in for a model served elsewhere: it has no code to run."""

    is_classifier = False
    classes: list[Any] | None = None

    def _refuse(self) -> InvalidInputError:
        return InvalidInputError(
            "this version is served elsewhere; modelpilot only monitors it",
            hint="send its events to POST /v1/events, or analyze files with `modelpilot analyze`",
        )

    def predict(self, batch: Batch) -> npt.NDArray[Any]:
        raise self._refuse()

    def predict_proba(self, batch: Batch) -> npt.NDArray[np.float64]:
        raise self._refuse()


class ExternalLoader:
    """``--format external``."""

    name = "external"
    needs_artifact = False

    def trust(self, artifact: Path | None, entrypoint: str | None, request: TrustRequest) -> dict[str, Any]:
        if artifact is not None or entrypoint is not None:
            raise InvalidInputError(
                "an external model has no artifact", hint="drop the ARTIFACT argument when registering with --external"
            )
        return {"kind": "external"}

    def load(
        self, artifact: Path | None, *, entrypoint: str | None, trust: Mapping[str, Any], signature: Signature
    ) -> LoadedModel:
        return ExternalModel()


register_loader(ExternalLoader())
