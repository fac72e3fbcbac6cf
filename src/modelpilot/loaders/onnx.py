"""ONNX models through onnxruntime (CPU).

Inputs: a model with one rank-2 input gets the numeric features stacked in signature order; a model with one
input per feature gets each column by name. Outputs: the first is the prediction; a second output, when
present, is taken as class probabilities (a tensor, or scikit-learn-onnx's list of maps).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.loaders.base import Batch, LoadedModel, TrustRequest, batch_rows, register_loader, to_matrix
from modelpilot.protocol.signature import Signature

__all__ = ["OnnxLoader", "OnnxModel"]

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxModel:
    """An onnxruntime session behind the :class:`LoadedModel` interface."""

    def __init__(self, session: Any, signature: Signature) -> None:
        self.session = session
        self.inputs = session.get_inputs()
        self.output_names = [o.name for o in session.get_outputs()]
        self.feature_names = signature.names
        names = {i.name for i in self.inputs}
        self._by_name = len(self.inputs) > 1 or (
            bool(self.feature_names) and names <= set(self.feature_names) and len(self.inputs[0].shape) != 2
        )
        if self._by_name and self.feature_names and not names <= set(self.feature_names):
            missing = sorted(names - set(self.feature_names))
            raise InvalidInputError(
                f"ONNX model inputs {missing} are not features of the signature",
                hint="name the model's inputs after the features, or use one [N, F] input",
            )
        self._classes: list[Any] | None = None

    def _feed(self, batch: Batch) -> dict[str, Any]:
        if self._by_name:
            return {
                i.name: np.asarray(batch[i.name], dtype=_DTYPES.get(i.type, np.float32)).reshape(-1, 1)
                for i in self.inputs
            }
        inp = self.inputs[0]
        names = self.feature_names or sorted(batch)
        return {inp.name: to_matrix(batch, names, _DTYPES.get(inp.type, np.float32))}

    def _run(self, batch: Batch) -> list[Any]:
        if batch_rows(batch) == 0:
            raise InvalidInputError("empty batch", hint="send at least one row")
        return list(self.session.run(self.output_names, self._feed(batch)))

    @property
    def is_classifier(self) -> bool:
        return len(self.output_names) >= 2

    @property
    def classes(self) -> list[Any] | None:
        if not self.is_classifier:
            return None
        if self._classes is None:
            meta = self.session.get_modelmeta().custom_metadata_map
            if "classes" in meta:
                self._classes = [c.strip() for c in meta["classes"].split(",")]
        return self._classes

    def predict(self, batch: Batch) -> npt.NDArray[Any]:
        out = np.asarray(self._run(batch)[0])
        return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, batch: Batch) -> npt.NDArray[np.float64]:
        if not self.is_classifier:
            raise InvalidInputError(
                "this ONNX model has one output, so it gives no probabilities",
                hint="ask for predictions only",
            )
        proba = self._run(batch)[1]
        if isinstance(proba, list):  # ZipMap: one {class: p} per row
            keys = list(proba[0].keys()) if proba else []
            if self._classes is None:
                self._classes = keys
            return np.array([[row[k] for k in keys] for row in proba], dtype=np.float64)
        arr = np.asarray(proba, dtype=np.float64)
        if self._classes is None:
            self._classes = list(range(arr.shape[1]))
        return arr


class OnnxLoader:
    """``--format onnx``."""

    name = "onnx"
    needs_artifact = True

    def trust(self, artifact: Path | None, entrypoint: str | None, request: TrustRequest) -> dict[str, Any]:
        return {"kind": "data-only"}

    def load(
        self, artifact: Path | None, *, entrypoint: str | None, trust: Mapping[str, Any], signature: Signature
    ) -> LoadedModel:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise InvalidInputError("the onnx format needs onnxruntime", hint="pip install 'modelpilot[onnx]'") from exc
        assert artifact is not None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(artifact), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InvalidInputError(
                " ".join(f"not a loadable ONNX model: {exc}".split()),
                hint="export the model with an ONNX converter and check it with onnx.checker",
            ) from exc
        return OnnxModel(session, signature)


register_loader(OnnxLoader())
