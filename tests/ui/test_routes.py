"""The dashboard's routes in process: who may see what (loopback, forced auth, non-loopback binds), the sign-in
form and its cookie, the JSON endpoints, escaping of stored text, the packaged static files and the headers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from modelpilot.auth import Tokens
from modelpilot.config import load_settings
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
HOSTILE = "<img src=x onerror=alert(1)>"
FORM = {"content-type": "application/x-www-form-urlencoded"}


class Home:
    def __init__(self, path: Path) -> None:
        self.path = path
        registry = Registry.open(load_settings(home=path, actor="tester"))
        registry.register(
            "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
            target="default", trust=TrustRequest(trust_code=True, reason="test"), description=HOSTILE,
        )  # fmt: skip
        TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
        tokens = Tokens(registry.store)
        self.operate = tokens.create("ops", "operate", actor="tester")[1]
        self.predict = tokens.create("app", "predict", actor="tester")[1]
        registry.store.close()

    def client(self, **settings: Any) -> TestClient:
        return TestClient(create_app(load_settings(home=self.path, actor="tester", **settings)))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return Home(tmp_path_factory.mktemp("ui-routes"))


@pytest.fixture
def loopback(home: Home) -> Iterator[TestClient]:
    with home.client() as client:
        yield client


@pytest.fixture
def guarded(home: Home) -> Iterator[TestClient]:
    with home.client(auth={"inference_required": True}) as client:
        yield client


def test_on_a_loopback_bind_anonymous_visitors_see_the_dashboard(loopback: TestClient) -> None:
    page = loopback.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-model="credit"' in page.text and "Sign out" not in page.text
    detail = loopback.get("/ui/models/credit")
    assert detail.status_code == 200 and 'data-poll="/ui/api/models/credit?view=html"' in detail.text
    assert HOSTILE not in detail.text and "&lt;img src=x onerror=alert(1)&gt;" in detail.text
    data = loopback.get("/ui/api/models/credit").json()
    assert data["name"] == "credit" and data["plan"]["stable"] == 1 and data["description"] == HOSTILE
    assert {"traffic", "drift", "quality", "performance", "slos", "rollouts", "audit"} <= set(data)
    html = loopback.get("/ui/api/models/credit?view=html").json()["html"]
    assert set(html) == {"head", "traffic", "drift", "performance", "quality", "slos", "alarms", "rollouts",
                         "changes", "decisions", "audit"}  # fmt: skip
    assert HOSTILE not in "".join(html.values())
    overview = loopback.get("/ui/api/overview").json()
    assert [m["name"] for m in overview["models"]] == ["credit"] and overview["models"][0]["health"] == "ok"
    assert set(loopback.get("/ui/api/overview?view=html").json()["html"]) == {"summary", "models", "alarms", "changes"}
    # the event path's backlog (this process's own counters): nothing waiting, nothing dropped in a quiet test app
    assert set(overview["backlog"]) == {"memory", "disk", "dropped"}
    assert "event backlog:" in loopback.get("/ui/api/overview?view=html").json()["html"]["summary"]
    assert "no token here" in loopback.get("/ui/login").text


def test_every_answer_forbids_framing_inline_scripts_and_caching(loopback: TestClient) -> None:
    for path in ("/ui", "/ui/models/credit", "/ui/api/overview", "/ui/login", "/ui/static/style.css"):
        r = loopback.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        if "static" not in path:
            assert r.headers["cache-control"] == "no-store"


def test_static_files_come_from_the_package_and_nothing_else_does(loopback: TestClient) -> None:
    for name, media in (("app.js", "text/javascript"), ("style.css", "text/css"), ("icon.svg", "image/svg+xml")):
        r = loopback.get(f"/ui/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(media) and r.content
        text = r.content.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")  # a namespace name, never fetched
        assert b"://" not in text and b"@import" not in text
    for path in ("/ui/static/routes.py", "/ui/static/..%2Froutes.py", "/ui/static/static/app.js"):
        assert loopback.get(path).status_code == 404
    assert loopback.get("/ui/", follow_redirects=False).headers["location"].endswith("/ui")


def test_unknown_models_are_not_found(loopback: TestClient) -> None:
    page = loopback.get("/ui/models/nope")
    assert page.status_code == 404 and "not registered" in page.text
    r = loopback.get("/ui/api/models/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_with_auth_on_anonymous_visitors_are_sent_to_sign_in(guarded: TestClient, home: Home) -> None:
    r = guarded.get("/ui/models/credit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/models/credit"
    assert "credit" not in r.text
    r = guarded.get("/ui/api/overview")
    assert r.status_code == 401 and "credit" not in r.text
    r = guarded.get("/ui/api/overview", headers={"authorization": f"Bearer {home.predict}"})
    assert r.status_code == 403 and "needs operate" in r.json()["error"]
    r = guarded.get("/ui/api/overview", headers={"authorization": f"Bearer {home.operate}"})
    assert r.status_code == 200 and r.json()["models"][0]["name"] == "credit"
    assert "Sign in with an API token" in guarded.get("/ui/login").text


def test_non_loopback_binds_need_a_token_even_when_inference_does_not(home: Home) -> None:
    with home.client(serving={"host": "0.0.0.0"}, auth={"inference_required": False}) as client:
        assert client.get("/ui", follow_redirects=False).status_code == 303
        assert client.get("/ui/api/models/credit").status_code == 401


def test_signing_in_sets_a_strict_http_only_cookie_and_signing_out_clears_it(
    guarded: TestClient, home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = guarded.post("/ui/login", content="token=mp_wrong&next=/ui", headers=FORM)
    assert wrong.status_code == 401 and "not recognised" in wrong.text and "set-cookie" not in wrong.headers
    weak = guarded.post("/ui/login", content=f"token={home.predict}&next=/ui", headers=FORM)
    assert weak.status_code == 403 and "needs operate" in weak.text and "set-cookie" not in weak.headers
    assert home.predict not in weak.text and "mp_wrong" not in wrong.text

    ok = guarded.post(
        "/ui/login",
        content=f"token={home.operate}&next=/ui/models/credit",
        headers={**FORM, "origin": "http://testserver"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/models/credit"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("modelpilot_ui=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/ui" in cookie and "Secure" not in cookie  # plain HTTP here; HTTPS adds Secure
    page = guarded.get("/ui/models/credit")
    assert page.status_code == 200 and "Sign out" in page.text and "ops" in page.text
    assert guarded.get("/ui/login", follow_redirects=False).status_code == 303  # already signed in

    out = guarded.post("/ui/logout", headers={"origin": "http://testserver"}, follow_redirects=False)
    assert out.status_code == 303 and 'modelpilot_ui=""' in out.headers["set-cookie"]
    assert guarded.get("/ui", follow_redirects=False).status_code == 303
    assert home.operate not in caplog.text and home.predict not in caplog.text
    assert "dashboard: token 'ops' signed in" in caplog.text


def test_sign_in_refuses_other_sites_and_other_destinations(guarded: TestClient, home: Home) -> None:
    forged = guarded.post(
        "/ui/login", content=f"token={home.operate}", headers={**FORM, "origin": "https://evil.example"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    assert guarded.post("/ui/logout", headers={"origin": "null"}).status_code == 403
    assert guarded.post("/ui/login", json={"token": home.operate}).status_code == 400
    for target in ("https://evil.example/x", "//evil.example", "/v1/tokens", "/ui\\@evil"):
        r = guarded.post("/ui/login", content=f"token={home.operate}&next={target}", headers=FORM,
                         follow_redirects=False)  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == "/ui", target


def test_a_cookie_that_no_longer_signs_in_sends_the_browser_back_to_the_form(guarded: TestClient) -> None:
    guarded.cookies.set("modelpilot_ui", "mp_revoked", path="/ui")
    r = guarded.get("/ui", follow_redirects=False)
    assert r.status_code == 303 and "modelpilot_ui=" in r.headers.get("set-cookie", "")
    assert guarded.get("/ui/api/overview").status_code == 401
