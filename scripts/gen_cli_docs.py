"""Write docs/cli.md, the reference of the `modelpilot` command, from the command tree itself.

Every command and sub-command appears with its help text, its usage line, and its arguments and options with their
defaults, exactly as `--help` states them, in plain Markdown (no terminal colours) and in a stable order, so the same
CLI always gives the same file. `tests/docs/test_cli_doc.py` regenerates it in memory and fails when docs/cli.md is
out of date.

Usage: `python scripts/gen_cli_docs.py` (rewrite docs/cli.md) or `python scripts/gen_cli_docs.py --check` (exit 1 when
docs/cli.md differs from what the CLI says), with modelpilot importable (the project's `.venv`).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

__all__ = ["DOC", "CommandDoc", "collect", "main", "render"]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"
PROG = "modelpilot"
_EXTRAS = re.compile(r"^(?P<text>.*?)\s{2}\[(?P<extras>[^\[\]]*)\]$", re.S)


@dataclass(frozen=True)
class ParamDoc:
    """One argument or option as its help record states it."""

    kind: str  # "argument" or "option"
    name: str  # the left column of --help, e.g. "-o, --output <table|json|yaml>"
    help: str
    default: str  # "" when there is none to show
    required: bool


@dataclass(frozen=True)
class CommandDoc:
    """One command (a group or a leaf) of the tree."""

    path: str  # "modelpilot alias set"
    help: str
    short_help: str
    usage: str
    params: tuple[ParamDoc, ...]
    subcommands: tuple[str, ...]  # names, empty for a leaf


def _param_doc(param: Any, ctx: Any) -> ParamDoc | None:
    record = param.get_help_record(ctx)
    if record is None or getattr(param, "hidden", False):
        return None
    name, text = record
    default, required, notes = "", False, []
    match = _EXTRAS.match(text)
    if match:
        text = match["text"]
        for extra in match["extras"].split("; "):
            if extra.startswith("default: "):
                default = extra.removeprefix("default: ")
            elif extra == "required":
                required = True
            elif extra:
                notes.append(extra)
    if notes:
        text = f"{text} Range: {', '.join(notes)}."
    return ParamDoc(
        kind=param.param_type_name,
        name=name,
        help=" ".join(text.split()),
        default=default,
        required=required or bool(param.required),
    )


def _context(command: Any, name: str, parent: Any | None) -> Any:
    """A context like the one a real invocation builds, without parsing anything."""
    return command.context_class(command, info_name=name, parent=parent, **dict(command.context_settings))


def collect(command: Any | None = None) -> list[CommandDoc]:
    """Every visible command of the tree, depth first, sub-commands in alphabetical order."""
    if command is None:
        from modelpilot.cli.app import app

        command = typer.main.get_command(app)
    found: list[CommandDoc] = []

    def walk(cmd: Any, name: str, parent: Any | None) -> None:
        ctx = _context(cmd, name, parent)
        children: dict[str, Any] = dict(getattr(cmd, "commands", None) or {})
        names = tuple(sorted(n for n, c in children.items() if not c.hidden))
        text = inspect.cleandoc(cmd.help or "").partition("\f")[0].strip()
        params = tuple(doc for p in cmd.params if (doc := _param_doc(p, ctx)) is not None)
        found.append(
            CommandDoc(
                path=ctx.command_path,
                help=text,
                short_help=" ".join((cmd.short_help or text.split("\n\n")[0]).split()),
                usage=" ".join([ctx.command_path, *cmd.collect_usage_pieces(ctx)]),
                params=params,
                subcommands=names,
            )
        )
        for child in names:
            walk(children[child], child, ctx)

    walk(command, PROG, None)
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading of plain words."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _escape_text(text: str) -> str:
    """Markdown-safe prose: code spans stay as written; elsewhere `<`, `>` and `*` are escaped."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", r"\*")
    return "`".join(parts)


def _cell(text: str) -> str:
    return _escape_text(text).replace("|", r"\|")


def _code_cell(text: str) -> str:
    return f"`{text}`".replace("|", r"\|") if text else ""


def _help_option_names(command: Any) -> list[str]:
    return list(_context(command, PROG, None).help_option_names)


def render(command: Any | None = None) -> str:
    """The whole of docs/cli.md."""
    if command is None:
        from modelpilot.cli.app import app

        command = typer.main.get_command(app)
    docs = collect(command)
    help_names = " / ".join(f"`{n}`" for n in _help_option_names(command))
    out: list[str] = [
        "# CLI reference",
        "",
        "<!-- Generated by scripts/gen_cli_docs.py from the modelpilot command; do not edit by hand. -->",
        "",
        "Generated from the `modelpilot` command itself by `python scripts/gen_cli_docs.py`; "
        "`tests/docs/test_cli_doc.py` fails when this page and the CLI disagree. "
        f"Every command also takes {help_names}, which prints the same text in the terminal.",
        "",
        "The global options of [`modelpilot`](#modelpilot) (`--home`, `--store`, `--config`, `--actor`) go before the "
        "command, e.g. `modelpilot --home .modelpilot/demo models`. Settings can also come from `MODELPILOT_*` "
        "environment variables or a YAML file; `modelpilot config show` prints what is in force. "
        "The ideas behind the commands are in [concepts.md](concepts.md).",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    out += [f"| [`{d.path}`](#{slug(d.path)}) | {_cell(d.short_help)} |" for d in docs]
    for d in docs:
        out += ["", f"## {d.path}", ""]
        if d.help:
            out += [_escape_text(d.help), ""]
        out += ["```text", d.usage, "```"]
        if d.subcommands:
            out += ["", "Sub-commands: " + ", ".join(f"[`{n}`](#{slug(f'{d.path} {n}')})" for n in d.subcommands) + "."]
        arguments = [p for p in d.params if p.kind == "argument"]
        options = [p for p in d.params if p.kind != "argument"]
        if arguments:
            out += ["", "| argument | what | default |", "|---|---|---|"]
            out += [
                f"| {_code_cell(p.name)} | {_cell(p.help)} | {'required' if p.required else _code_cell(p.default)} |"
                for p in arguments
            ]
        if options:
            out += ["", "| option | what | default |", "|---|---|---|"]
            out += [
                f"| {_code_cell(p.name)} | {_cell(p.help)} | {'required' if p.required else _code_cell(p.default)} |"
                for p in options
            ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/cli.md from the modelpilot command tree.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is out of date; write nothing")
    args = parser.parse_args(argv)
    text = render()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else None
    if args.check:
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run `python scripts/gen_cli_docs.py`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        DOC.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {DOC.relative_to(ROOT)}")
    else:
        print(f"{DOC.relative_to(ROOT)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
