"""Protocol: the wire-level types every other package shares, with no I/O.

Today: model input signatures (the schema a version accepts). The serving issue adds the Open Inference
Protocol v2 types and tensor codecs here.
"""

from __future__ import annotations

from modelpilot.protocol.signature import (
    Feature,
    FeatureType,
    Signature,
    compatibility_problems,
    infer_signature,
    validate_table,
)

__all__ = [
    "Feature",
    "FeatureType",
    "Signature",
    "compatibility_problems",
    "infer_signature",
    "validate_table",
]
