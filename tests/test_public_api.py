"""Pins the exported names: changing the public API must be a deliberate edit of this file."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "modelpilot": ["__version__"],
    "modelpilot.errors": [
        "ArtifactError",
        "AuditChainError",
        "BadRequestError",
        "ConfigError",
        "ConflictError",
        "GateFailedError",
        "InvalidInputError",
        "ModelError",
        "ModelPilotError",
        "ModelTimeoutError",
        "NotFoundError",
        "PayloadTooLargeError",
        "PermissionDeniedError",
        "StoreError",
        "TrustError",
        "UnauthenticatedError",
        "UnavailableError",
    ],
    "modelpilot.config": [
        "AuthSettings",
        "EventSettings",
        "RegistrySettings",
        "ServingSettings",
        "Settings",
        "load_settings",
    ],
    "modelpilot.storage": ["HEAD_REVISION", "Store", "normalise_url", "tables"],
    "modelpilot.protocol": [
        "DATATYPES",
        "INFERENCE_HEADER",
        "Feature",
        "FeatureType",
        "InferRequest",
        "RequestedOutput",
        "Signature",
        "Tensor",
        "compatibility_problems",
        "datatype_of",
        "decode_binary_data",
        "decode_infer_request",
        "decode_json_data",
        "encode_binary_data",
        "encode_infer_response",
        "infer_signature",
        "to_json_data",
        "validate_table",
    ],
    "modelpilot.audit": ["GENESIS", "AuditEntry", "AuditLog", "VerifyReport", "canonical_json", "verify_chain"],
    "modelpilot.loaders": [
        "Batch",
        "LoadedModel",
        "Loader",
        "TrustRequest",
        "batch_rows",
        "get_loader",
        "loader_names",
        "register_loader",
        "to_matrix",
    ],
    "modelpilot.registry": [
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
    ],
    "modelpilot.auth": ["Principal", "Role", "TokenInfo", "TokenTable", "Tokens", "hash_token"],
    "modelpilot.cli": ["main"],
    "modelpilot.demo": ["credit_table"],
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exports_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(EXPECTED[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is exported but missing"
