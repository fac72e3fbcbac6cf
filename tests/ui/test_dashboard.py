"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright) against a real
``modelpilot up`` with a story behind it: drifted traffic, labels, SLOs, one rollout rolled back and one promoted.

The server is started with inference auth forced on (as on a non-loopback bind), so the dashboard must refuse
anonymous visitors and accept an ``operate`` token through its sign-in form. Every page must load without console
errors or failed requests and show the model, its versions, verdicts and charts with data; a full-page screenshot of
each goes to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import missing_component
from tests.serving.server_process import ServerProcess
from tests.ui.scenario import ROOT, SLO_SPEC, Scenario, drive, prepare

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class Served:
    def __init__(self, scenario: Scenario, server: ServerProcess, phases: dict[str, str]) -> None:
        self.scenario = scenario
        self.server = server
        self.url = server.url
        self.phases = phases


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    scenario = prepare(tmp_path_factory.mktemp("ui"))
    env = {
        "MODELPILOT_MONITOR__WINDOW__ROWS": "200",
        "MODELPILOT_SLO__TICK_S": "1",
        "MODELPILOT_AUTH__INFERENCE_REQUIRED": "true",  # as on a non-loopback bind: the dashboard needs a token
    }
    with ServerProcess(scenario.home, command="up", args=("--slo", str(SLO_SPEC)), env=env) as server:
        # a first visit (sent to the sign-in form) starts the dashboard's request-rate sampling before the traffic
        assert httpx.get(f"{server.url}/ui").status_code == 303
        phases = drive(scenario, server.url)
        yield Served(scenario, server, phases)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        missing_component("chromium (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser page that records console errors and failed requests."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # a load cut off by the next navigation (the sign-in page's icon while goto() leaves it) fails with
        # net::ERR_ABORTED: the browser's doing, not the server's (server errors are caught as responses below)
        self.page.on(
            "requestfailed",
            lambda r: None if "ERR_ABORTED" in str(r.failure) else self.problems.append(f"failed: {r.url} {r.failure}"),
        )
        self.page.on(
            "response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
        )

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"dashboard-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _sign_in(context: Any, url: str, token: str) -> Page:
    p = Page(context)
    p.page.goto(f"{url}/ui/models/credit")
    assert "/ui/login" in p.page.url  # anonymous: sent to the form, which remembers where to go next
    p.page.fill("#token", token)
    p.page.click("form button[type=submit]")
    p.page.wait_for_url(re.compile(r".*/ui/models/credit$"))
    return p


def test_the_story_ran(served: Served) -> None:
    assert served.phases == {"v2": "rolled_back", "v3": "promoted"}


def test_anonymous_visitors_see_nothing_and_weaker_tokens_are_refused(served: Served) -> None:
    with httpx.Client(base_url=served.url, follow_redirects=False) as client:
        for path in ("/ui", "/ui/models/credit"):
            r = client.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=/ui")
            assert "credit" not in r.text
        for path in ("/ui/api/overview", "/ui/api/models/credit"):
            r = client.get(path)
            assert r.status_code == 401 and r.json()["code"] == "unauthenticated" and "credit" not in r.text
            r = client.get(path, headers={"authorization": f"Bearer {served.scenario.predict_token}"})
            assert r.status_code == 403 and "operate" in r.json()["error"]
            r = client.get(path, headers={"authorization": f"Bearer {served.scenario.token}"})
            assert r.status_code == 200 and "credit" in r.text
        login = client.get("/ui/login")
        assert login.status_code == 200 and "credit" not in login.text
        forged = client.post(
            "/ui/login",
            content=f"token={served.scenario.token}",
            headers={"content-type": "application/x-www-form-urlencoded", "origin": "https://evil.example"},
        )
        assert forged.status_code == 403 and "set-cookie" not in forged.headers


def test_a_wrong_token_is_refused_and_an_operate_token_signs_in(served: Served, browser: Any) -> None:
    context = browser.new_context()
    try:
        bad = Page(context)
        bad.page.goto(f"{served.url}/ui/login")
        bad.page.fill("#token", "mp_not-a-token")
        bad.page.click("form button[type=submit]")
        assert "not recognised" in bad.page.locator(".error").inner_text()
        assert all("401" in problem for problem in bad.problems), bad.problems  # the refusal itself, nothing else
        bad.page.fill("#token", served.scenario.predict_token)
        bad.page.click("form button[type=submit]")
        assert "needs operate" in bad.page.locator(".error").inner_text()
        assert context.cookies() == []

        good = _sign_in(context, served.url, served.scenario.token)
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
        assert good.page.locator("h1").first.inner_text() == "credit"
        assert good.problems == []
        good.page.click(".logout button")
        good.page.wait_for_url(re.compile(r".*/ui/login$"))
        assert context.cookies() == []
        good.page.goto(f"{served.url}/ui")
        assert "/ui/login" in good.page.url
    finally:
        context.close()
    log = served.server.log.read_text()
    assert served.scenario.token not in log and served.scenario.predict_token not in log
    assert "dashboard: token 'dashboard' signed in" in log


def test_the_login_page(served: Served, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        p = Page(context)
        p.page.goto(f"{served.url}/ui/login")
        assert p.page.locator("input#token[type=password]").count() == 1
        p.shot("login")
        assert p.problems == []
    finally:
        context.close()


def _refreshed(page: Any) -> None:
    """Wait for the page script's first live refresh (its indicator then shows the time)."""
    from playwright.sync_api import expect

    expect(page.locator("#live")).to_have_text(re.compile(r"^live \d"), timeout=10_000)


def _points(page: Any, selector: str) -> list[int]:
    return [int(n) for n in page.locator(selector).evaluate_all("els => els.map(e => e.dataset.points)")]


def test_the_overview_shows_every_model_with_its_plan_and_health(served: Served, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        p = _sign_in(context, served.url, served.scenario.token)
        p.page.goto(f"{served.url}/ui")
        card = p.page.locator("article.model[data-model=credit]")
        assert card.count() == 1
        text = card.inner_text()
        assert "v3 100%" in text and "production v3" in text  # v3 was promoted
        assert card.locator(".badge").first.inner_text() in ("ok", "warning", "critical")
        assert card.locator("svg[data-chart=split]").count() == 1
        assert card.locator("svg[data-chart=meter]").count() == 4  # the four SLOs of examples/slo/credit.yaml
        assert max(_points(card, "svg[data-chart=spark]")) >= 2
        recent = p.page.locator("#changes").inner_text()
        assert "rollout.verdict" in recent and "promote" in recent
        assert "drift" in p.page.locator("#alarms").inner_text()
        _refreshed(p.page)
        p.shot("overview")
        assert p.problems == []
    finally:
        context.close()


def test_the_model_page_shows_traffic_drift_quality_performance_slos_rollouts_and_audit(
    served: Served, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        p = _sign_in(context, served.url, served.scenario.token)
        page = p.page
        head = page.locator("[data-section=head]").inner_text()
        assert all(f"v{v}" in head for v in (1, 2, 3)) and "production" in head

        traffic = page.locator("#traffic")
        assert traffic.locator("svg[data-chart=line]").count() == 3
        assert max(_points(traffic, "svg[data-chart=line] g.series")) >= 2
        rows = traffic.locator("table").inner_text()
        assert "v1 stable" in rows and "v2 canary" in rows and "v3 canary" in rows

        heat = page.locator("#drift svg[data-chart=heatmap]")
        assert int(heat.get_attribute("data-cells") or 0) >= 6 * 10
        assert heat.locator("rect.cell.critical").count() > 0  # the example's drift from row 5001
        assert "income" in (heat.text_content() or "")

        assert "age" in page.locator("#quality table").inner_text()  # the rollout's rows with age 130
        perf = page.locator("#performance")
        assert "estimated" in perf.inner_text() and "realized" in perf.inner_text()
        assert sum(_points(perf, "g.series")) >= 10

        slos = page.locator("#slos")
        assert slos.locator("svg[data-chart=bars]").count() == 4
        assert "availability" in slos.inner_text()

        rollouts = page.locator("#rollouts")
        assert rollouts.locator("svg[data-chart=timeline]").get_attribute("data-lanes") == "2"
        assert rollouts.locator("circle.verdict.fail").count() >= 1
        assert rollouts.locator("circle.verdict.pass").count() >= 1
        text = rollouts.inner_text()
        assert "v2 against v1" in text and "rolled back" in text and "promoted" in text
        failed = rollouts.locator("details.verdict").filter(has=page.locator(".badge.fail")).first
        failed.locator("summary").click()
        checks = failed.locator("table").inner_text()
        assert "errors" in checks and "canary_rate" in checks and "canary_requests" in checks

        entry = page.locator("#audit details.entry").filter(has_text="rollout.verdict").first
        evidence = entry.locator("pre")
        assert not evidence.is_visible()
        entry.locator("summary").click()
        assert evidence.is_visible() and '"verdict"' in evidence.inner_text()
        key = entry.get_attribute("data-key")

        # a live refresh redraws the sections and keeps what the reader opened
        _refreshed(page)
        assert page.locator(f'#audit details[data-key="{key}"]').get_attribute("open") is not None
        p.shot("model")
        assert p.problems == []
    finally:
        context.close()


def test_pages_of_unknown_models_say_so(served: Served, browser: Any) -> None:
    context = browser.new_context()
    try:
        p = _sign_in(context, served.url, served.scenario.token)
        response = p.page.goto(f"{served.url}/ui/models/nope")
        assert response is not None and response.status == 404
        assert "not registered" in p.page.locator("main").inner_text()
    finally:
        context.close()
