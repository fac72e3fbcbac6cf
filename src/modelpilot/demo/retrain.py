"""The demo's retraining job, as a remediation policy's ``retrain`` action runs it:
``python -m modelpilot.demo.retrain --home H --store URL --work DIR --interval S``, with the action's evidence as JSON
on stdin.

Like a real job it trains on *recent labelled data* (the rows the load generator logged to ``DIR/recent.csv``
since shortly before it was called: it waits for enough of them), registers the new version with its lineage and
holdout metric, and hands it to a progressive rollout — never straight to production. It prints what it did on
stderr (the controller keeps the tail in the action's outcome).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["main"]


def _recent(work: Path, since: float, rows: int, wait_s: float) -> pa.Table:
    deadline = time.monotonic() + wait_s
    while True:
        path = work / "recent.csv"
        if path.exists():
            table = pacsv.read_csv(path)
            fresh = table.filter(pc.greater_equal(table.column("time"), since))
            if fresh.num_rows >= rows or time.monotonic() >= deadline:
                return fresh
        elif time.monotonic() >= deadline:
            raise SystemExit(f"no recent labelled data in {path}")
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    """Train, register and roll out a new version of ``credit``."""
    from modelpilot.config import load_settings
    from modelpilot.control.analysis import load_analysis
    from modelpilot.control.rollout import RolloutSpec
    from modelpilot.control.rollouts import RolloutStore
    from modelpilot.demo.train import save_skops, train
    from modelpilot.loaders.base import TrustRequest
    from modelpilot.registry import Registry, parse_lineage
    from modelpilot.serving.traffic import TrafficPlans

    parser = argparse.ArgumentParser(prog="python -m modelpilot.demo.retrain")
    parser.add_argument("--home", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--rows", type=int, default=800)
    parser.add_argument("--lookback", type=float, default=2.0)
    args = parser.parse_args(argv)
    evidence = json.loads(sys.stdin.read() or "{}")
    work = Path(args.work)
    began = time.time()
    table = _recent(work, began - args.lookback, args.rows, wait_s=120.0).drop_columns(["time"])
    model, auc = train(table)
    version_file = work / f"credit-retrained-{int(began)}.skops"
    trusted = save_skops(model, version_file)
    data_file = work / f"recent-{int(began)}.csv"
    pacsv.write_csv(table, data_file)
    reg = Registry.open(load_settings(home=args.home, store=args.store, actor="retrain-job"))
    try:
        parent = evidence.get("version")
        lineage = [f"training_data={data_file}", "code_revision=demo-retrain", "param.trigger=drift"]
        if parent:
            lineage.append(f"parent_version={parent}")
        v = reg.register(
            "credit", str(version_file), format="skops", reference=data_file, target="default",
            metrics={"auc": round(auc, 4)}, lineage=parse_lineage(lineage),
            description=f"retrained on {table.num_rows} recent labelled rows (rule {evidence.get('rule')})",
            trust=TrustRequest(trusted_types=tuple(trusted), reason="the demo's retraining job"),
        )  # fmt: skip
        plan = TrafficPlans(reg.store).get("credit")
        plan_stable = plan.stable if plan is not None else reg.resolve("credit", reg.production_alias).version
        spec = RolloutSpec(
            model="credit", version=v.version, stable=plan_stable, steps=(50.0, 100.0), interval_s=args.interval,
            analysis=load_analysis(work / "retrain-analysis.yaml"),
        )  # fmt: skip
        rid = RolloutStore(reg).start(
            spec, now=time.time(), actor="retrain-job", reason="retrained after drift", evidence={"retrain": evidence}
        )
        print(f"registered credit v{v.version} (holdout AUC {auc:.3f}); rollout {rid} started", file=sys.stderr)
    finally:
        reg.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
