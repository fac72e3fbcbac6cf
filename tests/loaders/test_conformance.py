"""Every registered loader loads a real model of its format and honours the LoadedModel contract."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from modelpilot.errors import ConflictError, InvalidInputError, TrustError
from modelpilot.loaders import LoadedModel, TrustRequest, get_loader, loader_names, register_loader
from modelpilot.protocol import Feature, Signature
from tests.models_fixtures import write_onnx_model, write_python_model, write_skops_model

SIG = Signature(features=[Feature(name="x1", type="float"), Feature(name="x2", type="float")])
BATCH = {"x1": np.array([0.9, 0.05, 0.7]), "x2": np.array([0.8, 0.1, 0.1])}
EXPECTED = [1, 0, 0]


def make(fmt: str, tmp: Path) -> tuple[Path | None, str | None, TrustRequest]:
    if fmt == "onnx":
        return write_onnx_model(tmp / "m.onnx"), None, TrustRequest()
    if fmt == "skops":
        return write_skops_model(tmp / "m.skops"), None, TrustRequest()
    if fmt == "python":
        return write_python_model(tmp / "m.py"), "m.py:Classifier", TrustRequest(trust_code=True, reason="test")
    from sklearn.linear_model import LogisticRegression

    x = np.column_stack([np.random.default_rng(0).random(200), np.random.default_rng(1).random(200)])
    model = LogisticRegression().fit(x, (x.sum(axis=1) > 1.0).astype(int))
    path = tmp / "m.pkl"
    path.write_bytes(pickle.dumps(model))
    return path, None, TrustRequest(trust_pickle=True, reason="test")


def test_builtin_formats() -> None:
    assert loader_names() == ["external", "onnx", "pickle", "python", "skops"]


def test_external_models_have_nothing_to_load_or_run() -> None:
    loader = get_loader("external")
    assert not loader.needs_artifact
    record = loader.trust(None, None, TrustRequest())
    assert record == {"kind": "external"}
    with pytest.raises(InvalidInputError, match="has no artifact"):
        loader.trust(Path("m.onnx"), None, TrustRequest())
    model = loader.load(None, entrypoint=None, trust=record, signature=SIG)
    assert isinstance(model, LoadedModel) and not model.is_classifier
    with pytest.raises(InvalidInputError, match="served elsewhere"):
        model.predict(BATCH)


@pytest.mark.parametrize("fmt", ["onnx", "pickle", "python", "skops"])
def test_loader_conformance(fmt: str, tmp_path: Path) -> None:
    artifact, entrypoint, trust = make(fmt, tmp_path)
    loader = get_loader(fmt)
    record = loader.trust(artifact, entrypoint, trust)
    model = loader.load(artifact, entrypoint=entrypoint, trust=record, signature=SIG)
    assert isinstance(model, LoadedModel)
    pred = model.predict(BATCH)
    assert pred.shape == (3,) and [int(p) for p in pred] == EXPECTED
    assert model.is_classifier
    proba = model.predict_proba(BATCH)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.classes is not None and len(model.classes) == 2
    assert [int(i) for i in proba.argmax(axis=1)] == EXPECTED


def test_untrusted_formats_refuse_without_a_decision(tmp_path: Path) -> None:
    for fmt in ("pickle", "python"):
        artifact, entrypoint, _ = make(fmt, tmp_path)
        with pytest.raises(TrustError):
            get_loader(fmt).trust(artifact, entrypoint, TrustRequest())
        with pytest.raises(TrustError):
            get_loader(fmt).load(artifact, entrypoint=entrypoint, trust={"kind": "data-only"}, signature=SIG)


def test_skops_lists_untrusted_types_and_needs_each(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(0).random((100, 2))
    path = tmp_path / "hgb.skops"
    sio.dump(HistGradientBoostingClassifier(max_iter=5).fit(x, (x.sum(axis=1) > 1).astype(int)), path)
    untrusted = sorted(sio.get_untrusted_types(file=path))
    assert untrusted, "this model type needs a trust decision in skops"
    with pytest.raises(TrustError) as err:
        get_loader("skops").trust(path, None, TrustRequest())
    assert all(f"--trust-type {t}" in err.value.hint for t in untrusted)
    record = get_loader("skops").trust(path, None, TrustRequest(trusted_types=tuple(untrusted), reason="reviewed"))
    assert record["trusted_types"] == untrusted and record["reason"] == "reviewed"


def test_unknown_format_and_duplicate_registration() -> None:
    with pytest.raises(InvalidInputError, match="unknown model format 'tensorflow'"):
        get_loader("tensorflow")
    with pytest.raises(ConflictError):
        register_loader(get_loader("onnx"))


def test_bad_onnx_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="not a loadable ONNX model"):
        get_loader("onnx").load(bad, entrypoint=None, trust={}, signature=SIG)
