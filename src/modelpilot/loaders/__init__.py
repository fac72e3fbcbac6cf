"""Loaders: model formats behind one interface (``predict(batch)``, ``predict_proba(batch)`` for classifiers).

Formats: ``onnx`` (onnxruntime), ``skops`` (scikit-learn with a reviewed trusted-type list), ``python`` (a callable,
code-execution trust), ``pickle`` (refused unless explicitly trusted, audited).
"""

from __future__ import annotations

from modelpilot.loaders.base import (
    Batch,
    LoadedModel,
    Loader,
    TrustRequest,
    batch_rows,
    get_loader,
    loader_names,
    register_loader,
    to_matrix,
)

__all__ = [
    "Batch",
    "LoadedModel",
    "Loader",
    "TrustRequest",
    "batch_rows",
    "get_loader",
    "loader_names",
    "register_loader",
    "to_matrix",
]
