"""Eight processes register versions of one model at the same moment, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from modelpilot.cli.app import main
from modelpilot.config import Settings, load_settings
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
from tests.models_fixtures import write_python_model, write_reference

WORKERS = 8


def _register(home: str, store: str, model: str, ref: str, barrier: object, out: object, race_open: bool) -> None:
    if race_open:  # everyone opens (and so migrates) the store at the same moment
        barrier.wait()  # type: ignore[attr-defined]
    try:
        reg = Registry.open(load_settings(home=home, store=store, actor="proc"))
    except Exception as exc:  # reported to the parent, which fails the test at once
        out.put(f"open: {type(exc).__name__}: {exc}")  # type: ignore[attr-defined]
        return
    if not race_open:  # everyone registers at the same moment
        barrier.wait()  # type: ignore[attr-defined]
    try:
        v = reg.register(
            "shared",
            f"{model}:predict",
            format="python",
            reference=Path(ref),
            trust=TrustRequest(trust_code=True, reason="concurrency test"),
        )
        out.put(v.version)  # type: ignore[attr-defined]
    except Exception as exc:  # reported to the parent, which fails the test
        out.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]
    finally:
        reg.store.close()


def run_workers(settings: Settings, tmp_path: Path, n: int, *, race_open: bool) -> list[object]:
    """Start ``n`` spawned processes that register at one moment; return what each reported."""
    model = write_python_model(tmp_path / "model.py")
    ref = write_reference(tmp_path / "ref.csv")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    args = (str(settings.home), settings.store_url, str(model), str(ref), barrier, out, race_open)
    procs = [ctx.Process(target=_register, args=args) for _ in range(n)]
    for p in procs:
        p.start()
    results: list[object] = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.mark.slow
def test_eight_processes_get_distinct_consecutive_versions(settings: Settings, tmp_path: Path) -> None:
    Registry.open(settings).store.close()  # migrate once, as `modelpilot` would on first use
    results = run_workers(settings, tmp_path, WORKERS, race_open=False)
    assert sorted(results) == list(range(1, WORKERS + 1)), results  # type: ignore[type-var]
    assert main(["--home", str(settings.home), "--store", settings.store_url, "audit", "verify"]) == 0
    reg = Registry.open(settings)
    try:
        assert [v.version for v in reg.versions("shared")] == list(range(1, WORKERS + 1))
        registered = [e for e in reg.audit.entries(model="shared") if e.action == "version.register"]
        assert len(registered) == WORKERS
    finally:
        reg.store.close()


@pytest.mark.slow
def test_first_use_migration_is_safe_when_processes_race(settings: Settings, tmp_path: Path) -> None:
    """No one migrated the store before the processes start: they race to create the schema."""
    results = run_workers(settings, tmp_path, 4, race_open=True)
    assert sorted(results) == [1, 2, 3, 4], results  # type: ignore[type-var]
