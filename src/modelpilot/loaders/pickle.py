"""pickle / joblib files: refused unless registered with ``--trust-pickle --reason TEXT`` (audited).

Unpickling runs arbitrary code, so this format exists only for models that cannot be saved another way.
"""

from __future__ import annotations

import pickle as _pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpilot.errors import TrustError
from modelpilot.loaders._estimator import EstimatorModel
from modelpilot.loaders.base import LoadedModel, TrustRequest, register_loader
from modelpilot.protocol.signature import Signature

__all__ = ["PickleLoader"]


class PickleLoader:
    """``--format pickle`` (plain pickle or joblib)."""

    name = "pickle"
    needs_artifact = True

    def trust(self, artifact: Path | None, entrypoint: str | None, request: TrustRequest) -> dict[str, Any]:
        if not request.trust_pickle or not request.reason.strip():
            raise TrustError(
                "pickle files run arbitrary code when loaded; refusing without an explicit trust decision",
                hint="save the model with skops or ONNX instead, or add "
                "--trust-pickle --reason 'who reviewed it and why'",
            )
        return {"kind": "pickle", "reason": request.reason}

    def load(
        self, artifact: Path | None, *, entrypoint: str | None, trust: Mapping[str, Any], signature: Signature
    ) -> LoadedModel:
        if trust.get("kind") != "pickle":
            raise TrustError(
                "this version has no recorded pickle trust decision; refusing to unpickle it",
                hint="register it again with --trust-pickle --reason TEXT",
            )
        assert artifact is not None
        try:
            import joblib

            obj = joblib.load(artifact)  # reads plain pickles as well as joblib's format
        except ImportError:  # pragma: no cover - joblib comes with scikit-learn
            with artifact.open("rb") as f:
                obj = _pickle.load(f)  # noqa: S301 - trust recorded and audited at registration
        return EstimatorModel(obj, signature.names)


register_loader(PickleLoader())
