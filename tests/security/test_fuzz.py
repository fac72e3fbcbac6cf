"""The fuzzer in the suite: schemathesis drives every operation of `/openapi.json` against a live `modelpilot up`
(the embedded shape, loopback), without a token and with an admin token, with a fixed seed and a bounded number of
examples per operation. It fails on any 5xx, any response whose status, Content-Type or body the document does not
declare, and on a liveness probe (polled all along from another thread) that took a second or more."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from modelpilot.auth import Tokens
from modelpilot.config import load_settings
from modelpilot.registry import Registry
from modelpilot.serving.openapi import openapi_document
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.models import register_models
from tests.serving.server_process import ServerProcess

pytestmark = pytest.mark.slow
SCHEMA = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 25  # per operation and caller
FUZZ = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
)  # fmt: skip


@dataclass
class Live:
    url: str
    token: str
    probes: list[float] = field(default_factory=list)  # seconds each liveness probe took
    cases: int = 0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz")
    home = tmp / "home"
    registry = Registry.open(load_settings(home=home, actor="tester"))
    register_models(registry, tmp / "src")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="fuzz")
    token = Tokens(registry.store).create("fuzzer", "admin", actor="tester", reason="fuzz")[1]
    registry.store.close()
    with ServerProcess(home, command="up") as server:
        state = Live(server.url, token)
        stop = threading.Event()

        def probe() -> None:
            with httpx.Client(timeout=5.0) as client:
                while not stop.wait(0.2):
                    began = time.monotonic()
                    client.get(f"{server.url}/v2/health/live")
                    state.probes.append(time.monotonic() - began)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        yield state
        stop.set()
        prober.join(10)


def _call(case: schemathesis.Case[Any], live: Live, headers: dict[str, str]) -> None:
    live.cases += 1
    case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS, timeout=10)


@SCHEMA.parametrize()
@FUZZ
def test_anonymous_callers_get_no_5xx_and_only_declared_answers(case: schemathesis.Case[Any], live: Live) -> None:
    _call(case, live, {})


@SCHEMA.parametrize()
@FUZZ
def test_an_admin_gets_no_5xx_and_only_declared_answers(case: schemathesis.Case[Any], live: Live) -> None:
    _call(case, live, {"Authorization": f"Bearer {live.token}"})


def test_the_liveness_probe_answered_within_a_second_all_along(live: Live) -> None:
    assert live.cases > 0 and len(live.probes) > 10
    assert max(live.probes) < 1.0, f"slowest probe {max(live.probes):.2f} s"
    print(f"fuzz: {live.cases} cases, {len(live.probes)} probes, slowest {max(live.probes) * 1000:.0f} ms")
