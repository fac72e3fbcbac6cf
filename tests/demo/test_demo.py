from __future__ import annotations

from pathlib import Path

import pytest

from modelpilot.cli.app import main


@pytest.mark.slow
def test_demo_promotes_v1_refuses_v2_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "demo"]) == 0
    out = capsys.readouterr().out
    assert "refused" in out and "max_regression auc" in out and "production still serves v1" in out
    assert "audit verify: intact" in out
    assert main(["--home", str(home / "demo"), "alias", "list", "credit", "-o", "json"]) == 0
    assert '"production": 1' in capsys.readouterr().out
    assert main(["--home", str(home / "demo"), "audit", "verify"]) == 0
