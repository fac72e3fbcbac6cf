"""Realized metrics agree with scikit-learn, merge like one accumulator over the union, and refuse bad input."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.performance.realized import ClassificationAccumulator, RegressionAccumulator

Arr = np.ndarray[Any, Any]


def close(a: float | None, b: float | None, rel: float = 1e-12, abs_: float = 1e-12) -> bool:
    """Equal within tolerance, or both undefined."""
    return (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b, rel=rel, abs=abs_))


def random_classification(rng: np.random.Generator, n: int, k: int) -> tuple[Arr, Arr, Arr]:
    """Labels, predictions and probabilities that carry some signal (so metrics are not trivial)."""
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p.argmax(axis=1), p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_agrees_with_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, yp, p = random_classification(rng, 3000, 2)
    m = ClassificationAccumulator(classes=[0, 1]).update(y, yp, p).metrics()
    assert m["accuracy"] == skm.accuracy_score(y, yp)
    assert m["precision"] == skm.precision_score(y, yp)
    assert m["recall"] == skm.recall_score(y, yp)
    assert m["f1"] == pytest.approx(skm.f1_score(y, yp), abs=1e-15)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=1e-9)
    acc = ClassificationAccumulator(classes=[0, 1]).update(y, yp, p)
    bound = acc.roc_auc_max_error
    assert bound is not None and bound < 1e-3
    assert abs(m["roc_auc"] - skm.roc_auc_score(y, p[:, 1])) <= bound


@pytest.mark.parametrize(("seed", "k"), [(3, 3), (4, 5)])
def test_multiclass_macro_agrees_with_sklearn(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    y, yp, p = random_classification(rng, 4000, k)
    acc = ClassificationAccumulator(classes=list(range(k))).update(y, yp, p)
    m = acc.metrics()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, yp), abs=1e-15)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert m[name] == pytest.approx(fn(y, yp, average="macro"), abs=1e-12), name
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=list(range(k))), abs=1e-9)
    exact = skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert acc.roc_auc_max_error is not None and abs(m["roc_auc"] - exact) <= acc.roc_auc_max_error
    assert abs(m["roc_auc"] - exact) < 1e-3


def test_string_labels_and_configured_positive_class() -> None:
    y = np.array(["ham", "spam", "spam", "ham", "spam"])
    yp = np.array(["ham", "spam", "ham", "ham", "ham"])
    p_spam = np.array([0.1, 0.9, 0.4, 0.3, 0.2])
    proba = np.column_stack([1 - p_spam, p_spam])
    m = ClassificationAccumulator(classes=["ham", "spam"]).update(y, yp, proba).metrics()
    assert m["recall"] == skm.recall_score(y, yp, pos_label="spam") == pytest.approx(1 / 3)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "spam", p_spam), abs=1e-15)
    m_ham = ClassificationAccumulator(classes=["ham", "spam"], positive="ham").update(y, yp, proba).metrics()
    assert m_ham["precision"] == skm.precision_score(y, yp, pos_label="ham")


def test_macro_skips_undefined_classes_like_sklearn_zero_division_nan() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    yp = np.array([0, 0, 0, 1, 0, 0])  # class 2 is never predicted: its precision is undefined
    m = ClassificationAccumulator(classes=[0, 1, 2]).update(y, yp).metrics()
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert m[name] == pytest.approx(fn(y, yp, average="macro", zero_division=np.nan)), name
    assert m["roc_auc"] is None and m["log_loss"] is None  # no probabilities were given


def test_undefined_metrics_are_none() -> None:
    assert all(v is None for v in ClassificationAccumulator().metrics().values())
    one_class = ClassificationAccumulator(classes=[0, 1]).update([0, 0], [0, 0], [[0.9, 0.1], [0.8, 0.2]])
    m = one_class.metrics()
    assert m["accuracy"] == 1.0 and m["precision"] is None and m["recall"] is None and m["f1"] is None
    assert m["roc_auc"] is None and one_class.roc_auc_max_error is None
    assert RegressionAccumulator().metrics() == {"mae": None, "rmse": None, "mean_error": None}


def test_classes_learned_from_labels_grow_until_probabilities_come() -> None:
    acc = ClassificationAccumulator()
    acc.update([0, 0], [0, 0])
    assert list(acc.classes or ()) == [0]
    acc.update([1, 2], [1, 0])
    assert list(acc.classes or ()) == [0, 1, 2] and acc.confusion.tolist() == [[2, 0, 0], [0, 1, 0], [1, 0, 0]]
    acc.update([0], [1], [[0.4, 0.5, 0.1]])
    with pytest.raises(InvalidInputError, match="y_true"):
        acc.update([3], [3], [[0.2, 0.2, 0.6]])
    with pytest.raises(InvalidInputError, match="other"):
        acc.merge(ClassificationAccumulator().update([4], [4]))
    with pytest.raises(InvalidInputError, match="y_true"):
        ClassificationAccumulator().update(np.array([None, 1], dtype=object), [1, 1])


def test_probability_cliping_keeps_log_loss_finite() -> None:
    m = ClassificationAccumulator(classes=[0, 1]).update([1], [0], [[1.0, 0.0]]).metrics()
    assert m["log_loss"] == pytest.approx(-np.log(1e-15))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "proba", "field"),
    [
        ([[0, 1]], [0, 1], None, "y_true"),
        ([[0, 1], [1]], [0, 1], None, "y_true"),
        ([0, 1], [0], None, "y_pred"),
        ([0, 7], [0, 1], None, "y_true"),
        ([0, 1], [0, "x"], None, "y_pred"),
        ([0, 1], [0, 1], [[0.5, 0.5]], "proba"),
        ([0, 1], [0, 1], [[0.5, 0.5], [2.0, -1.0]], "proba"),
        ([0, 1], [0, 1], [[0.5, 0.6], [0.5, 0.5]], "proba"),
        ([0, 1], [0, 1], [[0.5, np.nan], [0.5, 0.5]], "proba"),
        ([0, 1], [0, 1], [["a", "b"], ["c", "d"]], "proba"),
    ],
)
def test_bad_classification_input_names_the_field(y_true: Any, y_pred: Any, proba: Any, field: str) -> None:
    acc = ClassificationAccumulator(classes=[0, 1])
    with pytest.raises(InvalidInputError, match=field):
        acc.update(y_true, y_pred, proba)
    assert acc.n == 0  # nothing half-applied


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"bins": 3}, "bins"),
        ({"classes": [0, 0]}, "classes"),
        ({"classes": [0, "a"]}, "classes"),
        ({"classes": [0, 1], "positive": 2}, "positive"),
    ],
)
def test_bad_settings_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        ClassificationAccumulator(**kw)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "proba", "field"),
    [
        ([1.0, np.nan], [1.0, 2.0], None, "y_true"),
        ([1.0, 2.0], ["a", "b"], None, "y_pred"),
        ([1.0, 2.0], [1.0], None, "y_pred"),
        ([1.0], [1.0], [[1.0]], "proba"),
    ],
)
def test_bad_regression_input_names_the_field(y_true: Any, y_pred: Any, proba: Any, field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        RegressionAccumulator().update(y_true, y_pred, proba)


def test_regression_agrees_with_sklearn_across_batches() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(1e4, 50.0, size=20_000)
    yp = y + rng.normal(3.0, 10.0, size=y.size)
    acc = RegressionAccumulator()
    for part in np.array_split(np.arange(y.size), 37):
        acc.update(y[part], yp[part])
    m = acc.metrics()
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, yp), rel=1e-9)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, yp)), rel=1e-9)
    assert m["mean_error"] == pytest.approx(np.mean(yp - y), rel=1e-9)
    assert acc.n == y.size


def test_sample_sizes_for_reconciliation() -> None:
    acc = ClassificationAccumulator(classes=[0, 1]).update(
        [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1], [0.8, 0.2]]
    )
    assert acc.sample_sizes() == {"accuracy": 5, "precision": 2, "recall": 2, "f1": 2, "roc_auc": 2}
    assert ClassificationAccumulator().sample_sizes() == {}


# ---- merge: Hypothesis properties ---------------------------------------------------------------------------------


@st.composite
def labelled_batches(draw: st.DrawFn) -> tuple[Arr, Arr, Arr, int]:
    n = draw(st.integers(1, 60))
    k = 3
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    yp = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    raw = np.array(draw(st.lists(st.floats(0.001, 1.0), min_size=n * k, max_size=n * k))).reshape(n, k)
    cut = draw(st.integers(0, n))
    return y, yp, raw / raw.sum(axis=1, keepdims=True), cut


@settings(max_examples=60, deadline=None)
@given(labelled_batches())
def test_classification_merge_equals_one_accumulator_over_both(batch: tuple[Arr, Arr, Arr, int]) -> None:
    y, yp, p, cut = batch
    a = ClassificationAccumulator(classes=[0, 1, 2], bins=50).update(y[:cut], yp[:cut], p[:cut])
    b = ClassificationAccumulator(classes=[0, 1, 2], bins=50).update(y[cut:], yp[cut:], p[cut:])
    whole = ClassificationAccumulator(classes=[0, 1, 2], bins=50).update(y, yp, p)
    merged = a.merge(b)
    sa, sw = merged.to_state(), whole.to_state()
    assert close(sum(sa.pop("log_loss")), sum(sw.pop("log_loss")))  # the same sum, compensated differently
    assert sa == sw  # counts and histograms: exactly
    mm, mw = merged.metrics(), whole.metrics()
    assert mm.keys() == mw.keys()
    for key in mm:
        assert close(mm[key], mw[key]), key
    assert a.n + b.n == merged.n  # inputs unchanged


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 3), max_size=40),
    st.lists(st.integers(0, 3), max_size=40),
)
def test_learned_classes_merge_by_union(a_labels: list[int], b_labels: list[int]) -> None:
    a = ClassificationAccumulator().update(a_labels, a_labels[::-1])
    b = ClassificationAccumulator().update(b_labels, b_labels[::-1])
    whole = ClassificationAccumulator().update(a_labels + b_labels, a_labels[::-1] + b_labels[::-1])
    merged = a.merge(b)
    assert merged.classes == whole.classes and np.array_equal(merged.confusion, whole.confusion)
    assert merged.metrics() == whole.metrics()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), max_size=50),
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), max_size=50),
)
def test_regression_merge_equals_one_accumulator_over_both(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> None:
    def acc(rows: list[tuple[float, float]]) -> RegressionAccumulator:
        arr = np.array(rows, dtype=np.float64).reshape(-1, 2)
        return RegressionAccumulator().update(arr[:, 0], arr[:, 1])

    merged, whole = acc(a).merge(acc(b)), acc(a + b)
    assert merged.n == whole.n
    for key, value in whole.metrics().items():
        assert close(merged.metrics()[key], value, rel=1e-9, abs_=1e-6), key


def test_merge_refuses_other_settings() -> None:
    a = ClassificationAccumulator(classes=[0, 1])
    with pytest.raises(InvalidInputError, match="other"):
        a.merge(ClassificationAccumulator(classes=[0, 1], bins=100))
    with pytest.raises(InvalidInputError, match="other"):
        a.merge(ClassificationAccumulator(classes=[1, 2]))
    with pytest.raises(InvalidInputError, match="other"):
        a.merge(RegressionAccumulator())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="other"):
        RegressionAccumulator().merge(a)  # type: ignore[arg-type]


def test_state_round_trip_through_json() -> None:
    rng = np.random.default_rng(9)
    y, yp, p = random_classification(rng, 500, 3)
    acc = ClassificationAccumulator(classes=[0, 1, 2]).update(y, yp, p)
    back = ClassificationAccumulator.from_state(json.loads(json.dumps(acc.to_state())))
    assert back.metrics() == acc.metrics() and back.to_state() == acc.to_state()
    back.update(y, yp, p)
    assert back.n == 2 * acc.n
    reg = RegressionAccumulator().update([1.0, 2.0], [2.0, 2.0])
    assert RegressionAccumulator.from_state(json.loads(json.dumps(reg.to_state()))).metrics() == reg.metrics()
    with pytest.raises(InvalidInputError, match="state"):
        ClassificationAccumulator.from_state(reg.to_state())
    with pytest.raises(InvalidInputError, match="state"):
        RegressionAccumulator.from_state(acc.to_state())
