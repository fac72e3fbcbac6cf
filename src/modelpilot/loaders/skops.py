"""scikit-learn models saved with skops: loaded with the reviewed list of trusted types stored with the version.

At registration, every type skops does not trust by default must be named with ``--trust-type``; the list is
stored with the version and audited, and loading passes exactly that list to ``skops.io.load``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelpilot.errors import InvalidInputError, TrustError
from modelpilot.loaders._estimator import EstimatorModel
from modelpilot.loaders.base import LoadedModel, TrustRequest, register_loader
from modelpilot.protocol.signature import Signature

__all__ = ["SkopsLoader"]


def _untrusted(path: Path) -> list[str]:
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidInputError(
            "the skops format needs scikit-learn and skops", hint="pip install 'modelpilot[sklearn]'"
        ) from exc
    try:
        return sorted(sio.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises several types for a bad file
        raise InvalidInputError(
            f"{path} is not a skops file: {exc}",
            hint="save the model with skops.io.dump(model, 'model.skops')",
        ) from exc


class SkopsLoader:
    """``--format skops``."""

    name = "skops"
    needs_artifact = True

    def trust(self, artifact: Path | None, entrypoint: str | None, request: TrustRequest) -> dict[str, Any]:
        assert artifact is not None
        untrusted = _untrusted(artifact)
        missing = [t for t in untrusted if t not in request.trusted_types]
        if missing:
            flags = " ".join(f"--trust-type {t}" for t in missing)
            raise TrustError(
                f"the skops file uses {len(missing)} type(s) skops does not trust by default: {', '.join(missing)}",
                hint=f"review them, then register again with {flags}",
                details={"untrusted_types": missing},
            )
        return {"kind": "skops", "trusted_types": untrusted, "reason": request.reason}

    def load(
        self, artifact: Path | None, *, entrypoint: str | None, trust: Mapping[str, Any], signature: Signature
    ) -> LoadedModel:
        import skops.io as sio

        assert artifact is not None
        estimator = sio.load(artifact, trusted=list(trust.get("trusted_types", [])))
        return EstimatorModel(estimator, signature.names)


register_loader(SkopsLoader())
