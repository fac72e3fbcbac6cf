"""`modelpilot up` and `serve` keep every settings section of the config file when options change some of them."""

from __future__ import annotations

from pathlib import Path

from modelpilot.cli.serve_cmds import _with_serving
from modelpilot.config import load_settings


def test_options_override_serving_and_add_slo_specs_without_losing_other_sections(tmp_path: Path) -> None:
    config = tmp_path / "modelpilot.yaml"
    spec = tmp_path / "slo.yaml"
    config.write_text(
        f"monitor:\n  window: {{rows: 123}}\nslo:\n  tick_s: 5\n  specs: [{spec}]\nserving:\n  max_rows: 77\n",
        encoding="utf-8",
    )
    base = load_settings(config, home=tmp_path / "home", actor="tester")
    extra = tmp_path / "more.yaml"
    got = _with_serving(base, "127.0.0.1", 9999, None, [extra])
    assert got.serving.port == 9999 and got.serving.max_rows == 77
    assert got.monitor.window.rows == 123 and got.slo.tick_s == 5
    assert got.slo.specs == [spec, extra]
    assert got.home == tmp_path / "home" and got.actor_name == "tester"
