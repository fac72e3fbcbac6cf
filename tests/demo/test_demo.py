"""`modelpilot demo --fast` tells the whole story for real: the gates refuse a visibly worse version, a canary with a
hidden regression is rolled back with its failing check in the audit evidence, drift raises an alarm, the
remediation policy's retraining registers a new version that its own rollout promotes, and `audit verify` passes.
Everything is checked against the store the demo left, not its narration."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.control.rollouts import RolloutStore
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.registry import Registry
from tests.conftest import missing_component


@pytest.mark.slow
def test_the_registry_chapter_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "demo", "--registry-only"]) == 0
    out = capsys.readouterr().out
    assert "refused" in out and "max_regression auc" in out and "production still serves v1" in out
    assert "audit verify: intact" in out


@pytest.mark.slow
def test_demo_fast_tells_the_whole_story(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pid_file = home / "demo" / "server.pid"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "modelpilot", "--home", str(home), "demo", "--fast", "--keep", "--port", "0"],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        url = re.search(r"dashboard: (http://\S+)/ui", done.stdout)
        assert url is not None, done.stdout[-2000:]
        _story_in_the_store(home / "demo")
        _dashboard_shows_it(url.group(1))
    finally:  # --keep left the server running (or a failed run did): stop its process group
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)


def _dashboard_shows_it(url: str) -> None:
    """After `--keep`, every dashboard page loads in headless Chromium without errors and shows the story."""
    executable = shutil.which("chromium")
    if executable is None:
        missing_component("chromium (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            for path, name, expected in (
                ("/ui", "overview", ["credit", "v4"]),
                ("/ui/models/credit", "model", ["rolled_back", "promoted", "drift", "retrain"]),
            ):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                problems: list[str] = []
                _watch(page, problems)
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                text = page.inner_text("body")
                missing = [word for word in expected if word not in text]
                assert not missing and not problems, (path, missing, problems)
                assert page.locator("svg").count() > 0  # charts drawn
                page.screenshot(path=str(artifacts / f"demo-{name}.png"), full_page=True)
                page.close()
        finally:
            browser.close()


def _watch(page: Any, problems: list[str]) -> None:
    """Record console errors, page errors and failed responses of ``page`` in ``problems``."""

    def console(message: Any) -> None:
        if message.type == "error":
            problems.append(message.text)

    def response(r: Any) -> None:
        if r.status >= 400:
            problems.append(f"{r.status} {r.url}")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", response)


def _story_in_the_store(demo_home: Path) -> None:
    reg = Registry.open(load_settings(home=demo_home, store=f"sqlite:///{demo_home / 'modelpilot.db'}"))
    try:
        assert reg.audit.verify().ok
        entries = reg.audit.entries(model="credit")
        actions = [e.action for e in entries]
        assert "promote.refused" in actions  # the gates stopped the broken-join version

        history = dict(RolloutStore(reg).history("credit"))
        first, second = history[min(history)], history[max(history)]
        assert first.phase == "rolled_back" and second.phase == "promoted"
        failing = [
            c["name"]
            for e in entries
            if e.action == "rollout.verdict" and e.subject.endswith(f"/rollout:{min(history)}")
            for c in orjson.loads(e.evidence)["verdict"]["checks"]
            if c["outcome"] == "fail"
        ]
        assert "errors" in failing  # the failing check is named in the audit evidence

        alarms = MonitorHistory(reg.store).alarms("credit", version=1, last=100)
        assert any(a.kind == "drift" and a.severity == "critical" for a in alarms)
        assert any(a.kind == "quality" and a.severity is not None for a in alarms)  # the ages of 0
        retrains = [e for e in entries if e.action == "remediation.retrain"]
        assert len(retrains) >= 1 and orjson.loads(retrains[0].evidence)["outcome"]["status"] == "done"
        assert sum(orjson.loads(e.evidence)["outcome"]["status"] == "done" for e in retrains) == 1  # once
        assert reg.resolve("credit", "production").version == second.spec.version  # the retrained version
        assert second.spec.version > first.spec.version
        realized = [w for w in MonitorHistory(reg.store).windows("credit", version=second.spec.version, last=50)
                    if w.kind == "labels"]  # fmt: skip
        assert realized and (realized[-1].realized or {}).get("accuracy") is not None
    finally:
        reg.store.close()
