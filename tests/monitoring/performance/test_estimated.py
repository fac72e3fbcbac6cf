"""Confidence-based estimation: PAV against sklearn, the estimate against realized metrics (with and without
covariate shift), its documented failure under concept shift, mergeable windows, and reconciliation."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.performance.calibration import Calibrator, isotonic_fit
from modelpilot.monitoring.performance.estimated import (
    PROPORTION_METRICS,
    EstimateAccumulator,
    PerformanceEstimator,
    reconcile,
    reference_metrics,
)
from modelpilot.monitoring.performance.realized import ClassificationAccumulator

Arr = np.ndarray[Any, Any]
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: How far the estimate may sit from the realized value: the realized value's sampling error (reconcile's bound:
#: 3 standard errors of a proportion at the rows behind each metric) plus this much for the calibrator's own error
#: (fitted on 20 000 reference rows). Measured over 40 seeded 5000-row windows per case, no difference passed the
#: sampling bound alone (1 of 200 in the multiclass covariate-shift case); the largest absolute differences were
#: 0.015 (binary, no shift), 0.049 (binary precision under a shift that leaves few predicted positives) and 0.023
#: (multiclass under shift).
CALIBRATION_SLACK = 0.01


def assert_tracks(e: dict[str, float | None], acc: ClassificationAccumulator) -> None:
    report = reconcile(e, acc.metrics(), acc.n, sizes=acc.sample_sizes())
    for m in METRICS:
        row = report[m]
        assert abs(row["difference"]) <= row["bound"] + CALIBRATION_SLACK, (m, row)


def sigmoid(z: Arr) -> Arr:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def binary_world(rng: np.random.Generator, n: int, shift: tuple[float, float] = (0.0, 0.0), concept: bool = False):  # type: ignore[no-untyped-def]
    """Features, a true P(y=1|x), and a model whose probabilities rank well but are miscalibrated (too flat, biased)."""
    x = rng.normal(size=(n, 2)) + np.asarray(shift)
    z = 2.0 * x[:, 0] - x[:, 1] + 0.3
    y = (rng.uniform(size=n) < sigmoid(-z if concept else z)).astype(int)
    p1 = sigmoid(0.6 * z + 0.4)
    return y, (p1 > 0.5).astype(int), np.column_stack([1.0 - p1, p1])


def multiclass_world(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[Arr, Arr, Arr]:
    w = np.array([[2.0, 0.0], [-1.0, 1.5], [-1.0, -1.5]])
    x = rng.normal(size=(n, 2)) + shift
    logits = x @ w.T
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > truth.cumsum(axis=1)).sum(axis=1)
    model = np.exp(0.5 * logits) / np.exp(0.5 * logits).sum(axis=1, keepdims=True)  # under-confident
    return y, model.argmax(axis=1), model


@pytest.fixture(scope="module")
def binary_estimator() -> PerformanceEstimator:
    y, _, p = binary_world(np.random.default_rng(42), 20_000)
    return PerformanceEstimator(Calibrator.fit(y, p, classes=[0, 1]), classes=[0, 1])


# ---- pool-adjacent-violators ----------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.floats(0, 1), st.floats(0.1, 5.0)),
        min_size=1,
        max_size=80,
    )
)
def test_pav_matches_sklearn_isotonic_regression(rows: list[tuple[int, float, float]]) -> None:
    x = np.array([r[0] for r in rows], dtype=float) / 30  # few distinct values: many ties
    y = np.array([r[1] for r in rows])
    w = np.array([r[2] for r in rows])
    xs, ys = isotonic_fit(x, y, w)
    ref = IsotonicRegression(out_of_bounds="clip").fit(x, y, sample_weight=w)
    grid = np.linspace(-0.2, 1.2, 301)
    np.testing.assert_allclose(np.interp(grid, xs, ys), ref.predict(grid), atol=1e-12)
    assert np.all(np.diff(xs) > 0) and np.all(np.diff(ys) >= 0)


def test_pav_on_continuous_scores_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(size=5000)
    y = (rng.uniform(size=5000) < x**2).astype(float)
    xs, ys = isotonic_fit(x, y)
    np.testing.assert_allclose(np.interp(x, xs, ys), IsotonicRegression().fit(x, y).predict(x), atol=1e-12)
    assert len(xs) < 500  # only the ends of flat runs are kept


@pytest.mark.parametrize(
    ("x", "y", "w"), [([], [], None), ([1.0, 2.0], [1.0], None), ([np.nan], [1.0], None), ([1.0], [1.0], [0.0])]
)
def test_pav_refuses_bad_input(x: list[float], y: list[float], w: list[float] | None) -> None:
    with pytest.raises(InvalidInputError, match="x"):
        isotonic_fit(x, y, w)


# ---- the calibrator -------------------------------------------------------------------------------------------


def test_calibrator_makes_the_reference_calibrated_and_round_trips() -> None:
    y, _, p = binary_world(np.random.default_rng(7), 10_000)
    cal = Calibrator.fit(y, p, classes=[0, 1])
    c = cal.calibrate(p)
    assert c.shape == p.shape and np.allclose(c.sum(axis=1), 1.0)
    assert abs(c[:, 1].mean() - y.mean()) < 1e-9  # isotonic fits keep the mean
    for lo in np.arange(0, 1, 0.2):  # and are calibrated by band
        band = (c[:, 1] >= lo) & (c[:, 1] < lo + 0.2)
        assert abs(c[band, 1].mean() - y[band].mean()) < 0.02
    back = Calibrator.from_state(json.loads(json.dumps(cal.to_state())))
    np.testing.assert_array_equal(back.calibrate(p), c)


def test_multiclass_calibrator_renormalises_rows() -> None:
    y, _, p = multiclass_world(np.random.default_rng(3), 6000)
    cal = Calibrator.fit(y, p, classes=[0, 1, 2])
    assert len(cal.curves) == 3 and cal.top is not None and len(cal.top) == 3
    c = cal.calibrate(p)
    assert np.allclose(c.sum(axis=1), 1.0) and (c >= 0).all()
    np.testing.assert_array_equal(Calibrator.from_state(json.loads(json.dumps(cal.to_state()))).calibrate(p), c)
    never = Calibrator.fit(y, p, classes=[0, 1, 2], y_pred=np.where(p.argmax(axis=1) == 2, 0, p.argmax(axis=1)))
    assert never.top is not None and never.top[2] is None  # class 2 was never predicted: its one-vs-rest curve serves
    assert np.allclose(never.calibrate(p, y_pred=np.zeros(len(p), dtype=int)).sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("y", "proba", "classes", "field"),
    [
        ([0, 0, 0], [[0.9, 0.1]] * 3, [0, 1], "y_true"),  # one class only
        ([0, 1, 2], [[0.9, 0.1]] * 3, [0, 1], "y_true"),  # unknown class
        ([[0, 1]], [[0.9, 0.1]], [0, 1], "y_true"),
        ([0, 1], [[0.9, 0.1]], [0, 1], "proba"),
        ([0, 1], [[0.9, 0.1], [0.3, 0.3]], [0, 1], "proba"),
    ],
)
def test_calibrator_fit_refuses_bad_input(y: Any, proba: Any, classes: list[int], field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        Calibrator.fit(y, proba, classes)


@pytest.mark.parametrize(
    ("classes", "curves", "field"),
    [
        ([0], [([0.0], [0.5])], "classes"),
        ([0, 1], [], "curves"),
        ([0, 1], [([0.0, 0.5], [0.6, 0.4])], "curves"),
        ([0, 1], [([0.5, 0.5], [0.1, 0.4])], "curves"),
        ([0, 1], [([0.0, 1.0], [0.1, 1.4])], "curves"),
        ([0, 1, 2], [([0.0], [0.5])] * 3 + [None], "curves"),
    ],
)
def test_calibrator_refuses_bad_curves(classes: list[int], curves: Any, field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        Calibrator(classes, curves)
    with pytest.raises(InvalidInputError, match="curves"):
        Calibrator([0, 1], [([0.0], [0.5])], top=[None, None])  # top curves are for more than two classes
    with pytest.raises(InvalidInputError, match="state"):
        Calibrator.from_state({"classes": [0, 1]})


# ---- the estimate against realized performance ---------------------------------------------------------------


def test_estimate_on_the_reference_matches_reference_metrics() -> None:
    y, yp, p = binary_world(np.random.default_rng(42), 20_000)
    est = PerformanceEstimator(Calibrator.fit(y, p, classes=[0, 1]), classes=[0, 1])
    e, r = est.estimate(yp, p), reference_metrics(y, yp, p, classes=[0, 1])
    for m in METRICS:
        assert abs(e[m] - r[m]) < 0.003, m  # type: ignore[operator]


@pytest.mark.parametrize(
    "shift", [(0.0, 0.0), (1.0, -0.5), (-1.0, 1.0)], ids=["no-shift", "covariate-shift", "covariate-shift-2"]
)
def test_estimate_tracks_realized_under_covariate_shift(binary_estimator: PerformanceEstimator, shift: Any) -> None:
    reference_accuracy = 0.78  # the windows move far from it, and the estimate follows
    for seed in range(5):
        y, yp, p = binary_world(np.random.default_rng(100 + seed), 5000, shift)
        acc = ClassificationAccumulator(classes=[0, 1]).update(y, yp, p)
        assert_tracks(binary_estimator.estimate(yp, p), acc)
        if shift != (0.0, 0.0):
            assert (acc.metrics()["accuracy"] or 0.0) > reference_accuracy + 0.05


def test_concept_shift_is_the_documented_failure_mode(binary_estimator: PerformanceEstimator) -> None:
    """P(y | x) flips: the model is now mostly wrong, but its confidence (all the estimate sees) is unchanged."""
    y, yp, p = binary_world(np.random.default_rng(5), 5000, concept=True)
    e, r = binary_estimator.estimate(yp, p), reference_metrics(y, yp, p, classes=[0, 1])
    assert e["accuracy"] == pytest.approx(0.78, abs=0.02)  # the estimate stays where it was
    assert (r["accuracy"] or 1.0) < 0.3  # realized performance collapses
    acc = ClassificationAccumulator(classes=[0, 1]).update(y, yp, p)
    report = reconcile(e, r, n_labeled=acc.n, sizes=acc.sample_sizes())
    assert all(report[m]["within"] is False for m in METRICS)  # reconciliation is what catches it


def test_multiclass_estimate_tracks_realized_under_covariate_shift() -> None:
    y, _, p = multiclass_world(np.random.default_rng(11), 20_000)
    est = PerformanceEstimator(Calibrator.fit(y, p, classes=[0, 1, 2]), classes=[0, 1, 2])
    for shift in (0.0, 0.8):
        y2, yp2, p2 = multiclass_world(np.random.default_rng(12), 5000, shift)
        assert_tracks(est.estimate(yp2, p2), ClassificationAccumulator(classes=[0, 1, 2]).update(y2, yp2, p2))


def test_top_label_curves_remove_most_of_the_one_vs_rest_bias() -> None:
    y, _, p = multiclass_world(np.random.default_rng(11), 20_000)
    cal = Calibrator.fit(y, p, classes=[0, 1, 2])
    ovr_only = Calibrator(cal.classes, cal.curves)
    y2, yp2, p2 = multiclass_world(np.random.default_rng(13), 50_000)
    realized = reference_metrics(y2, yp2, p2, classes=[0, 1, 2])["accuracy"]
    with_top = PerformanceEstimator(cal, [0, 1, 2]).estimate(yp2, p2)["accuracy"]
    without = PerformanceEstimator(ovr_only, [0, 1, 2]).estimate(yp2, p2)["accuracy"]
    assert realized is not None and with_top is not None and without is not None
    assert without < realized - 0.008  # one-vs-rest alone underestimates
    assert abs(with_top - realized) < 0.006


def test_string_classes_and_a_configured_positive_class() -> None:
    y, yp, p = binary_world(np.random.default_rng(8), 8000)
    names = np.array(["bad", "good"])
    cal = Calibrator.fit(names[y], p, classes=["bad", "good"])
    est = PerformanceEstimator(cal, classes=["bad", "good"], positive="bad")
    e = est.estimate(names[yp], p)
    r = reference_metrics(names[y], names[yp], p, classes=["bad", "good"], positive="bad")
    assert abs(e["precision"] - r["precision"]) < 0.01 and abs(e["recall"] - r["recall"]) < 0.01  # type: ignore[operator]
    assert est.estimate(None, p)["accuracy"] == pytest.approx(e["accuracy"])  # None: the most probable class


# ---- windows ---------------------------------------------------------------------------------------------------


def test_windows_merge_like_one_window_and_round_trip(binary_estimator: PerformanceEstimator) -> None:
    _, yp, p = binary_world(np.random.default_rng(21), 3000)
    a = binary_estimator.accumulator().update(yp[:1000], p[:1000])
    b = binary_estimator.accumulator().update(yp[1000:], p[1000:])
    whole = binary_estimator.accumulator().update(yp, p)
    merged = a.merge(b)
    assert merged.n == whole.n == 3000
    for m, v in whole.metrics().items():
        assert merged.metrics()[m] == pytest.approx(v, rel=1e-12), m
    np.testing.assert_allclose(merged.expected_confusion, whole.expected_confusion, rtol=1e-12)
    back = EstimateAccumulator.from_state(json.loads(json.dumps(merged.to_state())), binary_estimator)
    assert back.metrics() == merged.metrics()
    est_back = PerformanceEstimator.from_state(json.loads(json.dumps(binary_estimator.to_state())))
    assert est_back.accumulator().update(yp, p).metrics() == whole.metrics()
    with pytest.raises(InvalidInputError, match="state"):
        PerformanceEstimator.from_state({"positive": None})
    assert all(v is None for v in binary_estimator.accumulator().metrics().values())


def test_estimator_and_window_refuse_bad_input(binary_estimator: PerformanceEstimator) -> None:
    cal = binary_estimator.calibrator
    with pytest.raises(InvalidInputError, match="classes"):
        PerformanceEstimator(cal, classes=[1, 0])
    with pytest.raises(InvalidInputError, match="calibrator"):
        PerformanceEstimator("cal", classes=[0, 1])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="bins"):
        PerformanceEstimator(cal, classes=[0, 1], bins=1)
    acc = binary_estimator.accumulator()
    with pytest.raises(InvalidInputError, match="y_pred"):
        acc.update([0, 1], [[0.5, 0.5]])
    with pytest.raises(InvalidInputError, match="y_pred"):
        acc.update([7], [[0.5, 0.5]])
    with pytest.raises(InvalidInputError, match="proba"):
        acc.update([0], [[0.5, 0.5, 0.0]])
    with pytest.raises(InvalidInputError, match="proba"):
        acc.update(None, 0.5)
    with pytest.raises(InvalidInputError, match="proba"):
        cal.calibrate([[0.5, 0.5], [1.0]])
    assert acc.n == 0
    other = PerformanceEstimator(cal, classes=[0, 1], bins=10).accumulator()
    with pytest.raises(InvalidInputError, match="other"):
        acc.merge(other)
    with pytest.raises(InvalidInputError, match="state"):
        EstimateAccumulator.from_state({"type": "estimate", "classes": [0, 1]}, binary_estimator)


# ---- reconciliation ------------------------------------------------------------------------------------------


def test_reconcile_reports_each_metric_with_a_binomial_bound() -> None:
    out = reconcile({"accuracy": 0.9, "f1": None, "log_loss": 0.3}, {"accuracy": 0.8, "roc_auc": 0.7}, 1000)
    acc = out["accuracy"]
    assert acc["difference"] == pytest.approx(-0.1) and acc["n"] == 1000 and acc["within"] is False
    n_adj = 1000 + 9
    centre = (900 + 4.5) / n_adj
    assert acc["bound"] == pytest.approx(3 * np.sqrt(centre * (1 - centre) / n_adj))
    assert out["f1"]["within"] is None and out["roc_auc"]["estimated"] is None
    assert out["log_loss"]["bound"] is None  # not a proportion
    assert reconcile({"accuracy": 1.0}, {"accuracy": 0.99}, 500)["accuracy"]["within"] is True  # no zero-width bound
    assert reconcile({"accuracy": 0.9}, {"accuracy": 0.5}, 0)["accuracy"]["bound"] is None
    assert reconcile({"precision": 0.9}, {"precision": 0.8}, 10_000, sizes={"precision": 40})["precision"]["within"]
    assert set(PROPORTION_METRICS) == set(METRICS)


def test_reconcile_rarely_flags_a_correct_estimate(binary_estimator: PerformanceEstimator) -> None:
    flagged = 0
    for seed in range(10):
        y, yp, p = binary_world(np.random.default_rng(300 + seed), 2000, (0.5, 0.0))
        acc = ClassificationAccumulator(classes=[0, 1]).update(y, yp, p)
        report = reconcile(binary_estimator.estimate(yp, p), acc.metrics(), acc.n, sizes=acc.sample_sizes())
        flagged += sum(report[m]["within"] is False for m in METRICS)
    assert flagged <= 1


@pytest.mark.parametrize(("n", "z"), [(-1, 3.0), (True, 3.0), (10, 0.0)])
def test_reconcile_refuses_bad_arguments(n: Any, z: float) -> None:
    with pytest.raises(InvalidInputError, match=r"n_labeled|z"):
        reconcile({}, {}, n, z=z)
