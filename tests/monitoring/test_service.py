"""The live monitor: bus batches in, windows and alarms recorded in the store and exported as metrics, labels
joined into realized performance, snapshot and restore across a restart, and inside `modelpilot up`'s app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.csv as pacsv
import pytest
from starlette.testclient import TestClient

from modelpilot.cli.app import main
from modelpilot.config import MonitorSettings, load_settings
from modelpilot.events import AlarmEvent, InferenceEvent, InProcessBus, LabelEvent
from modelpilot.loaders import TrustRequest
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.monitoring.results import Alarm
from modelpilot.monitoring.service import MonitorService
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.telemetry import metrics
from modelpilot.telemetry.metrics import exposition
from tests.monitoring.close import assert_close

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
ROWS = 50  # rows per request


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry.open(load_settings(home=tmp_path / "home", actor="tester"))
    reg.register(
        "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
        target="default", trust=TrustRequest(trust_code=True, reason="test"),
    )  # fmt: skip
    yield reg
    reg.store.close()


def _traffic(reg: Registry) -> tuple[list[InferenceEvent], list[LabelEvent]]:
    data = pacsv.read_csv(EXAMPLE / "traffic.csv")
    labels = pacsv.read_csv(EXAMPLE / "labels.csv").column("default").to_numpy()
    model = reg.load("credit", 1)
    names = ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
    events, label_events = [], []
    for i, start in enumerate(range(0, data.num_rows, ROWS)):
        chunk = data.slice(start, ROWS)
        feats = {n: chunk.column(n).to_numpy(zero_copy_only=False) for n in names}
        rid = f"req-{i}"
        events.append(
            InferenceEvent(request_id=rid, time=1_000_000.0 + i, model="credit", version=1, variant="stable",
                           features=feats, prediction=model.predict(feats), probabilities=model.predict_proba(feats),
                           classes=(0, 1), latency_s=0.002, status=200)
        )  # fmt: skip
        label_events.append(LabelEvent(request_id=rid, label=labels[start : start + ROWS].tolist(), time=2e6 + i))
    return events, label_events


def test_windows_alarms_and_metrics_reach_the_store_and_prometheus(registry: Registry) -> None:
    events, labels = _traffic(registry)
    seen: list[Alarm] = []
    svc = MonitorService(registry, MonitorSettings(), on_alarm=seen.append)
    results = svc.handle(events)
    assert [r.window for r in results] == list(range(8)) and all(r.kind == "traffic" for r in results)
    transitions = [(a.kind, a.transition, a.window) for a in seen if a.transition != "held"]
    assert transitions == [("drift", "raised", 6), ("performance", "raised", 6)]
    assert {(a.kind, a.window) for a in seen if a.transition == "held"} == {("drift", 7)}  # performance: label windows
    stored = svc.history.windows("credit", last=100)
    assert [w.window for w in stored] == list(range(8))
    assert stored[5].drifted and not stored[4].drifted
    assert [a.transition for a in svc.history.alarms("credit")] == ["raised", "raised"]
    page = exposition()[0].decode()
    assert 'modelpilot_drift_score{column="income",model="credit",statistic="psi",variant="stable",version="1"}' in page
    assert 'modelpilot_alarm_state{kind="drift",model="credit",variant="stable",version="1"} 2.0' in page
    assert 'modelpilot_performance_estimated{metric="accuracy",model="credit"' in page

    label_results = svc.handle(labels)
    assert [r.kind for r in label_results] == ["labels"] * 8
    first = label_results[0]
    assert first.labeled == 1000 and first.realized is not None and first.reconciliation is not None
    assert first.reconciliation["accuracy"]["within"] is True
    last_acc, first_acc = (label_results[-1].realized or {})["accuracy"], first.realized["accuracy"]
    assert last_acc is not None and first_acc is not None and last_acc < first_acc
    assert svc.joiner.joined == len(labels)
    assert 'modelpilot_labels_joined_total{outcome="joined"}' in exposition()[0].decode()


def test_a_restart_continues_the_open_windows_from_the_snapshot(registry: Registry) -> None:
    events, labels = _traffic(registry)
    straight = MonitorService(registry, MonitorSettings(), name="a")
    want = straight.handle(events) + straight.handle(labels[:30]) + straight.flush()

    first = MonitorService(registry, MonitorSettings(), name="b")
    got = first.handle(events[:37]) + first.handle(labels[:10])  # mid-window, labels pending
    first.snapshot()
    second = MonitorService(registry, MonitorSettings(), name="b")
    assert second.restore()
    got += second.handle(events[37:]) + second.handle(labels[10:30]) + second.flush()
    assert_close([r.model_dump() for r in got], [r.model_dump() for r in want])  # other batches: float sums round


def test_time_windows_close_on_the_clock(registry: Registry) -> None:
    events, _ = _traffic(registry)
    now = [1_000_000.0]
    svc = MonitorService(registry, MonitorSettings(window={"rows": 1000, "seconds": 30}), clock=lambda: now[0])
    assert svc.handle(events[:3]) == []
    now[0] += 29
    assert svc.tick() == []
    now[0] += 1
    (r,) = svc.tick()
    assert r.rows == 150


def test_up_runs_the_monitor_on_the_apps_bus(registry: Registry, tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", actor="tester", monitor={"window": {"rows": 40}})
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    bus = InProcessBus(1000)
    data = pacsv.read_csv(EXAMPLE / "traffic.csv").slice(0, 120).drop_columns(["request_id"]).to_pylist()
    with TestClient(create_app(settings, bus=bus, monitor=True)) as client:
        for i in range(0, 120, 20):
            r = client.post("/v1/models/credit:predict", json={"instances": data[i : i + 20]})
            assert r.status_code == 200, r.text
        assert bus.flush(5.0)
        svc = client.app.state.mp.extras["monitor"]  # type: ignore[attr-defined]
        assert [w.rows for w in svc.results] == [40, 40, 40]
    stored = MonitorHistory(registry.store).windows("credit")
    assert len(stored) == 3 and np.isclose(sum(w.rows for w in stored), 120)


def test_drift_performance_and_alarms_commands_read_what_the_monitor_recorded(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events, labels = _traffic(registry)
    svc = MonitorService(registry, MonitorSettings())
    svc.handle(events)
    svc.handle(labels[:40])
    home = ["--home", str(tmp_path / "home")]
    capsys.readouterr()
    assert main([*home, "drift", "credit", "--last", "3", "-o", "json"]) == 0
    windows = orjson.loads(capsys.readouterr().out)
    assert [w["window"] for w in windows] == [5, 6, 7] and all(w["kind"] == "traffic" for w in windows)
    assert main([*home, "performance", "credit", "-o", "json"]) == 0
    perf = orjson.loads(capsys.readouterr().out)
    assert [w["kind"] for w in perf].count("labels") == 2  # 40 requests x 50 rows = 2 label windows
    assert main([*home, "alarms", "credit", "-o", "json"]) == 0
    assert [(a["kind"], a["transition"]) for a in orjson.loads(capsys.readouterr().out)] == [
        ("drift", "raised"),
        ("performance", "raised"),
    ]
    assert main([*home, "drift", "credit"]) == 0
    out = capsys.readouterr().out
    assert "income" in out and "*" in out
    assert main([*home, "performance", "credit"]) == 0
    assert "realized" in capsys.readouterr().out
    assert main([*home, "drift", "nosuch"]) != 0
    assert "nosuch" in capsys.readouterr().err


def test_alarms_go_on_the_bus_for_the_controller(registry: Registry, tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", actor="tester", monitor={"window": {"rows": 200}})
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    bus = InProcessBus(1000)
    seen: list[object] = []
    bus.subscribe(seen.extend)
    drifted = pacsv.read_csv(EXAMPLE / "traffic.csv").slice(6000, 600).drop_columns(["request_id"]).to_pylist()
    with TestClient(create_app(settings, bus=bus, monitor=True)) as client:
        for i in range(0, 600, 200):
            assert client.post("/v1/models/credit:predict", json={"instances": drifted[i : i + 200]}).status_code == 200
        assert bus.flush(5.0) and bus.flush(5.0)  # the second: alarms published while the first batch was delivered
    alarms = [e for e in seen if isinstance(e, AlarmEvent)]
    assert [(a.alarm["kind"], a.alarm["transition"], a.alarm["window"]) for a in alarms][:1] == [("drift", "raised", 1)]
    assert alarms[0].request_id == "alarm/credit/1/stable/drift/1"


def _total(name: str, **match: str) -> float:
    return sum(
        v for n, labels, v in metrics.samples() if n == name and all(labels.get(k) == x for k, x in match.items())
    )


def test_the_counters_slos_read_follow_windows_rows_alarms_and_labels(registry: Registry) -> None:
    events, labels = _traffic(registry)
    names = (
        "modelpilot_monitor_windows_total",
        "modelpilot_monitor_rows_total",
        "modelpilot_monitor_flagged_rows_total",
        "modelpilot_window_performance_ratio_count",
    )
    before = {n: _total(n, model="credit") for n in names}
    drift_before = _total("modelpilot_monitor_alarm_windows_total", model="credit", kind="drift")
    joined_before = _total("modelpilot_label_outcomes_total", model="credit", outcome="joined")
    svc = MonitorService(registry, MonitorSettings())
    traffic = svc.handle(events)
    labelled = svc.handle(labels)
    delta = {n: _total(n, model="credit") - before[n] for n in names}
    assert delta["modelpilot_monitor_windows_total"] == 8
    assert delta["modelpilot_monitor_rows_total"] == sum(r.rows for r in traffic) == 8000
    assert delta["modelpilot_monitor_flagged_rows_total"] == sum(r.flagged_rows for r in traffic)
    # one estimated value per traffic window and one realized per label window, for each proportion metric
    per_window = {
        m for r in traffic for m, v in (r.estimated or {}).items() if v is not None and m in ("accuracy", "roc_auc")
    }
    assert per_window == {"accuracy", "roc_auc"}
    assert (
        _total("modelpilot_window_performance_ratio_count", model="credit", metric="accuracy", source="realized") >= 8
    )
    assert delta["modelpilot_window_performance_ratio_count"] >= 8 * 2 * 2
    # the drift alarm is raised at window 6 and still active at window 7: two windows closed in alarm
    drifted = _total("modelpilot_monitor_alarm_windows_total", model="credit", kind="drift") - drift_before
    assert drifted == 2 and [r.window for r in traffic if r.drifted][:1] == [5]
    assert _total("modelpilot_label_outcomes_total", model="credit", outcome="joined") - joined_before == len(labels)
    assert len(labelled) == 8
    assert _total("modelpilot_monitor_last_event_timestamp_seconds", model="credit") == max(e.time for e in events)


def test_predictions_that_never_get_a_label_count_as_missing_per_model(registry: Registry) -> None:
    events, _ = _traffic(registry)
    missing_before = _total("modelpilot_label_outcomes_total", model="credit", outcome="missing", variant="stable")
    now = [2_000_000.0]
    svc = MonitorService(registry, MonitorSettings(label_ttl_s=60), clock=lambda: now[0])
    svc.handle(events[:10])
    now[0] += 30
    svc.tick()
    assert _total("modelpilot_label_outcomes_total", model="credit", outcome="missing") == missing_before
    now[0] += 31  # past the label TTL: the ten predictions leave unlabelled
    svc.tick()
    after = _total("modelpilot_label_outcomes_total", model="credit", outcome="missing", variant="stable")
    assert after - missing_before == 10


def test_active_alarms_and_the_newest_event_time_survive_a_restart(registry: Registry) -> None:
    events, _ = _traffic(registry)  # 50 rows per event: 20 events per window; drift alarm raised at window 6
    first = MonitorService(registry, MonitorSettings())
    assert [a.window for r in first.handle(events[:140]) for a in r.alarms if a.kind == "drift"] == [6]
    first.snapshot()
    before = _total("modelpilot_monitor_alarm_windows_total", model="credit", kind="drift")
    second = MonitorService(registry, MonitorSettings())
    assert second.restore()
    assert _total("modelpilot_monitor_last_event_timestamp_seconds", model="credit") == events[139].time
    closed = second.handle(events[140:])
    assert [r.window for r in closed] == [7] and not any(a.kind == "drift" for r in closed for a in r.alarms)
    # no new transition, but the alarm raised before the restart is still active: window 7 closed in alarm
    assert _total("modelpilot_monitor_alarm_windows_total", model="credit", kind="drift") - before == 1


def test_an_alarm_that_stays_is_announced_as_held_in_each_later_window(registry: Registry) -> None:
    """The controller counts windows: an unchanged alarm is announced as `held` in every later traffic window (never
    recorded), so a policy's `windows: 3` fires on the third window of a lasting drift."""
    from modelpilot.control.policy import parse_policy
    from modelpilot.control.remediation import Remediator, signal_of

    announced: list[Alarm] = []
    svc = MonitorService(registry, MonitorSettings(window={"rows": 200}), on_alarm=announced.append)
    model = registry.load("credit", 1)
    data = pacsv.read_csv(EXAMPLE / "traffic.csv").slice(6000, 1000)
    names = ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
    for i in range(5):
        chunk = data.slice(i * 200, 200)
        feats = {n: chunk.column(n).to_numpy(zero_copy_only=False) for n in names}
        svc.handle([InferenceEvent(request_id=f"d{i}", time=3e6 + i, model="credit", version=1, variant="stable",
                                   features=feats, prediction=model.predict(feats),
                                   probabilities=model.predict_proba(feats), classes=(0, 1), latency_s=0.002,
                                   status=200)])  # fmt: skip
    drift = [a for a in announced if a.kind == "drift"]
    assert drift[0].transition == "raised" and any(a.transition == "held" for a in drift)
    assert {a.evidence["since_window"] for a in drift if a.transition == "held"} == {drift[0].window}
    assert [a.window for a in drift] == sorted({a.window for a in drift})  # one announcement per window
    assert all(a.transition != "held" for a in MonitorHistory(registry.store).alarms("credit"))  # not recorded
    policy = parse_policy(
        "name: p\nversion: 1\nrules:\n  - name: lasting\n    model: credit\n"
        "    when: {drift: {severity: critical, windows: 3}}\n    do: [freeze]\n"
    )
    remediator = Remediator(policy)
    decided = [
        (a.window, remediator.decide(signal_of(AlarmEvent(a.model_dump(mode="json"), 0.0)), now=0)) for a in drift
    ]
    first = drift[0].window
    assert [(w, [d.action for d in ds]) for w, ds in decided if ds] == [(first + 2, ["freeze"])]  # once, no noise


def test_a_snapshot_stays_small_and_writes_only_what_changed_however_many_labels_wait(registry: Registry) -> None:
    import dataclasses

    import sqlalchemy as sa

    from modelpilot.storage import tables as t

    events, labels = _traffic(registry)
    many = [dataclasses.replace(ev, request_id=f"{ev.request_id}-{k}") for k in range(200) for ev in events[:60]]
    svc = MonitorService(registry, MonitorSettings(), name="small")
    svc.handle(many)  # 12,000 predictions waiting for their labels
    assert svc.joiner.pending == 12_000
    svc.snapshot()
    state = svc.history.load_state("small")
    assert state is not None and len(json.dumps(state)) < 1_000_000
    with registry.store.read() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(t.label_joins)).scalar_one()
    assert rows == 1  # one segment row holds them
    written: list[int] = []
    real = svc.history._save_joins

    def counting(conn: Any, name: str, joins: Any) -> None:
        written.append(len(joins))
        real(conn, name, joins)

    svc.history._save_joins = counting  # type: ignore[method-assign]
    svc.handle([dataclasses.replace(labels[0], request_id=f"{labels[0].request_id}-0")])  # one label joins
    svc.handle([dataclasses.replace(events[0], request_id="new-1")])  # one more prediction waits
    svc.snapshot()
    # one statement: a segment row with the label and the new prediction, and the joined prediction as dropped
    assert written == [1]
    with registry.store.read() as conn:
        found = conn.execute(sa.select(t.label_joins.c.data).order_by(t.label_joins.c.seq)).scalars().all()
    assert len(found) == 2 and len(found[1]["entries"]) == 2 and len(found[1]["drop"]) == 1
    again = MonitorService(registry, MonitorSettings(), name="small")
    assert again.restore() and again.joiner.pending == 12_000 and again.joiner.stats["joined"] == 1
    assert again.joiner.to_state() == svc.joiner.to_state()
