"""Protocol: the wire-level types every other package shares, with no I/O.

Model input signatures (the schema a version accepts), Open Inference Protocol v2 tensors with their JSON and
binary codecs, and inference request/response bodies (including Triton's binary tensor extension).
"""

from __future__ import annotations

from modelpilot.protocol.oip import (
    INFERENCE_HEADER,
    InferRequest,
    RequestedOutput,
    decode_infer_request,
    encode_infer_response,
)
from modelpilot.protocol.signature import (
    Feature,
    FeatureType,
    Signature,
    compatibility_problems,
    infer_signature,
    validate_table,
)
from modelpilot.protocol.tensors import (
    DATATYPES,
    Tensor,
    datatype_of,
    decode_binary_data,
    decode_json_data,
    encode_binary_data,
    to_json_data,
)

__all__ = [
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
]
