"""The Grafana dashboard of a model: a golden file, the structure Grafana needs, and PromQL that promtool accepts."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from modelpilot.slo.grafana import BURN_WINDOWS, dashboard, dashboard_uid, promql_string, render_dashboards
from modelpilot.slo.spec import SloSpec, parse_specs
from modelpilot.telemetry import metrics
from tests.conftest import missing_component

GOLDEN = Path(__file__).parent / "golden" / "credit.dashboard.json"
REGENERATE = "UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/slo/test_grafana.py"
WEIRD = 'we"ird\\model'

SPECS = """
slos:
  - name: availability
    model: credit
    description: Callers get an answer
    sli: {kind: availability}
    objective: 99.9
    period: 28d
  - name: accuracy
    model: credit
    sli: {kind: accuracy, target: 0.9}
    objective: 95
    period: 30d
"""


@pytest.fixture
def specs() -> list[SloSpec]:
    return parse_specs(SPECS)


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = board["panels"]
    return panels


def _exprs(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and annotation queries."""
    out = [t["expr"] for p in _panels(board) for t in p.get("targets", [])]
    out += [a["target"]["expr"] for a in board["annotations"]["list"] if "target" in a]
    return out


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _titled(board: dict[str, Any], title: str) -> list[dict[str, Any]]:
    return [p for p in _panels(board) if p["title"] == title]


# ---------------------------------------------------------------------------------------------------- golden
def test_the_dashboard_matches_the_golden_file(specs: list[SloSpec], tmp_path: Path) -> None:
    [path] = render_dashboards(specs, tmp_path)
    assert path == tmp_path / "credit.dashboard.json"
    rendered = path.read_text(encoding="utf-8")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(rendered, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8") if GOLDEN.exists() else ""
    if rendered != expected:
        diff = "".join(
            list(difflib.unified_diff(expected.splitlines(True), rendered.splitlines(True), str(GOLDEN), "rendered"))[
                :80
            ]
        )
        pytest.fail(
            f"the dashboard differs from {GOLDEN.name}; if the change is intended, regenerate it with "
            f"`{REGENERATE}` and review the diff\n{diff}",
            pytrace=False,
        )


def test_render_writes_one_stable_file_per_model(specs: list[SloSpec], tmp_path: Path) -> None:
    other = parse_specs("slos: [{name: availability, model: fraud, sli: {kind: availability}, objective: 99}]")
    paths = render_dashboards([*other, *specs], tmp_path / "out")
    assert [p.name for p in paths] == ["credit.dashboard.json", "fraud.dashboard.json"]
    for path, model in zip(paths, ("credit", "fraud"), strict=True):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n") and not text.endswith("\n\n")
        data = json.loads(text)
        assert data == json.loads(json.dumps(dashboard(model, [*other, *specs])))
        assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    again = render_dashboards([*other, *specs], tmp_path / "out")
    assert again == paths


def test_render_refuses_a_model_name_that_is_a_path(tmp_path: Path) -> None:
    spec = SloSpec.model_validate(
        {"name": "availability", "model": "../x", "sli": {"kind": "availability"}, "objective": 99}
    )
    with pytest.raises(ValueError, match="cannot name a dashboard file"):
        render_dashboards([spec], tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- structure
def test_top_level_keys_and_types(specs: list[SloSpec]) -> None:
    board = dashboard("credit", specs)
    kinds = {
        "annotations": dict,
        "editable": bool,
        "panels": list,
        "refresh": str,
        "schemaVersion": int,
        "tags": list,
        "templating": dict,
        "time": dict,
        "timepicker": dict,
        "title": str,
        "uid": str,
        "version": int,
    }
    for key, kind in kinds.items():
        assert isinstance(board[key], kind), key
    assert board["schemaVersion"] == 39
    assert board["title"] == "modelpilot: credit"
    assert board["uid"] == "modelpilot-credit"
    assert board["tags"] == ["modelpilot", "slo"]
    assert board["time"] == {"from": "now-24h", "to": "now"}
    assert board["refresh"] == "30s"
    assert board["id"] is None
    [variable] = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    json.dumps(board, allow_nan=False)  # plain JSON, nothing Grafana could not read


def test_panel_ids_are_unique_and_the_grid_has_no_overlap(specs: list[SloSpec]) -> None:
    for board in (dashboard("credit", specs), dashboard("fraud", specs)):
        panels = _panels(board)
        ids = [p["id"] for p in panels]
        assert len(set(ids)) == len(ids) and all(isinstance(i, int) and i > 0 for i in ids)
        cells: dict[tuple[int, int], str] = {}
        for panel in panels:
            pos = panel["gridPos"]
            assert set(pos) == {"h", "w", "x", "y"} and all(isinstance(v, int) for v in pos.values())
            assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            if panel["type"] == "row":
                assert (pos["x"], pos["w"], pos["h"]) == (0, 24, 1) and panel["panels"] == []
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                    cells[(x, y)] = panel["title"]
        ys = [p["gridPos"]["y"] for p in panels]
        assert ys == sorted(ys), "panels are listed top to bottom, as Grafana saves them"


def test_targets_have_a_ref_and_an_expression(specs: list[SloSpec]) -> None:
    for panel in _panels(dashboard("credit", specs)):
        targets = panel.get("targets", [])
        assert (panel["type"] == "row") == (not targets), panel["title"]
        refs = [t["refId"] for t in targets]
        assert len(set(refs)) == len(refs) and all(refs)
        assert all(isinstance(t["expr"], str) and t["expr"].strip() for t in targets)


def test_every_datasource_is_the_variable(specs: list[SloSpec]) -> None:
    board = dashboard("credit", specs)
    builtin = [a for a in board["annotations"]["list"] if a.get("builtIn") == 1]
    assert [a["name"] for a in builtin] == ["Annotations & Alerts"]
    sources = [
        n["datasource"] for n in _walk({k: v for k, v in board.items() if k != "annotations"}) if "datasource" in n
    ]
    sources += [a["datasource"] for a in board["annotations"]["list"] if not a.get("builtIn")]
    assert sources and all(s == {"type": "prometheus", "uid": "${datasource}"} for s in sources)
    assert all("datasource" in p for p in _panels(board))


def test_slo_rows_read_each_slo_by_sloth_id(specs: list[SloSpec]) -> None:
    board = dashboard("credit", specs)
    rows = [p["title"] for p in _panels(board) if p["type"] == "row"]
    assert rows == [
        "SLO availability: 99.9% over 28d (availability)",
        "SLO accuracy: 95% over 30d (accuracy)",
        "Service",
        "Model",
    ]
    budgets, nows, burns = (_titled(board, t) for t in ("budget remaining", "SLI now / objective", "burn rate"))
    assert len(budgets) == len(nows) == len(burns) == 2
    for spec, budget, now, burn in zip(specs, budgets, nows, burns, strict=True):
        sloth = f'sloth_id="{spec.id}"'
        assert budget["type"] == "stat" and budget["fieldConfig"]["defaults"]["unit"] == "percentunit"
        assert budget["targets"][0]["expr"] == f"slo:period_error_budget_remaining:ratio{{{sloth}}}"
        assert now["type"] == "stat" and all(sloth in t["expr"] for t in now["targets"])
        assert any(f"slo:sli_error:ratio_rate{spec.period}{{" in t["expr"] for t in now["targets"])
        assert any("slo:objective:ratio" in t["expr"] for t in now["targets"])
        assert burn["type"] == "timeseries"
        assert [t["legendFormat"] for t in burn["targets"]] == list(BURN_WINDOWS)
        for window, target in zip(BURN_WINDOWS, burn["targets"], strict=True):
            assert target["expr"].startswith(f"slo:sli_error:ratio_rate{window}{{{sloth}}} / ")
            assert f"slo:error_budget:ratio{{{sloth}}}" in target["expr"]
        steps = burn["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps if s["value"] is not None] == [1.0, 3.0, 6.0, 14.4]
        assert burn["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
        assert spec.alert_name in burn["description"]


def test_service_and_model_panels(specs: list[SloSpec]) -> None:
    board = dashboard("credit", specs)
    [rate] = _titled(board, "request rate by version and variant")
    assert rate["targets"][0]["expr"] == (
        'sum by (version, variant) (rate(modelpilot_requests_total{model="credit"}[$__rate_interval]))'
    )
    [errors] = _titled(board, "error ratio (5xx) by version and variant")
    assert 'code=~"5.."' in errors["targets"][0]["expr"]
    steps = errors["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.001]  # the availability SLO's error budget
    [latency] = _titled(board, "latency p50 / p95 / p99 by version and variant")
    assert [t["legendFormat"] for t in latency["targets"]] == [
        f"p{q} {{{{version}}}} {{{{variant}}}}" for q in (50, 95, 99)
    ]
    assert all("modelpilot_request_duration_seconds_bucket" in t["expr"] for t in latency["targets"])
    [heatmap] = [p for p in _panels(board) if p["type"] == "heatmap"]
    assert heatmap["targets"][0]["expr"] == 'max by (column) (modelpilot_drift_score{model="credit",statistic="psi"})'
    assert heatmap["options"]["calculate"] is False
    [perf] = _titled(board, "estimated vs realized accuracy")
    exprs = [t["expr"] for t in perf["targets"]]
    assert any("modelpilot_performance_estimated{" in e for e in exprs)
    assert any("modelpilot_performance_realized{" in e for e in exprs)
    assert all('metric="accuracy"' in e for e in exprs)
    assert [s["value"] for s in perf["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 0.9]


def test_the_performance_panel_follows_the_accuracy_slo_metric() -> None:
    specs = parse_specs(
        "slos: [{name: f1, model: credit, sli: {kind: estimated_accuracy, metric: f1, target: 0.8}, objective: 90}]"
    )
    board = dashboard("credit", specs)
    [perf] = _titled(board, "estimated vs realized f1")
    assert all('metric="f1"' in t["expr"] for t in perf["targets"])
    assert not _titled(board, "estimated vs realized accuracy")


def test_annotations(specs: list[SloSpec]) -> None:
    annotations = dashboard("credit", specs)["annotations"]["list"]
    assert [a["name"] for a in annotations] == [
        "Annotations & Alerts",
        "traffic plan changed",
        "SLO alert",
        "monitor alarm",
    ]
    queries = {a["name"]: a for a in annotations[1:]}
    assert queries["traffic plan changed"]["target"]["expr"] == "changes(modelpilot_traffic_plan_revision[1m]) > 0"
    assert queries["SLO alert"]["target"]["expr"] == 'ALERTS{alertstate="firing",sloth_service="credit"}'
    assert queries["monitor alarm"]["target"]["expr"] == (
        'increase(modelpilot_alarms_total{model="credit",transition="raised"}[1m]) > 0'
    )
    for name, annotation in queries.items():
        assert annotation["titleFormat"] == name and annotation["enable"] is True
        assert annotation["target"]["refId"]


def test_a_model_without_slos_still_gets_the_service_and_model_panels(specs: list[SloSpec]) -> None:
    board = dashboard("fraud", specs)
    assert [p["title"] for p in _panels(board) if p["type"] == "row"] == ["Service", "Model"]
    for title in (
        "request rate by version and variant",
        "error ratio (5xx) by version and variant",
        "latency p50 / p95 / p99 by version and variant",
        "drift per feature (PSI)",
        "estimated vs realized accuracy",
    ):
        assert len(_titled(board, title)) == 1, title
    assert not any("credit" in e for e in _exprs(board))
    assert not _titled(board, "burn rate")


def test_a_model_name_is_escaped_in_every_expression() -> None:
    board = dashboard(WEIRD, [])
    quoted = promql_string(WEIRD)
    assert quoted == '"we\\"ird\\\\model"'
    exprs = [e for e in _exprs(board) if "modelpilot_traffic_plan_revision" not in e]
    assert exprs and all(quoted in e for e in exprs)
    for expr in _exprs(board):
        _check_promql(expr)
    assert board["title"] == f"modelpilot: {WEIRD}"


def test_the_uid_is_stable_short_and_distinct() -> None:
    assert dashboard_uid("credit") == "modelpilot-credit"
    names = ["credit", "Credit", "credit.v2", "credit-v2", "x" * 128, "x" * 127, WEIRD]
    uids = [dashboard_uid(n) for n in names]
    assert uids == [dashboard_uid(n) for n in names]
    assert len(set(uids)) == len(uids)
    assert all(len(u) <= 40 and re.fullmatch(r"[a-z0-9_-]+", u) for u in uids)


# ---------------------------------------------------------------------------------------------------- PromQL
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<range>\[(?:\d+[smhdwy]|\$__rate_interval)\])
    | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
    | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/^%<>=,(){}])""",
    re.X,
)
_MATCHER = re.compile(r'\{(?:[A-Za-z_]\w*(?:=~|!~|!=|=)"(?:[^"\\\n]|\\.)*"(?:,(?!\}))?)*\}')
_CLOSE = {")": "(", "}": "{"}


def _check_promql(expr: str) -> None:
    """A cheap parse: known tokens only, balanced brackets, well-formed label matchers, no trailing operator."""
    position, stack, last = 0, [], ""
    while position < len(expr):
        token = _TOKEN.match(expr, position)
        assert token is not None, f"unexpected {expr[position:]!r} in {expr!r}"
        kind, text = token.lastgroup, token.group()
        if kind == "op" and text in "({":
            stack.append(text)
        elif kind == "op" and text in _CLOSE:
            assert stack and stack.pop() == _CLOSE[text], f"unbalanced {text!r} in {expr!r}"
        if kind == "op" and text == "{":
            assert _MATCHER.match(expr, position), f"bad label matchers at {expr[position:]!r}"
        if kind != "space":
            last = text
        position = token.end()
    assert not stack, f"unclosed {stack} in {expr!r}"
    assert last and (last in (")", "}", "]") or last[-1].isalnum()), f"{expr!r} ends with {last!r}"


def _instruments() -> dict[str, tuple[str, ...]]:
    """Every series name modelpilot exports, with its label names."""
    out: dict[str, tuple[str, ...]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            kind = str(value._type)
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(kind, ("",))
            for suffix in suffixes:
                extra = ("le",) if suffix == "_bucket" else ()
                out[value._name + suffix] = (*value._labelnames, *extra)
    return out


def test_every_expression_parses_cheaply_and_names_real_metrics(specs: list[SloSpec]) -> None:
    instruments = _instruments()
    exprs = _exprs(dashboard("credit", specs)) + _exprs(dashboard("fraud", []))
    assert len(exprs) > 20
    for expr in exprs:
        _check_promql(expr)
        for name, matchers in re.findall(r"\b(modelpilot_\w+)(\{[^}]*\})?", expr):
            assert name in instruments, f"{name} is not exported by modelpilot.telemetry.metrics"
            for label in re.findall(r"([A-Za-z_]\w*)(?:=~|!~|!=|=)\"", matchers):
                assert label in instruments[name], f"{name} has no label {label}"
        used = re.findall(r"\bmodelpilot_\w+", expr)
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            for label in (part.strip() for part in grouping.split(",")):
                assert all(label in instruments[name] for name in used), f"{expr!r}: no label {label} to group by"


def test_the_cheap_parser_rejects_broken_expressions() -> None:
    for broken in ('rate(x{model="a"}[5m]', 'x{model="a}', "sum(x))", 'x{model="a",}', "x +", "x{model=a}"):
        with pytest.raises(AssertionError):
            _check_promql(broken)


@pytest.mark.parametrize("model", ["credit", "fraud", WEIRD])
def test_promtool_accepts_every_expression(specs: list[SloSpec], tmp_path: Path, model: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_component("promtool (Debian package prometheus)")
    assert promtool is not None
    exprs = _exprs(dashboard(model, specs))
    rules = [
        {"record": f"dashboard:expr:{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(exprs)
    ]
    assert not any("$" in r["expr"] for r in rules), "a Grafana variable is left in an expression"
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"promtool rejected the dashboard's PromQL:\n{done.stdout}\n{done.stderr}"
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
