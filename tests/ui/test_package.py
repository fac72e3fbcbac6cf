"""The dashboard package: its public names, its assets inside the package (so the wheel carries them and no
network is needed), and modules that each do one job (a docstring, under ~400 lines)."""

from __future__ import annotations

import importlib
import pkgutil
from importlib import resources

import pytest

import modelpilot.ui
from modelpilot.ui import openapi_paths, ui_routes

EXPECTED = {
    "modelpilot.ui": ["openapi_paths", "ui_routes"],
    "modelpilot.ui.auth": [
        "COOKIE", "clear_cookie", "required", "safe_next", "same_origin", "set_cookie", "sign_in", "viewer",
    ],
    "modelpilot.ui.data": ["LIMITS", "Sources", "model_detail", "overview"],
    "modelpilot.ui.figures": ["OUTCOME_COLOURS", "Lane", "budget_meter", "burn_bars", "split_bar", "timeline"],
    "modelpilot.ui.history": ["audit", "changes", "decisions", "rollouts"],
    "modelpilot.ui.html": [
        "badge", "esc", "figure", "login_page", "model_url", "page", "section", "table", "text", "when",
    ],
    "modelpilot.ui.pages": ["model_page", "overview_page", "overview_sections"],
    "modelpilot.ui.rates": ["RatePoint", "RequestRates", "Totals", "backlog_of", "quantile", "totals_of"],
    "modelpilot.ui.routes": ["rates", "ui_routes"],
    "modelpilot.ui.sections": ["SECTIONS", "render"],
    "modelpilot.ui.shape": [
        "active_alarms", "alarm_rows", "audit_rows", "health", "rollout_rows", "slo_rows", "total_rate", "traffic",
        "worst",
    ],
    "modelpilot.ui.svg": [
        "PALETTE", "clock", "dot", "empty", "heat_colour", "heatmap", "legend", "line_chart", "nice_ticks", "number",
        "sparkline",
    ],
    "modelpilot.ui.windows": ["drift_matrix", "performance", "quality"],
}  # fmt: skip


def _modules() -> list[str]:
    return ["modelpilot.ui", *(f"modelpilot.ui.{m.name}" for m in pkgutil.iter_modules(modelpilot.ui.__path__))]


def test_every_module_is_pinned() -> None:
    assert sorted(_modules()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exported_names(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted(EXPECTED[name])
    assert module.__doc__ and module.__doc__.strip()


@pytest.mark.parametrize("name", _modules())
def test_modules_stay_small(name: str) -> None:
    path = importlib.import_module(name).__file__
    assert path is not None
    with open(path, encoding="utf-8") as f:
        assert sum(1 for _ in f) <= 420


def test_the_assets_are_inside_the_package() -> None:
    static = resources.files("modelpilot.ui").joinpath("static")
    assert sorted(p.name for p in static.iterdir()) == ["app.js", "icon.svg", "style.css"]
    for item in static.iterdir():
        assert item.read_bytes().isascii(), item.name


def test_every_route_is_described_for_the_openapi_document() -> None:
    paths = openapi_paths()
    described = {(path, method.upper()) for path, item in paths.items() for method in item}
    mounted = {(r.path, m) for r in ui_routes() for m in (r.methods or set()) - {"HEAD"}}
    assert described == mounted
