r"""Checking YAML files people write (SLO specs, canary analyses, remediation policies): every problem named by
``file:line: field``, all of them at once, in one :class:`~modelpilot.errors.ConfigError`.

Example:
    >>> import yaml
    >>> root = yaml.compose("slos:\n  - name: a\n    objective: 100\n")
    >>> line_of(root, ["slos", 0, "objective"]), field_path(["slos", 0, "objective"])
    (3, 'slos[0].objective')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from modelpilot.errors import ConfigError

__all__ = ["compose", "field_path", "line_number", "line_of", "problems", "refuse"]


def compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data of ``text``; a syntax error names the file."""
    try:
        return yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}", hint="fix the YAML syntax") from None


def problems(exc: ValidationError, root: yaml.Node | None, source: str, prefix: Sequence[int | str] = ()) -> list[str]:
    """One ``file:line: field: message`` per error of a pydantic validation (``prefix``: where the validated
    object sits in the file)."""
    out = []
    for err in exc.errors():
        loc = [*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))]
        line = line_of(root, loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{source}:{line}: {field_path(loc)}: {message}" if line else f"{source}: {message}")
    return out


def refuse(found: list[str], what: str, hint: str) -> None:
    """Raise one :class:`ConfigError` listing ``found`` in file order (nothing when it is empty)."""
    if found:
        found = sorted(found, key=line_number)
        raise ConfigError(
            f"{len(found)} problem(s) in the {what}:\n  " + "\n  ".join(found), hint=hint, details={"problems": found}
        )


def line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not match:
                key = [k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
                return key[0].start_mark.line + 1 if key else line
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def field_path(loc: Sequence[int | str]) -> str:
    """A validation location as people write it: ``slos[0].sli.kind``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def line_number(problem: str) -> int:
    """The line of a ``file:line: ...`` message (0 without one), to list problems in file order."""
    found = re.match(r"^.*?:(\d+): ", problem)
    return int(found.group(1)) if found else 0
