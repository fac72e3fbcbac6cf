"""The walk-through in docs/streaming.md runs as written against a real broker: the set-up commands on the demo's
model, `modelpilot stream` as its own process, the producer snippet, and the reader snippet's output."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient

from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.demo.story import run_registry_story
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.slow

DOC = Path(__file__).parents[2] / "docs" / "streaming.md"
BOOTSTRAP = "127.0.0.1:9092"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_walk_through_runs_as_written(tmp_path: Path, broker: TansuBroker) -> None:
    home = tmp_path / "demo"
    settings = load_settings(home=home, store=f"sqlite:///{home / 'modelpilot.db'}", actor="doc")
    run_registry_story(settings, say=lambda _: None, show_gate=lambda _: None)  # what `make demo` leaves
    commands = [line for line in blocks("bash")[0].splitlines() if line.startswith("modelpilot ")]
    assert [c.split()[1] for c in commands] == ["traffic", "stream"]
    assert main(["--home", str(home), *shlex.split(commands[0])[1:]]) == 0
    stream = shlex.split(commands[1].replace(BOOTSTRAP, broker.bootstrap))[1:]
    env = {**os.environ, "MODELPILOT_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelpilot", *stream, "--max-messages", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        deadline = time.monotonic() + 30
        while "credit.requests.dlq" not in admin.list_topics(timeout=5).topics:  # the worker made its topics
            assert time.monotonic() < deadline and proc.poll() is None, proc.stdout and proc.stdout.read()
            time.sleep(0.2)
        send, receive = (code.replace(BOOTSTRAP, broker.bootstrap) for code in blocks("python"))
        exec(compile(send, "docs/streaming.md (send)", "exec"), {})
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "stream: 3 messages: 2 answered, 1 dead-lettered (invalid_input 1)" in out
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(receive, "docs/streaming.md (receive)", "exec"), {})
    lines = {line.split(" ")[1]: line for line in printed.getvalue().splitlines()}
    assert sorted(lines) == ["b'applicant-17'", "b'applicant-18'", "b'applicant-19'"]
    documented = {line.split(" ")[1]: line for line in blocks("text")[0].splitlines()}
    for key in ("b'applicant-17'", "b'applicant-18'"):
        topic, _, value = lines[key].split(" ", 3)[:3]
        doc_value = documented[key].split(" ", 3)[2]
        assert topic == "credit.predictions"
        assert rounded(orjson.loads(ast.literal_eval(value))) == orjson.loads(ast.literal_eval(doc_value))
    assert lines["b'applicant-19'"].startswith("credit.requests.dlq")
    assert "'modelpilot-error': b\"instances[0]: unknown feature(s) ['incme']\"" in lines["b'applicant-19'"]
    assert "'modelpilot-error-kind': b'invalid_input'" in lines["b'applicant-19'"]


def rounded(value: object) -> object:
    """Probabilities to 4 places, as the doc shows them."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value
