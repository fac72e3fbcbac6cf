"""Rendering command results as a table, JSON or YAML (``--output``), and parsing times given on the command line."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
import yaml
from rich.console import Console, RenderableType
from rich.table import Table

from modelpilot.errors import InvalidInputError

__all__ = ["OutputFormat", "console", "emit", "err_console", "parse_time", "table"]

console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class OutputFormat(StrEnum):
    """The ``--output`` choices."""

    table = "table"
    json = "json"
    yaml = "yaml"


def _jsonable(data: Any) -> Any:
    return orjson.loads(orjson.dumps(data, default=_default, option=orjson.OPT_SERIALIZE_NUMPY))


def _default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"cannot encode {type(obj).__name__}")


def emit(data: Any, fmt: OutputFormat, render_table: Callable[[], RenderableType]) -> None:
    """Print ``data`` as JSON or YAML, or the table ``render_table`` builds."""
    if fmt is OutputFormat.json:
        sys.stdout.write(orjson.dumps(_jsonable(data), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt is OutputFormat.yaml:
        sys.stdout.write(yaml.safe_dump(_jsonable(data), sort_keys=False, allow_unicode=True))
    else:
        console.print(render_table())


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    """A plain Rich table."""
    t = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, option: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time (UTC when no zone is given) or a span back from now (``30m``, ``6h``, ``7d``).

    >>> parse_time("2026-11-22T10:00:00Z", option="--at").isoformat()
    '2026-11-22T10:00:00+00:00'
    >>> parse_time("2h", option="--since", now=datetime(2026, 1, 1, 12, tzinfo=UTC)).hour
    10
    """
    m = _RELATIVE.match(text.strip())
    if m:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{option} {text!r} is not a time",
            hint="give ISO-8601 (2026-11-22T10:00:00Z) or a span like 30m, 6h, 7d",
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
