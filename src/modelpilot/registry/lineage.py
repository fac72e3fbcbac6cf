"""Lineage: where a version came from, parsed from ``--lineage KEY=VALUE`` pairs and an offline-metrics file.

Known keys: ``training_data`` (a URI or path; a local file's SHA-256 is recorded automatically),
``training_data_digest``, ``code_revision``, ``parent_version``, and ``param.NAME`` (training parameters).
Any other key is kept as free-form lineage.

Example:
    >>> lin = parse_lineage(["code_revision=9f1c2e", "param.max_depth=6", "team=risk"])
    >>> lin.code_revision, lin.parameters, lin.extra
    ('9f1c2e', {'max_depth': '6'}, {'team': 'risk'})
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from modelpilot.errors import InvalidInputError
from modelpilot.registry.artifacts import sha256_file

__all__ = ["Lineage", "parse_lineage", "read_metrics"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class Lineage(BaseModel):
    """Where a version came from. ``registered_by``/``registered_at`` are filled in by the registry."""

    model_config = ConfigDict(extra="forbid")

    training_data: str | None = None
    training_data_digest: str | None = None
    code_revision: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    parent_version: int | None = None
    registered_by: str | None = None
    registered_at: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)

    def field_value(self, name: str) -> Any:
        """A lineage field by name (known fields, ``param.X``, or an extra key); ``None`` when absent."""
        if name.startswith("param."):
            return self.parameters.get(name[len("param.") :])
        if name in type(self).model_fields and name != "extra":
            value = getattr(self, name)
            return value if value not in ({}, "") else None
        return self.extra.get(name)


def parse_lineage(pairs: Iterable[str]) -> Lineage:
    """Parse ``KEY=VALUE`` pairs into a :class:`Lineage`; a malformed pair raises naming it."""
    data: dict[str, Any] = {"parameters": {}, "extra": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise InvalidInputError(
                f"lineage pair {pair!r} is malformed",
                hint="write KEY=VALUE, e.g. --lineage code_revision=9f1c2e",
            )
        if key.startswith(("param.", "params.")):
            data["parameters"][key.split(".", 1)[1]] = value
        elif key == "parent_version":
            try:
                data["parent_version"] = int(value)
            except ValueError as exc:
                raise InvalidInputError(
                    f"lineage parent_version={value!r} is not a version number",
                    hint="write e.g. --lineage parent_version=3",
                ) from exc
        elif key in ("training_data", "training_data_digest", "code_revision"):
            data[key] = value
        elif key in ("registered_by", "registered_at"):
            raise InvalidInputError(f"lineage key {key!r} is set by the registry", hint=f"drop --lineage {key}=...")
        else:
            data["extra"][key] = value
    lin = Lineage(**data)
    if lin.training_data and not lin.training_data_digest:
        path = Path(lin.training_data)
        if path.is_file():
            lin = lin.model_copy(update={"training_data_digest": "sha256:" + sha256_file(path)})
    return lin


def read_metrics(path: Path) -> dict[str, float]:
    """Read an offline-metrics JSON file: one object of metric name → number."""
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InvalidInputError(f"metrics file {path} does not exist", hint="check the path") from exc
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(
            f"metrics file {path} is not valid JSON: {exc}", hint='write e.g. {"accuracy": 0.91, "auc": 0.95}'
        ) from exc
    if not isinstance(raw, dict):
        raise InvalidInputError(
            f"metrics file {path} must hold one JSON object",
            hint='write e.g. {"accuracy": 0.91, "auc": 0.95}',
        )
    out: dict[str, float] = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"metric {name!r} in {path} is {value!r}, not a number",
                hint="give each metric as a plain number",
            )
        out[name] = float(value)
    return out
