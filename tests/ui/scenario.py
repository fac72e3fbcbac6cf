"""A served credit model with a story to show: drifted traffic, labels, SLOs, a rollout rolled back and one promoted.

:func:`prepare` registers the example credit model (v1, promoted and served), a candidate that fails on some inputs
(v2) and a retrained one (v3), and creates an ``operate`` token. :func:`drive` then talks to a running
``modelpilot up`` over HTTP and the CLI, the way a user would: traffic (with the example's drift from row 5001),
labels through ``/v1/feedback``, and two rollouts judged by the controller inside the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.csv as pacsv

from modelpilot.auth import Tokens
from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.control.rollouts import RolloutStore
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "credit"
SLO_SPEC = ROOT / "examples" / "slo" / "credit.yaml"
FEATURES = ("income", "debt_ratio", "age", "late_payments", "employment", "region")

FLAKY = '''

class Flaky(CreditModel):
    """Fails on any row with an age above 120 (never in the reference data, so registration passes)."""

    def predict_proba(self, batch):
        if (np.asarray(batch["age"], dtype=float) > 120).any():
            raise RuntimeError("feature store timeout")
        return super().predict_proba(batch)
'''

ANALYSIS = """\
name: ui-test
errors:
  min_requests: 30
  tolerance: 0.05
latency:
  enabled: false
required: [errors]
"""


@dataclass(frozen=True)
class Scenario:
    """What :func:`prepare` made."""

    home: Path
    token: str
    predict_token: str
    ingest_token: str
    analysis: Path


def prepare(tmp: Path) -> Scenario:
    """Register v1 (served, production), v2 (flaky) and v3 (retrained) of ``credit``; create the tokens."""
    home = tmp / "home"
    code = tmp / "models" / "credit_models.py"
    code.parent.mkdir(parents=True)
    code.write_text((EXAMPLE / "model.py").read_text(encoding="utf-8") + FLAKY, encoding="utf-8")
    analysis = tmp / "analysis.yaml"
    analysis.write_text(ANALYSIS, encoding="utf-8")
    registry = Registry.open(load_settings(home=home, actor="tester"))
    try:
        trust = TrustRequest(trust_code=True, reason="the example model")
        common: dict[str, Any] = {
            "format": "python",
            "reference": EXAMPLE / "reference.csv",
            "target": "default",
            "trust": trust,
        }
        registry.register("credit", f"{code}:CreditModel", description="credit default risk", **common)
        registry.promote("credit", 1, reason="first release")
        registry.register("credit", f"{code}:Flaky", description="new feature store client", **common)
        registry.register("credit", f"{code}:CreditModel", description="retrained on November data", **common)
        TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve v1")
        tokens = Tokens(registry.store)
        _, token = tokens.create("dashboard", "operate", actor="tester", reason="ui test")
        _, predict_token = tokens.create("scorer", "predict", actor="tester", reason="ui test")
        _, ingest_token = tokens.create("labeller", "ingest", actor="tester", reason="ui test")
    finally:
        registry.store.close()
    return Scenario(home=home, token=token, predict_token=predict_token, ingest_token=ingest_token, analysis=analysis)


def _rows(start: int, stop: int) -> list[dict[str, Any]]:
    table = pacsv.read_csv(EXAMPLE / "traffic.csv").slice(start, stop - start)
    rows: list[dict[str, Any]] = table.select(list(FEATURES)).to_pylist()
    return rows


def _labels(start: int, stop: int) -> list[int]:
    column = pacsv.read_csv(EXAMPLE / "labels.csv").column("default").slice(start, stop - start)
    return [int(v) for v in column.to_pylist()]


class Driver:
    """Sends traffic and labels to a running server."""

    def __init__(self, url: str, token: str, ingest_token: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=10.0, headers={"authorization": f"Bearer {token}"})
        self.labels = {"authorization": f"Bearer {ingest_token}"}  # labels are evidence: a grant of their own

    def predict(self, rows: list[dict[str, Any]]) -> httpx.Response:
        return self.client.post("/v1/models/credit:predict", json={"instances": rows})

    def traffic(self, start: int, stop: int, *, batch: int = 50) -> None:
        """Rows ``start:stop`` of the example traffic in batches, each labelled through the feedback API at once."""
        rows, labels = _rows(start, stop), _labels(start, stop)
        for i in range(0, len(rows), batch):
            answer = self.predict(rows[i : i + batch])
            assert answer.status_code == 200, answer.text
            feedback = [{"request_id": answer.json()["request_id"], "label": labels[i : i + batch]}]
            sent = self.client.post("/v1/feedback", json=feedback, headers=self.labels)
            assert sent.status_code == 202, sent.text

    def pump(self, until: Callable[[], bool], *, bad_every: int = 0, timeout: float = 20.0) -> None:
        """Single-row requests from 8 threads until ``until()``; every ``bad_every``-th row has age 130."""
        base = _rows(0, 400)
        deadline = time.monotonic() + timeout

        def send(i: int) -> int:
            row = dict(base[i % len(base)])
            if bad_every and i % bad_every == 0:
                row["age"] = 130
            return self.predict([row]).status_code

        with ThreadPoolExecutor(8) as pool:
            i = 0
            while not until():
                assert time.monotonic() < deadline, "the rollout did not finish in time"
                list(pool.map(send, range(i, i + 80)))
                i += 80

    def close(self) -> None:
        self.client.close()


def rollout(scenario: Scenario, driver: Driver, version: int, *, bad_every: int, reason: str) -> str:
    """Start a rollout of ``version`` with the CLI and send traffic until the controller finishes it."""
    home = ["--home", str(scenario.home)]
    args = ["rollout", "start", "credit", "--version", str(version), "--steps", "50,100", "--interval", "2s"]
    assert main([*home, *args, "--analysis", str(scenario.analysis), "--reason", reason]) == 0
    registry = Registry.open(load_settings(home=scenario.home, actor="tester"))
    try:
        rollouts = RolloutStore(registry)

        def done() -> bool:
            latest = rollouts.latest("credit")
            return latest is not None and latest[1].final

        driver.pump(done, bad_every=bad_every)
        latest = rollouts.latest("credit")
        assert latest is not None
        return latest[1].phase
    finally:
        registry.store.close()


def drive(scenario: Scenario, url: str) -> dict[str, str]:
    """The whole story; returns each rollout's final phase by version."""
    driver = Driver(url, scenario.predict_token, scenario.ingest_token)
    try:
        driver.traffic(0, 1000)
        driver.traffic(5000, 6200)  # the example's drift starts at row 5001
        phases = {
            "v2": rollout(scenario, driver, 2, bad_every=4, reason="v2: new feature store client"),
            "v3": rollout(scenario, driver, 3, bad_every=0, reason="v3: retrained on November data"),
        }
        time.sleep(0.5)  # the promotion reaches the server's routing table within its plan poll (0.25 s)
        driver.traffic(6200, 6600)
    finally:
        driver.close()
    return phases
