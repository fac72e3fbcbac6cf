"""docs/slo.md: the spec file it shows is examples/slo/credit.yaml and loads; the rules it quotes are what `slo
render` writes; the dashboard it describes is what `--grafana` writes; the `slo status` table it shows is what the
evaluator reports after the credit example's traffic (drift from row 5001) and labels went through `modelpilot up`'s
app; every metric it names exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from starlette.testclient import TestClient

from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.events import InProcessBus
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.slo.service import SloService
from modelpilot.telemetry import metrics

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "slo.md"
SPEC = ROOT / "examples" / "slo" / "credit.yaml"
EXAMPLE = ROOT / "examples" / "credit"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_spec_shown_is_the_example_file() -> None:
    assert _blocks("yaml")[0] == SPEC.read_text(encoding="utf-8")


def test_the_bad_spec_shown_gets_the_errors_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = next(b for b in _blocks("yaml") if "fraud" in b)
    shown = next(b for b in _blocks("text") if b.startswith("error:"))
    (tmp_path / "examples" / "slo").mkdir(parents=True)
    (tmp_path / "examples" / "slo" / "bad.yaml").write_text(bad, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    home = ["--home", str(tmp_path / "h")]
    assert main([*home, "register", "credit", f"{EXAMPLE / 'model.py'}:CreditModel", "--format", "python",
                 "--reference", str(EXAMPLE / "reference.csv"), "--target", "default", "--trust-code",
                 "--reason", "doc"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main([*home, "slo", "check", "--spec", "examples/slo/bad.yaml"]) != 0
    assert capsys.readouterr().err.split() == shown.split()


def test_the_rules_quoted_are_what_render_writes(tmp_path: Path) -> None:
    assert main(["--home", str(tmp_path / "h"), "slo", "render", "--spec", str(SPEC), "--skip-model-check",
                 "--out", str(tmp_path / "out"), "--grafana"]) == 0  # fmt: skip
    rendered = (tmp_path / "out" / "credit.rules.yml").read_text(encoding="utf-8")
    quoted = [b for b in _blocks("yaml")[1:] if "record:" in b or "alert:" in b]
    assert len(quoted) >= 2
    for block in quoted:
        assert block.strip("\n") in rendered, block
    board = json.loads((tmp_path / "out" / "credit.dashboard.json").read_text(encoding="utf-8"))
    titles = {p["title"] for p in board["panels"]}
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## The Grafana dashboard") :]
    section = section[: section.index("\n## ", 1)]
    described = re.findall(r"\*\*(.+?)\*\*", section)
    assert len(described) >= 8
    for title in described:
        assert any(title in t for t in titles), title


def test_the_status_table_shown_is_what_the_evaluator_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home, actor="tester", slo={"specs": [SPEC], "tick_s": 60})
    registry = Registry.open(settings)
    registry.register(
        "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
        target="default", trust=TrustRequest(trust_code=True, reason="doc example"),
    )  # fmt: skip
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    traffic = pacsv.read_csv(EXAMPLE / "traffic.csv").drop_columns(["request_id"]).to_pylist()
    labels = pacsv.read_csv(EXAMPLE / "labels.csv").column("default").to_pylist()
    bus = InProcessBus(10_000)
    with TestClient(create_app(settings, bus=bus, monitor=True)) as client:
        for start in range(0, len(traffic), 100):
            r = client.post("/v1/models/credit:predict", json={"instances": traffic[start : start + 100]})
            assert r.status_code == 200, r.text
            rid = r.headers["x-request-id"]
            fb = client.post("/v1/feedback", json=[{"request_id": rid, "label": labels[start : start + 100]}])
            assert fb.status_code == 202, fb.text
        assert bus.flush(10.0)
        svc: SloService = client.app.state.mp.extras["slo"]  # type: ignore[attr-defined]
        svc.tick()
    registry.store.close()
    capsys.readouterr()
    assert main(["--home", str(home), "slo", "status"]) == 0
    out = capsys.readouterr().out
    shown = next(b for b in _blocks("text") if "budget left" in b)
    rows = [line for line in shown.splitlines() if line.strip().startswith("credit-")]
    assert len(rows) == 4
    for row in rows:
        cells = [c.strip() for c in re.split(r"[│┃]", row)][:-1]  # the age differs run to run
        line = next(x for x in out.splitlines() if x.strip().startswith(cells[0]))
        got = [c.strip() for c in re.split(r"[│┃]", line)][:-1]
        assert got == cells, (got, cells)


def test_every_metric_in_the_doc_is_declared() -> None:
    names = set(re.findall(r"`(modelpilot_[a-z_]+)`", DOC.read_text(encoding="utf-8")))
    declared = {m._name for m in vars(metrics).values() if hasattr(m, "_name") and hasattr(m, "_type")}
    declared |= {n + s for n in declared for s in ("_total", "_bucket", "_count")}
    assert len(names) >= 10 and names <= declared, names - declared
