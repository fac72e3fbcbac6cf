"""A scoring model for the credit example: logistic, with the coefficients the synthetic data was drawn from.

Registered with ``--format python --trust-code``; it reads the features as numpy columns.
"""

import numpy as np


class CreditModel:
    classes = [0, 1]

    def predict_proba(self, batch):
        income = np.asarray(batch["income"], dtype=float)
        debt = np.asarray(batch["debt_ratio"], dtype=float)
        late = np.asarray(batch["late_payments"], dtype=float)
        age = np.asarray(batch["age"], dtype=float)
        employment = np.asarray(batch["employment"], dtype=object)
        emp = np.select([employment == "unemployed", employment == "self-employed"], [1.2, 0.35], 0.0)
        logit = -1.8 - 1.6 * (np.log(np.maximum(income, 1.0)) - 10.6) + 5.0 * (debt - 0.3) + 0.9 * late
        logit = logit - 0.015 * (age - 45) + emp
        p = 1 / (1 + np.exp(-logit))
        return np.column_stack([1 - p, p])

    def predict(self, batch):
        return (self.predict_proba(batch)[:, 1] > 0.5).astype(int)
