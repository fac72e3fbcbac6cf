"""Each benchmark owns one ``## `` section of docs/benchmarks.md and replaces only that section when it writes."""

from __future__ import annotations

from pathlib import Path

HEADER = [
    "# Benchmarks",
    "",
    "modelpilot side by side with the tools a user would pick instead, each section produced by one script in",
    "`bench/` (its command is in the section). Re-run a script rather than editing its numbers by hand; each",
    "script replaces only its own section.",
    "",
]


def replace_section(text: str, heading: str, section: list[str]) -> str:
    """``text`` with the section starting at the line ``heading`` replaced by ``section`` (appended when absent)."""
    lines = text.splitlines() or list(HEADER)
    if heading not in lines:
        body = "\n".join(lines).rstrip("\n")
        return body + "\n\n" + "\n".join(section).rstrip("\n") + "\n"
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "# "))), len(lines))
    new = [*lines[:start], *section]
    if end < len(lines):
        if new[-1] != "":
            new.append("")
        new += lines[end:]
    return "\n".join(new).rstrip("\n") + "\n"


def write_section(path: Path, heading: str, section: list[str]) -> None:
    """Replace (or add) one section of the benchmarks document."""
    text = path.read_text(encoding="utf-8") if path.exists() else "\n".join(HEADER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(text, heading, section), encoding="utf-8")
