r"""Where things are in a YAML file: the line of a field, so validation errors can say ``file:line: field``.

Example:
    >>> import yaml
    >>> root = yaml.compose("slos:\n  - name: a\n    objective: 100\n")
    >>> line_of(root, ["slos", 0, "objective"]), field_path(["slos", 0, "objective"])
    (3, 'slos[0].objective')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

__all__ = ["field_path", "line_number", "line_of"]


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
