"""The live monitor: subscribes to the event bus, judges windows, joins labels, and records, exports and announces
what it finds. This is the I/O shell around :class:`~modelpilot.monitoring.engine.Monitor`.

It runs inside ``modelpilot up`` (on the in-process bus) and as ``modelpilot monitor``. Every ``tick_s`` a thread
closes windows whose time is up; every ``snapshot_s`` (and on stop) the open windows, alarm memories and pending
label joins are saved to the store, and :meth:`MonitorService.start` restores them, so a restart continues the
windows it had open. With a journal (``modelpilot up``), every batch taken is journaled first and the journal is
cut at each snapshot; :meth:`MonitorService.start` replays what is left after restoring, so a killed process loses
only what its bus had not yet handed over. Windows the replay closes again (recorded before the crash) are neither
recorded nor announced twice.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from modelpilot.config import MonitorSettings
from modelpilot.events.journal import EventJournal, Tick
from modelpilot.events.model import Event, InferenceEvent, LabelEvent
from modelpilot.monitoring.columns import as_text
from modelpilot.monitoring.engine import Monitor, StreamKey
from modelpilot.monitoring.exporter import export
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.monitoring.labelwindows import LabelWindow
from modelpilot.monitoring.performance.journal import changes
from modelpilot.monitoring.performance.labels import LabelJoiner
from modelpilot.monitoring.profiles import ProfileStore
from modelpilot.monitoring.results import Alarm, WindowResult
from modelpilot.monitoring.windows import WindowPolicy
from modelpilot.registry import Registry
from modelpilot.telemetry import metrics as m

__all__ = ["MonitorService"]

log = logging.getLogger("modelpilot.monitor")
_SEVERITY = {None: 0, "warning": 1, "critical": 2}
_OUTCOMES = {"events": "", "duplicates": "duplicate", "unprofiled": "unprofiled", "failed": "failed",
             "malformed": "malformed"}  # fmt: skip
"""The monitor's counters and the outcome each is exported as (``counted``: the events none of the others took)."""


class MonitorService:
    """The monitor with its store, metrics, label joins and clock.

    Parameters
    ----------
    registry
        Where profiles are found and results, alarms and snapshots are kept.
    settings
        Window sizes, label TTL, snapshot and tick periods.
    on_alarm
        Called with every alarm transition (the controller subscribes here).
    name
        The snapshot's name (one per monitor worker).
    clock
        Seconds since the epoch.
    transactional
        Hold closed windows until the next :meth:`snapshot`, which stores them with the snapshot in one
        transaction (the Kafka workers: their snapshot carries the offsets, so a replay closes no window twice).
    journal
        Where each batch taken is written before it is folded in (see :mod:`modelpilot.events.journal`); cut at
        every snapshot and replayed by :meth:`start`. The service closes it on :meth:`stop`.
    wait_for_start
        The bus subscriber (:meth:`__call__`) waits until :meth:`start` has restored the snapshot and replayed the
        journal, so no event is folded into state about to be replaced (a bus replaying its overflow delivers
        before the server has started).
    """

    def __init__(
        self,
        registry: Registry,
        settings: MonitorSettings | None = None,
        *,
        on_alarm: Callable[[Alarm], None] | None = None,
        name: str = "monitor",
        clock: Callable[[], float] = _time.time,
        transactional: bool = False,
        journal: EventJournal | None = None,
        wait_for_start: bool = False,
    ) -> None:
        self.settings = settings or MonitorSettings()
        self.journal = journal
        self._replaying = False
        self._ready = threading.Event()
        if not wait_for_start:
            self._ready.set()
        self.transactional = transactional
        self._unrecorded: list[WindowResult] = []
        self.profiles = ProfileStore(registry)
        self.history = MonitorHistory(registry.store)
        self.name = name
        self.clock = clock
        self.on_alarm = on_alarm
        win = self.settings.window
        self.policy = WindowPolicy(rows=win.rows, seconds=win.seconds)
        policies = {k: WindowPolicy(rows=w.rows, seconds=w.seconds) for k, w in self.settings.models.items()}
        self.monitor = Monitor(self.profiles.get, policy=self.policy, policies=policies, clock=clock)
        self.joiner = LabelJoiner(
            ttl_s=self.settings.label_ttl_s,
            max_pending=self.settings.max_pending_labels,
            max_pending_bytes=self.settings.max_pending_label_bytes,
            clock=clock,
        ).journaled()  # what it holds is kept in the store, one segment row per snapshot of what changed
        self.label_windows: dict[StreamKey, LabelWindow] = {}
        self._label_index: dict[StreamKey, int] = {}
        self._joined_seen = dict(self.joiner.stats)
        self._missing_seen: dict[StreamKey, int] = {}
        self._last_event: dict[str, float] = {}  # newest event time per model (exported once per batch)
        self._alarm_state: dict[tuple[StreamKey, str], str] = {}  # active alarms: (stream, kind) -> severity
        self._alarm_since: dict[tuple[StreamKey, str], int] = {}  # active alarms: the window they were raised in
        self._lock = threading.RLock()  # held while results are recorded too: they leave in order
        self._snapshotting = threading.Lock()  # one snapshot written at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.position: dict[str, Any] = {}  # where the event source stands (saved and restored with the windows)
        self.results: list[WindowResult] = []  # the last few, for the dashboard and tests
        self.alarms: list[Alarm] = []

    # ----------------------------------------------------------------------------------------------- input
    def __call__(self, batch: Sequence[Event]) -> None:
        """Bus subscriber: take a batch of events (once started, with ``wait_for_start``)."""
        while not self._ready.wait(1.0):
            if self._stop.is_set():
                log.error("monitor: stopped before it started; %d events not taken", len(batch))
                return
        self.handle(batch)

    def handle(self, events: Iterable[Event]) -> list[WindowResult]:
        """Take events; return (and record) the windows they closed.

        Consecutive inference events go to the monitor as one batch (folded into the windows column-wise) and are
        counted per batch; labels are joined in their place in the sequence, so a label after its prediction in
        the same batch finds it.
        """
        out: list[WindowResult] = []
        batch = events if isinstance(events, list) else list(events)
        with self._lock:
            if self.journal is not None and not self._replaying:
                self.journal.write(batch)  # before it counts: a crash after this replays it
            run: list[InferenceEvent] = []
            for ev in batch:
                if isinstance(ev, InferenceEvent):
                    run.append(ev)
                    continue
                if run:
                    out.extend(self._inferences(run))
                    run = []
                if isinstance(ev, LabelEvent):
                    m.MONITOR_EVENTS.labels(outcome="label").inc()
                    try:
                        out.extend(self._labels(self.joiner.add_event(ev)))
                    except Exception:  # one bad label must not cost the batch, nor stop the monitor
                        self._reject(1, ev.request_id)
            if run:
                out.extend(self._inferences(run))
            self._label_metrics()
            self._emit(out)
        return out

    def _reject(self, n: int, what: str) -> None:
        self.monitor.counters["rejected"] += n
        m.MONITOR_EVENTS.labels(outcome="rejected").inc(n)
        log.exception("monitor: %s could not be taken", what)

    def _inferences(self, run: list[InferenceEvent]) -> list[WindowResult]:
        counters = self.monitor.counters
        before = {k: counters[k] for k in _OUTCOMES}
        try:
            results = self.monitor.process(run)
        except Exception:  # a bug, not bad input (that is counted by the monitor): the batch is set aside
            self._reject(len(run), f"a batch of {len(run)} events")
            return []
        counted = counters["events"] - before["events"]
        for key, outcome in _OUTCOMES.items():
            new = counters[key] - before[key]
            if new and outcome:
                m.MONITOR_EVENTS.labels(outcome=outcome).inc(new)
                counted -= new
        if counted:
            m.MONITOR_EVENTS.labels(outcome="counted").inc(counted)
        streams = self.monitor.streams
        last = self._last_event
        for ev in run:  # versions with a profile only: nothing else is measured, nor may fill the joiner
            if ev.status == 200 and ev.prediction is not None and (ev.model, ev.version, ev.variant) in streams:
                try:
                    results += self._labels(self.joiner.add_event(ev))
                except Exception:  # its windows are counted; only its label join is lost (and counted)
                    self._reject(1, f"the prediction of {ev.request_id}")
            t = last.get(ev.model)
            if (t is None or ev.time > t) and (ev.model, ev.version, ev.variant) in streams:
                last[ev.model] = ev.time  # models with a profile only: the label set stays bounded
        return results

    def _labels(self, joined: Iterable[Any]) -> list[WindowResult]:
        out: list[WindowResult] = []
        for j in joined:
            key: StreamKey = (j.model, j.version, j.variant)
            lw = self.label_windows.get(key)
            if lw is None:
                found = self.monitor.stream(key)  # no profile (cached for a while by the monitor): not measured
                if found is None:
                    continue
                profile = found.baseline.profile
                lw = LabelWindow(task=profile.task, classes=profile.classes, estimator=found.baseline.layout.estimator)
                self.label_windows[key] = lw
            lw.add(j)
            m.LABEL_OUTCOMES.labels(j.model, j.variant, "joined").inc()  # profiled versions only (bounded labels)
            stream = self.monitor.stream(key)
            if stream is not None and lw.task != "regression" and len(j.label) == len(j.prediction):
                stream.changes.labelled(as_text(np.asarray(j.label)) != as_text(np.asarray(j.prediction)))
            m.LABEL_DELAY.observe(max(j.delay_s, 0.0))
            if lw.n >= self.monitor.policies.get(key[0], self.policy).rows:
                out.extend(self._close_labels(key))
        return out

    def _close_labels(self, key: StreamKey) -> list[WindowResult]:
        lw = self.label_windows.pop(key, None)
        if lw is None or lw.n == 0:
            return []
        stream = self.monitor.stream(key)
        index = self._label_index.get(key, 0)
        self._label_index[key] = index + 1
        realized = lw.realized()
        alarms: list[Alarm] = []
        if stream is not None:
            alarm = stream.judge.realized(
                realized, lw.n, model=key[0], version=key[1], variant=key[2], index=index, time=lw.end
            )
            if alarm is not None:
                alarms.append(alarm)
        return [
            WindowResult(
                model=key[0],
                version=key[1],
                variant=key[2],
                kind="labels",
                window=index,
                start=lw.start,
                end=lw.end,
                rows=lw.n,
                events=0,
                errors=0,
                mean_latency_s=None,
                drift=[],
                quality=[],
                estimated=lw.estimated(),
                realized=realized,
                labeled=lw.n,
                reconciliation=lw.reconciliation(),
                alarms=alarms,
            )
        ]

    # ----------------------------------------------------------------------------------------------- clock
    def tick(self, now: float | None = None) -> list[WindowResult]:
        """Close windows whose time is up (traffic and label windows); expire label joins."""
        t = self.clock() if now is None else now
        with self._lock:
            out = self.monitor.tick(t)
            for key, lw in list(self.label_windows.items()):
                if lw.start is not None and t - lw.start >= self.monitor.policies.get(key[0], self.policy).seconds:
                    out.extend(self._close_labels(key))
            expired = self.joiner.expire(t)
            if (out or expired) and self.journal is not None and not self._replaying:
                self.journal.write_tick(t)  # a replay closes the same windows between the same batches
            self._label_metrics()
            self._emit(out)
        return out

    def flush(self) -> list[WindowResult]:
        """Close every open window now (tests and one-shot runs)."""
        with self._lock:
            out = self.monitor.flush()
            for key in list(self.label_windows):
                out.extend(self._close_labels(key))
            self._emit(out)
        return out

    # ----------------------------------------------------------------------------------------------- output
    def _emit(self, results: list[WindowResult]) -> None:
        if not results:
            return
        again: set[tuple[str, int, str, str, int]] = set()
        if self._replaying:  # windows the journal's replay closes again: recorded and announced before the crash
            try:
                again = self.history.recorded(results)
            except Exception:
                log.exception("monitor: could not check which replayed windows were recorded")
        fresh = [r for r in results if (r.model, r.version, r.variant, r.kind, r.window) not in again]
        if self.transactional:
            self._unrecorded.extend(fresh)
        elif fresh:
            try:
                self.history.record(fresh)
            except Exception:  # the store may be down; metrics and alarms still go out
                log.exception("monitor: could not record %d window results", len(fresh))
        for r in results:
            announce = (r.model, r.version, r.variant, r.kind, r.window) not in again
            for a in r.alarms:
                held = ((a.model, a.version, a.variant), a.kind)
                if a.transition == "resolved" or a.severity is None:
                    self._alarm_state.pop(held, None)
                    self._alarm_since.pop(held, None)
                else:
                    self._alarm_state[held] = a.severity
                    self._alarm_since.setdefault(held, a.window)
            export(r)
            if r.kind == "traffic":
                for kind in ("drift", "quality", "performance", "change"):
                    severity = self._alarm_state.get(((r.model, r.version, r.variant), kind))
                    if severity is not None:
                        m.ALARM_WINDOWS.labels(r.model, str(r.version), r.variant, kind, severity).inc()
            if r.kind == "traffic" and announce:
                self._hold(r)
            self.results = [*self.results[-199:], r]
            for a in r.alarms:
                self.alarms = [*self.alarms[-199:], a]
                m.ALARMS.labels(a.model, str(a.version), a.variant, a.kind, a.transition).inc()
                m.ALARM_STATE.labels(a.model, str(a.version), a.variant, a.kind).set(_SEVERITY[a.severity])
                log.warning(
                    "%s alarm %s on %s v%s (%s): %s",
                    a.kind,
                    a.transition,
                    a.model,
                    a.version,
                    a.variant,
                    ", ".join(f"{k}={s}" for k, s in sorted(a.subjects.items())) or "clear",
                )
                if self.on_alarm is not None and announce:
                    try:
                        self.on_alarm(a)
                    except Exception:
                        log.exception("monitor: alarm subscriber failed")

    def _hold(self, r: WindowResult) -> None:
        """Tell the controller which alarms are still active in this window without a transition of their own, so
        a policy's ``windows: N`` counts windows, not transitions (not recorded: nothing changed)."""
        if self.on_alarm is None:
            return
        moved = {a.kind for a in r.alarms}
        for kind in ("drift", "quality", "change"):  # performance alarms also come from label windows, numbered apart
            severity = self._alarm_state.get(((r.model, r.version, r.variant), kind))
            if severity is None or kind in moved:
                continue
            since = self._alarm_since.get(((r.model, r.version, r.variant), kind))
            held = Alarm(
                model=r.model, version=r.version, variant=r.variant, kind=kind, transition="held",
                severity="critical" if severity == "critical" else "warning", subjects={}, window=r.window,
                time=r.end, evidence={"held": "still active in this window", "since_window": since},
            )  # fmt: skip
            try:
                self.on_alarm(held)
            except Exception:
                log.exception("monitor: alarm subscriber failed")

    def _label_metrics(self) -> None:
        stats = self.joiner.stats
        for outcome in ("joined", "late", "unknown", "duplicate", "invalid", "missing"):
            new = stats.get(outcome, 0) - self._joined_seen.get(outcome, 0)
            if new > 0:
                m.LABELS_JOINED.labels(outcome=outcome).inc(new)
        self._joined_seen = dict(stats)
        for key, n in self.joiner.missing_by.items():
            new = n - self._missing_seen.get(key, 0)
            self._missing_seen[key] = n
            if new > 0 and key in self.monitor.streams:  # as joins: profiled versions only
                m.LABEL_OUTCOMES.labels(key[0], key[2], "missing").inc(new)
        for model, t in self._last_event.items():
            m.LAST_EVENT_TIME.labels(model).set(t)
        done = stats.get("joined", 0) + stats.get("missing", 0)
        if done:
            m.LABEL_COVERAGE.set(stats.get("joined", 0) / done)
        m.LABEL_PENDING.labels(monitor=self.name, unit="predictions").set(self.joiner.pending)
        m.LABEL_PENDING.labels(monitor=self.name, unit="bytes").set(self.joiner.pending_bytes)

    # ----------------------------------------------------------------------------------------------- state
    def snapshot(self) -> None:
        """Save open windows, alarm memories and pending label joins to the store (one snapshot at a time: the
        final one of :meth:`stop` waits for a clock-thread snapshot still writing, so an older state never lands
        after a newer one)."""
        with self._snapshotting:
            self._snapshot()

    def _snapshot(self) -> None:
        with self._lock:
            state = {
                "monitor": self.monitor.to_state(),
                "joiner": self.joiner.to_state(held=False),  # what it holds: the label_joins rows
                "labels": [
                    {"model": k[0], "version": k[1], "variant": k[2], "window": lw.to_state()}
                    for k, lw in self.label_windows.items()
                ],
                "label_index": [[k[0], k[1], k[2], i] for k, i in self._label_index.items()],
                "position": dict(self.position),
                "alarm_state": [[k[0], k[1], k[2], kind, sev] for (k, kind), sev in self._alarm_state.items()],
                "alarm_since": [[k[0], k[1], k[2], kind, w] for (k, kind), w in self._alarm_since.items()],
                "last_event": dict(self._last_event),
            }
            pending, self._unrecorded = self._unrecorded, []
            cut = self.journal.mark() if self.journal is not None else None  # what this state covers
            journal = self.joiner.journal
            marks = journal.take() if journal is not None else {}
            joins = changes(self.joiner, marks) if journal is not None else None
        try:
            if not self.transactional:
                self.history.save_state(self.name, state, joins)
            else:
                self.history.commit(pending, self.name, state, joins)
        except Exception:
            with self._lock:
                if pending:
                    self._unrecorded = pending + self._unrecorded  # kept for the next snapshot
                if self.joiner.journal is not None:
                    self.joiner.journal.give_back(marks)
            raise
        if journal is not None and joins is not None:
            journal.committed(joins)
        if self.journal is not None and cut is not None:
            self.journal.release(cut)

    @property
    def unrecorded(self) -> int:
        """Closed windows waiting for the next snapshot (transactional mode)."""
        return len(self._unrecorded)

    def restore(self) -> bool:
        """Load the last snapshot, if any; return whether one was loaded."""
        state = self.history.load_state(self.name)
        if state is None:
            return False
        with self._lock:
            monitor = Monitor(
                self.profiles.get, policy=self.policy, policies=self.monitor.policies, clock=self.clock
            ).restore(state["monitor"])
            joiner = LabelJoiner.from_state(state["joiner"], clock=self.clock).journaled()
            if "pending" not in state["joiner"]:  # held entries are rows (a snapshot of an older build has them inline)
                joiner.load(self.history.load_joins(self.name))
            joiner.max_pending = self.settings.max_pending_labels  # today's bounds, not the snapshot's
            joiner.max_pending_bytes = self.settings.max_pending_label_bytes
            joiner.ttl_s = self.settings.label_ttl_s
            self.monitor, self.joiner = monitor, joiner  # both loaded: swap them in
            self._joined_seen = dict(self.joiner.stats)
            self._missing_seen = {}
            for item in state.get("labels", []):
                key: StreamKey = (str(item["model"]), int(item["version"]), str(item["variant"]))
                profile = self.profiles.get(key[0], key[1])
                stream = self.monitor.stream(key)
                if profile is None or stream is None:
                    continue
                lw = LabelWindow(task=profile.task, classes=profile.classes, estimator=stream.baseline.layout.estimator)
                self.label_windows[key] = lw.restore(item["window"])
            self.position = dict(state.get("position", {}))
            for mdl, ver, var, i in state.get("label_index", []):
                self._label_index[(str(mdl), int(ver), str(var))] = int(i)
            self._alarm_state = {  # alarms active at the snapshot: their windows keep counting as in alarm
                ((str(mdl), int(ver), str(var)), str(kind)): str(sev)
                for mdl, ver, var, kind, sev in state.get("alarm_state", [])
            }
            self._alarm_since = {
                ((str(mdl), int(ver), str(var)), str(kind)): int(w)
                for mdl, ver, var, kind, w in state.get("alarm_since", [])
            }
            self._last_event = {str(k): float(v) for k, v in state.get("last_event", {}).items()}
            for model, t in self._last_event.items():
                m.LAST_EVENT_TIME.labels(model).set(t)
        return True

    # ----------------------------------------------------------------------------------------------- thread
    def start(self) -> MonitorService:
        """Restore the last snapshot and start the clock thread."""
        try:
            if self.restore():
                log.info("monitor: restored open windows from the last snapshot")
        except Exception:
            log.exception("monitor: the last snapshot could not be restored; starting empty")
            try:  # its label-join rows would otherwise come back, out of order, at the next restore
                self.history.clear_joins(self.name)
            except Exception:
                log.exception("monitor: the last snapshot's label joins could not be cleared")
        self._replay()
        self._stop.clear()
        self._ready.set()
        self._thread = threading.Thread(target=self._run, name="modelpilot-monitor", daemon=True)
        self._thread.start()
        return self

    def _replay(self) -> None:
        """Take again what the journal holds: the events a killed predecessor took after its last snapshot."""
        if self.journal is None:
            return
        n = 0
        self._replaying = True
        try:
            for entry in self.journal.entries():
                if isinstance(entry, Tick):
                    self.tick(entry.time)
                    continue
                self.handle(entry)
                n += len(entry)
        except Exception:
            log.exception("monitor: the journal's replay stopped after %d events", n)
        finally:
            self._replaying = False
        if n:
            log.warning("monitor: replayed %d events taken after the last snapshot by a process that did not stop", n)

    def _run(self) -> None:
        last_snapshot = _time.monotonic()
        while not self._stop.wait(self.settings.tick_s):
            try:
                self.tick()
                if _time.monotonic() - last_snapshot >= self.settings.snapshot_s:
                    self.snapshot()
                    last_snapshot = _time.monotonic()
            except Exception:  # the clock thread must survive a bad tick or an unreachable store
                log.exception("monitor: tick failed")

    def stop(self) -> None:
        """Stop the clock thread and save a final snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.snapshot()
        except Exception:
            log.exception("monitor: final snapshot failed")
        if self.journal is not None:
            self.journal.close()  # what the last snapshot did not cover stays, for the next start
