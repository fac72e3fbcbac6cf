"""The monitor on seeded synthetic streams: quiet on stationary data, alarms on a shift, survives bad input and
restarts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import numpy as np
import pytest

from modelpilot.events import InferenceEvent, LabelEvent
from modelpilot.monitoring.engine import Monitor, event_columns
from modelpilot.monitoring.profile import ReferenceProfile, build_profile
from modelpilot.monitoring.results import WindowResult
from modelpilot.monitoring.sketch import Sketch
from modelpilot.monitoring.windows import WindowPolicy

FEATURES = [f"f{i}" for i in range(8)]


def _profile(seed: int = 0) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    data = {f: rng.normal(0, 1, 5000) for f in FEATURES}
    data["plan"] = rng.choice(["basic", "plus", "pro"], 5000, p=[0.6, 0.3, 0.1])
    score = data["f0"] + 0.5 * data["f1"]
    return build_profile(
        data,
        numeric=FEATURES,
        categorical=["plan"],
        predictions=(score > 0).astype(int),
        probabilities=np.column_stack([1 / (1 + np.exp(score)), 1 / (1 + np.exp(-score))]),
        classes=[0, 1],
    )


def _events(
    rng: np.random.Generator,
    n: int,
    *,
    rows: int = 50,
    shift: dict[str, float] | None = None,
    start: int = 0,
    version: int = 1,
) -> Iterator[InferenceEvent]:
    shift = shift or {}
    for i in range(n):
        feats = {f: rng.normal(shift.get(f, 0.0), 1, rows) for f in FEATURES}
        feats["plan"] = rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1]).astype(object)
        score = feats["f0"] + 0.5 * feats["f1"]
        proba = np.column_stack([1 / (1 + np.exp(score)), 1 / (1 + np.exp(-score))])
        yield InferenceEvent(
            request_id=f"r{start + i}",
            time=1_000.0 + start + i,
            model="credit",
            version=version,
            variant="stable",
            features=feats,
            prediction=(score > 0).astype(int),
            probabilities=proba,
            classes=(0, 1),
            latency_s=0.003,
            status=200,
        )


def _monitor(prof: ReferenceProfile, **kw: object) -> Monitor:
    return Monitor(lambda m, v: prof if (m, v) == ("credit", 1) else None, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stationary_stream_raises_no_alarm_and_no_finding_survives_persistence(seed: int) -> None:
    prof = _profile()
    mon = _monitor(prof)
    results = mon.process(_events(np.random.default_rng(seed), 2000))  # 100 000 rows, 100 windows
    assert len(results) == 100
    assert [a for r in results for a in r.alarms] == []
    findings = sum(len(r.drifted) for r in results)
    assert findings <= 2, findings  # BH at 1 % over 13 columns: rare single-window findings, never persistent


def test_a_shifted_feature_alarms_within_two_windows_and_names_only_that_feature() -> None:
    prof = _profile()
    mon = _monitor(prof)
    rng = np.random.default_rng(11)
    before = mon.process(_events(rng, 200))  # 10 windows of 1000 rows
    after = mon.process(_events(rng, 200, shift={"f3": 0.5}, start=200))
    assert [a for r in before for a in r.alarms] == []
    raised = [(r.window, a) for r in after for a in r.alarms if a.transition == "raised"]
    assert raised, "no alarm"
    window, alarm = raised[0]
    assert window <= 11  # the shift starts in window 10; 2-of-3 persistence needs its second window
    assert alarm.kind == "drift" and set(alarm.subjects) == {"f3"} and alarm.severity == "critical"
    evidence = alarm.evidence["columns"]["f3"]
    assert evidence["this_window"]["psi"] >= 0.25 and evidence["this_window"]["significant"]
    assert evidence["findings"][-2:] == ["critical", "critical"]
    assert alarm.evidence["rule"]["warning"] == 0.1 and len(alarm.evidence["windows"]) == 3
    json.dumps(alarm.model_dump(mode="json"))  # evidence is plain JSON


def test_prediction_and_probability_columns_drift_with_the_score() -> None:
    prof = _profile()
    mon = _monitor(prof)
    results = mon.process(_events(np.random.default_rng(5), 200, shift={"f0": 1.5}))
    last = results[-1]
    assert {"f0", "@prediction", "@proba:1"} <= set(last.drifted)


def test_a_joint_shift_that_no_single_feature_shows_is_seen_by_the_multivariate_column() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=5000)
    ref = {"x": a, "y": a + 0.3 * rng.normal(size=5000), "z": rng.normal(size=5000)}
    prof = build_profile(ref, numeric=["x", "y", "z"])
    mon = Monitor(lambda m, v: prof)
    events = []
    for i in range(40):
        b = rng.normal(size=100)
        feats = {"x": b, "y": -b + 0.3 * rng.normal(size=100), "z": rng.normal(size=100)}  # correlation flips
        events.append(
            InferenceEvent(
                request_id=str(i),
                time=float(i),
                model="m",
                version=1,
                variant="stable",
                features=feats,
                prediction=None,
                latency_s=0.0,
                status=200,
            )
        )
    results = mon.process(events)
    drifted = {k for r in results for k in r.drifted}
    assert drifted == {"@reconstruction_error"}  # y's marginal barely moves; the joint structure does
    assert any(a.kind == "drift" and "@reconstruction_error" in a.subjects for r in results for a in r.alarms)


def test_bad_input_is_counted_never_raised() -> None:
    prof = _profile()
    mon = _monitor(prof, policy=WindowPolicy(rows=100))
    good = list(_events(np.random.default_rng(0), 3))
    weird_feats = dict(good[0].features)
    weird_feats["f1"] = np.array(["x"] * 50, dtype=object)  # wrong type
    weird_feats["f2"] = np.full(50, np.nan)  # missing
    weird_feats["extra"] = np.zeros(50)  # not in the profile
    del weird_feats["f4"]  # absent
    weird = InferenceEvent(
        request_id="w",
        time=2000.0,
        model="credit",
        version=1,
        variant="stable",
        features=weird_feats,
        prediction=good[0].prediction,
        latency_s=0.0,
        status=200,
    )
    short = InferenceEvent(
        request_id="s",
        time=2000.0,
        model="credit",
        version=1,
        variant="stable",
        features={"f0": np.zeros(3)},
        prediction=np.zeros(5),
        latency_s=0.0,
        status=200,
    )
    failed = InferenceEvent(
        request_id="e",
        time=2000.0,
        model="credit",
        version=1,
        variant="stable",
        features={},
        prediction=None,
        latency_s=0.1,
        status=500,
        error="boom",
    )
    unknown = InferenceEvent(
        request_id="u",
        time=2000.0,
        model="credit",
        version=9,
        variant="stable",
        features={},
        prediction=None,
        latency_s=0.0,
        status=200,
    )
    label = LabelEvent(request_id="r0", label=1, time=2001.0)
    results = mon.process([*good, good[1], weird, short, failed, unknown, label])
    results += mon.flush()
    c = mon.counters
    assert (c["duplicates"], c["malformed"], c["failed"], c["unprofiled"], c["labels"]) == (1, 1, 1, 1, 1)
    assert mon.unprofiled == {"credit v9": 1}
    quality = {q.key: q for r in results for q in r.quality if q.severity}
    assert quality["f1"].worst == "wrong_type" and quality["f4"].worst == "absent"
    assert quality["f2"].worst == "missing"
    assert any(r.unknown_columns.get("extra") == 50 for r in results)
    assert sum(r.errors for r in results) == 1


def test_snapshot_mid_window_restores_to_the_same_results() -> None:
    prof = _profile()
    events = list(_events(np.random.default_rng(8), 130, shift={"f5": 0.4}))
    straight = _monitor(prof)
    want = straight.process(events) + straight.flush()

    first = _monitor(prof)
    got: list[WindowResult] = first.process(events[:47])  # mid-window (2350 rows)
    snapshot = json.loads(json.dumps(first.to_state()))
    second = _monitor(prof).restore(snapshot)
    got += second.process(events[47:]) + second.flush()
    assert [r.model_dump() for r in got] == [r.model_dump() for r in want]
    assert second.process(events[:1]) == [] and second.counters["duplicates"] == 1  # dedupe memory restored


def test_time_windows_close_on_the_clock_for_quiet_models() -> None:
    prof = _profile()
    mon = _monitor(prof, policy=WindowPolicy(rows=1000, seconds=60))
    events = list(_events(np.random.default_rng(4), 3, rows=40))
    assert mon.process(events) == []
    assert mon.tick(now=1000.0 + 59.9) == []
    (result,) = mon.tick(now=1000.0 + 60.0)
    assert result.rows == 120 and result.start == 1000.0 and result.end == 1002.0


def test_a_jump_in_errors_or_latency_is_a_change_alarm_before_any_drift() -> None:
    prof = _profile()
    mon = _monitor(prof, policy=WindowPolicy(rows=500))
    rng = np.random.default_rng(21)
    events = list(_events(rng, 600, rows=5))  # 3000 rows, 600 events: 6 windows
    failing = [
        InferenceEvent(request_id=f"f{i}", time=2000.0 + i, model="credit", version=1, variant="stable",
                       features={}, prediction=None, latency_s=0.5, status=500, error="boom")
        for i in range(300)
    ]  # fmt: skip
    mixed = [e for pair in zip(events[300:], failing, strict=True) for e in pair]
    results = mon.process(events[:300]) + mon.process(mixed)
    before = [a for r in results[:3] for a in r.alarms]
    assert before == []
    change = [a for r in results for a in r.alarms if a.kind == "change"]
    assert change and change[0].transition == "raised"
    involved = {k: v for a in change for k, v in a.subjects.items()}
    assert involved.get("error_rate") == "critical" and involved.get("latency") == "warning"
    assert any(r.changes.get("error_rate") for r in results) and any(r.changes.get("latency") for r in results)
    assert all(a.kind == "change" for r in results for a in r.alarms)  # no drift: the inputs did not change


def test_stationary_errors_and_latency_raise_no_change_alarm() -> None:
    prof = _profile()
    mon = _monitor(prof, policy=WindowPolicy(rows=500))
    rng = np.random.default_rng(3)
    events = []
    for ev in _events(rng, 4000, rows=1):
        failed = rng.random() < 0.02
        events.append(
            InferenceEvent(request_id=ev.request_id, time=ev.time, model="credit", version=1, variant="stable",
                           features=ev.features, prediction=ev.prediction, probabilities=ev.probabilities,
                           classes=ev.classes, latency_s=float(rng.lognormal(-4.6, 0.4)), status=500 if failed else 200)
        )  # fmt: skip
    results = mon.process(events)
    assert [a for r in results for a in r.alarms if a.kind == "change"] == []
    state = json.loads(json.dumps(mon.to_state()))
    assert set(state["streams"][0]["changes"]["detectors"]) == {"error_rate", "latency", "label_error"}


def test_a_column_hovering_between_warning_and_critical_does_not_make_the_alarm_flap() -> None:
    from modelpilot.monitoring.drift import Baseline
    from modelpilot.monitoring.judge import Judge

    rng = np.random.default_rng(4)
    base = Baseline(build_profile({"x": rng.normal(size=20000), "y": rng.normal(size=20000)}, numeric=["x", "y"]))
    judge = Judge(base)
    transitions = []
    for i in range(30):
        shift = 0.45 if i % 2 else 0.6  # PSI about 0.2 (warning) and 0.33 (critical), alternately
        sketch = base.sketch().update({"x": rng.normal(shift, 1, 2000), "y": rng.normal(size=2000)}, rows=2000)
        result = judge.window(sketch, model="m", version=1, variant="stable", index=i)
        transitions += [(a.transition, a.severity) for a in result.alarms if a.kind == "drift"]
    assert transitions[0] == ("raised", "critical") or transitions[:2] == [
        ("raised", "warning"),
        ("escalated", "critical"),
    ]
    assert len(transitions) <= 2, transitions
    for i in range(30, 34):  # the shift ends
        sketch = base.sketch().update({"x": rng.normal(size=2000), "y": rng.normal(size=2000)}, rows=2000)
        result = judge.window(sketch, model="m", version=1, variant="stable", index=i)
        transitions += [(a.transition, a.severity) for a in result.alarms if a.kind == "drift"]
    assert transitions[-1] == ("resolved", None)


def test_a_traffic_window_carries_its_rows_with_a_quality_violation() -> None:
    prof = _profile()
    mon = _monitor(prof)
    layout = mon.stream(("credit", 1, "stable")).baseline.layout  # type: ignore[union-attr]
    events = []
    for ev in _events(np.random.default_rng(5), 20):  # one window of 1000 rows
        feats = dict(ev.features)
        feats["f0"] = feats["f0"].copy()
        feats["f0"][:5] = np.nan  # rows 0-4 missing
        feats["plan"] = feats["plan"].copy()
        feats["plan"][3:8] = "gold"  # rows 3-7 a category the reference never saw
        events.append(dataclasses.replace(ev, features=feats))
    want = Sketch(layout)
    for ev in events:
        want.update(event_columns(prof, ev), rows=ev.rows)
    (result,) = mon.process(events)
    assert result.kind == "traffic" and result.rows == 1000
    assert result.flagged_rows == want.flagged_rows >= 20 * 8  # the injected rows, and any out-of-range tail
    assert result.flagged_rows < 1000
