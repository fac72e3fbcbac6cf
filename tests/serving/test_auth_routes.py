"""Every role against every admin route; inference auth; admin actions audited with the token's name."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelpilot.audit import AuditLog
from modelpilot.auth import Role
from modelpilot.serving.admin_routes import ADMIN_ROUTES
from modelpilot.serving.plan import TrafficPlan
from tests.serving.conftest import ServeFactory, make_token

_BODIES: dict[str, Any] = {
    "put_traffic": {"stable": 1, "reason": "auth test"},
    "rollback": {"reason": "auth test"},
    "put_alias": {"version": 1, "reason": "auth test"},
    "delete_alias": {"reason": "auth test"},
    "create_token": {"name": "made-by-route", "role": "predict"},
    "revoke_token": {"reason": "auth test"},
}
_PARAMS = {"name": "credit", "alias": "fallback"}


def _call(s: Any, method: str, path: str, handler: str, headers: dict[str, str]) -> Any:
    url = path.format(**{**_PARAMS, **({"name": "victim"} if handler == "revoke_token" else {})})
    body = _BODIES.get(handler)
    return s.client.request(method, url, headers=headers, content=None if body is None else orjson.dumps(body))


@pytest.mark.parametrize(
    ("method", "path", "needed", "handler"), [(m, p, r, h.__name__) for m, p, r, h in ADMIN_ROUTES]
)
def test_every_role_against_every_admin_route(
    serve: ServeFactory, method: str, path: str, needed: Role, handler: str
) -> None:
    s = serve()
    tokens = {role: make_token(s.registry, f"{role.value}-token", role.value) for role in Role}
    make_token(s.registry, "victim", "predict")
    s.registry.set_alias("credit", "fallback", 2, reason="setup")
    s.plans.set(TrafficPlan(model="credit", stable=1, canary=2, weight=5), actor="setup")
    s.refresh()
    assert _call(s, method, path, handler, {}).status_code == 401  # no token
    assert _call(s, method, path, handler, {"authorization": "Bearer mp_wrong"}).status_code == 401
    assert _call(s, method, path, handler, {"authorization": "Basic abc"}).status_code == 401
    for role in Role:
        r = _call(s, method, path, handler, {"authorization": f"Bearer {tokens[role]}"})
        if role.allows(needed):
            assert r.status_code in (200, 201), (role, r.text)
            if handler in ("delete_alias", "revoke_token", "create_token", "rollback"):
                break  # a second call would conflict: one allowed role is enough proof for one-shot changes
        else:
            assert r.status_code == 403, (role, r.text)
            assert needed.value in r.json()["error"]


def test_admin_changes_are_audited_with_the_token_name(serve: ServeFactory) -> None:
    s = serve()
    secret = make_token(s.registry, "deploy-bot", "operate")
    s.refresh()
    h = {"authorization": f"Bearer {secret}"}
    r = s.client.put(
        "/v1/models/credit/traffic",
        headers=h,
        json={
            "stable": 1,
            "canary": "2",
            "weight": 10,
            "shadows": [{"version": 4, "rate": 0.5}],
            "reason": "canary v2",
        },
    )
    assert r.status_code == 200, r.text
    assert s.client.app.state.mp.table.get("credit").plan.canary == 2  # type: ignore[attr-defined]
    r = s.client.post("/v1/models/credit/rollback", headers=h, json={"reason": "errors up"})
    assert r.status_code == 200 and r.json()["rolled_back"] == [2]
    entries = AuditLog(s.registry.store).entries(model="credit")
    assert [(e.action, e.actor) for e in entries[-2:]] == [
        ("traffic.set", "token:deploy-bot"),
        ("traffic.rollback", "token:deploy-bot"),
    ]
    history = s.client.get("/v1/models/credit/traffic/history", headers=h).json()
    assert [c["kind"] for c in history] == ["set", "set", "rollback"]


def test_bad_admin_bodies_name_the_field_and_change_nothing(serve: ServeFactory) -> None:
    s = serve()
    h = {"authorization": f"Bearer {make_token(s.registry, 'ops', 'operate')}"}
    s.refresh()
    for body, needle in (
        ({"stable": 1, "weight": 5}, "canary"),
        ({"stable": 1, "colour": "red"}, "colour"),
        ({"stable": 99}, "no version"),
        ({"stable": 1, "canary": 2, "weight": 200}, "weight"),
    ):
        r = s.client.put("/v1/models/credit/traffic", headers=h, json=body)
        assert r.status_code in (404, 422), r.text
        assert needle in r.json()["error"], r.json()
    assert s.plans.get("credit").canary is None and s.plans.revision() == 1  # type: ignore[union-attr]
    r = s.client.post("/v1/models/credit/rollback", headers=h, json={})
    assert r.status_code == 422 and "reason" in r.json()["error"]


def test_inference_auth_when_required(serve: ServeFactory) -> None:
    s = serve(auth={"inference_required": True})
    assert s.infer([0.5], [0.5]).status_code == 401
    assert s.client.get("/v2/models/credit").status_code == 401
    assert s.client.get("/v2/health/ready").status_code == 200  # probes stay open
    assert s.client.get("/metrics").status_code == 200
    secret = make_token(s.registry, "app", "predict")
    s.refresh()
    assert s.infer([0.5], [0.5], headers={"authorization": f"Bearer {secret}"}).status_code == 200


def test_inference_auth_defaults_on_for_non_loopback_binds(serve: ServeFactory) -> None:
    assert serve(serving={"host": "0.0.0.0"}).infer([0.5], [0.5]).status_code == 401
    assert serve(serving={"host": "127.0.0.1"}).infer([0.5], [0.5]).status_code == 200
