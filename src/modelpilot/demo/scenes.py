"""The demo's story on the embedded shape: a served model, live traffic, a canary with a hidden regression that the
judge fails and the controller rolls back, then drift in production that the monitor catches, a retraining the
remediation policy starts, and the retrained version promoted by its own rollout.

The server is a real ``modelpilot up`` process (its log in ``<home>/server.log``); the story drives it only through
what a user has: HTTP requests and labels, the registry, ``rollout start``, and the remediation policy's retrain
command (:mod:`modelpilot.demo.retrain`). Everything it reports is read back from the store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from modelpilot.config import Settings
from modelpilot.demo.data import credit_table
from modelpilot.demo.live import Narrator
from modelpilot.demo.train import save_skops, train
from modelpilot.registry import Registry, parse_lineage

__all__ = ["Pace", "ServerProcess", "StoryResult", "run_story"]


@dataclass(frozen=True)
class Pace:
    """How fast the story runs."""

    rate: float = 40.0  # requests per second
    window_rows: int = 400  # rows per monitor window
    interval_s: float = 10.0  # rollout interval
    warm_s: float = 15.0  # traffic before the first scene
    label_delay_s: float = 5.0  # from a prediction to its label
    retrain_rows: int = 1200  # recent labelled rows the retraining waits for
    settle_s: float = 10.0  # traffic after the last scene

    @classmethod
    def fast(cls) -> Pace:
        return cls(rate=60.0, window_rows=200, interval_s=5.0, warm_s=5.0, label_delay_s=2.0, retrain_rows=500,
                   settle_s=2.0)  # fmt: skip


@dataclass
class StoryResult:
    """What happened, for the summary and the tests."""

    url: str
    candidate: int = 0
    rolled_back: bool = False
    failed_checks: list[str] = field(default_factory=list)
    drift_alarm: bool = False
    quality_alarm: bool = False
    retrained: int = 0
    promoted: bool = False
    incidents: list[dict[str, Any]] = field(default_factory=list)
    accuracy: dict[str, float | None] = field(default_factory=dict)


def _free(port: int) -> int:
    """``port`` if it is free on loopback, else (or for 0) a free one."""
    if port:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``modelpilot up`` in a process of its own."""

    def __init__(self, settings: Settings, work: Path, port: int, pace: Pace) -> None:
        self.port = _free(port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = settings.home / "server.log"
        env = {
            **os.environ,
            "MODELPILOT_MONITOR__WINDOW__ROWS": str(pace.window_rows),
            "MODELPILOT_MONITOR__WINDOW__SECONDS": "30",
            "MODELPILOT_MONITOR__SNAPSHOT_S": "5",
            "MODELPILOT_SLO__TICK_S": "2",
            "MODELPILOT_SLO__SNAPSHOT_S": "2",
            "MODELPILOT_SERVING__PLAN_POLL_S": "0.25",
        }
        cmd = [sys.executable, "-m", "modelpilot", "--home", str(settings.home), "--store", settings.store_url,
               "--actor", "demo-server", "up", "--port", str(self.port), "--slo", str(work / "slo.yaml"),
               "--policy", str(work / "policy.yaml")]  # fmt: skip
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        (settings.home / "server.pid").write_text(f"{self.proc.pid}\n")

    def ready(self, timeout: float = 60.0) -> None:
        import httpx2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server stopped (exit {self.proc.returncode}); see {self.log}")
            try:
                if httpx2.get(f"{self.url}/v2/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready after {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        """SIGTERM to the server's process group (it was started in a session of its own), SIGKILL after 30 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


def write_configs(settings: Settings, work: Path, pace: Pace) -> None:
    """The SLOs, the remediation policy and the two canary analyses the story uses."""
    slo = {
        "version": "modelpilot/v1",
        "slos": [
            {"name": "availability", "model": "credit", "description": "Scoring requests are answered.",
             "sli": {"kind": "availability"}, "objective": 95.0, "period": "7d"},
            {"name": "latency", "model": "credit", "description": "Answers within 100 ms.",
             "sli": {"kind": "latency", "threshold_s": 0.1}, "objective": 99.0, "period": "7d"},
        ],
    }  # fmt: skip
    retrain = [sys.executable, "-m", "modelpilot.demo.retrain", "--home", str(settings.home), "--store",
               settings.store_url, "--work", str(work), "--interval", str(pace.interval_s), "--rows",
               str(pace.retrain_rows)]  # fmt: skip
    policy = {
        "name": "demo-remediation",
        "version": 1,
        "max_actions_per_hour": 3,
        "rules": [
            {"name": "lasting-drift", "model": "credit", "when": {"drift": {"severity": "critical", "windows": 1}},
             "do": ["retrain"], "retrain": {"command": retrain, "cooldown": "1h", "timeout": "5m"}},
        ],
    }  # fmt: skip
    canary = {  # a few hundred requests an interval: smaller samples than the defaults
        "name": "demo-canary",
        "errors": {"min_requests": 40, "tolerance": 0.05},
        "latency": {"min_samples": 40, "tolerance": 1.0},
        "predictions": {"min_samples": 40},
        "required": ["errors"],
    }
    retrained = {  # a retrained model is meant to predict differently: judged on errors, latency and accuracy
        **canary,
        "name": "demo-retrained",
        "predictions": {"enabled": False},
    }
    for name, doc in (("slo", slo), ("policy", policy), ("canary-analysis", canary), ("retrain-analysis", retrained)):
        (work / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _register(
    reg: Registry, model: Any, auc: float, work: Path, tag: str, description: str, data: Path, reference: Path
) -> int:
    from modelpilot.loaders.base import TrustRequest

    path = work / f"credit-{tag}.skops"
    trusted = save_skops(model, path)
    lineage = parse_lineage([f"training_data={data}", f"code_revision=demo-{tag}"])
    v = reg.register(
        "credit", str(path), format="skops", reference=reference, target="default",
        metrics={"auc": round(auc, 4)}, lineage=lineage, description=description,
        trust=TrustRequest(trusted_types=tuple(trusted), reason="types reviewed by the demo"),
    )  # fmt: skip
    return v.version


def _last_verdict(reg: Registry, rollout_id: int) -> dict[str, Any] | None:
    for e in reversed(reg.audit.entries(model="credit")):
        if e.action == "rollout.verdict" and e.subject.endswith(f"/rollout:{rollout_id}"):
            return dict(orjson.loads(e.evidence).get("verdict") or {})
    return None


def _final(rollouts: Any, rid: int) -> Any:
    """The rollout ``rid`` once it is final, else None."""
    for found, r in rollouts.history("credit", limit=5):
        if found == rid:
            return r if r.final else None
    return None


def _accuracy(reg: Registry, version: int, kind: str, since: float, until: float | None = None) -> float | None:
    from modelpilot.monitoring.history import MonitorHistory

    windows = [w for w in MonitorHistory(reg.store).windows("credit", version=version, last=200)
               if w.kind == ("labels" if kind == "realized" else "traffic") and (w.end or 0) >= since
               and (until is None or (w.end or 0) < until)]  # fmt: skip
    values = [(w.realized if kind == "realized" else w.estimated) or {} for w in windows]
    found = [v.get("accuracy") for v in values if v.get("accuracy") is not None]
    return None if not found else float(found[-1])  # type: ignore[arg-type]


def run_story(settings: Settings, narrator_factory: Any, *, pace: Pace, port: int) -> tuple[StoryResult, Any]:
    """Scenes 1 and 2 on the registry the prologue left (v1 in production); returns the result and the server."""
    from modelpilot.control.rollouts import RolloutStore
    from modelpilot.demo.traffic import LoadGenerator
    from modelpilot.monitoring.history import MonitorHistory
    from modelpilot.serving.plan import TrafficPlan
    from modelpilot.serving.traffic import TrafficPlans
    from modelpilot.slo.service import load_statuses

    work = settings.home / "work"
    reg = Registry.open(settings)
    plans = TrafficPlans(reg.store)
    rollouts = RolloutStore(reg)
    production = reg.resolve("credit", reg.production_alias).version
    plans.set(TrafficPlan(model="credit", stable=production), actor="demo", reason="serve the production version")
    write_configs(settings, work, pace)
    server = ServerProcess(settings, work, port, pace)
    result = StoryResult(url=server.url)

    def context() -> dict[str, Any]:
        try:
            statuses = [s for s, _ in load_statuses(reg.store, "credit") if s.name == "availability"]
            plan = plans.get("credit")
        except Exception:
            return {}
        text = "-"
        if plan is not None:
            text = f"v{plan.stable}" + (f" + canary v{plan.canary} {plan.weight:g}%" if plan.canary else "")
        return {"budget": statuses[0].budget_remaining if statuses else None, "plan": text}

    load: LoadGenerator | None = None
    try:
        load = LoadGenerator(server.url, rate=pace.rate, label_delay_s=pace.label_delay_s, recent=work / "recent.csv")
        story: Narrator = narrator_factory(load, context)
        story.say(f"\n[bold]7.[/] Serving credit v{production} with `modelpilot up` on {server.url} "
                  "(monitor, SLO evaluator, rollout controller, remediation policy: one process)")  # fmt: skip
        server.ready()
        load.start()
        story.say(f"   traffic: {pace.rate:g} applications/s, each one's true outcome posted {pace.label_delay_s:g} s "
                  "later as feedback")  # fmt: skip
        story.wait(lambda: time.monotonic() - story.started > pace.warm_s and load.stats().sent > 0,
                   timeout=pace.warm_s + 30, what="warm-up traffic")  # fmt: skip

        # ---------------------------------------------------------------- scene 1: a canary with a hidden flaw
        story.say("\n[bold]Scene 1 - a candidate with a hidden regression[/]")
        data = credit_table(20_000, seed=7)
        sample = data.filter(pc.not_equal(data.column("region"), "west"))  # an extract that lost one region
        model, auc = train(sample, unknown_regions="error")
        extract = work / "extract.csv"
        pacsv.write_csv(sample, extract)
        pacsv.write_csv(sample.slice(int(sample.num_rows * 0.75)), work / "extract-reference.csv")
        result.candidate = _register(reg, model, auc, work, "candidate", "retrained on the new extract",
                                     extract, work / "extract-reference.csv")  # fmt: skip
        story.say(f"   registered credit v{result.candidate}: holdout AUC {auc:.3f}, as good as production offline. "
                  "Its training extract silently lost every applicant from the west region.")  # fmt: skip
        from modelpilot.control.analysis import load_analysis
        from modelpilot.control.rollout import RolloutSpec

        spec = RolloutSpec(model="credit", version=result.candidate, stable=production, steps=(50.0, 100.0),
                           interval_s=pace.interval_s,
                           analysis=load_analysis(work / "canary-analysis.yaml"))  # fmt: skip
        started = time.time()
        rid = rollouts.start(spec, now=started, actor="demo", reason="release the new extract's model", evidence={})
        story.say(f"   rollout {rid}: canary v{result.candidate} takes 50% of traffic; the judge looks every "
                  f"{pace.interval_s:g} s")  # fmt: skip

        def ended() -> Any:
            return _final(rollouts, rid)

        final = story.wait(ended, timeout=pace.interval_s * 6 + 30, what="the canary's verdict")
        verdict = _last_verdict(reg, rid) or {}
        result.rolled_back = final.phase == "rolled_back"
        result.failed_checks = [c["name"] for c in verdict.get("checks", []) if c.get("outcome") == "fail"]
        detected = time.time()
        story.say(f"   [red]{final.phase}[/] after {detected - started:.0f} s: {final.reason[:160]}")
        for c in verdict.get("checks", []):
            if c.get("outcome") == "fail":
                stats = ", ".join(f"{k}={v:.4g}" for k, v in c.get("statistics", {}).items() if v is not None)
                samples = ", ".join(f"{k}={v}" for k, v in c.get("samples", {}).items())
                story.say(f"   failed check [bold]{c['name']}[/]: {stats} (samples {samples}; thresholds "
                          f"{c.get('thresholds')})")  # fmt: skip
        if result.rolled_back:
            story.say(f"   the canary's weight went to 0 at once: production serves v{production} alone again")
        result.incidents.append({"incident": f"canary v{result.candidate} fails on west applicants",
                                 "detected_s": detected - started, "mitigated_s": detected - started})  # fmt: skip

        # ---------------------------------------------------------------- scene 2: drift in production
        story.say("\n[bold]Scene 2 - the applicants change[/]")
        load.regime("drifted", shift=0.7, concept=1.0, zero_ages=0.08)
        drift_began = time.time()
        story.say("   from now on incomes fall, debts and late payments rise, self-employed applicants default far "
                  "more often than they used to, and a new application form sends age 0 for some")  # fmt: skip
        history = MonitorHistory(reg.store)

        def drift_alarm() -> Any:
            found = [a for a in history.alarms("credit", version=production, last=20)
                     if a.kind == "drift" and a.severity == "critical"
                     and (a.time or 0) >= drift_began - 1]  # fmt: skip
            return found[-1] if found else None

        alarm = story.wait(drift_alarm, timeout=120, what="the drift alarm")
        result.drift_alarm = True
        subjects = ", ".join(f"{k} ({v})" for k, v in sorted(alarm.subjects.items())[:5])
        story.say(f"   [yellow]drift alarm[/] on v{production} after {time.time() - drift_began:.0f} s: {subjects}")
        quality = [a for a in history.alarms("credit", version=production, last=20)
                   if a.kind == "quality" and a.severity is not None and (a.time or 0) >= drift_began - 1]  # fmt: skip
        if quality:
            found = ", ".join(f"{k} ({v})" for k, v in sorted(quality[-1].subjects.items())[:3])
            story.say(f"   [yellow]data-quality alarm[/]: {found} (values outside the reference range)")
            result.quality_alarm = True
        before = _accuracy(reg, production, "estimated", 0.0, until=drift_began)
        after = _accuracy(reg, production, "estimated", drift_began)
        if after is not None:
            story.say(f"   estimated accuracy (no labels needed) of v{production}: {after:.3f} now"
                      + (f", {before:.3f} before" if before is not None else ""))  # fmt: skip
        story.say("   the remediation policy's rule lasting-drift (a critical drift alarm) asks for a retraining on "
                  "recent labelled data")  # fmt: skip

        def retrained() -> Any:
            got = rollouts.latest("credit")
            return got if got is not None and got[1].spec.version > result.candidate else None

        rid2, r2 = story.wait(retrained, timeout=180, what="the retrained version's rollout")
        result.retrained = r2.spec.version
        story.say(f"   the retraining job registered credit v{result.retrained} and started rollout {rid2}")

        def promoted() -> Any:
            return _final(rollouts, rid2)

        final2 = story.wait(promoted, timeout=pace.interval_s * 8 + 60, what="the retrained version's verdict")
        result.promoted = final2.phase == "promoted"
        mitigated = time.time()
        colour = "green" if result.promoted else "red"
        story.say(f"   [{colour}]{final2.phase}[/]: {final2.reason[:160]}")
        result.incidents.append({"incident": "production inputs drift (and defaults follow new rules)",
                                 "detected_s": (alarm.time or mitigated) - drift_began,
                                 "mitigated_s": mitigated - drift_began})  # fmt: skip
        if result.promoted:

            def confirmed() -> Any:
                return _accuracy(reg, result.retrained, "realized", mitigated - 1)

            new_acc = story.wait(confirmed, timeout=pace.window_rows / pace.rate * 3 + 30,
                                 what="labels for the new version")  # fmt: skip
            old_acc = _accuracy(reg, production, "realized", drift_began + pace.label_delay_s)
            result.accuracy = {"before": old_acc, "after": new_acc}
            confirms = "labels confirm it" if old_acc is None or new_acc > old_acc else "labels do not confirm it"
            story.say(f"   {confirms}: realized accuracy v{result.retrained} {new_acc:.3f}"
                      + (f" vs v{production} {old_acc:.3f} on the changed applicants" if old_acc is not None
                         else ""))  # fmt: skip
        time.sleep(pace.settle_s)
    except BaseException:
        server.stop()  # the story broke off (or Ctrl-C): no server left behind
        raise
    finally:
        if load is not None:
            load.stop()
        reg.store.close()
    return result, server
