"""The OpenAPI 3.1 document served at ``/openapi.json``: every route, its auth and its bodies.

It is built from the same route tables the app mounts (a test checks that every mounted route is described), so
it cannot drift from what the server answers.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from modelpilot import __version__
from modelpilot.protocol.tensors import DATATYPES
from modelpilot.serving.admin_routes import ADMIN_ROUTES, AliasRequest, PlanRequest, ReasonRequest, TokenRequest
from modelpilot.serving.alert_routes import WEBHOOK_SCHEMA

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {
            "type": "string",
            "enum": list(DATATYPES),
        },
        "shape": {"type": "array", "items": {"type": "integer"}},
        "parameters": {"type": "object"},
        "data": {"description": "Row-major values, nested or flat; absent when sent as binary data."},
    },
}


def _responses(ok: str, schema: dict[str, Any] | None = None, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {"description": ok, **({"content": {"application/json": {"schema": schema}}} if schema else {})}
    }
    for code in errors:
        out[str(code)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _op(
    summary: str,
    tag: str,
    *,
    auth: str | None,
    body: dict[str, Any] | None = None,
    ok: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (400, 401, 403, 404, 422),
) -> dict[str, Any]:
    if body is not None:
        errors = tuple(sorted({*errors, 415}))  # a body as a form or plain text
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": _responses("OK", ok, *errors)}
    if auth is not None:  # a token is optional where inference auth may be off (a loopback bind, by default)
        op["security"] = [{"bearer": []}, {}] if "when inference auth is on" in auth else [{"bearer": []}]
        op["x-modelpilot-role"] = auth
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_COMPONENTS = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)\}")
_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "version": {"type": "string", "pattern": "^v?[0-9]{1,10}$", "description": "a version number: 3 or v3"},
}


def _schema(model: type[BaseModel], shared: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its nested models moved to ``components.schemas`` (``shared``), so that every
    ``$ref`` resolves from the document's root."""
    schema: dict[str, Any] = model.model_json_schema(ref_template=_COMPONENTS)
    shared.update(schema.pop("$defs", {}))
    return schema


def _with_parameters(path: str, ops: dict[str, Any]) -> dict[str, Any]:
    """Each operation of ``path`` with its path parameters declared (``{name}``, ``{version}``, ...)."""
    names = _PARAM.findall(path)
    if not names:
        return ops
    params = [
        {"name": n, "in": "path", "required": True, "schema": _PARAM_SCHEMAS.get(n, {"type": "string"})} for n in names
    ]
    return {method: {**op, "parameters": params} for method, op in ops.items()}


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    infer_body = {"$ref": "#/components/schemas/InferenceRequest"}
    infer_ok = {"$ref": "#/components/schemas/InferenceResponse"}
    infer_errors = (400, 401, 403, 404, 413, 415, 422, 500, 503, 504)
    shared: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {
        "/v2/health/live": {"get": _op("Liveness", "health", auth=None, errors=())},
        "/v2/health/ready": {
            "get": _op("Readiness: 503 until every planned model is loaded", "health", auth=None, errors=(503,))
        },
        "/v2": {"get": _op("Server metadata and extensions", "oip", auth=None, errors=())},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "tags": ["telemetry"],
                "responses": {"200": {"description": "text exposition format"}},
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "tags": ["meta"], "responses": {"200": {"description": "OpenAPI 3.1"}}}
        },
        "/v1/feedback": {
            "post": _op(
                "Labels for earlier predictions, joined by request_id",
                "v1",
                auth="ingest (when inference auth is on)",
                body={"type": "array", "items": {"type": "object", "required": ["request_id", "label"]}},
            )
        },
        "/v1/events": {
            "post": _op(
                "Inference events from models served elsewhere: KServe logger CloudEvents (binary, structured or "
                "batch mode; request and response paired by id) or modelpilot's own io.modelpilot.* events",
                "v1",
                auth="ingest (when inference auth is on)",
                body={"type": "object", "description": "the CloudEvent data (binary mode) or the CloudEvent(s)"},
            )
        },
        "/v1/alerts/alertmanager": {
            "post": _op(
                "Prometheus Alertmanager webhook (payload version 4): each SLO alert becomes an slo_alert event for "
                "the controller; a bad alert refuses the whole notification",
                "v1",
                auth="operate",
                body=WEBHOOK_SCHEMA,
                ok={
                    "type": "object",
                    "required": ["accepted", "firing", "resolved", "skipped"],
                    "properties": {
                        "accepted": {"type": "integer"},
                        "firing": {"type": "integer"},
                        "resolved": {"type": "integer"},
                        "skipped": {"type": "integer", "description": "alerts without SLO labels, left out"},
                    },
                },
                errors=(400, 401, 403, 413, 422, 503),
            )
        },
        "/v1/models/{name}:predict": {
            "post": _op(
                "Predict on records (KServe v1 style)",
                "v1",
                auth="predict (when inference auth is on)",
                body={
                    "type": "object",
                    "required": ["instances"],
                    "properties": {"instances": {"type": "array", "items": {"type": "object"}}},
                },
                errors=infer_errors,
            )
        },
    }
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        paths[prefix] = {"get": _op("Model metadata", "oip", auth="predict (when inference auth is on)")}
        paths[f"{prefix}/ready"] = {"get": _op("Model readiness", "oip", auth="predict (when inference auth is on)")}
        paths[f"{prefix}/infer"] = {
            "post": _op(
                "Inference (JSON or binary tensors)",
                "oip",
                auth="predict (when inference auth is on)",
                body=infer_body,
                ok=infer_ok,
                errors=infer_errors,
            )
        }
    bodies: dict[str, type[BaseModel]] = {
        "put_traffic": PlanRequest,
        "rollback": ReasonRequest,
        "put_alias": AliasRequest,
        "delete_alias": ReasonRequest,
        "create_token": TokenRequest,
        "revoke_token": ReasonRequest,
    }
    for method, path, role, handler in ADMIN_ROUTES:
        body_model = bodies.get(handler.__name__)
        paths.setdefault(path, {})[method.lower()] = _op(
            (handler.__doc__ or handler.__name__).strip().splitlines()[0],
            "admin",
            auth=role.value,
            body=None if body_model is None else _schema(body_model, shared),
        )
    from modelpilot.ui import openapi_paths

    paths.update(openapi_paths())
    paths = {path: _with_parameters(path, ops) for path, ops in paths.items()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelpilot",
            "version": __version__,
            "description": "Open Inference Protocol v2 serving with traffic plans, plus the admin API.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **shared,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "hint": {"type": "string"},
                        "details": {"type": "object"},
                    },
                },
                "InferenceRequest": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {"type": "array", "items": _TENSOR},
                        "outputs": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "InferenceResponse": {
                    "type": "object",
                    "required": ["model_name", "outputs"],
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "outputs": {"type": "array", "items": _TENSOR},
                    },
                },
            },
        },
    }
