"""The monitor: turns inference events into window results and alarms, per model version and variant.

Pure core: no I/O and no threads. The shell (``modelpilot up`` / ``monitor`` / ``analyze``) hands it batches of
events, calls :meth:`Monitor.tick` on a clock, and stores, exports and publishes what comes back.

Bad input never stops it: events of unknown models or versions, duplicates and failed calls are counted in
:attr:`Monitor.counters`; missing, wrongly typed, non-finite or out-of-range values are data-quality findings of the
window they fall in.

Example:
    >>> import numpy as np
    >>> from modelpilot.events import InferenceEvent
    >>> from modelpilot.monitoring.profile import build_profile
    >>> rng = np.random.default_rng(0)
    >>> prof = build_profile({"x": rng.normal(size=5000)}, numeric=["x"])
    >>> mon = Monitor(lambda model, version: prof if (model, version) == ("m", 1) else None,
    ...               policy=WindowPolicy(rows=500))
    >>> def ev(i, shift):
    ...     return InferenceEvent(request_id=str(i), time=float(i), model="m", version=1, variant="stable",
    ...                           features={"x": rng.normal(shift, 1, 250)}, prediction=None, latency_s=0.01,
    ...                           status=200)
    >>> results = mon.process([ev(i, 0.0 if i < 8 else 1.0) for i in range(16)])
    >>> [r.window for r in results], [a.transition for r in results for a in r.alarms]
    ([0, 1, 2, 3, 4, 5, 6, 7], ['raised'])
    >>> mon.process([ev(3, 0.0)]), mon.counters["duplicates"]
    ([], 1)
"""

from __future__ import annotations

import time as _time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelpilot.errors import InvalidInputError
from modelpilot.events.model import InferenceEvent, LabelEvent
from modelpilot.monitoring.batch import event_columns, event_rows, slices
from modelpilot.monitoring.batch import runs as batch_runs
from modelpilot.monitoring.changes import DEFAULT_DETECTORS, ChangeWatch
from modelpilot.monitoring.dedupe import IdFilter
from modelpilot.monitoring.drift import Baseline
from modelpilot.monitoring.judge import Judge
from modelpilot.monitoring.profile import ReferenceProfile
from modelpilot.monitoring.results import WindowResult
from modelpilot.monitoring.rules import DriftRule, Persistence, QualityRule
from modelpilot.monitoring.sketch import Sketch
from modelpilot.monitoring.windows import Run, Windower, WindowPolicy

__all__ = ["Monitor", "ProfileSource", "StreamKey", "event_columns"]

ProfileSource = Callable[[str, int], ReferenceProfile | None]
StreamKey = tuple[str, int, str]


@dataclass
class _Stream:
    key: StreamKey
    baseline: Baseline
    windower: Windower
    judge: Judge
    changes: ChangeWatch
    unknown: Counter[str] = field(default_factory=Counter)


class Monitor:
    """Windows, rules and alarm memory for every (model, version, variant) stream it sees.

    Parameters
    ----------
    profiles
        Looks up the reference profile of a model version (``None`` when it has none: its events are counted as
        ``unprofiled`` and skipped).
    policy, drift_rule, quality_rule, persistence
        Window size and rules (defaults documented on each class).
    policies
        Window sizes for particular models, by model name.
    clock
        The wall clock :meth:`tick` uses by default.
    dedupe
        How many recent (model, variant, request id) triples are remembered to drop duplicated events.
    detectors
        Change detectors per signal (``error_rate``, ``latency``, ``label_error``), by detector name; ``{}`` turns
        change detection off (default :data:`~modelpilot.monitoring.changes.DEFAULT_DETECTORS`).
    """

    def __init__(
        self,
        profiles: ProfileSource,
        *,
        policy: WindowPolicy | None = None,
        policies: Mapping[str, WindowPolicy] | None = None,
        drift_rule: DriftRule | None = None,
        quality_rule: QualityRule | None = None,
        persistence: Persistence | None = None,
        clock: Callable[[], float] = _time.time,
        dedupe: int = 50_000,
        detectors: Mapping[str, str] | None = None,
    ) -> None:
        self.profiles = profiles
        self.policy = policy or WindowPolicy()
        self.policies = dict(policies or {})
        self.drift_rule = drift_rule or DriftRule()
        self.quality_rule = quality_rule or QualityRule()
        self.persistence = persistence or Persistence()
        self.clock = clock
        self.dedupe = dedupe
        self.detectors = dict(DEFAULT_DETECTORS if detectors is None else detectors)
        self._reset()

    def _reset(self) -> None:
        self.streams: dict[StreamKey, _Stream] = {}
        self._baselines: dict[tuple[str, int], Baseline] = {}
        self._missing: dict[tuple[str, int], float] = {}  # versions without a profile, when last looked up
        self._seen = IdFilter(self.dedupe)
        self.counters: Counter[str] = Counter()
        self.unprofiled: Counter[str] = Counter()

    # ----------------------------------------------------------------------------------------------- streams
    def _baseline(self, model: str, version: int) -> Baseline | None:
        key = (model, version)
        found = self._baselines.get(key)
        if found is not None:
            return found
        if self._missing.get(key, -1e300) > self.clock() - 30.0:  # looked up less than 30 s ago: still none
            return None
        profile = self.profiles(model, version)
        if profile is None:
            if len(self._missing) >= 10_000:
                self._missing.clear()
            self._missing[key] = self.clock()
            return None
        self._baselines[key] = Baseline(profile)
        return self._baselines[key]

    def stream(self, key: StreamKey) -> _Stream | None:
        stream = self.streams.get(key)
        if stream is None:
            baseline = self._baseline(key[0], key[1])
            if baseline is None:
                return None
            judge = Judge(
                baseline, drift_rule=self.drift_rule, quality_rule=self.quality_rule, persistence=self.persistence
            )
            policy = self.policies.get(key[0], self.policy)
            stream = _Stream(key, baseline, Windower(baseline.layout, policy), judge, ChangeWatch(self.detectors))
            self.streams[key] = stream
        return stream

    def _duplicate(self, ev: InferenceEvent) -> bool:
        return self._seen.seen(ev.model, ev.variant, ev.request_id)

    # ----------------------------------------------------------------------------------------------- input
    def observe(self, ev: InferenceEvent | LabelEvent) -> list[WindowResult]:
        """Take one event; return the results of the windows it closed."""
        return self.process((ev,))

    def process(self, events: Iterable[InferenceEvent | LabelEvent]) -> list[WindowResult]:
        """Take a batch of events; return the results of every window they closed (in order per stream).

        Each stream's events are folded into its windows column-wise: the rows of consecutive events with the
        same columns are concatenated once and every window's sketch is updated once per batch, split exactly
        where windows close (rows and time), so the windows, statistics and alarms are those of taking the events
        one at a time.
        """
        groups: dict[StreamKey, list[InferenceEvent]] = {}
        counters = self.counters
        for ev in events:
            if isinstance(ev, LabelEvent):
                counters["labels"] += 1
                continue
            counters["events"] += 1
            if self._duplicate(ev):
                counters["duplicates"] += 1
                continue
            key: StreamKey = (ev.model, ev.version, ev.variant)
            group = groups.get(key)
            if group is None:
                if self.stream(key) is None:
                    name = f"{ev.model} v{ev.version}"
                    self.unprofiled[name if name in self.unprofiled or len(self.unprofiled) < 100 else "other"] += 1
                    counters["unprofiled"] += 1
                    continue
                group = groups[key] = []
            group.append(ev)
        out: list[WindowResult] = []
        for stream_key, group in groups.items():
            out.extend(self._fold(self.streams[stream_key], group))
        return out

    def _fold(self, stream: _Stream, evs: list[InferenceEvent]) -> list[WindowResult]:
        """Fold one stream's events (in arrival order) into its windows; judge the windows that close."""
        profile = stream.baseline.profile
        known = stream.baseline.layout.index
        n = len(evs)
        error_flags = np.empty(n, dtype=np.float64)
        latencies = np.empty(n, dtype=np.float64)
        times: list[float] = []
        rows: list[int] = []
        errors: list[int] = []
        lats: list[float | None] = []
        where: list[int] = []  # each windowed event's position in ``evs``
        unknown: list[tuple[str, ...]] = []  # each windowed event's feature names the profile does not know
        runs: list[Run] = []
        for lo, hi in slices(evs):
            for members, columns in batch_runs(profile, evs, lo, hi):
                first_ok = next((evs[i] for i, n in members if n >= 0), None)  # failed calls carry no columns
                names = (n for n in (first_ok.features if first_ok is not None else ()) if n not in known)
                run_unknown = tuple(names) if columns else ()
                for i, n_rows in members:
                    ev = evs[i]
                    if n_rows < 0:
                        self.counters["failed"] += 1
                        rows.append(0)
                        errors.append(max(event_rows(ev), 1))
                        unknown.append(())
                    else:
                        self.counters["rows"] += n_rows
                        rows.append(n_rows)
                        errors.append(0)
                        unknown.append(run_unknown)
                    times.append(ev.time)
                    lats.append(ev.latency_s)
                    where.append(i)
                runs.append((len(times), columns))
            for i in range(lo, hi):  # malformed events are in no run, but the change detectors see every event
                ev = evs[i]
                error_flags[i] = ev.status != 200
                latencies[i] = ev.latency_s
        self.counters["malformed"] += n - len(times)
        closed = stream.windower.add_batch(times=times, rows=rows, errors=errors, latencies=lats, runs=runs)
        out: list[WindowResult] = []
        first = stream.windower.closed - len(closed)
        fed = taken = 0  # events given to the change detectors; windowed events whose unknown columns are counted
        for k, (e, sketch) in enumerate(closed):
            changes: dict[str, int] = {}
            upto = where[e] + 1
            if upto > fed:  # the first window this event closed gets the detections up to it
                stream.changes.events(errors=error_flags[fed:upto], latencies=latencies[fed:upto])
                fed = upto
                changes = stream.changes.take()
                taken = self._count_unknown(stream, rows, unknown, taken, e + 1)
            out.append(self._window(stream, sketch, first + k, changes))
        if fed < n:
            stream.changes.events(errors=error_flags[fed:], latencies=latencies[fed:])
        self._count_unknown(stream, rows, unknown, taken, len(rows))
        self.counters["windows"] += len(out)
        return out

    @staticmethod
    def _count_unknown(stream: _Stream, rows: list[int], unknown: list[tuple[str, ...]], lo: int, hi: int) -> int:
        for e in range(lo, hi):
            for name in unknown[e]:
                stream.unknown[name] += rows[e]
        return hi

    def tick(self, now: float | None = None) -> list[WindowResult]:
        """Close and judge every window whose time is up."""
        t = self.clock() if now is None else now
        out: list[WindowResult] = []
        for stream in list(self.streams.values()):
            out.extend(self._judge(stream, stream.windower.tick(t)))
        return out

    def flush(self) -> list[WindowResult]:
        """Close and judge every open window (end of input, or shutdown)."""
        out: list[WindowResult] = []
        for stream in list(self.streams.values()):
            out.extend(self._judge(stream, stream.windower.flush()))
        return out

    def _window(self, stream: _Stream, sketch: Sketch, index: int, changes: dict[str, int]) -> WindowResult:
        """Judge one closed window; the unknown columns counted so far go with it."""
        model, version, variant = stream.key
        result = stream.judge.window(
            sketch,
            model=model,
            version=version,
            variant=variant,
            index=index,
            unknown_columns=stream.unknown,
            changes=dict.fromkeys(self.detectors, 0) | changes,
        )
        stream.unknown = Counter()
        return result

    def _judge(self, stream: _Stream, closed: list[Sketch]) -> list[WindowResult]:
        first = stream.windower.closed - len(closed)
        out = [
            self._window(stream, sketch, first + n, stream.changes.take() if n == 0 else {})
            for n, sketch in enumerate(closed)
        ]
        self.counters["windows"] += len(out)
        return out

    # ----------------------------------------------------------------------------------------------- state
    def to_state(self) -> dict[str, Any]:
        """Plain JSON types: every stream's open window and alarm memory, and the counters."""
        return {
            "streams": [
                {
                    "model": s.key[0],
                    "version": s.key[1],
                    "variant": s.key[2],
                    "closed": s.windower.closed,
                    "window": s.windower.current.to_state(),
                    "judge": s.judge.to_state(),
                    "changes": s.changes.to_state(),
                    "unknown": dict(s.unknown),
                }
                for s in self.streams.values()
            ],
            "counters": dict(self.counters),
            "unprofiled": dict(self.unprofiled),
            "seen": self._seen.to_state(),
        }

    def restore(self, state: Mapping[str, Any]) -> Monitor:
        """Load :meth:`to_state` (streams whose profile is gone are dropped and counted)."""
        self._reset()
        self.counters.update(state.get("counters", {}))
        self.unprofiled.update(state.get("unprofiled", {}))
        seen = state.get("seen", [])
        if isinstance(seen, Mapping):
            self._seen = IdFilter.from_state(seen, capacity=self.dedupe)
        else:  # a snapshot of an older build: the (model, variant, request id) triples themselves
            self._seen = IdFilter.from_identities(seen, capacity=self.dedupe)
        for s in state.get("streams", []):
            key = (str(s["model"]), int(s["version"]), str(s["variant"]))
            stream = self.stream(key)
            if stream is None:
                self.counters["restore_dropped"] += 1
                continue
            try:
                stream.windower.current = Sketch.from_state(stream.baseline.layout, s["window"])
                stream.windower.closed = int(s["closed"])
                stream.judge.restore(s["judge"])
                if "changes" in s:
                    stream.changes = ChangeWatch.from_state(s["changes"])
                stream.unknown = Counter(s.get("unknown", {}))
            except (InvalidInputError, KeyError, TypeError, ValueError):  # e.g. the profile was rebuilt since
                del self.streams[key]
                self.counters["restore_dropped"] += 1
        return self
