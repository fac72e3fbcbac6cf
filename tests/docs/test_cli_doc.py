"""docs/cli.md is what the CLI says: regenerated in memory from the command tree, it must match the file byte for
byte (adding or changing a command, an option, a default or a help text means running the generator)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "gen_cli_docs.py"
DOC = ROOT / "docs" / "cli.md"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cli_md_matches_the_cli() -> None:
    render: Callable[[], str] = load_generator().render
    expected = render()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == expected, (
        "docs/cli.md is out of date with the modelpilot command: run `python scripts/gen_cli_docs.py` "
        "(in the project's .venv) and commit docs/cli.md"
    )


def test_the_reference_covers_every_command_and_option() -> None:
    gen = load_generator()
    text = DOC.read_text(encoding="utf-8")
    for command in gen.collect():
        assert f"\n## {command.path}\n" in text, command.path
        for param in command.params:
            assert param.name.replace("|", r"\|") in text, (command.path, param.name)
    assert "\x1b[" not in text, "no terminal colour codes in the Markdown"
