"""Training the demo's credit models: a scikit-learn pipeline (scaling, one-hot encoding, logistic regression)
saved with skops. ``broken_join`` and ``unknown_regions`` plant the demo's two kinds of bad candidate.

Example:
    >>> from modelpilot.demo.data import credit_table
    >>> model, auc = train(credit_table(2_000, seed=3))
    >>> 0.7 < auc < 0.9
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["CATEGORICAL", "FEATURES", "save_skops", "train"]

FEATURES = ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
CATEGORICAL = ["employment", "region"]


def train(table: pa.Table, *, broken_join: bool = False, unknown_regions: str = "ignore") -> tuple[Any, float]:
    """Fit on the first 75% of ``table``; return the pipeline and its AUC on the rest.

    ``broken_join``: the payment-history join matched nothing, so every applicant looks spotless (a visible
    regression the gates catch). ``unknown_regions="error"``: the encoder refuses a category it never saw (a hidden
    regression: harmless offline, failures in production if a region was missing from the training data).
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = table.select(FEATURES).to_pandas()
    y = table.column("default").to_numpy()
    train_frame = frame.copy()
    if broken_join:
        train_frame["late_payments"] = 0
    split = int(len(frame) * 0.75)
    numeric = [f for f in FEATURES if f not in CATEGORICAL]
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown=unknown_regions), CATEGORICAL),
        ]
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=500))])
    model.fit(train_frame.iloc[:split], y[:split])
    holdout = pd.DataFrame(frame.iloc[split:])
    auc = float(roc_auc_score(y[split:], model.predict_proba(holdout)[:, 1]))
    return model, auc


def save_skops(model: Any, path: Path) -> list[str]:
    """Save ``model`` with skops; return the types skops asks a person to trust before loading it."""
    import skops.io as sio

    sio.dump(model, path)
    return sorted(sio.get_untrusted_types(file=path))
