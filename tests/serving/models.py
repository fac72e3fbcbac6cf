"""Served-model fixtures: python-callable models that answer, differ, fail or hang, registered into a home."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from modelpilot.loaders.base import TrustRequest
from modelpilot.registry import Registry

MODEL_CODE = '''
import time
import numpy as np


def _score(batch, a, b):
    z = a * np.asarray(batch["x1"], dtype=float) + b * np.asarray(batch["x2"], dtype=float) - 1.0
    s = 1 / (1 + np.exp(-z))
    return np.column_stack([1 - s, s])


class Good:
    classes = ["no", "yes"]

    def predict(self, batch):
        return np.where(self.predict_proba(batch)[:, 1] > 0.5, "yes", "no")

    def predict_proba(self, batch):
        return _score(batch, 1.0, 1.0)


class Other(Good):
    def predict_proba(self, batch):
        return _score(batch, 3.0, -1.0)


class Broken(Good):
    """Fails on any row with x2 < 0 (never in the reference data, so registration's smoke test passes)."""

    def predict_proba(self, batch):
        if (np.asarray(batch["x2"], dtype=float) < 0).any():
            raise RuntimeError("feature store timeout")
        return _score(batch, 1.0, 1.0)


class Slow(Good):
    """Sleeps x1 - 1 seconds when the first row has x1 > 1 (never in the reference data)."""

    def predict_proba(self, batch):
        first = float(np.asarray(batch["x1"], dtype=float)[0]) if len(batch["x1"]) else 0.0
        if first > 1.0:
            time.sleep(first - 1.0)
        return _score(batch, 1.0, 1.0)
'''

ENTRYPOINTS = ("Good", "Other", "Broken", "Slow")
"""Registered as versions 1, 2, 3, 4 of model ``credit``."""


def reference_table(rows: int = 300, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0, 1, rows)
    x2 = rng.uniform(0, 1, rows)
    y = np.where(x1 + x2 + rng.normal(0, 0.2, rows) > 1.0, "yes", "no")
    return pa.table({"x1": x1, "x2": x2, "y": y})


def register_models(registry: Registry, folder: Path, name: str = "credit") -> None:
    """Register Good, Other, Broken and Slow as versions 1-4."""
    folder.mkdir(parents=True, exist_ok=True)
    code = folder / "served_models.py"
    code.write_text(MODEL_CODE, encoding="utf-8")
    ref = folder / "ref.csv"
    pacsv.write_csv(reference_table(), ref)
    trust = TrustRequest(trust_code=True, reason="test models written by the test suite")
    for entry in ENTRYPOINTS:
        registry.register(name, f"{code}:{entry}", format="python", reference=ref, target="y", trust=trust)
