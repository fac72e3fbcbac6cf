"""Monitor throughput benchmark: modelpilot's monitor side by side with Evidently, Alibi Detect and River.

Run it from the repository root with modelpilot's virtualenv::

    .venv/bin/python bench/monitor_throughput.py                  # full run: 1 M rows x 20 features (~7-10 min)
    .venv/bin/python bench/monitor_throughput.py --quick          # 100 k rows, short peer budget (< 3 min)
    .venv/bin/python bench/monitor_throughput.py --contenders modelpilot --batch 1000 --profile
    .venv/bin/python bench/monitor_throughput.py --write          # also replaces "## Monitor throughput" in
                                                                  # docs/benchmarks.md

Every contender sees the same seeded data: a stream of ``--rows`` rows of ``--features`` numeric features plus a
numeric prediction (a regression model's output), and a reference of 50,000 rows drawn from the same distribution.
From the middle of the stream three features drift (``f00`` shifts by half a standard deviation, ``f01`` widens by
half, ``f02`` shifts by 0.3 standard deviations; the prediction follows). Both are written once as column-major
``.npy`` files under ``bench/.cache/`` and read by every contender in row ranges with plain file reads, so the rows
it has read do not stay in its resident memory (a memory map would add every page it touched to its RSS).

Contenders (``--contenders`` takes a comma-separated subset), each in its own process, one after the other, pinned
to CPU 1 with ``taskset`` when it exists:

- ``modelpilot``: :class:`modelpilot.monitoring.engine.Monitor` fed columnar micro-batches of ``--batch`` rows per
  :class:`~modelpilot.events.InferenceEvent` (one run per batch size), windows of ``--window`` rows; every window
  gets every statistic and the alarm rules. A second run on a stream of a fifth of the rows (same generator, drift
  in its middle too) shows whether peak memory grows with the number of rows.
- ``evidently``: ``Report([DataDriftPreset()]).run(current, reference)`` per window, in its own virtualenv
  ``bench/.cache/venv-evidently`` (created here; ``pandas<3`` because Evidently 0.7 imports a pandas internal that
  pandas 3 removed).
- ``alibi``: Alibi Detect's ``KSDrift`` (numpy/scipy backend) ``predict`` per window, in
  ``bench/.cache/venv-alibi``.
- ``river``: one ``river.drift.ADWIN`` per column, fed every value, in this interpreter.

The per-window peers judge each window against the reference on its own (no state carries over), so when one is
too slow for the whole stream it runs windows in an order that keeps every prefix spread evenly over the stream
(bit-reversed index) until ``--peer-budget`` seconds have passed, and its rows/s is measured on the windows it did;
the table says so. Rows/s per core is rows over the CPU time the contender's process spent in its loop (it runs on
one pinned core, one thread, so this is what it reaches with a core to itself even when other work shares the
machine); wall seconds are shown too. Peak RSS is the child's ``ru_maxrss`` from ``wait4``.

The benchmark is not part of ``make test``. Every child is bounded by ``--timeout`` seconds and killed past it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import io
import json
import math
import os
import platform
import pstats
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from docsections import write_section

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CACHE = BENCH_DIR / ".cache"
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Monitor throughput"

DATA_FORMAT = 1  # bump when the generator changes, so cached data files are rebuilt
REFERENCE_ROWS = 50_000
CHUNK_ROWS = 10_000  # rows a streaming child reads at a time (its fixed read buffer)
PINNED_CPU = "1"
DRIFT = {"f00": "mean +0.5 sd", "f01": "sd x1.5", "f02": "mean +0.3 sd"}

TARGET_ROWS_PER_S = 500_000
TARGET_VS_EVIDENTLY = 25.0
MEMORY_GROWTH_MB = 5.0  # "does not grow": peak RSS at all rows minus at a fifth of them, at most this
CONTENDERS = ("modelpilot", "evidently", "alibi", "river")

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Peer:
    """A contender that runs in its own virtualenv."""

    venv: Path
    requirements: tuple[str, ...]
    packages: tuple[str, ...]  # versions reported
    check: str  # import that must work before it is measured


PEERS = {
    "evidently": Peer(
        CACHE / "venv-evidently",
        ("evidently", "pandas<3"),
        ("evidently", "pandas", "numpy", "scipy", "scikit-learn", "plotly"),
        "from evidently import Report; from evidently.presets import DataDriftPreset",
    ),
    "alibi": Peer(
        CACHE / "venv-alibi",
        ("alibi-detect",),
        ("alibi-detect", "numpy", "scipy", "numba"),
        "from alibi_detect.cd import KSDrift",
    ),
}
LOCAL_PACKAGES = {"modelpilot": ("modelpilot", "numpy", "scipy", "pydantic"), "river": ("river", "numpy")}
CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "DO_NOT_TRACK": "1",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


class SkipContender(Exception):
    """A contender that cannot be measured now; the message says why."""


# ================================================================================================ data
def feature_names(features: int) -> list[str]:
    """``f00``, ``f01``, ... (the drifting features are the first three)."""
    return [f"f{j:02d}" for j in range(features)]


@dataclass(frozen=True)
class DataFiles:
    """The stream and reference files of one (rows, features, seed)."""

    stream: Path
    reference: Path
    rows: int
    features: int
    drift_at: int


def _structure(features: int, seed: int) -> tuple[Floats, Floats, Floats, Floats]:
    """Mixing matrix (correlated features), means, scales and prediction weights of the generator."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    mix = np.eye(features) + 0.4 * rng.standard_normal((features, features)) / np.sqrt(features)
    mix /= np.sqrt((mix**2).sum(axis=0, keepdims=True))  # every latent column keeps unit variance
    means = rng.uniform(-5.0, 5.0, features)
    scales = rng.uniform(0.5, 3.0, features)
    weights = rng.standard_normal(features)
    return mix, means, scales, weights


def _draw(rng: np.random.Generator, n: int, first_row: int, drift_at: int | None, seed: int, features: int) -> Floats:
    """``n`` rows as a column-major block ``(features + 1, n)``, drifted from absolute row ``drift_at`` on."""
    mix, means, scales, weights = _structure(features, seed)
    z = rng.standard_normal((n, features)) @ mix
    if drift_at is not None:
        moved = np.arange(first_row, first_row + n) >= drift_at
        z[moved, 0] += 0.5
        if features > 1:
            z[moved, 1] *= 1.5
        if features > 2:
            z[moved, 2] += 0.3
    x = means + scales * z
    skewed = np.arange(features) % 5 == 4  # every fifth feature is log-normal
    x[:, skewed] = scales[skewed] * np.exp(0.5 * z[:, skewed])
    prediction = z @ weights + 0.1 * rng.standard_normal(n)
    return np.vstack([x.T, prediction[None, :]])


def ensure_data(rows: int, features: int, seed: int) -> DataFiles:
    """Write (once) the stream and reference files; return their paths."""
    CACHE.mkdir(parents=True, exist_ok=True)
    drift_at = rows // 2
    stream = CACHE / f"monitor-stream-r{rows}-f{features}-s{seed}-v{DATA_FORMAT}.npy"
    reference = CACHE / f"monitor-reference-r{REFERENCE_ROWS}-f{features}-s{seed}-v{DATA_FORMAT}.npy"
    if not reference.exists():
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        tmp = reference.with_suffix(".tmp.npy")
        np.save(tmp, _draw(rng, REFERENCE_ROWS, 0, None, seed, features))
        tmp.replace(reference)
    if not stream.exists():
        tmp = stream.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float64, shape=(features + 1, rows))
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2, rows]))
        for a in range(0, rows, 100_000):  # bounded memory whatever the number of rows
            b = min(a + 100_000, rows)
            out[:, a:b] = _draw(rng, b - a, a, drift_at, seed, features)
        out.flush()
        del out
        tmp.replace(stream)
    return DataFiles(stream, reference, rows, features, drift_at)


class ColumnFile:
    """A column-major ``.npy`` file of shape ``(columns, rows)``, read one row range at a time with plain reads."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 (closed in close())
        version = np.lib.format.read_magic(self._f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(self._f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(self._f)
        else:
            raise ValueError(f"{path}: unsupported .npy version {version}")
        if fortran or len(shape) != 2 or dtype != np.float64:
            raise ValueError(f"{path}: expected a C-order float64 (columns, rows) array, got {shape} {dtype}")
        self.columns, self.rows = int(shape[0]), int(shape[1])
        self._offset = self._f.tell()

    def read(self, start: int, stop: int) -> Floats:
        """Rows ``[start, stop)`` of every column, as a new ``(columns, stop - start)`` array."""
        stop = min(stop, self.rows)
        out = np.empty((self.columns, max(stop - start, 0)), dtype=np.float64)
        for j in range(self.columns):
            self._f.seek(self._offset + (j * self.rows + start) * 8)
            got = self._f.readinto(memoryview(out[j]).cast("B"))
            if got != out[j].nbytes:
                raise OSError(f"short read: {got} of {out[j].nbytes} bytes")
        return out

    def close(self) -> None:
        self._f.close()


# ================================================================================================ child side
def _proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MB (empty where /proc is not there)."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return out


def spread_order(n: int) -> list[int]:
    """``0 .. n-1`` ordered by bit-reversed index: every prefix is spread evenly over the range."""
    bits = max(1, (n - 1).bit_length())
    return sorted(range(n), key=lambda i: int(format(i, f"0{bits}b")[::-1], 2))


@dataclass
class Tally:
    """What a contender found, in the same shape for every contender."""

    window: int
    drift_at: int
    windows_before: int = 0
    windows_after: int = 0
    flagged_before: int = 0
    flagged_after: int = 0
    columns_after: dict[str, int] = field(default_factory=dict)
    columns_before: dict[str, int] = field(default_factory=dict)
    first_after: int | None = None  # first row index (>= drift_at) at which drift was flagged
    alarms: list[dict[str, Any]] = field(default_factory=list)

    def window_flags(self, index: int, columns: Sequence[str]) -> None:
        """One judged window and the columns flagged in it."""
        after = index * self.window >= self.drift_at
        if after:
            self.windows_after += 1
        else:
            self.windows_before += 1
        if not columns:
            return
        if after:
            self.flagged_after += 1
            row = index * self.window
            self.first_after = row if self.first_after is None else min(self.first_after, row)
        else:
            self.flagged_before += 1
        seen = self.columns_after if after else self.columns_before
        for c in columns:
            seen[c] = seen.get(c, 0) + 1

    def detection(self, column: str, row: int) -> None:
        """One detection by a per-value detector (River) at absolute row ``row``."""
        after = row >= self.drift_at
        seen = self.columns_after if after else self.columns_before
        seen[column] = seen.get(column, 0) + 1
        if after:
            self.flagged_after += 1
            self.first_after = row if self.first_after is None else min(self.first_after, row)
        else:
            self.flagged_before += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "windows_before": self.windows_before,
            "windows_after": self.windows_after,
            "flagged_before": self.flagged_before,
            "flagged_after": self.flagged_after,
            "columns_before": self.columns_before,
            "columns_after": self.columns_after,
            "first_after": self.first_after,
            "alarms": self.alarms,
        }


@dataclass
class ChildContext:
    """Everything a contender's loop needs, plus the measurements it takes."""

    name: str
    stream: ColumnFile
    reference: Floats
    names: list[str]  # features then "prediction"
    features: list[str]
    rows: int
    window: int
    batch: int
    drift_at: int
    budget: float
    rss_trace: list[tuple[int, float]] = field(default_factory=list)

    def chunks(self) -> Iterator[tuple[int, Floats]]:
        """The stream in chunks of whole batches and windows, with their first row."""
        unit = math.lcm(self.batch, self.window)
        step = max(CHUNK_ROWS // unit, 1) * unit
        for start in range(0, self.rows, step):
            yield start, self.stream.read(start, min(start + step, self.rows))
            self.rss_trace.append((min(start + step, self.rows), _proc_status().get("VmRSS", 0.0)))

    def windows(self, deadline: float) -> Iterator[tuple[int, Floats]]:
        """Single windows in spread order until every window is done or ``deadline`` (perf_counter) passes."""
        for k in spread_order(self.rows // self.window):
            if time.perf_counter() >= deadline:
                return
            yield k, self.stream.read(k * self.window, (k + 1) * self.window)


def run_modelpilot(ctx: ChildContext) -> dict[str, Any]:
    from modelpilot.events import InferenceEvent
    from modelpilot.monitoring.engine import Monitor
    from modelpilot.monitoring.profile import build_profile
    from modelpilot.monitoring.results import WindowResult
    from modelpilot.monitoring.windows import WindowPolicy

    ref = ctx.reference
    profile = build_profile({n: ref[j] for j, n in enumerate(ctx.features)}, numeric=ctx.features, predictions=ref[-1])
    monitor = Monitor(lambda model, version: profile, policy=WindowPolicy(rows=ctx.window, seconds=1e9))
    tally = Tally(ctx.window, ctx.drift_at)
    nfeat = len(ctx.features)

    def take(results: list[WindowResult]) -> None:
        for r in results:
            tally.window_flags(r.window, r.drifted)
            tally.alarms.extend(
                {"window": r.window, "kind": a.kind, "transition": a.transition, "subjects": sorted(a.subjects)}
                for a in r.alarms
            )

    def loop() -> int:
        event = 0
        for _, block in ctx.chunks():
            events = []
            for a in range(0, block.shape[1], ctx.batch):
                b = a + ctx.batch
                events.append(
                    InferenceEvent(
                        request_id=str(event),
                        time=float(event),
                        model="m",
                        version=1,
                        variant="stable",
                        features={ctx.features[j]: block[j, a:b] for j in range(nfeat)},
                        prediction=block[nfeat, a:b],
                        latency_s=0.0,
                        status=200,
                    )
                )
                event += 1
            take(monitor.process(events))
        take(monitor.flush())
        return int(monitor.counters["rows"])

    done = _timed(ctx, loop)
    return {**done, "windows": int(monitor.counters["windows"]), "tally": tally.to_dict()}


def run_river(ctx: ChildContext) -> dict[str, Any]:
    from river import drift

    detectors = [drift.ADWIN() for _ in ctx.names]  # type: ignore[no-untyped-call,unused-ignore]
    tally = Tally(ctx.window, ctx.drift_at)

    def loop() -> int:
        rows = 0
        for start, block in ctx.chunks():
            for j, det in enumerate(detectors):
                for k, value in enumerate(block[j].tolist()):
                    det.update(value)  # type: ignore[no-untyped-call,unused-ignore]
                    if det.drift_detected:
                        tally.detection(ctx.names[j], start + k)
            rows += block.shape[1]
        return rows

    done = _timed(ctx, loop)
    return {**done, "windows": None, "tally": tally.to_dict()}


def run_evidently(ctx: ChildContext) -> dict[str, Any]:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found,unused-ignore]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found,unused-ignore]

    definition = DataDefinition(numerical_columns=ctx.names)
    reference = Dataset.from_pandas(pd.DataFrame(ctx.reference.T, columns=ctx.names), data_definition=definition)
    report = Report([DataDriftPreset()])
    tally = Tally(ctx.window, ctx.drift_at)

    def judge(block: Floats) -> list[str]:
        current = Dataset.from_pandas(pd.DataFrame(block.T, columns=ctx.names), data_definition=definition)
        result = report.run(current, reference).dict()
        flagged = []
        for m in result["metrics"]:
            config = m.get("config", {})
            if not str(config.get("type", "")).endswith(":ValueDrift"):
                continue
            value, threshold = float(m["value"]), float(config["threshold"])
            smaller_is_drift = "p_value" in str(config.get("method", ""))
            if (value < threshold) if smaller_is_drift else (value >= threshold):
                flagged.append(str(config["column"]))
        return flagged

    judge(ctx.stream.read(0, ctx.window))  # warm-up (not counted): first-call imports and caches

    def loop() -> int:
        rows = 0
        for k, block in ctx.windows(time.perf_counter() + ctx.budget):
            tally.window_flags(k, judge(block))
            rows += block.shape[1]
        return rows

    done = _timed(ctx, loop)
    return {**done, "windows": tally.windows_before + tally.windows_after, "tally": tally.to_dict()}


def run_alibi(ctx: ChildContext) -> dict[str, Any]:
    from alibi_detect.cd import KSDrift  # type: ignore[import-not-found,unused-ignore]

    detector = KSDrift(np.ascontiguousarray(ctx.reference.T), p_val=0.05)
    tally = Tally(ctx.window, ctx.drift_at)

    def judge(block: Floats) -> list[str]:
        data = detector.predict(np.ascontiguousarray(block.T))["data"]
        flagged = np.asarray(data["p_val"]) < float(data["threshold"])
        return [ctx.names[j] for j in np.flatnonzero(flagged)]

    judge(ctx.stream.read(0, ctx.window))  # warm-up (not counted)

    def loop() -> int:
        rows = 0
        for k, block in ctx.windows(time.perf_counter() + ctx.budget):
            tally.window_flags(k, judge(block))
            rows += block.shape[1]
        return rows

    done = _timed(ctx, loop)
    return {**done, "windows": tally.windows_before + tally.windows_after, "tally": tally.to_dict()}


PROFILE_OUT: Path | None = None


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _timed(ctx: ChildContext, loop: Callable[[], int]) -> dict[str, Any]:
    """Run the contender's loop, measuring wall and CPU time and resident memory around it.

    The peak RSS of imports and setup is read before the loop; then the peak is reset, so the peak read after the
    loop is the loop's own.
    """
    before = _proc_status()
    loop_peak_known = _reset_peak_rss()
    profiler = None
    if PROFILE_OUT is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    rows = loop()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None and PROFILE_OUT is not None:
        profiler.disable()
        profiler.dump_stats(str(PROFILE_OUT))
    after = _proc_status()
    return {
        "rows": rows,
        "seconds": wall,
        "cpu_seconds": cpu,
        "rss_before_loop_mb": before.get("VmRSS"),
        "rss_after_loop_mb": after.get("VmRSS"),
        "hwm_setup_mb": before.get("VmHWM"),
        "hwm_loop_mb": after.get("VmHWM") if loop_peak_known else None,
    }


RUNNERS: dict[str, Callable[[ChildContext], dict[str, Any]]] = {
    "modelpilot": run_modelpilot,
    "river": run_river,
    "evidently": run_evidently,
    "alibi": run_alibi,
}


def _versions(packages: Sequence[str]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def child_main(args: argparse.Namespace) -> int:
    """Run one contender in this process and write its result as JSON."""
    global PROFILE_OUT
    PROFILE_OUT = Path(args.profile_out) if args.profile_out else None
    started = time.perf_counter()
    stream = ColumnFile(Path(args.stream))
    reference = np.load(args.reference)
    features = feature_names(stream.columns - 1)
    ctx = ChildContext(
        name=args.child,
        stream=stream,
        reference=reference,
        names=[*features, "prediction"],
        features=features,
        rows=stream.rows,
        window=args.window,
        batch=args.batch,
        drift_at=args.drift_at,
        budget=args.budget,
    )
    result = RUNNERS[args.child](ctx)
    stream.close()
    packages = PEERS[args.child].packages if args.child in PEERS else LOCAL_PACKAGES[args.child]
    result.update(
        contender=args.child,
        setup_seconds=time.perf_counter() - started - result["seconds"],
        rows_total=stream.rows,
        drift_at=args.drift_at,
        window=args.window,
        rss_trace=ctx.rss_trace,
        versions=_versions(packages),
    )
    Path(args.out).write_text(json.dumps(result))
    return 0


# ================================================================================================ parent side
@dataclass
class Run:
    """One measured contender run (or the reason it was skipped)."""

    label: str
    contender: str
    batch: int | None
    result: dict[str, Any] | None = None
    peak_rss_mb: float | None = None
    load_before: str = ""
    load_after: str = ""
    error: str | None = None
    repeats: list[float] = field(default_factory=list)  # rows/s per core of every repeat, when repeated

    @property
    def peak_mb(self) -> float | None:
        """Peak RSS of the whole child: imports, setup and loop."""
        r = self.result or {}
        found = [v for v in (self.peak_rss_mb, r.get("hwm_setup_mb"), r.get("hwm_loop_mb")) if v is not None]
        return max(found) if found else None

    @property
    def loop_peak_mb(self) -> float | None:
        """Peak RSS while the loop ran (the peak was reset when it started)."""
        return (self.result or {}).get("hwm_loop_mb")

    @property
    def rows(self) -> int:
        return int(self.result["rows"]) if self.result else 0

    @property
    def per_core(self) -> float:
        if not self.result or self.result["cpu_seconds"] <= 0:
            return 0.0
        return self.rows / float(self.result["cpu_seconds"])

    @property
    def per_wall(self) -> float:
        if not self.result or self.result["seconds"] <= 0:
            return 0.0
        return self.rows / float(self.result["seconds"])


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ensure_peer(name: str) -> Path:
    """The peer's interpreter, creating and filling its virtualenv on first use."""
    peer = PEERS[name]
    python = peer.venv / "bin" / "python"
    marker = peer.venv / ".bench-ready"
    wanted = "\n".join(peer.requirements)
    if not (python.exists() and marker.exists() and marker.read_text() == wanted):
        print(f"[{name}] installing {' '.join(peer.requirements)} into {peer.venv.relative_to(REPO)} ...", flush=True)
        log = CACHE / f"pip-{name}.log"
        try:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(peer.venv)], check=True, timeout=300)
            with open(log, "w") as out:
                subprocess.run(
                    [str(python), "-m", "pip", "install", "--disable-pip-version-check", *peer.requirements],
                    check=True,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=1800,
                )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            tail = log.read_text().strip().splitlines()[-3:] if log.exists() else []
            raise SkipContender(f"install failed ({exc}); {' / '.join(tail)}") from exc
        marker.write_text(wanted)
    check = subprocess.run([str(python), "-c", peer.check], capture_output=True, text=True, timeout=300)
    if check.returncode != 0:
        lines = check.stderr.strip().splitlines()
        raise SkipContender(f"import failed: {lines[-1] if lines else check.returncode}")
    return python


def modelpilot_src() -> Path:
    """The modelpilot source measured: this checkout's ``src``, or ``BENCH_MODELPILOT_SRC`` (another checkout)."""
    return Path(os.environ.get("BENCH_MODELPILOT_SRC", str(REPO / "src"))).resolve()


def source_label() -> str:
    """Where the measured source is, without this machine's paths."""
    src = modelpilot_src()
    if src.is_relative_to(REPO):
        return f"`{src.relative_to(REPO)}` of this checkout"
    return "another checkout (`BENCH_MODELPILOT_SRC`)"


def run_child(
    label: str,
    contender: str,
    python: Path,
    data: DataFiles,
    *,
    batch: int,
    window: int,
    budget: float,
    timeout: float,
    pin: bool,
    profile_out: Path | None = None,
) -> Run:
    """Run one contender in a fresh process (pinned), wait for it with ``wait4`` and read its peak RSS."""
    run = Run(label, contender, batch if contender == "modelpilot" else None)
    out = CACHE / f"result-{label.replace(' ', '_')}.json"
    out.unlink(missing_ok=True)
    cmd = [str(python), str(Path(__file__).resolve()), "--child", contender, "--stream", str(data.stream)]
    cmd += ["--reference", str(data.reference), "--out", str(out), "--batch", str(batch), "--window", str(window)]
    cmd += ["--drift-at", str(data.drift_at), "--budget", str(budget)]
    if profile_out is not None:
        cmd += ["--profile-out", str(profile_out)]
    if pin and shutil.which("taskset"):
        cmd = ["taskset", "-c", PINNED_CPU, *cmd]
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(modelpilot_src())}
    run.load_before = _loadavg()
    print(f"[{label}] running (load {run.load_before}) ...", flush=True)
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    status, usage = 0, None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            run.error = f"killed after the {timeout:.0f} s timeout"
            break
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if proc.stdout:
        proc.stdout.close()
    run.load_after = _loadavg()
    run.peak_rss_mb = usage.ru_maxrss / 1024 if usage is not None else None
    if run.error is None and (proc.returncode != 0 or not out.exists()):
        lines = [ln for ln in output.strip().splitlines() if ln.strip()]
        run.error = f"exit {proc.returncode}: {lines[-1] if lines else 'no output'}"
    if run.error is None:
        run.result = json.loads(out.read_text())
    print(f"[{label}] {'error: ' + run.error if run.error else summary_line(run)}", flush=True)
    return run


def repeated(times: int, *args: Any, **kwargs: Any) -> Run:
    """:func:`run_child` ``times`` times (a short contender); keep the run with the median rows/s per core."""
    runs = [run_child(*args, **kwargs) for _ in range(max(times, 1))]
    ok = sorted((r for r in runs if r.result is not None), key=lambda r: r.per_core)
    if not ok:
        return runs[-1]
    chosen = ok[(len(ok) - 1) // 2]
    chosen.repeats = [r.per_core for r in runs if r.result is not None]
    return chosen


def summary_line(run: Run) -> str:
    r = run.result or {}
    return (
        f"{run.rows:,} rows in {r.get('seconds', 0):.1f} s wall / {r.get('cpu_seconds', 0):.1f} s CPU: "
        f"{run.per_core:,.0f} rows/s per core, peak RSS {run.peak_mb or 0:.0f} MB "
        f"(in the loop {run.loop_peak_mb or 0:.0f} MB)"
    )


def found_text(run: Run) -> str:
    """The work-done column: windows flagged before / after the drift, alarms, detections."""
    r = run.result
    if r is None:
        return "—"
    t = r["tally"]
    cols = ", ".join(f"{c} {n}" for c, n in sorted(t["columns_after"].items(), key=lambda kv: (-kv[1], kv[0]))[:6])
    first = t["first_after"]
    if run.contender == "river":
        delay = f"first {first - r.get('drift_at', 0):,} rows after the drift" if first is not None else "none after"
        before = ", ".join(f"{c} {n}" for c, n in sorted(t["columns_before"].items(), key=lambda kv: -kv[1])[:3])
        return (
            f"{t['flagged_before']} detections before the drift ({before or 'none'}), {t['flagged_after']} after "
            f"({delay}; {cols or 'none'})"
        )
    text = (
        f"windows with a flagged column: {t['flagged_before']}/{t['windows_before']} before, "
        f"{t['flagged_after']}/{t['windows_after']} after the drift (after: {cols or 'none'})"
    )
    if run.contender == "modelpilot":
        alarms = t["alarms"]
        kinds: dict[str, int] = {}
        for a in alarms:
            key = f"{a['kind']} {a['transition']}"
            kinds[key] = kinds.get(key, 0) + 1
        raised = next((a for a in alarms if a["kind"] == "drift" and a["transition"] == "raised"), None)
        when = (
            f"first drift alarm raised at window {raised['window']} ({', '.join(raised['subjects'])})"
            if raised is not None
            else "no drift alarm raised"
        )
        shown = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        text = f"{when}; alarm transitions: {shown or 'none'}; " + text
    return text


def notes_text(run: Run, data_rows: int) -> str:
    if run.error:
        return f"⚠ {run.error}"
    r = run.result or {}
    notes = []
    cpu_share = r["cpu_seconds"] / r["seconds"] if r["seconds"] > 0 else 0.0
    if len(run.repeats) > 1:
        lo, hi = min(run.repeats), max(run.repeats)
        notes.append(f"median of {len(run.repeats)} runs ({lo:,.0f}-{hi:,.0f} rows/s per core)")
    notes.append(f"wall {run.per_wall:,.0f} rows/s (CPU {cpu_share:.0%} of wall)")
    if run.contender in ("evidently", "alibi") and run.rows < data_rows:
        full = data_rows / run.per_core if run.per_core > 0 else float("inf")
        notes.append(
            f"SUBSET: {r['windows']} of {data_rows // int(r['window'])} windows, evenly spread, stopped by the "
            f"time budget; the whole stream would take ~{full / 60:.0f} min of CPU (extrapolated)"
        )
    if run.contender == "modelpilot":
        notes.append(f"{run.batch:,} rows per event")
        trace = r.get("rss_trace") or []
        if len(trace) >= 3:
            pts = [trace[len(trace) // 10], trace[len(trace) // 2], trace[-1]]
            notes.append("RSS at " + ", ".join(f"{rows // 1000:,}k rows {mb:.0f} MB" for rows, mb in pts))
    if r.get("rss_before_loop_mb") is not None:
        notes.append(f"RSS before the loop {r['rss_before_loop_mb']:.0f} MB, setup {r['setup_seconds']:.1f} s")
    return "; ".join(notes)


def table(runs: Sequence[Run], rows_of: dict[str, int]) -> list[str]:
    lines = [
        "| contender | rows processed | wall s | CPU s | rows/s per core | peak RSS MB (all / loop) | windows | "
        "alarms / drift found | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        r = run.result
        if r is None:
            lines.append(f"| {run.label} | — | — | — | — | — | — | — | {notes_text(run, 0)} |")
            continue
        windows = "— (per value)" if r["windows"] is None else f"{r['windows']:,}"
        lines.append(
            f"| {run.label} | {run.rows:,} of {r['rows_total']:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{run.per_core:,.0f} | {run.peak_mb or 0:.0f} / {run.loop_peak_mb or 0:.0f} | {windows} | "
            f"{found_text(run)} | "
            f"{notes_text(run, rows_of[run.label])} |"
        )
    return lines


def targets(runs: Sequence[Run]) -> list[str]:
    """The issue's targets, each marked met (✓) or not (✗)."""
    full = [r for r in runs if r.contender == "modelpilot" and r.result and not r.label.endswith("(memory check)")]
    small = next((r for r in runs if r.label.endswith("(memory check)") and r.result), None)
    ev = next((r for r in runs if r.contender == "evidently" and r.result), None)
    out = []
    if full:
        best = max(full, key=lambda r: r.per_core)
        ok = best.per_core >= TARGET_ROWS_PER_S
        detail = ", ".join(f"{r.per_core:,.0f} at {r.batch:,} rows/event" for r in full)
        out.append(f"- modelpilot ≥ {TARGET_ROWS_PER_S:,} rows/s on one core: {'✓' if ok else '✗'} ({detail})")
        if ev is not None and ev.per_core > 0:
            ratio = best.per_core / ev.per_core
            out.append(
                f"- modelpilot ≥ {TARGET_VS_EVIDENTLY:.0f}x Evidently: {'✓' if ratio >= TARGET_VS_EVIDENTLY else '✗'} "
                f"({ratio:,.0f}x, best batch vs Evidently's rows/s per core)"
            )
        big = next((r for r in full if small is not None and r.batch == small.batch), full[0])
        if small is not None and small.loop_peak_mb is not None and big.loop_peak_mb is not None:
            growth = big.loop_peak_mb - small.loop_peak_mb
            ok = growth <= MEMORY_GROWTH_MB
            out.append(
                f"- memory does not grow with rows: {'✓' if ok else '✗'} (peak RSS in the loop "
                f"{small.loop_peak_mb:.0f} MB at {small.rows:,} rows, {big.loop_peak_mb:.0f} MB at {big.rows:,} "
                f"rows: {growth:+.1f} MB, limit +{MEMORY_GROWTH_MB:.0f} MB; whole process {small.peak_mb or 0:.0f} "
                f"and {big.peak_mb or 0:.0f} MB, its peak set while profiling the reference)"
            )
    return out


def render_section(
    runs: Sequence[Run], args: argparse.Namespace, rows_of: dict[str, int], started: dt.datetime
) -> list[str]:
    loads = [f"{r.label}: {r.load_before} → {r.load_after}" for r in runs]
    lines = [
        SECTION,
        "",
        "modelpilot's monitor side by side with Evidently's data-drift preset, Alibi Detect's `KSDrift` and River's",
        "`ADWIN`, on the same seeded data. Produced by `bench/monitor_throughput.py`; re-run it rather than editing",
        "the numbers by hand.",
        "",
        f"- command: `{args.command}`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores, {_cpu_model()}, kernel {platform.release()}, "
        f"python {platform.python_version()}",
        "- modelpilot source: " + source_label(),
        f"- pinning: {'`taskset -c ' + PINNED_CPU + '`' if args.pin and shutil.which('taskset') else 'none'}; "
        "contenders run one after the other",
        "- load average (1/5/15 min) before → after each contender: " + "; ".join(loads),
        f"- data: {args.rows:,} rows x {args.features} numeric features + a numeric prediction (seed {args.seed}); "
        f"reference {REFERENCE_ROWS:,} rows of the same distribution; from row {args.rows // 2:,} on "
        + ", ".join(f"{k} {v}" for k, v in DRIFT.items())
        + f"; windows of {args.window:,} rows",
        "",
        "### Results",
        "",
        *table(runs, rows_of),
        "",
        "Targets (issue, DESIGN.md §6):",
        "",
        *targets(runs),
        "",
        "### Method",
        "",
        "- **Rows/s per core** is rows processed over the CPU time (user + system) the contender's process spent in",
        "  its loop; each contender runs alone in a fresh process pinned to one core with one BLAS/numba thread, so",
        "  this is its throughput with a core to itself, which other load on the machine changes far less than wall",
        "  time. `wall s` and the wall rows/s in the notes show what the shared machine gave it. Imports and",
        "  fitting on the reference (setup) are not timed; reading the rows from the data file is.",
        "- **Peak RSS**: `all` is the child's peak resident memory, imports and setup included (`VmHWM` before",
        "  the loop, and `ru_maxrss` from `wait4`); `loop` is the peak while the loop ran (the peak is reset with",
        "  `/proc/self/clear_refs` when the loop starts). Rows are read from a column-major `.npy` file in ranges",
        "  with plain reads (no memory map), so data pages do not count.",
        f"- **Repeats**: modelpilot and River (a few seconds each) run {args.repeat} times; the table keeps the",
        "  median run and the notes give the range. Evidently and Alibi run once (minutes, many windows).",
        "- **modelpilot**: `build_profile` on the reference (20 features, the prediction, the PCA reconstruction",
        "  error), `Monitor(..., policy=WindowPolicy(rows=1000, seconds=1e9))`, one `InferenceEvent` per batch of",
        f"  columnar rows, `monitor.process(events)` on the events of each {CHUNK_ROWS // 1000} k-row read, `flush()`",
        "  at the end.",
        "  Every window gets PSI, JS, Hellinger, Wasserstein, KS + p-value per column and the drift, quality and",
        "  persistence rules; the results are counted and dropped, as a consumer that stores or publishes them",
        "  would. The memory check runs the same on a stream of a fifth of the rows (drift in its middle too).",
        "- **Evidently**: `Report([DataDriftPreset()]).run(current, reference)` per 1,000-row window, both as",
        "  `Dataset.from_pandas` with every column declared numerical (the reference built once), results read",
        "  with `snapshot.dict()`; a column is flagged when its `ValueDrift` crosses the preset's threshold.",
        "  `pandas<3` is pinned next to it: Evidently 0.7 fails to import with pandas 3.",
        "- **Alibi Detect**: `KSDrift(reference, p_val=0.05)` (Bonferroni over columns), `predict` per window; a",
        "  column is flagged when its p-value is below the corrected threshold.",
        "- **River**: one `drift.ADWIN()` (default delta 0.002) per column, `update` with every value in stream",
        "  order and `drift_detected` checked after each; it has no windows, so its column counts detections.",
        "- **Subsets**: Evidently and Alibi judge each window on its own, so when one cannot do the whole stream",
        f"  within {args.peer_budget:.0f} s it runs windows in bit-reversed order (every prefix spread evenly over",
        "  the stream, before and after the drift) until that budget is spent; its rows/s is measured on the",
        "  windows it did and the notes give the extrapolated time for the whole stream. One warm-up window (not",
        "  counted) runs first.",
        "- The machine may be shared with other work; compare rows of one run.",
        "",
        "### Versions",
        "",
    ]
    seen: set[str] = set()
    for r in runs:
        if r.result and r.contender not in seen:
            seen.add(r.contender)
            v = r.result["versions"]
            lines.append(f"- {r.contender}: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    lines.append("")
    return lines


def print_profile(path: Path, out: Path) -> None:
    """Top functions by own time and modelpilot's monitoring functions by cumulative time."""
    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf)
    stats.strip_dirs().sort_stats("tottime").print_stats(30)
    buf.write("\n==== modelpilot/monitoring, by cumulative time ====\n")
    full = pstats.Stats(str(path), stream=buf)
    full.sort_stats("cumulative").print_stats(r"modelpilot/(monitoring|events)", 40)
    text = buf.getvalue()
    out.write_text(text)
    print(text)
    print(f"(profile saved to {out.relative_to(REPO)}; raw stats in {path.relative_to(REPO)})")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the stream (a multiple of --window)")
    p.add_argument("--features", type=int, default=20, help="numeric features (at least 3)")
    p.add_argument("--batch", default="1000,10000", help="modelpilot rows per event, comma-separated")
    p.add_argument("--window", type=int, default=1000, help="rows per window")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--contenders", default=",".join(CONTENDERS), help=f"subset of {','.join(CONTENDERS)}")
    p.add_argument("--peer-budget", type=float, default=300.0, help="seconds of windows per Evidently/Alibi run")
    p.add_argument("--repeat", type=int, default=3, help="runs of modelpilot and River (median kept)")
    p.add_argument("--timeout", type=float, default=900.0, help="hard limit per child process, seconds")
    p.add_argument("--quick", action="store_true", help="100 k rows, 45 s peer budget (a run of < 3 minutes)")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin children with taskset")
    p.add_argument("--profile", action="store_true", help="after the runs, profile modelpilot (cProfile)")
    p.add_argument("--write", action="store_true", help="replace the section in the doc with this run's results")
    p.add_argument("--doc", type=Path, default=DOC, help="markdown file for --write")
    # child mode (internal)
    p.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--stream", help=argparse.SUPPRESS)
    p.add_argument("--reference", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--drift-at", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--budget", type=float, default=300.0, help=argparse.SUPPRESS)
    p.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.batch = int(args.batch)
        return args
    if args.quick:
        args.rows = 100_000 if "--rows" not in (argv or sys.argv) else args.rows
        args.peer_budget = 45.0 if "--peer-budget" not in (argv or sys.argv) else args.peer_budget
    args.batches = [int(b) for b in str(args.batch).split(",") if b.strip()]
    args.contender_list = [c.strip() for c in args.contenders.split(",") if c.strip()]
    bad = [c for c in args.contender_list if c not in CONTENDERS]
    if bad:
        p.error(f"unknown contender {bad[0]!r}; choose from {', '.join(CONTENDERS)}")
    if args.features < 3:
        p.error("--features must be at least 3 (three of them drift)")
    if args.window < 1 or args.rows % args.window or args.rows < 10 * args.window:
        p.error("--rows must be a multiple of --window and at least 10 windows")
    if any(b < 1 for b in args.batches) or not args.batches:
        p.error("--batch takes positive integers")
    given = list(argv) if argv is not None else sys.argv[1:]
    args.command = " ".join([".venv/bin/python", "bench/monitor_throughput.py", *map(shlex.quote, given)])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    print(f"cores {os.cpu_count()}, cpu {_cpu_model()}, load {_loadavg()}", flush=True)
    data = ensure_data(args.rows, args.features, args.seed)
    small_rows = max(args.rows // 5 // args.window * args.window, 10 * args.window)
    runs: list[Run] = []
    rows_of: dict[str, int] = {}
    kw: dict[str, Any] = {"window": args.window, "timeout": args.timeout, "pin": args.pin, "budget": 0.0}
    here = Path(sys.executable)
    for name in args.contender_list:
        if name == "modelpilot":
            for batch in args.batches:
                label = f"modelpilot (batch {batch:,})"
                rows_of[label] = args.rows
                runs.append(repeated(args.repeat, label, name, here, data, batch=batch, **kw))
            small = ensure_data(small_rows, args.features, args.seed)
            label = f"modelpilot {small_rows // 1000:,}k rows (memory check)"
            rows_of[label] = small_rows
            runs.append(run_child(label, name, here, small, batch=args.batches[0], **kw))
            continue
        rows_of[name] = args.rows
        try:
            python = ensure_peer(name) if name in PEERS else Path(sys.executable)
        except SkipContender as exc:
            runs.append(Run(name, name, None, error=f"skipped: {exc}"))
            print(f"[{name}] skipped: {exc}", flush=True)
            continue
        if name in PEERS:  # long runs that judge many windows: measured once
            runs.append(run_child(name, name, python, data, batch=args.window, **{**kw, "budget": args.peer_budget}))
        else:
            runs.append(repeated(args.repeat, name, name, here, data, batch=args.window, **kw))
    section = render_section(runs, args, rows_of, started)
    print()
    print("\n".join(section))
    print(f"(total {time.monotonic() - t0:.0f} s)")
    if args.profile:
        stats = CACHE / "monitor-profile.pstats"
        prof = run_child("modelpilot profile", "modelpilot", here, data, batch=args.batches[0], profile_out=stats, **kw)
        if prof.error is None:
            print_profile(stats, CACHE / "monitor-profile.txt")
    if args.write:
        doc: Path = args.doc
        write_section(doc, SECTION, section)
        print(f"wrote {SECTION!r} in {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
