"""The examples in docs/serving.md run against a real `modelpilot serve` on the demo's model, as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from modelpilot.auth import Tokens
from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.demo.story import run_registry_story
from modelpilot.registry import Registry
from tests.serving.server_process import ServerProcess

pytestmark = pytest.mark.slow

DOC = Path(__file__).parents[2] / "docs" / "serving.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    home = tmp_path_factory.mktemp("doc") / "demo"
    settings = load_settings(home=home, store=f"sqlite:///{home / 'modelpilot.db'}", actor="doc")
    run_registry_story(settings, say=lambda _: None, show_gate=lambda _: None)
    # the doc's set-up commands, on this home
    setup = _blocks("bash")[0]
    traffic = next(line for line in setup.splitlines() if line.startswith("modelpilot traffic set"))
    assert main(["--home", str(home), *shlex.split(traffic)[1:]]) == 0
    registry = Registry.open(settings)
    _, token = Tokens(registry.store).create("doc-reader", "operate", actor="doc")
    registry.store.close()
    with ServerProcess(home) as proc:
        yield proc, token


def test_curl_examples(demo_server: tuple[ServerProcess, str]) -> None:
    proc, token = demo_server
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the documented examples (apt-get install curl)")
    lines = [ln for block in _blocks("bash") + _blocks("text") for ln in block.splitlines() if ln.startswith("curl ")]
    assert len(lines) >= 7
    for line in lines:
        cmd = line.replace("localhost:8000", f"127.0.0.1:{proc.port}")
        out = subprocess.run(
            ["bash", "-c", cmd], capture_output=True, text=True, timeout=30, env={**os.environ, "TOKEN": token}
        )
        assert out.returncode == 0, (line, out.stderr)
        if "/metrics" in line:
            assert "modelpilot_requests_total" in out.stdout
            continue
        body = orjson.loads(out.stdout)
        assert not (isinstance(body, dict) and "error" in body), (line, body)
        if ":predict" in line:
            assert body["model_version"] == "1" and body["variant"] == "stable" and len(body["predictions"]) == 1
        if "/infer" in line:
            assert body["id"] == "req-1" and {o["name"] for o in body["outputs"]} == {"predict", "predict_proba"}
        if "/feedback" in line:
            assert body == {"accepted": 1, "dropped": 0}
        if "/traffic" in line:
            assert body["plan"]["stable"] == 1


def test_tritonclient_example(demo_server: tuple[ServerProcess, str], capsys: pytest.CaptureFixture[str]) -> None:
    proc, _ = demo_server
    (code,) = _blocks("python")
    exec(compile(code.replace("localhost:8000", f"127.0.0.1:{proc.port}"), str(DOC), "exec"), {})
    printed = capsys.readouterr().out
    assert printed.strip().endswith("1")  # model_version
    assert "[" in printed
