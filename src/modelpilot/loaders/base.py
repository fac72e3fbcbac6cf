"""The common loaded-model interface, the loader plug-in Protocol, and the registry of loaders by format.

A batch is a mapping of feature name → 1-D numpy array (columns, all the same length), the shape the monitor and
the server work in. Every loader turns it into what its model wants.

Example:
    >>> import numpy as np
    >>> batch = {"b": np.array([1.0, 2.0]), "a": np.array([3, 4])}
    >>> batch_rows(batch), to_matrix(batch, ["a", "b"]).tolist()
    (2, [[3.0, 1.0], [4.0, 2.0]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from modelpilot.errors import ConflictError, InvalidInputError
from modelpilot.protocol.signature import Signature

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

Batch = Mapping[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class TrustRequest:
    """What the person registering a version explicitly trusts."""

    trusted_types: Sequence[str] = field(default_factory=tuple)
    trust_pickle: bool = False
    trust_code: bool = False
    reason: str = ""


@runtime_checkable
class LoadedModel(Protocol):
    """A model ready to predict on a batch of columns."""

    @property
    def is_classifier(self) -> bool:
        """True when the model gives class probabilities."""
        ...

    @property
    def classes(self) -> list[Any] | None:
        """Class labels in the column order of :meth:`predict_proba` (``None`` for regressors)."""
        ...

    def predict(self, batch: Batch) -> npt.NDArray[Any]:
        """One prediction per row."""
        ...

    def predict_proba(self, batch: Batch) -> npt.NDArray[np.float64]:
        """Class probabilities, shape ``(rows, classes)``; raises for regressors."""
        ...


class Loader(Protocol):
    """A model format: decides what trust loading needs, and loads."""

    name: str
    needs_artifact: bool

    def trust(self, artifact: Path | None, entrypoint: str | None, request: TrustRequest) -> dict[str, Any]:
        """Return the trust record to store with the version, or raise TrustError saying what must be trusted."""
        ...

    def load(
        self, artifact: Path | None, *, entrypoint: str | None, trust: Mapping[str, Any], signature: Signature
    ) -> LoadedModel:
        """Load a verified artifact under the trust recorded at registration."""
        ...


_LOADERS: dict[str, Loader] = {}


def register_loader(loader: Loader) -> Loader:
    """Add a loader; a second loader for the same format name is refused."""
    if loader.name in _LOADERS:
        raise ConflictError(
            f"a loader for format {loader.name!r} is already registered", hint="choose another format name"
        )
    _LOADERS[loader.name] = loader
    return loader


def loader_names() -> list[str]:
    """The formats that can be registered."""
    _ensure_builtin()
    return sorted(_LOADERS)


def get_loader(name: str) -> Loader:
    """The loader for a format, or an error listing the known formats."""
    _ensure_builtin()
    try:
        return _LOADERS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown model format {name!r}", hint=f"use one of: {', '.join(sorted(_LOADERS))}"
        ) from None


def _ensure_builtin() -> None:
    # Imported here so that `import modelpilot.loaders` stays light; each module registers itself once.
    from modelpilot.loaders import external, onnx, pickle, python, skops  # noqa: F401


def batch_rows(batch: Batch) -> int:
    """The number of rows in a batch (columns must agree)."""
    lengths = {len(v) for v in batch.values()}
    if len(lengths) > 1:
        raise InvalidInputError(
            f"batch columns have different lengths {sorted(lengths)}",
            hint="send the same number of values for every feature",
        )
    return lengths.pop() if lengths else 0


def to_matrix(batch: Batch, names: Sequence[str], dtype: npt.DTypeLike = np.float64) -> npt.NDArray[Any]:
    """Stack the named columns into a ``(rows, len(names))`` array."""
    missing = [n for n in names if n not in batch]
    if missing:
        raise InvalidInputError(f"batch is missing feature(s) {missing}", hint="send every feature of the signature")
    if not names:
        return np.empty((batch_rows(batch), 0), dtype=dtype)
    return np.column_stack([np.asarray(batch[n], dtype=dtype) for n in names])
