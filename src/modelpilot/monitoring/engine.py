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
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.events.model import InferenceEvent, LabelEvent
from modelpilot.monitoring.changes import DEFAULT_DETECTORS, ChangeWatch
from modelpilot.monitoring.columns import as_text
from modelpilot.monitoring.drift import Baseline
from modelpilot.monitoring.judge import Judge
from modelpilot.monitoring.profile import ReferenceProfile, probability_key
from modelpilot.monitoring.results import WindowResult
from modelpilot.monitoring.rules import DriftRule, Persistence, QualityRule
from modelpilot.monitoring.sketch import Sketch
from modelpilot.monitoring.windows import Windower, WindowPolicy

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


def event_columns(profile: ReferenceProfile, ev: InferenceEvent) -> dict[str, npt.NDArray[Any]]:
    """The columns an event gives the monitor: its features, prediction, probabilities, reconstruction error."""
    cols: dict[str, npt.NDArray[Any]] = dict(ev.features)
    if ev.prediction is not None:
        cols["@prediction"] = np.asarray(ev.prediction)
    if ev.probabilities is not None and profile.classes is not None:
        proba = np.asarray(ev.probabilities)
        names = [str(c) for c in as_text(np.asarray(ev.classes, dtype=object))] if ev.classes else list(profile.classes)
        if proba.ndim == 2 and proba.shape[1] == len(names):
            for j, name in enumerate(names):
                cols[f"@{probability_key(name)}"] = proba[:, j]
    if profile.multivariate is not None:
        cols["@reconstruction_error"] = profile.multivariate.errors(ev.features)
    return cols


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
        dedupe: int = 100_000,
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
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
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
        ident = (ev.model, ev.variant, ev.request_id)
        if ident in self._seen:
            return True
        self._seen[ident] = None
        if len(self._seen) > self.dedupe:
            self._seen.popitem(last=False)
        return False

    # ----------------------------------------------------------------------------------------------- input
    def observe(self, ev: InferenceEvent | LabelEvent) -> list[WindowResult]:
        """Take one event; return the results of the windows it closed."""
        if isinstance(ev, LabelEvent):
            self.counters["labels"] += 1
            return []
        self.counters["events"] += 1
        if self._duplicate(ev):
            self.counters["duplicates"] += 1
            return []
        stream = self.stream((ev.model, ev.version, ev.variant))
        if stream is None:
            name = f"{ev.model} v{ev.version}"
            self.unprofiled[name if name in self.unprofiled or len(self.unprofiled) < 100 else "other"] += 1
            self.counters["unprofiled"] += 1
            return []
        stream.changes.event(error=ev.status != 200, latency_s=ev.latency_s)
        if ev.status != 200:
            self.counters["failed"] += 1
            closed = stream.windower.add({}, rows=0, time=ev.time, errors=max(ev.rows, 1), latency_s=ev.latency_s)
            return self._judge(stream, closed)
        cols = event_columns(stream.baseline.profile, ev)
        rows = ev.rows
        bad = [k for k, v in cols.items() if len(v) != rows]
        if bad:
            self.counters["malformed"] += 1
            return []
        for name in ev.features:
            if name not in stream.baseline.layout.index:
                stream.unknown[name] += rows
        self.counters["rows"] += rows
        closed = stream.windower.add(cols, rows=rows, time=ev.time, latency_s=ev.latency_s)
        return self._judge(stream, closed)

    def process(self, events: Iterable[InferenceEvent | LabelEvent]) -> list[WindowResult]:
        """Take a batch of events; return the results of every window they closed, in order."""
        out: list[WindowResult] = []
        for ev in events:
            out.extend(self.observe(ev))
        return out

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

    def _judge(self, stream: _Stream, closed: list[Sketch]) -> list[WindowResult]:
        out = []
        first = stream.windower.closed - len(closed)
        for n, sketch in enumerate(closed):
            model, version, variant = stream.key
            out.append(
                stream.judge.window(
                    sketch,
                    model=model,
                    version=version,
                    variant=variant,
                    index=first + n,
                    unknown_columns=stream.unknown,
                    changes=dict.fromkeys(self.detectors, 0) | (stream.changes.take() if n == 0 else {}),
                )
            )
            stream.unknown = Counter()
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
            "seen": [list(k) for k in self._seen],
        }

    def restore(self, state: Mapping[str, Any]) -> Monitor:
        """Load :meth:`to_state` (streams whose profile is gone are dropped and counted)."""
        self._reset()
        self.counters.update(state.get("counters", {}))
        self.unprofiled.update(state.get("unprofiled", {}))
        for ident in state.get("seen", []):
            self._seen[(str(ident[0]), str(ident[1]), str(ident[2]))] = None
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
