"""Serving benchmark: modelpilot (monitoring events on and off) side by side with MLServer and a bare floor.

Run it from the repository root with modelpilot's virtualenv::

    .venv/bin/python bench/serving.py                      # full run, writes docs/benchmarks.md (~5 minutes)
    .venv/bin/python bench/serving.py --quick              # smoke run: short cells, prints only
    .venv/bin/python bench/serving.py --only floor,mlserver
    .venv/bin/python bench/serving.py --only modelpilot --concurrency 1,8

Every contender serves the same fitted scikit-learn model (StandardScaler + LogisticRegression on the four numeric
columns of ``modelpilot.demo.data.credit_table``) over OIP v2 JSON on 127.0.0.1, one server process each, pinned
to CPU 0 with ``taskset``. The load generator is ``wrk`` (installed from Debian if missing), pinned to CPU 1, one
thread, closed loop at concurrency 1, 8 and 64, cycling through the same pre-built request mix (80% 1-row, 20%
16-row requests; the same numbers for every contender). Each cell is a warm-up run followed by a measured run of
fixed duration. Any non-2xx answer, socket error or timeout counts as an error and flags the row.

Contenders (``--only`` takes a comma-separated subset; ``modelpilot`` means both modelpilot rows):

- ``floor``: ``bench/floor_app.py``, bare Starlette + uvicorn calling ``predict_proba`` in the event loop.
- ``floor-threaded``: the same app calling ``predict_proba`` through Starlette's thread pool (``run_in_threadpool``),
  as a server must to stay responsive while a model computes; modelpilot runs models off the loop too.
- ``mlserver``: MLServer + mlserver-sklearn in their own virtualenv under ``bench/.cache/`` (created on first use),
  one process (``parallel_workers: 0``), metrics and gzip off, access log off.
- ``modelpilot-on`` / ``modelpilot-off``: ``modelpilot serve --workers 1`` with ``MODELPILOT_EVENTS__ENABLED``
  true / false, after ``modelpilot register`` and ``modelpilot traffic set`` in a throw-away home. A contender
  that fails to start is skipped with the reason printed; the others still run. ``BENCH_MODELPILOT_CLI=/path``
  runs another ``modelpilot`` executable (default: the one next to this interpreter).

The benchmark is not part of ``make test``. It only ever binds and loads 127.0.0.1, and every load run is bounded
by wrk's ``-d`` duration plus a hard subprocess timeout. All servers it starts are stopped on exit and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
MLSERVER_VENV = CACHE / "mlserver-venv"
LUA_SCRIPT = BENCH_DIR / "mix.lua"
DOC = REPO / "docs" / "benchmarks.md"

MODEL_NAME = "credit"
FEATURES = ("income", "debt_ratio", "age", "late_payments")
TARGET = "default"
INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"

# Versions the harness was tested with; scikit-learn is pinned to the version of this interpreter at run time so
# that MLServer unpickles the joblib file with the library that wrote it.
MLSERVER_PINS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "httptools==0.9.0")

SERVER_CPU = "0"
LOADGEN_CPU = "1"
BODIES_IN_CYCLE = 100  # 80 one-row and 20 sixteen-row bodies, interleaved: every fifth body has 16 rows
BIG_ROWS = 16

CONTENDERS = ("modelpilot-up", "modelpilot-on", "modelpilot-off", "mlserver", "floor", "floor-threaded")  # table order
RUN_ORDER = ("floor", "floor-threaded", "mlserver", "modelpilot-off", "modelpilot-on", "modelpilot-up")
TARGET_UP_VS_ON = 0.9
TARGET_VS_MLSERVER = 1.5
TARGET_VS_FLOOR = 0.9
TARGET_P50_OVERHEAD = 1.05


class SkipContender(Exception):
    """A contender that cannot be benchmarked now; the message says why."""


@dataclass
class Cell:
    """One measured (contender, concurrency) run."""

    contender: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    cpu_seconds: float  # CPU time the server's processes used during the measured run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests per second of server CPU time: throughput if the server had its core to itself."""
        return self.requests / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


@dataclass
class Outcome:
    """What happened to one contender: its cells, or why it was skipped."""

    name: str
    runs: dict[int, list[Cell]] = field(default_factory=dict)
    skipped: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    monitor: dict[str, float] = field(default_factory=dict)  # modelpilot-up: what its counters say was watched
    monitor_failed: bool = False

    def add(self, cells: dict[int, Cell]) -> None:
        for conc, cell in cells.items():
            self.runs.setdefault(conc, []).append(cell)

    @property
    def cells(self) -> dict[int, Cell]:
        """Per concurrency the round with the most requests/s (interference only slows a run down), with the
        errors of every round added up, so an error in any round flags the row."""
        best = {}
        for conc, runs in self.runs.items():
            top = max(runs, key=lambda c: c.rps)
            best[conc] = dataclasses.replace(
                top, non2xx=sum(c.non2xx for c in runs), socket_errors=sum(c.socket_errors for c in runs)
            )
        return best


@dataclass
class Workload:
    """The fitted model, its files, and the request bodies every contender gets (same numbers, native shape)."""

    workdir: Path
    skops_path: Path
    joblib_path: Path
    reference_csv: Path
    estimator: Any
    row_blocks: list[npt.NDArray[np.float64]]

    def bodies(self, style: str, *, outputs: Sequence[str] = ()) -> list[bytes]:
        """``style`` "matrix": one FP64 input ``input-0`` of shape [rows, 4]; "features": one 1-D input per feature."""
        import orjson

        out = []
        for block in self.row_blocks:
            if style == "matrix":
                inputs: list[dict[str, Any]] = [
                    {"name": "input-0", "shape": list(block.shape), "datatype": "FP64", "data": block.ravel()}
                ]
            else:
                inputs = [
                    {"name": name, "shape": [block.shape[0]], "datatype": "FP64", "data": block[:, j]}
                    for j, name in enumerate(FEATURES)
                ]
            payload: dict[str, Any] = {"inputs": inputs}  # no id: the server gives each request its own
            if outputs:
                payload["outputs"] = [{"name": name} for name in outputs]
            out.append(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))
        return out


# --------------------------------------------------------------------------------------------------------------
# processes


_RUNNING: list[subprocess.Popen[bytes]] = []


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server we started, with its children (it runs in its own session, so its group is ours alone)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    else:
        # The leader is gone; reap any children it left in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    if proc in _RUNNING:
        _RUNNING.remove(proc)


def _stop_all() -> None:
    for proc in list(_RUNNING):
        _stop(proc)


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def server(
    cmd: Sequence[str], *, env: dict[str, str] | None, cwd: Path, log: Path, ready: Callable[[], bool], timeout: float
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` pinned to the server CPU, wait until ``ready()``; stop it (and its children) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *cmd],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _RUNNING.append(proc)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                gist = _gist(log.read_text(errors="replace").splitlines())
                why = f"server exited with code {proc.returncode} before it was ready ({gist})"
                raise SkipContender(f"{why}\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise SkipContender(f"server not ready after {timeout:.0f} s\n{_tail(log)}")
            time.sleep(0.25)
        yield proc
    finally:
        _stop(proc)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    | " + line for line in text[-lines:])


_TICK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in the process group ``pgid`` (a server we started)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ready_probe(port: int, *paths: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return all(http_call(port, "GET", p)[0] == 200 for p in paths)
        except OSError:
            return False

    return probe


def run(cmd: Sequence[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a short command; return its output or raise SkipContender with the tail of it."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SkipContender(f"`{' '.join(cmd)}` failed: {exc}") from exc
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        tail = "\n".join("    | " + line for line in lines[-15:])
        raise SkipContender(f"{_short(cmd)} exited with {done.returncode} ({_gist(lines)})\n{tail}")
    return done.stdout


def _short(cmd: Sequence[str]) -> str:
    """`modelpilot traffic set`: the program name and its leading plain words, without paths and options."""
    words = [Path(cmd[0]).name]
    rest = iter(cmd[1:])
    for word in rest:
        if word.startswith("-"):
            next(rest, None)  # and its value
            continue
        if "/" in word or word.isdigit():
            break
        words.append(word)
    return "`" + " ".join(words) + "`"


def _gist(lines: list[str]) -> str:
    """The last line of an error output that says something (Rich's box drawing and usage hints stripped)."""
    for line in reversed(lines):
        text = line.strip(" │╭╮╰╯─|\t")
        if text and not text.startswith(("Usage:", "Try ")) and "─ Error" not in line:
            return text[:120]
    return "no output"


# --------------------------------------------------------------------------------------------------------------
# workload


def build_workload(workdir: Path) -> Workload:
    import joblib
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelpilot.demo.data import credit_table

    def matrix(rows: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        table = credit_table(rows, seed=seed)
        x = np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in FEATURES])
        return x, table.column(TARGET).to_numpy()

    x_train, y_train = matrix(20_000, seed=11)
    # Fitted on a plain matrix (no feature names), so every server feeds it a matrix in FEATURES order.
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x_train, y_train)
    skops_path = workdir / "model.skops"
    joblib_path = workdir / "model.joblib"
    sio.dump(estimator, skops_path)
    joblib.dump(estimator, joblib_path)

    # Reference data for modelpilot: the features (as floats, so the inferred signature is FP64 throughout) + label.
    reference_csv = workdir / "reference.csv"
    with reference_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*FEATURES, TARGET])
        for row, label in zip(x_train[:5000], y_train[:5000], strict=True):
            writer.writerow([*(repr(float(v)) for v in row), int(label)])

    x_test, _ = matrix(BODIES_IN_CYCLE * BIG_ROWS, seed=12)
    blocks, offset = [], 0
    for i in range(BODIES_IN_CYCLE):
        rows = BIG_ROWS if i % 5 == 4 else 1
        blocks.append(x_test[offset : offset + rows])
        offset += rows
    return Workload(workdir, skops_path, joblib_path, reference_csv, estimator, blocks)


def _find_probabilities(outputs: list[dict[str, Any]], rows: int) -> npt.NDArray[np.float64] | None:
    for out in outputs:
        shape = out.get("shape") or []
        if out.get("datatype") in ("FP64", "FP32") and list(shape) == [rows, 2]:
            return np.asarray(out["data"], dtype=np.float64).reshape(rows, 2)
    return None


def verify(port: int, bodies: list[bytes], work: Workload, outcome: Outcome) -> None:
    """One request of each size must answer 200 with the probabilities the local model gives for those rows."""
    import orjson

    for index in (0, 4):  # a 1-row body and a 16-row body
        try:
            status, raw = http_call(port, "POST", INFER_PATH, bodies[index])
        except OSError as exc:
            raise SkipContender(f"check request failed: {exc}") from exc
        if status != 200:
            raise SkipContender(f"check request answered {status}: {raw[:400]!r}")
        block = work.row_blocks[index]
        proba = _find_probabilities(orjson.loads(raw).get("outputs", []), block.shape[0])
        if proba is None:
            outcome.notes.append("probabilities not found in the response; numbers not cross-checked")
            continue
        expected = work.estimator.predict_proba(block)
        if not np.allclose(proba, expected, rtol=1e-6, atol=1e-9):
            raise SkipContender(f"probabilities differ from the local model's: {proba[:2]} vs {expected[:2]}")


# --------------------------------------------------------------------------------------------------------------
# load generator


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed and we are not root: apt-get install wrk")
    print("installing wrk from Debian ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, timeout=300)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk still not found after apt-get install")
    return found


def wrk_run(wrk: str, port: int, bodies_file: Path, concurrency: int, seconds: float) -> dict[str, int]:
    cmd = [
        "taskset",
        "-c",
        LOADGEN_CPU,
        wrk,
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}{INFER_PATH}",
        "--",
        str(bodies_file),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            parsed: dict[str, int] = json.loads(line[len("BENCH ") :])
            return parsed
    raise RuntimeError(f"wrk gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def measure(
    name: str, port: int, bodies: list[bytes], args: argparse.Namespace, wrk: str, tmp: Path, proc: Any
) -> dict[int, Cell]:
    bodies_file = tmp / f"bodies-{name}.jsonl"
    bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
    cells = {}
    for conc in args.concurrency:
        if args.warmup > 0:
            wrk_run(wrk, port, bodies_file, conc, args.warmup)
        cpu_before = group_cpu_seconds(proc.pid)
        raw = wrk_run(wrk, port, bodies_file, conc, args.duration)
        cpu_used = group_cpu_seconds(proc.pid) - cpu_before
        if proc.poll() is not None:
            raise SkipContender(f"server died during the run at concurrency {conc}")
        cell = Cell(
            contender=name,
            concurrency=conc,
            requests=raw["requests"],
            seconds=raw["duration_us"] / 1e6,
            p50_ms=raw["p50_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
            non2xx=raw["non2xx"],
            socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
            cpu_seconds=cpu_used,
        )
        cells[conc] = cell
        flag = "  <-- ERRORS" if cell.errors else ""
        print(
            f"  {name:<15} c={conc:<3} {cell.rps:9.1f} req/s  p50 {cell.p50_ms:7.2f} ms  "
            f"p99 {cell.p99_ms:7.2f} ms  {cell.per_cpu_second:7.0f} req/CPU-s  errors {cell.errors}{flag}",
            flush=True,
        )
    return cells


# --------------------------------------------------------------------------------------------------------------
# contenders


def _versions(*dists: str) -> dict[str, str]:
    out = {}
    for dist in dists:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _uvicorn_speedups() -> list[str]:
    opts = []
    if importlib.util.find_spec("httptools"):
        opts += ["--http", "httptools"]
    if importlib.util.find_spec("uvloop"):
        opts += ["--loop", "uvloop"]
    return opts


def bench_floor(
    work: Workload, args: argparse.Namespace, wrk: str, outcome: Outcome, *, threaded: bool = False
) -> None:
    outcome.versions = {
        "python": platform.python_version(),
        **_versions("starlette", "uvicorn", "httptools", "uvloop", "orjson", "numpy", "scikit-learn", "skops"),
    }
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "floor_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        *_uvicorn_speedups(),
    ]
    env = {
        **os.environ,
        "BENCH_FLOOR_MODEL": str(work.skops_path),
        "BENCH_FLOOR_MODEL_NAME": MODEL_NAME,
        "BENCH_FLOOR_THREADED": "1" if threaded else "0",
    }
    name = "floor-threaded" if threaded else "floor"
    probe = ready_probe(port, "/v2/health/ready")
    with server(cmd, env=env, cwd=work.workdir, log=work.workdir / f"{name}.log", ready=probe, timeout=60) as proc:
        bodies = work.bodies("matrix")
        verify(port, bodies, work, outcome)
        outcome.add(measure(name, port, bodies, args, wrk, work.workdir, proc))


def _mlserver_python() -> Path:
    return MLSERVER_VENV / "bin" / "python"


def ensure_mlserver() -> None:
    """Create bench/.cache/mlserver-venv with the pinned MLServer once; reinstall when the pins change."""
    pins = [*MLSERVER_PINS, f"scikit-learn=={importlib.metadata.version('scikit-learn')}"]
    marker = MLSERVER_VENV / ".bench-pins"
    if marker.exists() and marker.read_text() == "\n".join(pins):
        return
    print(f"installing {' '.join(pins)} into {MLSERVER_VENV} (once) ...", flush=True)
    if not _mlserver_python().exists():
        base = getattr(sys, "_base_executable", None) or sys.executable
        run([base, "-m", "venv", str(MLSERVER_VENV)], timeout=120)
    pip = [str(_mlserver_python()), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run([*pip, "install", "--upgrade", "pip"], timeout=300)
    run([*pip, "install", *pins], timeout=900)
    marker.write_text("\n".join(pins))


def bench_mlserver(work: Workload, args: argparse.Namespace, wrk: str, outcome: Outcome) -> None:
    ensure_mlserver()
    probe_code = (
        "import importlib.metadata as m, json, platform\n"
        "names = ['mlserver', 'mlserver-sklearn', 'fastapi', 'starlette', 'uvicorn', 'httptools', 'uvloop',"
        " 'orjson', 'numpy', 'scikit-learn']\n"
        "out = {'python': platform.python_version()}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    outcome.versions = json.loads(run([str(_mlserver_python()), "-c", probe_code], timeout=60))

    port, grpc_port = free_port(), free_port()
    repo = work.workdir / "mlserver-models"
    model_dir = repo / MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(work.joblib_path, model_dir / "model.joblib")
    settings = {
        "debug": False,  # no access log, like --no-access-log elsewhere
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": grpc_port,  # cannot be switched off in 1.7; it idles on loopback
        "parallel_workers": 0,  # inference in the server process itself: one process, like the others
        "metrics_endpoint": None,  # no metrics server, no Prometheus middleware
        "gzip_enabled": False,
    }
    (repo / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    cmd = [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(repo)]
    # A clean environment: no MLSERVER_* leaking in from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSERVER")}
    probe = ready_probe(port, "/v2/health/ready", f"/v2/models/{MODEL_NAME}/ready")
    with server(cmd, env=env, cwd=repo, log=work.workdir / "mlserver.log", ready=probe, timeout=120) as proc:
        wanted = ["predict_proba"] if args.mlserver_outputs == "proba" else ["predict", "predict_proba"]
        bodies = work.bodies("matrix", outputs=wanted)
        verify(port, bodies, work, outcome)
        outcome.add(measure("mlserver", port, bodies, args, wrk, work.workdir, proc))


def _modelpilot_cli() -> str:
    override = os.environ.get("BENCH_MODELPILOT_CLI")
    if override:
        return override
    candidate = Path(sys.executable).parent / "modelpilot"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("modelpilot")
    if not found:
        raise SkipContender("the modelpilot command is not installed in this interpreter's environment")
    return found


def prepare_modelpilot_home(work: Workload) -> Path:
    """Register the model and route all traffic to it, once, in a throw-away home shared by both modelpilot runs."""
    home = work.workdir / "modelpilot-home"
    if (home / ".bench-ready").exists():
        return home
    if _PREPARE_FAILED:
        raise SkipContender(_PREPARE_FAILED[0])
    try:
        _register_and_route(work, home)
    except SkipContender as exc:
        _PREPARE_FAILED.append(str(exc))
        raise
    return home


_PREPARE_FAILED: list[str] = []


def _register_and_route(work: Workload, home: Path) -> None:
    import skops.io as sio

    cli = _modelpilot_cli()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
    trust: list[str] = []
    for type_name in sio.get_untrusted_types(file=work.skops_path):
        trust += ["--trust-type", type_name]
    register = [cli, "--home", str(home), "register", MODEL_NAME, str(work.skops_path)]
    register += ["--reference", str(work.reference_csv), "--target", TARGET, *trust]
    if trust:
        register += ["--reason", "benchmark model built by bench/serving.py"]
    version = run(register, timeout=120, env=env).strip().splitlines()[-1].strip()
    run([cli, "--home", str(home), "traffic", "set", MODEL_NAME, "--stable", version], timeout=60, env=env)
    (home / ".bench-ready").write_text(version)


def bench_modelpilot(
    work: Workload, args: argparse.Namespace, wrk: str, outcome: Outcome, *, events: bool, embedded: bool = False
) -> None:
    outcome.versions = {
        "python": platform.python_version(),
        **_versions("modelpilot", "starlette", "uvicorn", "httptools", "uvloop", "orjson", "numpy", "scikit-learn"),
        "skops": _versions("skops")["skops"],
    }
    home = prepare_modelpilot_home(work)
    port = free_port()
    if embedded:  # the whole loop in one process: server, monitor, SLO evaluator, controller
        cmd = [_modelpilot_cli(), "--home", str(home), "up", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [_modelpilot_cli(), "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
    env["MODELPILOT_EVENTS__ENABLED"] = "true" if events else "false"
    name = outcome.name
    probe = ready_probe(port, "/v2/health/ready")
    with server(cmd, env=env, cwd=work.workdir, log=work.workdir / f"{name}.log", ready=probe, timeout=90) as proc:
        bodies = work.bodies(args.modelpilot_inputs)
        verify(port, bodies, work, outcome)
        outcome.add(measure(name, port, bodies, args, wrk, work.workdir, proc))
        if embedded:
            check_monitor(port, outcome)


def _samples(port: int) -> dict[str, float]:
    """Sums of the server's own counters that show whether every request was watched."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_call(port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = sample.name
            if key == "modelpilot_requests_total":
                key += "{ok}" if sample.labels.get("code") == "200" else "{failed}"
            elif key in ("modelpilot_monitor_events_total", "modelpilot_labels_joined_total"):
                key += "{" + sample.labels.get("outcome", "") + "}"
            out[key] = out.get(key, 0.0) + sample.value
    return out


def check_monitor(port: int, outcome: Outcome, timeout: float = 60.0) -> None:
    """After the load: wait until the monitor has taken every queued event, then prove from modelpilot's counters
    that it watched every request answered (each request has its own id, so none is a duplicate) and dropped none.
    A miss is recorded as an error of the row."""
    deadline = time.monotonic() + timeout
    while True:
        s = _samples(port)
        answered = s.get("modelpilot_requests_total{ok}", 0.0) + s.get("modelpilot_requests_total{failed}", 0.0)
        watched = s.get("modelpilot_monitor_events_total{counted}", 0.0) + s.get(
            "modelpilot_monitor_events_total{failed}", 0.0
        )
        dropped = s.get("modelpilot_events_dropped_total", 0.0)
        spilled = s.get("modelpilot_spool_written_total", 0.0)
        if watched + dropped >= answered or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    others = {k.split("{")[1].rstrip("}"): v for k, v in s.items() if k.startswith("modelpilot_monitor_events_total")}
    others = {k: v for k, v in others.items() if k not in ("counted", "failed", "label") and v}
    ok = watched == answered and dropped == 0 and not others
    outcome.monitor = {"answered": answered, "watched": watched, "dropped": dropped, "spilled": spilled, **others}
    note = (
        f"requests answered {answered:,.0f}, events the monitor windowed {watched:,.0f}, dropped {dropped:,.0f}, "
        f"spilled to disk on the way {spilled:,.0f}"
        + "".join(f", {k} {v:,.0f}" for k, v in others.items())
        + ("" if ok else " — NOT every request was watched")
    )
    outcome.notes.append(note)
    print(f"  {outcome.name}: {note}", flush=True)
    if not ok:
        outcome.monitor_failed = True


# --------------------------------------------------------------------------------------------------------------
# report


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt_ratio(value: float | None, target: str, ok: bool | None) -> str:
    if value is None:
        return "n/a"
    verdict = "" if ok is None else (" ✓" if ok else " ✗")
    return f"{value:.2f} ({target}){verdict}"


def table_rows(outcomes: dict[str, Outcome], concurrency: Sequence[int]) -> list[list[str]]:
    rows = []
    for name in CONTENDERS:
        outcome = outcomes.get(name)
        for conc in concurrency:
            if outcome is None or outcome.skipped is not None or conc not in outcome.cells:
                if outcome is None:
                    note = "not run yet (not selected with --only)"
                else:
                    note = "not run: " + (outcome.skipped or "no cell").splitlines()[0][:100]
                rows.append([name, str(conc), "—", "—", "—", "—", "—", "—", note])
                continue
            cell = outcome.cells[conc]
            note = "ERRORS" if cell.errors else ""
            if outcome.monitor_failed:
                note = (note + " " if note else "") + "NOT every request watched"
            rows.append(
                [
                    name,
                    str(conc),
                    f"{cell.rps:,.0f}",
                    f"{cell.p50_ms:.2f}",
                    f"{cell.p99_ms:.2f}",
                    f"{cell.per_cpu_second:,.0f}",
                    f"{100 * cell.cpu_seconds / cell.seconds:.0f}" if cell.seconds else "—",
                    f"{cell.errors}" + (" ⚠" if cell.errors else ""),
                    note,
                ]
            )
    return rows


def ratio_rows(outcomes: dict[str, Outcome], concurrency: Sequence[int]) -> list[list[str]]:
    def cell(name: str, conc: int) -> Cell | None:
        outcome = outcomes.get(name)
        return outcome.cells.get(conc) if outcome and outcome.skipped is None else None

    rows = []
    for conc in concurrency:
        up, on, off, mls, floor, threaded = (
            cell(n, conc)
            for n in ("modelpilot-up", "modelpilot-on", "modelpilot-off", "mlserver", "floor", "floor-threaded")
        )
        vs_on = _ratio(up and up.rps, on and on.rps)
        up_outcome = outcomes.get("modelpilot-up")
        watched = up_outcome is not None and up_outcome.monitor and not up_outcome.monitor_failed
        vs_mls = _ratio(on and on.rps, mls and mls.rps)
        vs_floor = _ratio(on and on.rps, floor and floor.rps)
        vs_threaded = _ratio(on and on.rps, threaded and threaded.rps)
        p50 = _ratio(on and on.p50_ms, off and off.p50_ms)
        rows.append(
            [
                str(conc),
                _fmt_ratio(
                    vs_on,
                    f"≥ {TARGET_UP_VS_ON}, every request watched",
                    None if vs_on is None else bool(vs_on >= TARGET_UP_VS_ON and watched),
                ),
                _fmt_ratio(vs_mls, f"≥ {TARGET_VS_MLSERVER}", None if vs_mls is None else vs_mls >= TARGET_VS_MLSERVER),
                _fmt_ratio(vs_floor, f"≥ {TARGET_VS_FLOOR}", None if vs_floor is None else vs_floor >= TARGET_VS_FLOOR),
                _fmt_ratio(
                    vs_threaded, f"≥ {TARGET_VS_FLOOR}", None if vs_threaded is None else vs_threaded >= TARGET_VS_FLOOR
                ),
                _fmt_ratio(p50, f"≤ {TARGET_P50_OVERHEAD}", None if p50 is None else p50 <= TARGET_P50_OVERHEAD),
                _fmt_ratio(_ratio(mls and mls.rps, floor and floor.rps), "info", None),
                _fmt_ratio(_ratio(on and on.per_cpu_second, mls and mls.per_cpu_second), "info", None),
                _fmt_ratio(_ratio(on and on.per_cpu_second, floor and floor.per_cpu_second), "info", None),
            ]
        )
    return rows


MAIN_HEADER = ["server", "concurrency", "requests/s", "p50 ms", "p99 ms", "req/CPU-s", "server CPU %", "errors", "note"]
RATIO_HEADER = [
    "concurrency",
    "modelpilot-up / modelpilot-on req/s",
    "modelpilot-on / MLServer req/s",
    "modelpilot-on / floor req/s",
    "modelpilot-on / floor-threaded req/s",
    "p50 on / off",
    "MLServer / floor req/s",
    "on / MLServer req/CPU-s",
    "on / floor req/CPU-s",
]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = "unknown"
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
        wrk_version = (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load generator": wrk_version,
        "load average before the run": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def write_doc(path: Path, outcomes: dict[str, Outcome], args: argparse.Namespace, started: dt.datetime) -> None:
    info = machine() | {"load average after the run": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    info["load average before the run"] = args.load_before
    cmd = ".venv/bin/python bench/serving.py" + (f" {' '.join(args.argv)}" if args.argv else "")
    mix_rows = 0.8 * 1 + 0.2 * BIG_ROWS
    lines = [
        "## Serving",
        "",
        "modelpilot side by side with MLServer and a bare Starlette floor, on loopback, same model, same request mix,",
        "same load generator. Produced by `bench/serving.py`.",
        "",
        f"- command: `{cmd}`",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
        "### Results",
        "",
        md_table(MAIN_HEADER, table_rows(outcomes, args.concurrency)),
        "",
        "A row with errors > 0 is flagged ⚠: some answers were non-2xx, timed out or hit a socket error, so its",
        "numbers are not comparable. `req/CPU-s` is requests per second of CPU time the server's processes used",
        "during the measured run (from /proc): the throughput it would reach with its core to itself, which",
        "other load on the machine disturbs far less than requests/s. `server CPU %` is that CPU time over the",
        "run's wall time; well below 100 at concurrency 8 and 64 means the server lost its core to other work.",
        "At concurrency 64 every contender, the floor included, shows rare stalls of up to ~1-2 s that land in",
        "its p99 (with 64 requests in flight one stall delays 64 of a few thousand requests); the floor shows",
        "them with its CPU near 100%, so they are a property of a saturated Python event loop on this VM rather",
        "than of one server. Compare p50 and throughput there; treat p99 at 64 as noisy.",
        "",
        'Targets (issue "Performance", DESIGN.md §6): modelpilot with events on ≥ 1.5x MLServer\'s throughput,',
        "≥ 0.9x the floor's, and events add ≤ 5% to p50 (on / off ≤ 1.05).",
        "",
        md_table(RATIO_HEADER, ratio_rows(outcomes, args.concurrency)),
        "",
        "### Reading the results",
        "",
        "- **Concurrency 8 and 64.** modelpilot joins requests that arrive together into one model call (adaptive",
        "  batching, `serving.max_batch_rows`), so the fixed cost of a scikit-learn call — input validation, one",
        "  thread hand-off — is paid once per batch. That is why it can pass both floors, which call the model once",
        "  per request.",
        "- **Concurrency 1.** Nothing arrives together, so every request pays the full path alone: decoding and",
        "  checking the input against the signature, one hand-off to the model thread and back (the floor-threaded",
        "  row isolates that cost), metrics and the event. modelpilot keeps model code off the event loop on",
        "  purpose (timeouts, probes and other models stay responsive while a model computes), so the `floor` row,",
        "  which blocks its event loop for every call, is the floor for any design and `floor-threaded` the one",
        "  for this design. Closing the rest of the gap at concurrency 1 is open work.",
        "- **Noise.** On this shared VM the same server's requests/s at concurrency 1 varied by up to about ±40%",
        "  between rounds and runs (see `server CPU %`); p50 on / off differences of a few percent are within",
        "  that noise, in both directions. The table keeps each cell's best round.",
        "",
    ]
    skipped = [o for o in outcomes.values() if o.skipped]
    if skipped:
        lines += ["Contenders that did not run:", ""]
        lines += [f"- {o.name}: {o.skipped.splitlines()[0]}" for o in skipped if o.skipped]
        lines.append("")
    notes = list(dict.fromkeys((o.name, n) for o in outcomes.values() for n in o.notes))
    if notes:
        lines += ["Notes:", "", *(f"- {name}: {note}" for name, note in notes), ""]
    lines += [
        "### Method",
        "",
        "- **Pinning**: each server is one process (`--workers 1`; MLServer with `parallel_workers: 0`),",
        f"  started under `taskset -c {SERVER_CPU}`; the load generator runs under `taskset -c {LOADGEN_CPU}`.",
        "  The numbers are therefore per core, and the client never competes with the server for CPU.",
        "  Contenders run one after the other, never at the same time.",
        "- **Load generator**: `wrk` (C, closed loop), one thread, `-c` = concurrency",
        f"  ({', '.join(map(str, args.concurrency))} connections), `--timeout 10s`, `bench/mix.lua` cycling through",
        "  pre-built bodies and counting every non-2xx answer. p50 / p99 are wrk's latency percentiles (request",
        "  sent to response read).",
        f"- **Duration**: per cell a {args.warmup:g} s warm-up run (discarded), then a {args.duration:g} s measured",
        f"  run. {args.rounds} round(s): every contender is started afresh and measured once per round, in turn",
        "  (floor, floor-threaded, MLServer, modelpilot off, on, up); the table shows per cell the round with",
        "  the most",
        "  requests/s (other load on the machine only ever slows a run down), with the errors of all rounds",
        "  added up.",
        "- **Model**: one scikit-learn `Pipeline(StandardScaler, LogisticRegression)` fitted on 20,000 rows of",
        f"  `modelpilot.demo.data.credit_table(seed=11)`, numeric columns only ({', '.join(FEATURES)}),",
        "  saved once as `.skops` (modelpilot, floor) and once as `.joblib` (MLServer's sklearn runtime loads",
        "  joblib) from the same fitted object. Every server's answer to a 1-row and a 16-row request is checked",
        "  against the local `predict_proba` before it is measured.",
        f"- **Request mix**: a cycle of {BODIES_IN_CYCLE} OIP v2 JSON bodies `POST {INFER_PATH}`, every fifth one",
        f"  with {BIG_ROWS} rows and the others with 1 row (80% / 20%, {mix_rows:g} rows per request on average),",
        "  rows from `credit_table(seed=12)`. The numbers are identical for every server; each gets the payload",
        "  shape it natively takes:",
        "  - floor and MLServer: one FP64 input `input-0` of shape [rows, 4], columns in the order above.",
        f"  - MLServer (`--mlserver-outputs {args.mlserver_outputs}`): its sklearn runtime returns only `predict`",
        "    unless asked, and calls the model once per requested output. `proba` (the default) asks for",
        "    `outputs: [predict_proba]` — the probabilities every server returns, in one model call, MLServer's",
        "    fastest way to them; `both` asks for `[predict, predict_proba]` (about 30% fewer requests/s in a",
        "    trial at concurrency 8). The floor returns label and probabilities from one `predict_proba` call.",
        f"  - modelpilot (`--modelpilot-inputs {args.modelpilot_inputs}`): `matrix` is the same [rows, 4] input",
        "    as above; `features` sends one 1-D FP64 input per feature, named after it. No `outputs` are asked",
        "    for: modelpilot answers with its default outputs.",
        "- **floor**: `bench/floor_app.py` — Starlette + uvicorn, orjson, `predict_proba` called in the event loop,",
        "  no validation, metrics or events. uvicorn runs with `--no-access-log --http httptools --loop uvloop`.",
        "- **floor-threaded**: the same app, but `predict_proba` runs through Starlette's `run_in_threadpool`, the",
        "  way Starlette runs blocking code so that the event loop keeps answering (health probes, other models)",
        "  while a model computes. modelpilot runs every model call off the event loop as well (with a timeout);",
        "  this row is the floor for that design, the `floor` row the floor for any design.",
        "- **MLServer**: installed by the benchmark into `bench/.cache/mlserver-venv`",
        f"  ({', '.join(MLSERVER_PINS)}, scikit-learn pinned to the version that wrote the joblib file).",
        "  Settings: `parallel_workers: 0` (inference in the server process), `metrics_endpoint: null` (no",
        "  metrics server, no Prometheus middleware), `gzip_enabled: false`, `debug: false` (no access log). Its",
        "  gRPC server cannot be disabled and idles on a loopback port. `httptools` is installed next to it so its",
        "  uvicorn uses the same HTTP parser as the others (uvicorn picks it up by itself); uvloop comes with",
        "  MLServer.",
        "- **modelpilot**: `modelpilot register` + `modelpilot traffic set --stable` in a throw-away home, then",
        "  `modelpilot serve --host 127.0.0.1 --workers 1` with `MODELPILOT_EVENTS__ENABLED=true` or `false`.",
        "- **modelpilot-up**: `modelpilot up` on the same home: server, monitor, SLO evaluator and controller in",
        "  one process, under the same pin as the others (one core for all of it). No body carries an id, so the",
        "  server gives each request its own and the monitor sees no duplicate. After its cells the benchmark",
        "  waits until the monitor has taken what was queued and checks, from modelpilot's own counters",
        "  (`/metrics`), that every answered request was windowed (`modelpilot_monitor_events_total` counted +",
        "  failed = `modelpilot_requests_total`), none dropped (`modelpilot_events_dropped_total`) and how many",
        "  took the disk spill (`modelpilot_spool_written_total`); a miss flags the row.",
        "- The machine is shared: other processes may run during a measurement. Compare rows of one run, not",
        "  numbers across runs.",
        "",
        "### Versions",
        "",
    ]
    for outcome in outcomes.values():
        if outcome.versions:
            lines.append(f"- {outcome.name}: " + ", ".join(f"{k} {v}" for k, v in outcome.versions.items()))
    lines.append("")
    write_section(path, "## Serving", lines)


# --------------------------------------------------------------------------------------------------------------
# main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s cells, 1 s warm-up, no doc unless --doc")
    parser.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders (default: all)")
    parser.add_argument("--concurrency", default="1,8,64", help="comma-separated concurrency levels")
    parser.add_argument(
        "--rounds", type=int, default=None, help="runs of every cell, best one reported (default 2, quick 1)"
    )
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per cell (default 10)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per cell (default 2)")
    parser.add_argument(
        "--modelpilot-inputs",
        choices=["matrix", "features"],
        default="matrix",
        help="payload for modelpilot: one [rows, 4] input, or one 1-D input per feature",
    )
    parser.add_argument(
        "--mlserver-outputs",
        choices=["proba", "both"],
        default="proba",
        help="outputs MLServer is asked for: predict_proba only (one model call), or predict and predict_proba "
        "(its sklearn runtime then calls the model twice)",
    )
    parser.add_argument("--doc", type=Path, default=None, help=f"markdown to write (default {DOC.relative_to(REPO)})")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args(argv)
    args.argv = list(argv)
    names: list[str] = []
    for item in (x.strip() for x in args.only.split(",") if x.strip()):
        expanded = ["modelpilot-up", "modelpilot-on", "modelpilot-off"] if item == "modelpilot" else [item]
        for name in expanded:
            if name not in CONTENDERS:
                parser.error(f"unknown contender {name!r}; choose from {', '.join(CONTENDERS)}, modelpilot")
            if name not in names:
                names.append(name)
    args.names = [n for n in CONTENDERS if n in names]
    args.concurrency = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not args.concurrency or any(c < 1 or c > 256 for c in args.concurrency):
        parser.error("concurrency levels must be between 1 and 256")
    args.duration = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.rounds = args.rounds if args.rounds is not None else (1 if args.quick else 2)
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be 1..5")
    if not 1 <= args.duration <= 60 or not 0 <= args.warmup <= 30:
        parser.error("--duration must be 1..60 s and --warmup 0..30 s (the whole run stays bounded)")
    if args.no_doc:
        args.doc = None
    elif args.doc is None and not args.quick:
        args.doc = DOC
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 CPUs; server and load generator will share a core", file=sys.stderr)
    signal.signal(signal.SIGTERM, _on_signal)
    started = dt.datetime.now(dt.UTC)
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    wrk = ensure_wrk()
    load_s = len(args.names) * len(args.concurrency) * args.rounds * (args.warmup + args.duration)
    print(
        f"contenders: {', '.join(args.names)}; concurrency {args.concurrency}; {args.rounds} round(s) of "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per cell; ~{load_s:.0f} s of load",
        flush=True,
    )
    runners: dict[str, Callable[[Workload, argparse.Namespace, str, Outcome], None]] = {
        "floor": bench_floor,
        "floor-threaded": lambda w, a, k, o: bench_floor(w, a, k, o, threaded=True),
        "mlserver": bench_mlserver,
        "modelpilot-on": lambda w, a, k, o: bench_modelpilot(w, a, k, o, events=True),
        "modelpilot-off": lambda w, a, k, o: bench_modelpilot(w, a, k, o, events=False),
        "modelpilot-up": lambda w, a, k, o: bench_modelpilot(w, a, k, o, events=True, embedded=True),
    }
    outcomes: dict[str, Outcome] = {}
    tmp = Path(tempfile.mkdtemp(prefix="modelpilot-bench-"))
    try:
        work = build_workload(tmp)
        outcomes = {name: Outcome(name) for name in args.names}
        for round_no in range(1, args.rounds + 1):
            for name in RUN_ORDER:
                outcome = outcomes.get(name)
                if outcome is None or outcome.skipped is not None:
                    continue
                print(f"\n== {name} (round {round_no} of {args.rounds})", flush=True)
                try:
                    runners[name](work, args, wrk, outcome)
                except (SkipContender, RuntimeError, OSError) as exc:
                    outcome.skipped = str(exc) or type(exc).__name__
                    outcome.runs = {}
                    print(f"  skipped {name}: {exc}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping servers", file=sys.stderr)
        return 130
    finally:
        _stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(text_table(MAIN_HEADER, table_rows(outcomes, args.concurrency)))
    print()
    print(text_table(RATIO_HEADER, ratio_rows(outcomes, args.concurrency)))
    for name, note in dict.fromkeys((o.name, n) for o in outcomes.values() for n in o.notes):
        print(f"note: {name}: {note}")
    if args.doc is not None:
        write_doc(args.doc, outcomes, args, started)
        print(f"\nwrote {args.doc}")
    any_errors = any(c.errors for o in outcomes.values() for c in o.cells.values())
    return 1 if any_errors else 0


if __name__ == "__main__":
    sys.exit(main())
