"""Python callables: ``path/to/file.py:attribute`` (the file is stored as the artifact) or ``package.module:attribute``.

The attribute may be a function ``f(batch) -> predictions``, a class (instantiated with no arguments), or an
object with ``predict(batch)`` and optionally ``predict_proba(batch)`` and ``classes``. It receives the batch as
a mapping of feature name → numpy column. Loading runs the code, so registration needs ``--trust-code``; the
decision is recorded as code-execution trust and audited.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError, TrustError
from modelpilot.loaders.base import Batch, LoadedModel, TrustRequest, register_loader
from modelpilot.protocol.signature import Signature

__all__ = ["CallableModel", "PythonLoader", "split_entrypoint"]


def split_entrypoint(spec: str) -> tuple[str, str]:
    """Split ``left:attribute``; raise naming the expected form.

    >>> split_entrypoint("models/credit.py:predict")
    ('models/credit.py', 'predict')
    """
    left, sep, attr = spec.rpartition(":")
    if not sep or not left or not attr.isidentifier():
        raise InvalidInputError(
            f"python model {spec!r} is not of the form FILE.py:NAME or module.path:NAME",
            hint="e.g. modelpilot register credit models/credit.py:predict --format python",
        )
    return left, attr


class CallableModel:
    """Wraps user code as a :class:`LoadedModel`."""

    def __init__(self, obj: Any) -> None:
        if isinstance(obj, type):
            obj = obj()
        self._predict: Callable[[Batch], Any]
        if callable(getattr(obj, "predict", None)):
            self._predict = obj.predict
        elif callable(obj):
            self._predict = obj
        else:
            raise InvalidInputError(
                f"python model object of type {type(obj).__name__} is not callable and has no predict()",
                hint="point at a function or an object with predict()",
            )
        self._proba: Callable[[Batch], Any] | None = getattr(obj, "predict_proba", None)
        raw = getattr(obj, "classes", None) or getattr(obj, "classes_", None)
        self._classes = list(raw) if raw is not None and self._proba is not None else None

    @property
    def is_classifier(self) -> bool:
        return self._proba is not None

    @property
    def classes(self) -> list[Any] | None:
        return self._classes

    def predict(self, batch: Batch) -> npt.NDArray[Any]:
        return np.asarray(self._predict(batch))

    def predict_proba(self, batch: Batch) -> npt.NDArray[np.float64]:
        if self._proba is None:
            raise InvalidInputError(
                "this model is not a classifier: it has no predict_proba()", hint="ask for predictions only"
            )
        return np.asarray(self._proba(batch), dtype=np.float64)


class PythonLoader:
    """``--format python``."""

    name = "python"
    needs_artifact = False  # a file artifact is optional: importable modules need none

    def trust(self, artifact: Path | None, entrypoint: str | None, request: TrustRequest) -> dict[str, Any]:
        if not request.trust_code or not request.reason.strip():
            raise TrustError(
                "a python model runs its own code when loaded; refusing without an explicit trust decision",
                hint="review the code, then add --trust-code --reason 'who reviewed it and why'",
            )
        return {"kind": "code-execution", "entrypoint": entrypoint, "reason": request.reason}

    def load(
        self, artifact: Path | None, *, entrypoint: str | None, trust: Mapping[str, Any], signature: Signature
    ) -> LoadedModel:
        if trust.get("kind") != "code-execution":
            raise TrustError(
                "this version has no recorded code-execution trust; refusing to run it",
                hint="register it again with --trust-code",
            )
        if entrypoint is None:
            raise InvalidInputError("python model has no entrypoint", hint="register FILE.py:NAME or module:NAME")
        left, attr = split_entrypoint(entrypoint)
        if artifact is not None:
            mod_name = f"modelpilot_user_{artifact.name[:16]}"
            # Stored artifacts are named by digest, without ".py": give the source loader explicitly.
            source = importlib.machinery.SourceFileLoader(mod_name, str(artifact))
            spec = importlib.util.spec_from_file_location(mod_name, artifact, loader=source)
            if spec is None or spec.loader is None:  # pragma: no cover - an explicit loader always gives a spec
                raise InvalidInputError(f"cannot import {artifact}", hint="register a .py file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        else:
            try:
                module = importlib.import_module(left)
            except ImportError as exc:
                raise InvalidInputError(
                    f"python module {left!r} cannot be imported: {exc}",
                    hint="install it in this environment or register a FILE.py",
                ) from exc
        try:
            obj = getattr(module, attr)
        except AttributeError:
            raise InvalidInputError(
                f"{left} has no attribute {attr!r}", hint="name a function, class or object defined there"
            ) from None
        return CallableModel(obj)


register_loader(PythonLoader())
