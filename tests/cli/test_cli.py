"""The `modelpilot` command end to end (in-process through `main`, which is what the console script runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpilot.cli.app import main
from tests.models_fixtures import write_onnx_model, write_reference, write_skops_model


def run(home: Path, *args: str) -> int:
    return main(["--home", str(home), "--actor", "cli-test", *args])


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("register", "models", "versions", "show", "promote", "alias", "audit", "demo", "config"):
        assert cmd in out
    assert main(["alias", "--help"]) == 0
    alias_help = capsys.readouterr().out
    assert all(c in alias_help for c in ("set", "history", "list", "unset"))


def test_register_show_promote_and_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    model, ref = write_skops_model(tmp_path / "m.skops"), write_reference(tmp_path / "ref.csv")
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"auc": 0.93}')
    args = [
        "register",
        "credit",
        str(model),
        "--format",
        "skops",
        "--reference",
        str(ref),
        "--target",
        "y",
        "--metrics",
        str(metrics),
        "--lineage",
        "code_revision=abc",
        "--lineage",
        "param.C=1",
    ]
    assert run(home, *args) == 0
    assert capsys.readouterr().out.strip() == "1"
    assert run(home, "show", "credit", "1", "-o", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["lineage"]["parameters"] == {"C": "1"} and shown["metrics"] == {"auc": 0.93}
    assert run(home, "promote", "credit", "1", "--reason", "launch") == 0
    assert "production -> v1" in capsys.readouterr().out
    assert run(home, "models", "-o", "yaml") == 0
    assert "production: 1" in capsys.readouterr().out
    policy = tmp_path / "gates.yaml"
    policy.write_text("rules:\n  - type: metric_min\n    metric: auc\n    min: 0.99\n")
    assert (
        run(
            home,
            "register",
            "credit",
            str(model),
            "-f",
            "skops",
            "--reference",
            str(ref),
            "--target",
            "y",
            "--metrics",
            str(metrics),
        )
        == 0
    )
    capsys.readouterr()
    assert run(home, "promote", "credit", "2", "--policy", str(policy)) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "metric_min auc" in captured.out and "refused" in captured.err
    assert run(home, "alias", "history", "credit", "production", "-o", "json") == 0
    assert [m["version"] for m in json.loads(capsys.readouterr().out)] == [1]
    assert run(home, "alias", "history", "credit", "production", "--at", "0s") == 0
    assert "v1" in capsys.readouterr().out
    assert run(home, "audit", "log", "--model", "credit", "-o", "json") == 0
    actions = [e["action"] for e in json.loads(capsys.readouterr().out)]
    assert actions == ["model.create", "version.register", "promote", "version.register", "promote.refused"]
    assert run(home, "audit", "verify") == 0


def test_onnx_registration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    ref = write_reference(tmp_path / "ref.csv")
    assert (
        run(
            home,
            "register",
            "lin",
            str(write_onnx_model(tmp_path / "m.onnx")),
            "--format",
            "onnx",
            "--reference",
            str(ref),
            "--target",
            "y",
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == "1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["register", "m", "missing.onnx"], "artifact file missing.onnx does not exist"),
        (["register", "m", "model.bin"], "cannot tell the format of 'model.bin'"),
        (["register", "m", "{model}", "--format", "skops", "--reference", "nope.csv"], "does not exist"),
        (
            ["register", "m", "{model}", "--format", "skops", "--reference", "{ref}", "--target", "zz"],
            "target column 'zz'",
        ),
        (["register", "m", "{model}", "--format", "skops", "--lineage", "oops"], "lineage pair 'oops' is malformed"),
        (["register", "bad name", "{model}", "--format", "skops"], "model name 'bad name' is not allowed"),
        (["register", "m", "{model}", "--format", "skops", "--metrics", "{ref}"], "is not valid JSON"),
        (["show", "ghost", "1"], "model 'ghost' is not registered"),
        (["promote", "ghost", "1"], "model 'ghost' is not registered"),
        (["promote", "m", "1", "--policy", "{badpolicy}"], "policy file"),
        (["audit", "log", "--since", "yesterday"], "--since 'yesterday' is not a time"),
    ],
)
def test_bad_input_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    model, ref = write_skops_model(tmp_path / "m.skops"), write_reference(tmp_path / "ref.csv")
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("rules:\n  - type: metric_minimum\n    metric: auc\n")
    subst = {"{model}": str(model), "{ref}": str(ref), "{badpolicy}": str(bad_policy)}
    argv = [subst.get(a, a) for a in args]
    if args[0] == "promote" and args[1] == "m":
        assert run(tmp_path / "home", "register", "m", str(model), "-f", "skops") == 0
        capsys.readouterr()
    code = run(tmp_path / "home", *argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "fix:" in err and "Traceback" not in err


def test_failed_registration_leaves_no_version_and_no_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    signature = tmp_path / "sig.yaml"
    signature.write_text(
        "features:\n  - {name: x1, type: float, min: 0, max: 0.5}\n  - {name: x2, type: float}\n"
        "target: {name: y, type: integer}\n"
    )
    code = run(
        home,
        "register",
        "m",
        str(write_skops_model(tmp_path / "m.skops")),
        "-f",
        "skops",
        "--reference",
        str(write_reference(tmp_path / "ref.csv")),
        "--target",
        "y",
        "--signature",
        str(signature),
    )
    assert code == 2
    assert "does not match the signature" in capsys.readouterr().err
    assert run(home, "models", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out) == []
    blobs = home / "artifacts" / "sha256"
    assert not blobs.exists() or not any(blobs.iterdir())


def test_config_show_masks_the_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", "postgresql://ana:s3cret@db.example/mp", "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and "***" in out
