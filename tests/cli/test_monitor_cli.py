"""`modelpilot analyze` and `modelpilot profile` on the shipped credit example, and on bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pyarrow.csv as pacsv
import pytest
from examples.credit.make_data import DRIFT_STARTS_AT_ROW, build

from modelpilot.cli.app import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("monitor") / "home"
    code = main(
        ["--home", str(home), "register", "credit", f"{EXAMPLE / 'model.py'}:CreditModel", "--format", "python",
         "--trust-code", "--reason", "example", "--reference", str(EXAMPLE / "reference.csv"), "--target", "default"]
    )  # fmt: skip
    assert code == 0
    return home


def run_json(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["--home", str(home), *args, "--output", "json"]) == 0
    return orjson.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_shipped_files_are_what_make_data_writes(tmp_path: Path) -> None:
    for name, table in build().items():
        pacsv.write_csv(table, tmp_path / name)
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name


def test_analyze_finds_the_drift_where_it_starts_and_alarms_one_window_later(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_json(home, capsys, "analyze", "credit", "--data", str(EXAMPLE / "traffic.csv"),
                   "--labels", str(EXAMPLE / "labels.csv"), "--id-column", "request_id")  # fmt: skip
    windows = out["windows"]
    assert isinstance(windows, list) and len(windows) == 8
    first_drift_window = (DRIFT_STARTS_AT_ROW - 1) // 1000
    drifted = [[c["key"] for c in w["drift"] if c["severity"]] for w in windows]
    assert all(d == [] for d in drifted[:first_drift_window]), drifted
    assert {"income", "debt_ratio", "late_payments"} <= set(drifted[first_drift_window])
    assert "age" not in drifted[first_drift_window] and "region" not in drifted[first_drift_window]
    alarms = out["alarms"]
    assert isinstance(alarms, list) and [(a["window"], a["kind"], a["transition"]) for a in alarms] == [
        (first_drift_window + 1, "drift", "raised"),
        (first_drift_window + 1, "performance", "raised"),  # accuracy 0.78 -> 0.72: beyond 0.05 and 3 SE
    ]
    perf = alarms[1]["evidence"]["columns"]
    assert set(perf) == {"estimated:accuracy", "realized:accuracy"}
    # performance: estimated tracks realized (covariate shift only), both drop after the drift
    for w in windows:
        assert w["labeled"] == 1000
        assert abs(w["estimated"]["accuracy"] - w["realized"]["accuracy"]) < 0.05
    assert windows[-1]["realized"]["accuracy"] < windows[0]["realized"]["accuracy"] - 0.02


def test_analyze_table_output_names_the_alarm(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--home", str(home), "analyze", "credit", "--data", str(EXAMPLE / "traffic.csv")]) == 0
    out = capsys.readouterr().out
    assert "window 6: drift alarm raised" in out and "income (critical)" in out


def test_profile_shows_bins_and_reference_performance(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = run_json(home, capsys, "profile", "credit")
    columns = prof["columns"]
    assert isinstance(columns, list)
    keys = [c["name"] if c["role"] == "feature" else f"@{c['name']}" for c in columns]
    assert keys[:4] == ["income", "debt_ratio", "age", "late_payments"]
    assert {"employment", "region", "@prediction", "@proba:1", "@reconstruction_error"} <= set(keys)
    assert 0.7 < prof["performance"]["accuracy"] < 0.9  # type: ignore[index]
    rebuilt = run_json(home, capsys, "profile", "credit", "--rebuild")
    assert rebuilt == prof


def test_a_malformed_file_names_the_row_and_column(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    lines = (EXAMPLE / "traffic.csv").read_text().splitlines()[:40]
    cells = lines[17].split(",")
    cells[1] = '"lots"'
    lines[17] = ",".join(cells)
    bad.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["--home", str(home), "analyze", "credit", "--data", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "row 17, column 'income'" in err and "'lots' is not a number" in err


def test_missing_column_and_missing_labels_option_are_clear(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    few = tmp_path / "few.csv"
    few.write_text("income,age\n1000,30\n")
    capsys.readouterr()
    assert main(["--home", str(home), "analyze", "credit", "--data", str(few)]) != 0
    assert "has no column 'debt_ratio'" in capsys.readouterr().err
    assert main(["--home", str(home), "analyze", "credit", "--data", str(EXAMPLE / "traffic.csv"),
                 "--labels", str(EXAMPLE / "labels.csv")]) != 0  # fmt: skip
    assert "--labels needs --id-column" in capsys.readouterr().err


def test_analyze_with_a_prediction_column_does_not_run_the_model(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "scored.csv"
    text = (EXAMPLE / "traffic.csv").read_text().splitlines()[:2001]
    data.write_text("\n".join([text[0] + ",score", *(f"{line},0" for line in text[1:])]) + "\n")
    out = run_json(home, capsys, "analyze", "credit", "--data", str(data), "--prediction-column", "score")
    windows = out["windows"]
    assert isinstance(windows, list) and len(windows) == 2
    pred = next(c for c in windows[0]["drift"] if c["key"] == "@prediction")
    assert pred["severity"] == "critical"  # everything predicted 0: far from the reference mix
    shutil.rmtree(tmp_path, ignore_errors=True)
