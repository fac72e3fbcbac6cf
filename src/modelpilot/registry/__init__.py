"""Registry: models, versions, content-addressed artifacts, signatures, lineage, aliases and promotion gates."""

from __future__ import annotations

from modelpilot.protocol.signature import (
    Feature,
    Signature,
    compatibility_problems,
    infer_signature,
    validate_table,
)
from modelpilot.registry.artifacts import ArtifactStore, sha256_file
from modelpilot.registry.gates import (
    DEFAULT_POLICY,
    GatePolicy,
    GateReport,
    RuleResult,
    load_policy,
    parse_policy,
)
from modelpilot.registry.lineage import Lineage, parse_lineage, read_metrics
from modelpilot.registry.records import AliasMove, ModelInfo, PromotionResult, VersionInfo
from modelpilot.registry.service import Registry

__all__ = [
    "DEFAULT_POLICY",
    "AliasMove",
    "ArtifactStore",
    "Feature",
    "GatePolicy",
    "GateReport",
    "Lineage",
    "ModelInfo",
    "PromotionResult",
    "Registry",
    "RuleResult",
    "Signature",
    "VersionInfo",
    "compatibility_problems",
    "infer_signature",
    "load_policy",
    "parse_lineage",
    "parse_policy",
    "read_metrics",
    "sha256_file",
    "validate_table",
]
