"""Serving fixtures: a home with the test models registered, and an in-process app with a capturing bus."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from modelpilot.auth import Tokens
from modelpilot.config import Settings, load_settings
from modelpilot.events import Event, InProcessBus
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.models import register_models


@dataclass
class Served:
    """A running in-process server over a home with models credit v1-v4."""

    client: TestClient
    settings: Settings
    registry: Registry
    plans: TrafficPlans
    bus: InProcessBus
    events: list[Event] = field(default_factory=list)

    def flush(self) -> list[Event]:
        assert self.bus.flush(5.0)
        return self.events

    def refresh(self) -> None:
        """Apply store changes (plans, aliases, tokens) now instead of at the next poll."""
        ctx = self.client.app.state.mp  # type: ignore[attr-defined]
        ctx.table.reload()
        ctx.token_table = ctx.tokens.table()
        ctx.token_version = ctx.token_table.version

    def infer(self, x1: list[float], x2: list[float], *, path: str = "/v2/models/credit/infer", **kw: Any) -> Any:
        body = {
            "inputs": [
                {"name": "x1", "datatype": "FP64", "shape": [len(x1)], "data": x1},
                {"name": "x2", "datatype": "FP64", "shape": [len(x2)], "data": x2},
            ]
        }
        return self.client.post(path, json=body, **kw)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Settings, Registry]]:
    settings = load_settings(home=tmp_path / "home", actor="tester")
    registry = Registry.open(settings)
    register_models(registry, tmp_path / "src")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    yield settings, registry
    registry.store.close()


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(home: tuple[Settings, Registry]) -> Iterator[ServeFactory]:
    """Start the app (with lifespan) over the home; keyword arguments override settings sections."""
    settings, registry = home
    clients: list[TestClient] = []

    def start(**overrides: Any) -> Served:
        s = load_settings(home=settings.home, actor="tester", **overrides)
        bus = InProcessBus(s.events.queue_size)
        served = Served(None, s, registry, TrafficPlans(registry.store), bus)  # type: ignore[arg-type]
        bus.subscribe(served.events.extend)
        client = TestClient(create_app(s, bus=bus, seed=1), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        served.client = client
        return served

    yield start
    for c in clients:
        c.__exit__(None, None, None)


def make_token(registry: Registry, name: str, role: str) -> str:
    """Create a token on the home's store; returns its secret."""
    return Tokens(registry.store).create(name, role, actor="tester", reason="test")[1]
