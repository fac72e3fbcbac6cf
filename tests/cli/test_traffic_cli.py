"""`modelpilot traffic show|set|history` and `modelpilot rollback`, end to end, with bad input."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from modelpilot.audit import AuditLog
from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.registry import Registry
from tests.serving.models import register_models


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    registry = Registry.open(load_settings(home=home))
    register_models(registry, tmp_path / "src")
    registry.set_alias("credit", "production", 1, reason="setup")
    registry.store.close()
    return home


def run(home: Path, *args: str) -> int:
    return main(["--home", str(home), "--actor", "ana", *args])


def test_set_show_history_rollback(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            home,
            "traffic",
            "set",
            "credit",
            "--stable",
            "production",
            "--canary",
            "v2",
            "--weight",
            "2.5",
            "--shadow",
            "4:0.1",
            "--shadow",
            "3",
            "--sticky-header",
            "X-User",
            "--reason",
            "canary",
        )
        == 0
    )
    capsys.readouterr()
    assert run(home, "traffic", "show", "credit", "-o", "json") == 0
    plan = orjson.loads(capsys.readouterr().out)
    assert plan == {
        "model": "credit",
        "stable": 1,
        "canary": 2,
        "weight": 2.5,
        "shadows": [{"version": 4, "rate": 0.1}, {"version": 3, "rate": 1.0}],
        "sticky_header": "X-User",
        "sticky_field": None,
    }
    assert run(home, "traffic", "show", "credit") == 0
    table = capsys.readouterr().out
    assert "v2 at 2.5%" in table and "v4 at 10% of requests" in table and "header X-User" in table
    assert run(home, "rollback", "credit", "--reason", "errors on v2") == 0
    assert "rolled back v2" in capsys.readouterr().out
    assert run(home, "traffic", "history", "credit", "-o", "json") == 0
    history = orjson.loads(capsys.readouterr().out)
    assert [h["kind"] for h in history] == ["set", "rollback"] and history[1]["plan"]["canary"] is None
    entries = AuditLog(Registry.open(load_settings(home=home)).store).entries(model="credit")
    assert [(e.action, e.actor) for e in entries[-2:]] == [("traffic.set", "ana"), ("traffic.rollback", "ana")]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("traffic", "set", "credit", "--stable", "9"), "--stable: model 'credit' has no version"),
        (("traffic", "set", "credit", "--stable", "1", "--canary", "nope", "--weight", "5"), "--canary"),
        (("traffic", "set", "credit", "--stable", "1", "--weight", "5"), "needs a canary"),
        (("traffic", "set", "credit", "--stable", "1", "--canary", "2", "--weight", "150"), "weight"),
        (("traffic", "set", "credit", "--stable", "1", "--shadow", "2:abc"), "rate 'abc'"),
        (("traffic", "set", "credit", "--stable", "1", "--shadow", "2:0"), "rate"),
        (("traffic", "set", "nope", "--stable", "1"), "not registered"),
        (("traffic", "show", "credit"), "no traffic plan"),
        (("rollback", "credit"), "--reason"),
        (("rollback", "credit", "--reason", "x"), "no traffic plan"),
    ],
)
def test_bad_input_exits_2_and_says_how_to_fix(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needle: str
) -> None:
    assert run(home, *args) == 2
    err = capsys.readouterr().err
    assert needle in err and "fix:" in err


def test_serve_refuses_a_taken_port_before_loading(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run(home, "serve", "--port", str(port)) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
