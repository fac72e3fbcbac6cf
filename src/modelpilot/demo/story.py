"""The registry chapter of the demo: train, register, gate, promote, refuse a regression, verify the audit log.

It uses the real registry, store, artifact store, skops loader and audit log on a fresh home folder. Later
chapters (serving, drift, rollback, retraining) are added by the issues that build those parts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow.csv as pacsv

from modelpilot.config import Settings
from modelpilot.demo.data import credit_table
from modelpilot.demo.train import save_skops as _save
from modelpilot.demo.train import train as _train
from modelpilot.errors import GateFailedError
from modelpilot.loaders.base import TrustRequest
from modelpilot.registry import GateReport, Registry, parse_lineage, parse_policy

__all__ = ["DemoResult", "run_registry_story"]


POLICY = {
    "name": "credit-production",
    "rules": [
        {"type": "artifact_verified"},
        {"type": "signature_compatible"},
        {"type": "metric_min", "metric": "auc", "min": 0.70},
        {"type": "max_regression", "metric": "auc", "max_drop": 0.01},
        {"type": "lineage_required", "fields": ["training_data", "code_revision"]},
    ],
}


@dataclass
class DemoResult:
    """What happened, for tests and the summary."""

    home: Path
    promoted: int
    refused: int
    refused_rules: list[str]
    audit_entries: int
    audit_ok: bool


def run_registry_story(
    settings: Settings, say: Callable[[str], None], show_gate: Callable[[GateReport], None]
) -> DemoResult:
    """Run the chapter on ``settings.home`` (wiped first) and narrate it through ``say``."""
    home = settings.home
    if home.exists():
        shutil.rmtree(home)
    work = home / "work"
    work.mkdir(parents=True)
    reg = Registry.open(settings)
    policy = parse_policy(POLICY, source="demo policy")

    say("[bold]1.[/] Training the credit model v1 on 20,000 synthetic applications (seed 7)...")
    data = credit_table(20_000, seed=7)
    pacsv.write_csv(data, work / "train.csv")
    reference = data.slice(15_000)
    pacsv.write_csv(reference, work / "reference.csv")
    v1_model, v1_auc = _train(data, broken_join=False)
    trusted = _save(v1_model, work / "credit-v1.skops")
    (work / "v1-metrics.json").write_bytes(orjson.dumps({"auc": round(v1_auc, 4)}))
    say(f"   holdout AUC {v1_auc:.3f}; skops lists {len(trusted)} type(s) to review: {', '.join(trusted) or 'none'}")

    lineage = parse_lineage(
        [
            f"training_data={work / 'train.csv'}",
            "code_revision=demo-7f3a9c1",
            "param.max_iter=500",
            "param.payment_join=ok",
        ]
    )
    v1 = reg.register(
        "credit",
        str(work / "credit-v1.skops"),
        format="skops",
        reference=work / "reference.csv",
        target="default",
        metrics={"auc": round(v1_auc, 4)},
        lineage=lineage,
        description="logistic regression on 6 features",
        trust=TrustRequest(trusted_types=tuple(trusted), reason="types reviewed by the demo"),
    )
    say(
        f"[bold]2.[/] Registered credit v{v1.version}: artifact sha256:{(v1.artifact_digest or '')[:12]}..., "
        f"{len(v1.signature.features)} features inferred from {v1.reference_rows} reference rows"
    )

    say(f"[bold]3.[/] Promoting v{v1.version} to production through the gate policy {policy.name!r}:")
    result = reg.promote("credit", v1.version, policy=policy, reason="first release")
    show_gate(result.report)

    say("[bold]4.[/] Training v2 after a pipeline change broke the payment-history join (late_payments all 0)...")
    v2_model, v2_auc = _train(data, broken_join=True)
    trusted2 = _save(v2_model, work / "credit-v2.skops")
    lineage2 = parse_lineage(
        [
            f"training_data={work / 'train.csv'}",
            "code_revision=demo-8b21d04",
            f"parent_version={v1.version}",
            "param.max_iter=500",
            "param.payment_join=broken",
        ]
    )
    v2 = reg.register(
        "credit",
        str(work / "credit-v2.skops"),
        format="skops",
        reference=work / "reference.csv",
        target="default",
        metrics={"auc": round(v2_auc, 4)},
        lineage=lineage2,
        description="retrained on the new join",
        trust=TrustRequest(trusted_types=tuple(trusted2), reason="types reviewed by the demo"),
    )
    say(f"   registered credit v{v2.version} (holdout AUC {v2_auc:.3f})")

    say(f"[bold]5.[/] Promoting v{v2.version}: the gate compares it with v{v1.version}, the current holder...")
    refused_rules: list[str] = []
    try:
        reg.promote("credit", v2.version, policy=policy, reason="scheduled release")
        raise RuntimeError("the damaged version passed its gates; the demo's premise is broken")
    except GateFailedError as exc:
        report = GateReport.model_validate(exc.details["report"])
        show_gate(report)
        refused_rules = [r.rule for r in report.failed]
        say(f"   [red]refused[/]: {exc.message}")
    holder = reg.resolve("credit", "production").version
    say(f"   production still serves v{holder}")

    say("[bold]6.[/] The audit log holds every step, hash-chained:")
    verify = reg.audit.verify()
    for e in reg.audit.entries(model="credit"):
        say(f"   #{e.seq:<3} {e.action:<17} {e.subject:<28} {e.reason}")
    say(
        f"   audit verify: {'[green]intact[/]' if verify.ok else '[red]BROKEN[/]'} "
        f"({verify.entries} entries, head sha256:{verify.head_hash[:16]}...)"
    )
    return DemoResult(
        home=home,
        promoted=v1.version,
        refused=v2.version,
        refused_rules=refused_rules,
        audit_entries=verify.entries,
        audit_ok=verify.ok,
    )
