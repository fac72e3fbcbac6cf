"""The registry against SQLite and a real PostgreSQL server (parametrised by the `store_url` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from modelpilot.errors import ArtifactError, GateFailedError, InvalidInputError, NotFoundError, TrustError
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Lineage, Registry, parse_policy
from modelpilot.storage.tables import versions
from tests.models_fixtures import write_python_model, write_reference, write_skops_model

CODE = TrustRequest(trust_code=True, reason="reviewed in test")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "py": write_python_model(tmp_path / "model.py"),
        "ref": write_reference(tmp_path / "ref.csv"),
        "skops": write_skops_model(tmp_path / "model.skops"),
    }


def reg_py(registry: Registry, files: dict[str, Path], name: str = "m") -> int:
    info = registry.register(
        name, f"{files['py']}:Classifier", format="python", reference=files["ref"], target="y", trust=CODE
    )
    return info.version


def test_versions_are_consecutive_and_immutable_records(registry: Registry, files: dict[str, Path]) -> None:
    assert [reg_py(registry, files) for _ in range(3)] == [1, 2, 3]
    assert [v.version for v in registry.versions("m")] == [1, 2, 3]
    assert reg_py(registry, files, name="other") == 1
    assert [(m.name, m.versions, m.latest) for m in registry.models()] == [("m", 3, 3), ("other", 1, 1)]


def test_signature_lineage_and_reference_are_stored(registry: Registry, files: dict[str, Path]) -> None:
    from modelpilot.registry import parse_lineage

    lineage = parse_lineage([f"training_data={files['ref']}", "code_revision=abc123", "param.C=1.0"])
    v = registry.register(
        "m",
        str(files["skops"]),
        format="skops",
        reference=files["ref"],
        target="y",
        metrics={"auc": 0.9},
        lineage=lineage,
        description="lr",
    )
    got = registry.get("m", v.version)
    assert got.signature.names == ["x1", "x2"] and got.signature.target is not None
    assert got.signature.features[0].type == "float" and got.signature.features[0].min is not None
    assert got.lineage.code_revision == "abc123" and got.lineage.parameters == {"C": "1.0"}
    assert got.lineage.training_data_digest is not None and got.lineage.training_data_digest.startswith("sha256:")
    assert got.lineage.registered_by == "tester" and got.lineage.registered_at
    assert got.metrics == {"auc": 0.9} and got.reference_rows == 200
    ref = registry.reference("m", v.version)
    assert ref.column_names == ["x1", "x2", "y"] and ref.num_rows == 200
    assert registry.artifacts.exists(got.artifact_digest or "")


def test_loaded_model_predicts(registry: Registry, files: dict[str, Path]) -> None:
    registry.register("m", str(files["skops"]), format="skops", reference=files["ref"], target="y")
    model = registry.load("m", 1)
    batch = {"x1": np.array([0.9, 0.1]), "x2": np.array([0.9, 0.1])}
    assert model.predict(batch).tolist() == [1, 0]
    assert model.is_classifier and model.classes == [0, 1]
    assert np.allclose(model.predict_proba(batch).sum(axis=1), 1.0)


def test_tampered_artifact_refuses_to_load(registry: Registry, files: dict[str, Path]) -> None:
    v = registry.register("m", str(files["skops"]), format="skops", reference=files["ref"], target="y")
    path = registry.artifacts.path(v.artifact_digest or "")
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="does not match its content"):
        registry.load("m", 1)
    with pytest.raises(GateFailedError, match="artifact_verified") as refused:  # --force never overrides integrity
        registry.promote("m", 1, force=True, reason="test")
    results = refused.value.details["report"]["results"]
    assert [r["passed"] for r in results if r["rule"] == "artifact_verified"] == [False]
    assert registry.aliases("m") == {}


def test_failed_registration_leaves_nothing(registry: Registry, files: dict[str, Path], tmp_path: Path) -> None:
    bad_ref = tmp_path / "bad.csv"
    bad_ref.write_text("x1,zz\n0.1,0.2\n")  # the model needs x2
    with pytest.raises(InvalidInputError, match="fails on the first rows"):
        registry.register("m", f"{files['py']}:predict", format="python", reference=bad_ref, trust=CODE)
    assert registry.models() == []
    assert list((registry.artifacts.root / "sha256").glob("*")) == []  # glob of a missing folder is empty
    assert registry.audit.entries() == []


def test_failure_inside_the_transaction_rolls_back_and_removes_new_artifacts(
    registry: Registry, files: dict[str, Path]
) -> None:
    reg_py(registry, files)
    with pytest.raises(InvalidInputError, match="parent_version=7"):
        registry.register(
            "m",
            str(files["skops"]),
            format="skops",
            reference=files["ref"],
            target="y",
            lineage=Lineage(parent_version=7),
        )
    assert [v.version for v in registry.versions("m")] == [1]
    stored = {p.name for p in (registry.artifacts.root / "sha256").iterdir()}
    with registry.store.read() as conn:
        referenced = {r[0] for r in conn.execute(sa.select(versions.c.artifact_digest))} | {
            r[0] for r in conn.execute(sa.select(versions.c.reference_digest))
        }
    assert stored == referenced - {None}


def test_trust_is_required_and_audited(registry: Registry, files: dict[str, Path]) -> None:
    with pytest.raises(TrustError, match="runs its own code") as no_code:
        registry.register("m", f"{files['py']}:predict", format="python")
    assert "--trust-code" in no_code.value.hint
    pkl = files["py"].with_suffix(".pkl")
    import pickle

    from sklearn.linear_model import LinearRegression

    pkl.write_bytes(pickle.dumps(LinearRegression().fit([[0.0, 1.0], [1.0, 0.0]], [0.0, 1.0])))
    with pytest.raises(TrustError, match="arbitrary code") as no_pickle:
        registry.register("p", str(pkl), format="pickle")
    assert "--trust-pickle --reason" in no_pickle.value.hint
    with pytest.raises(TrustError):
        registry.register("p", str(pkl), format="pickle", trust=TrustRequest(trust_pickle=True))  # no reason
    v = registry.register(
        "p", str(pkl), format="pickle", trust=TrustRequest(trust_pickle=True, reason="legacy model, reviewed by ana")
    )
    assert v.trust == {"kind": "pickle", "reason": "legacy model, reviewed by ana"}
    trust_entries = registry.audit.entries(action="trust.pickle")
    assert len(trust_entries) == 1 and trust_entries[0].reason == "legacy model, reviewed by ana"
    assert registry.load("p", 1).predict({"x0": np.array([1.0]), "x1": np.array([0.0])}).shape == (1,)


def test_alias_history_answers_who_when_why(registry: Registry, files: dict[str, Path]) -> None:
    clock = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(100))
    registry.clock = registry.audit.clock = lambda: next(clock)
    for _ in range(3):
        reg_py(registry, files)
    registry.set_alias("m", "production", 1, reason="launch", actor="ana")
    registry.set_alias("m", "production", 2, reason="better recall", actor="bob")
    registry.unset_alias("m", "production", reason="incident 42", actor="cy")
    registry.set_alias("m", "production", 3, reason="fixed", actor="ana")
    moves = registry.alias_history("m", "production")
    assert [(m.version, m.previous_version, m.actor) for m in moves] == [
        (1, None, "ana"),
        (2, 1, "bob"),
        (None, 2, "cy"),
        (3, None, "ana"),
    ]
    t_bob = moves[1].moved_at
    at = registry.alias_at("m", "production", t_bob + timedelta(minutes=30))
    assert at is not None and (at.version, at.actor, at.reason) == (2, "bob", "better recall")
    assert registry.alias_at("m", "production", moves[2].moved_at + timedelta(minutes=1)) is None
    assert registry.alias_at("m", "production", moves[0].moved_at - timedelta(seconds=1)) is None
    assert registry.aliases("m") == {"production": 3}
    assert registry.resolve("m", "production").version == 3
    assert all(m.audit_seq for m in moves)


def test_alias_errors(registry: Registry, files: dict[str, Path]) -> None:
    reg_py(registry, files)
    with pytest.raises(NotFoundError, match="no version 9"):
        registry.set_alias("m", "production", 9, reason="x")
    with pytest.raises(InvalidInputError, match="reason"):
        registry.set_alias("m", "production", 1, reason=" ")
    with pytest.raises(NotFoundError, match="not registered"):
        registry.set_alias("nope", "production", 1, reason="x")
    with pytest.raises(InvalidInputError, match="alias"):
        registry.set_alias("m", "bad alias!", 1, reason="x")
    with pytest.raises(NotFoundError, match="no alias"):
        registry.unset_alias("m", "canary", reason="x")
    for numeric in ("2", "v2", "latest"):
        with pytest.raises(InvalidInputError, match="version number"):
            registry.set_alias("m", numeric, 1, reason="x")


POLICY = {
    "rules": [
        {"type": "artifact_verified"},
        {"type": "signature_compatible"},
        {"type": "metric_min", "metric": "auc", "min": 0.8},
        {"type": "max_regression", "metric": "auc", "max_drop": 0.01},
        {"type": "lineage_required", "fields": ["code_revision"]},
    ]
}


def test_promotion_gates_pass_refuse_and_force(registry: Registry, files: dict[str, Path]) -> None:
    policy = parse_policy(POLICY)

    def add(auc: float) -> int:
        return registry.register(
            "m",
            str(files["skops"]),
            format="skops",
            reference=files["ref"],
            target="y",
            metrics={"auc": auc},
            lineage=Lineage(code_revision="r1"),
        ).version

    v1, v2, v3 = add(0.90), add(0.85), add(0.905)
    assert registry.promote("m", v1, policy=policy).report.passed
    with pytest.raises(GateFailedError) as refused:
        registry.promote("m", v2, policy=policy)
    rules = {r["rule"]: r for r in refused.value.details["report"]["results"]}
    assert not rules["max_regression auc"]["passed"] and rules["max_regression auc"]["observed"] == "drop 0.05"
    assert registry.aliases("m") == {"production": v1}
    assert registry.audit.entries(action="promote.refused")[-1].evidence_obj["version"] == v2
    ok = registry.promote("m", v3, policy=policy, reason="better")
    assert ok.moved and not ok.forced and ok.previous == v1
    with pytest.raises(InvalidInputError, match="reason"):
        registry.promote("m", v2, policy=policy, force=True)
    forced = registry.promote("m", v2, policy=policy, force=True, reason="hotfix approved by cy")
    assert forced.forced and registry.aliases("m") == {"production": v2}
    history = registry.alias_history("m", "production")
    assert [(m.version, m.forced) for m in history] == [(v1, False), (v3, False), (v2, True)]
    promote_entries = registry.audit.entries(action="promote")
    assert promote_entries[-1].evidence_obj["forced"] is True
    assert registry.audit.verify().ok


def test_signature_incompatible_candidate_is_refused(
    registry: Registry, files: dict[str, Path], tmp_path: Path
) -> None:
    reg_py(registry, files)
    registry.promote("m", 1)
    extra = tmp_path / "extra.csv"
    extra.write_text("x1,x2,x3,y\n0.1,0.2,0.3,0\n0.9,0.8,0.1,1\n")
    registry.register("m", f"{files['py']}:Classifier", format="python", reference=extra, target="y", trust=CODE)
    with pytest.raises(GateFailedError, match="signature_compatible"):
        registry.promote("m", 2)


def test_resolve_and_not_found(registry: Registry, files: dict[str, Path]) -> None:
    reg_py(registry, files)
    reg_py(registry, files)
    assert registry.resolve("m", "latest").version == 2
    assert registry.resolve("m", "v1").version == 1
    with pytest.raises(NotFoundError, match="no version 5") as missing:
        registry.get("m", 5)
    assert "versions run from 1 to 2" in missing.value.hint
    with pytest.raises(NotFoundError, match="no version or alias 'canary'"):
        registry.resolve("m", "canary")
    with pytest.raises(NotFoundError):
        registry.versions("ghost")


def test_every_change_is_audited_in_order(registry: Registry, files: dict[str, Path]) -> None:
    reg_py(registry, files)
    registry.set_alias("m", "fallback", 1, reason="safe")
    actions = [e.action for e in registry.audit.entries(model="m")]
    assert actions == ["model.create", "version.register", "trust.code", "alias.set"]
    assert registry.audit.verify().ok
