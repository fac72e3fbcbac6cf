"""`modelpilot token create|list|revoke` end to end, in-process through `main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from modelpilot.auth import Principal, Role, Tokens, hash_token
from modelpilot.cli.app import main
from modelpilot.config import Settings
from modelpilot.storage import Store


def run(home: Path, *args: str) -> int:
    return main(["--home", str(home), "--actor", "cli-test", *args])


def test_help_lists_the_token_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "token" in capsys.readouterr().out
    assert main(["token", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("create", "list", "revoke"))


def test_create_list_revoke_and_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert run(home, "token", "create", "--name", "ci", "--role", "predict", "--reason", "pipeline") == 0
    created = capsys.readouterr()
    secret = created.out.strip()
    assert secret.startswith("mp_") and len(secret) == 46 and "\n" not in secret
    assert "not shown again" in created.err and f"mp_{secret[3:11]}" in created.err and secret not in created.err

    assert run(home, "token", "create", "--name", "ops", "--role", "operate", "-o", "json") == 0
    created = capsys.readouterr()
    body = json.loads(created.out)
    assert body["name"] == "ops" and body["role"] == "operate" and body["active"] is True
    assert body["created_by"] == "cli-test" and body["prefix"] == body["token"][3:11]
    assert "not shown again" in created.err

    with Store(f"sqlite:///{home / 'modelpilot.db'}") as store:
        table = Tokens(store).table()
        assert table.authenticate(f"Bearer {secret}") == Principal("ci", Role.predict)
        assert table.authenticate(f"Bearer {body['token']}") == Principal("ops", Role.operate)

    assert run(home, "token", "list") == 0
    listed = capsys.readouterr().out
    assert "ci" in listed and "ops" in listed and f"mp_{secret[3:11]}" in listed and "cli-test" in listed
    assert secret not in listed and body["token"] not in listed and hash_token(secret) not in listed

    assert run(home, "token", "revoke", "ci", "--reason", "rotated") == 0
    assert "revoked" in capsys.readouterr().out
    assert run(home, "token", "list", "-o", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["active"], r["revoked_by"]) for r in rows] == [
        ("ci", False, "cli-test"),
        ("ops", True, None),
    ]
    assert all("token" not in r and "token_hash" not in r for r in rows)
    assert run(home, "token", "list", "-o", "yaml") == 0
    assert [r["name"] for r in yaml.safe_load(capsys.readouterr().out)] == ["ci", "ops"]

    assert run(home, "audit", "log", "-o", "json") == 0
    log_text = capsys.readouterr().out
    assert [e["action"] for e in json.loads(log_text)] == ["token.create", "token.create", "token.revoke"]
    assert secret[3:] not in log_text and hash_token(secret) not in log_text
    assert run(home, "audit", "verify") == 0


def test_cli_uses_the_store_option(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--home", str(settings.home), "--store", settings.store_url, "--actor", "ana"]
    assert main([*argv, "token", "create", "--name", "root", "--role", "admin", "-o", "yaml"]) == 0
    secret = yaml.safe_load(capsys.readouterr().out)["token"]
    with Store(settings.store_url) as store:
        assert Tokens(store).table().authenticate(f"Bearer {secret}") == Principal("root", Role.admin)
    assert main([*argv, "token", "list", "-o", "json"]) == 0
    assert [r["created_by"] for r in json.loads(capsys.readouterr().out)] == ["ana"]


@pytest.mark.parametrize(
    ("args", "message", "fix"),
    [
        (["token", "create", "--name", "x", "--role", "root"], "token role 'root' is not one of", "--role predict"),
        (["token", "create", "--name", "bad name", "--role", "admin"], "token name 'bad name'", "letters"),
        (["token", "create", "--name", "ci", "--role", "admin"], "token 'ci' already exists", "never reused"),
        (
            ["token", "create", "--name", "old", "--role", "admin"],
            "token name 'old' belonged to a revoked token",
            "never reused",
        ),
        (["token", "revoke", "ghost", "--reason", "x"], "token 'ghost' does not exist", "modelpilot token list"),
        (["token", "revoke", "ci"], "revoking a token needs a reason", "--reason"),
        (["token", "revoke", "old", "--reason", "again"], "token 'old' was already revoked at", "nothing to do"),
    ],
)
def test_bad_input_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str, fix: str
) -> None:
    home = tmp_path / "home"
    assert run(home, "token", "create", "--name", "ci", "--role", "predict") == 0
    assert run(home, "token", "create", "--name", "old", "--role", "predict") == 0
    assert run(home, "token", "revoke", "old", "--reason", "setup") == 0
    capsys.readouterr()
    code = run(home, *args)
    captured = capsys.readouterr()
    assert code == 2
    assert f"error: {message}" in captured.err and "  fix: " in captured.err and fix in captured.err
    assert "Traceback" not in captured.err and "mp_" not in captured.out
    assert run(home, "audit", "log", "-o", "json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 3  # nothing refused was recorded


def test_missing_required_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "home", "token", "create", "--role", "admin") == 2
    assert "--name" in capsys.readouterr().err
