"""Preparing a registration: read and check every input before anything is written.

:func:`prepare` turns the user's inputs into a :class:`Candidate` (signature, reference table, lineage, metrics,
trust record, a loaded model that has predicted on the reference rows) or raises one clear error. Nothing is
stored here; :class:`modelpilot.registry.Registry` stores a candidate atomically.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import yaml
from pydantic import ValidationError

from modelpilot.errors import InvalidInputError
from modelpilot.loaders import base as loader_base
from modelpilot.loaders.base import LoadedModel, TrustRequest
from modelpilot.protocol.signature import Outputs, Signature, infer_signature, validate_table
from modelpilot.registry.lineage import Lineage
from modelpilot.registry.reference import read_table

__all__ = ["Candidate", "check_name", "prepare", "read_signature"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SMOKE_ROWS = 64


def check_name(name: str, what: str = "model name") -> str:
    """Refuse names that would not be safe in URLs, metric labels and file names."""
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"{what} {name!r} is not allowed",
            hint="use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class Candidate:
    """Everything a new version needs, checked."""

    format: str
    artifact: Path | None
    entrypoint: str | None
    signature: Signature
    reference: pa.Table | None
    target: str | None
    metrics: dict[str, float]
    lineage: Lineage
    trust: dict[str, Any]
    model: LoadedModel | None
    outputs: Outputs | None = None


def read_signature(path: Path) -> Signature:
    """Read a signature file (JSON or YAML); errors name the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInputError(f"signature file {path} does not exist", hint="check the path") from exc
    try:
        data = orjson.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(
            f"signature file {path} cannot be parsed: {exc}", hint="write JSON or YAML with a `features` list"
        ) from exc
    try:
        return Signature.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInputError(
            f"signature file {path} is invalid: {problems}",
            hint="each feature needs `name` and `type` (integer, float, boolean, category, string, datetime)",
        ) from exc


def _columns(table: pa.Table, names: Sequence[str]) -> dict[str, Any]:
    return {n: table.column(n).to_numpy(zero_copy_only=False) for n in names}


def prepare(
    *,
    format: str,
    artifact: str | None,
    reference: Path | None,
    target: str | None,
    signature_file: Path | None,
    metrics: dict[str, float],
    lineage: Lineage,
    trust: TrustRequest,
    max_categories: int,
    outputs: Outputs | None = None,
) -> Candidate:
    """Check every input; load the model and predict on the first reference rows as a smoke test."""
    loader = loader_base.get_loader(format)
    external = format == "external"
    if external and (outputs is None or reference is None):
        raise InvalidInputError(
            "an external model needs reference data and the column holding its predictions",
            hint="add --reference FILE --prediction-column C (and --proba-column CLASS=C for class probabilities)",
        )
    if outputs is not None and not external:
        raise InvalidInputError(
            "output columns are only for external models; a served model's outputs come from running it",
            hint="drop --prediction-column/--proba-column, or register with --external",
        )
    path: Path | None = None
    entrypoint: str | None = None
    if format == "python":
        if artifact is None:
            raise InvalidInputError("a python model needs FILE.py:NAME or module:NAME", hint="give it as ARTIFACT")
        from modelpilot.loaders.python import split_entrypoint

        left, attr = split_entrypoint(artifact)
        if left.endswith(".py"):
            path = Path(left)
            if not path.is_file():
                raise InvalidInputError(f"python file {left} does not exist", hint="check the path")
            entrypoint = f"{path.name}:{attr}"
        else:
            entrypoint = artifact
    elif external:
        if artifact is not None:
            raise InvalidInputError(
                "an external model has no artifact", hint="drop the ARTIFACT argument when registering with --external"
            )
    elif loader.needs_artifact:
        if artifact is None:
            raise InvalidInputError(f"format {format!r} needs an artifact file", hint="give the model file as ARTIFACT")
        path = Path(artifact)
        if not path.is_file():
            raise InvalidInputError(f"artifact file {artifact} does not exist", hint="check the path")

    table = read_table(reference) if reference is not None else None
    if target is not None and (table is None or target not in table.column_names):
        where = "the reference data" if table is not None else "any reference data (none was given)"
        raise InvalidInputError(
            f"target column {target!r} is not in {where}",
            hint="give --reference FILE holding that column, or drop --target",
        )
    if outputs is not None and table is not None:
        absent = [c for c in outputs.columns if c not in table.column_names]
        if absent:
            raise InvalidInputError(
                f"output column {absent[0]!r} is not in the reference data",
                hint=f"the reference data has {table.column_names}",
            )
        if target is not None and target in outputs.columns:
            raise InvalidInputError(
                f"column {target!r} cannot be both the target and an output", hint="name different columns"
            )
    inputs = table.drop_columns(outputs.columns) if outputs is not None and table is not None else table
    if signature_file is not None:
        signature = read_signature(signature_file)
        if inputs is not None:
            problems = validate_table(signature, inputs)
            if problems:
                raise InvalidInputError(
                    f"reference data {reference} does not match the signature: "
                    + "; ".join(problems[:5])
                    + (" ..." if len(problems) > 5 else ""),
                    hint="fix the data or the signature file so they agree",
                    details={"problems": problems},
                )
    elif inputs is not None:
        signature = infer_signature(inputs, target=target, max_categories=max_categories)
    else:
        signature = Signature()

    trust_record = loader.trust(path, entrypoint, trust)
    model = loader.load(path, entrypoint=entrypoint, trust=trust_record, signature=signature)
    if table is not None and signature.features and not external:
        smoke = table.slice(0, _SMOKE_ROWS)
        try:
            batch = _columns(smoke, signature.names)
            out = model.predict(batch)
            if model.is_classifier:
                model.predict_proba(batch)
        except InvalidInputError:
            raise
        except Exception as exc:  # the model's own error, whatever its type
            raise InvalidInputError(
                " ".join(
                    f"the model fails on the first rows of the reference data: {type(exc).__name__}: {exc}".split()
                ),
                hint="check the reference data holds the features the model was trained on",
            ) from exc
        if len(out) != smoke.num_rows:
            raise InvalidInputError(
                f"the model gave {len(out)} predictions for {smoke.num_rows} rows",
                hint="predict() must return one prediction per row",
            )
    return Candidate(
        format=format,
        artifact=path,
        entrypoint=entrypoint,
        signature=signature,
        reference=table,
        target=target,
        metrics=metrics,
        lineage=lineage,
        trust=trust_record,
        model=model,
        outputs=outputs,
    )
