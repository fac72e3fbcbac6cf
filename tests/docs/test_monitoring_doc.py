"""docs/monitoring.md: the `analyze` example runs as written and prints the alarms the doc shows; every metric the
doc lists exists."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from modelpilot.cli.app import main
from modelpilot.telemetry import metrics

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "monitoring.md"


def _block(lang: str) -> str:
    blocks: list[str] = re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return blocks[0]


def test_the_analyze_example_prints_what_the_doc_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    commands = _block("bash").replace("\\\n", " ").strip().splitlines()
    assert [c.split()[:2] for c in commands] == [["modelpilot", "register"], ["modelpilot", "analyze"]]
    capsys.readouterr()
    for command in commands:
        assert main(["--home", str(tmp_path / ".modelpilot"), *shlex.split(command)[1:]]) == 0, command
    out = " ".join(capsys.readouterr().out.split())
    shown = _block("text")
    for line in shown.split("\n"):
        if line.startswith("window "):
            assert " ".join(line.split()) in out, line
    alarms = " ".join(shown[shown.index("window 6:") :].split())
    assert alarms in out
    for row in ("0 │ 1000 │ │ │ 0.783 │ 0.778", "5 │ 1000 │ income (0.29!), debt_ratio"):
        assert row in out, row


def test_every_metric_in_the_doc_is_declared() -> None:
    names = set(re.findall(r"`(modelpilot_[a-z_]+)`", DOC.read_text(encoding="utf-8")))
    declared = {m._name for m in vars(metrics).values() if hasattr(m, "_name") and hasattr(m, "_type")}
    declared |= {n + "_total" for n in declared}
    assert len(names) >= 12 and names <= declared, names - declared
