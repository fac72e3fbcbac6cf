"""A synthetic credit-default data set with a fixed seed: mixed numeric and categorical features, a known truth.

The default probability follows a logistic function of the features, so a well-trained model reaches a known
AUC and a damaged one measurably less. ``shift`` moves the input distribution (for drift scenes); ``concept``
changes how the inputs relate to defaults (self-employment turns riskier, late payments tell less), so a model
trained before it loses accuracy that retraining wins back.

Example:
    >>> t = credit_table(500, seed=1)
    >>> t.num_rows, t.column_names[:3]
    (500, ['income', 'debt_ratio', 'age'])
    >>> 0.05 < sum(t.column("default").to_pylist()) / 500 < 0.6
    True
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["EMPLOYMENT", "REGIONS", "credit_table"]

EMPLOYMENT = ("salaried", "self-employed", "unemployed", "retired")
REGIONS = ("north", "south", "east", "west")


def credit_table(rows: int, *, seed: int, shift: float = 0.0, concept: float = 0.0) -> pa.Table:
    """``rows`` applications with a ``default`` label (0/1)."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=10.6 - 0.4 * shift, sigma=0.45, size=rows)
    debt_ratio = np.clip(rng.beta(2.0 + 2 * shift, 5.0, size=rows), 0, 1)
    age = rng.integers(21, 75, size=rows)
    late = rng.poisson(0.6 + shift, size=rows)
    employment = rng.choice(EMPLOYMENT, size=rows, p=[0.62, 0.2, 0.08, 0.1])
    region = rng.choice(REGIONS, size=rows)
    emp_effect = np.select(
        [employment == "unemployed", employment == "self-employed"], [1.2, 0.35 + 2.0 * concept], 0.0
    )
    late_weight = 0.9 - 0.7 * concept
    logit = (
        -1.8
        - 1.6 * (np.log(income) - 10.6)
        + 5.0 * (debt_ratio - 0.3)
        + late_weight * late
        - 0.015 * (age - 45)
        + emp_effect
    )
    default = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table(
        {
            "income": income.round(2),
            "debt_ratio": debt_ratio.round(4),
            "age": age.astype(np.int64),
            "late_payments": late.astype(np.int64),
            "employment": employment.astype(str),
            "region": region.astype(str),
            "default": default,
        }
    )
