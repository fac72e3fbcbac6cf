"""Read-only records the registry returns (models, versions, alias moves, promotions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.protocol.signature import Outputs, Signature
from modelpilot.registry.gates import GateReport
from modelpilot.registry.lineage import Lineage

__all__ = ["AliasMove", "ModelInfo", "PromotionResult", "VersionInfo"]


class ModelInfo(BaseModel):
    """A registered model."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    created_at: datetime
    created_by: str
    versions: int
    latest: int | None
    aliases: dict[str, int] = Field(default_factory=dict)


class VersionInfo(BaseModel):
    """One immutable registered version."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    format: str
    artifact_digest: str | None
    artifact_size: int | None
    artifact_name: str | None
    entrypoint: str | None
    signature: Signature
    reference_digest: str | None
    reference_rows: int | None
    target: str | None
    metrics: dict[str, float]
    lineage: Lineage
    outputs: Outputs | None = None
    trust: dict[str, Any]
    description: str
    created_at: datetime
    created_by: str
    aliases: list[str] = Field(default_factory=list)


class AliasMove(BaseModel):
    """One move of an alias (``version`` is ``None`` when the alias was removed)."""

    model_config = ConfigDict(frozen=True)

    model: str
    alias: str
    version: int | None
    previous_version: int | None
    moved_at: datetime
    actor: str
    reason: str
    forced: bool
    audit_seq: int | None


class PromotionResult(BaseModel):
    """The outcome of ``promote``: the gate report and whether the alias moved."""

    model_config = ConfigDict(frozen=True)

    model: str
    alias: str
    version: int
    previous: int | None
    report: GateReport
    forced: bool
    moved: bool
