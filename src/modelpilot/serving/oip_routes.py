"""Open Inference Protocol v2 REST routes: health, server and model metadata, readiness, and inference.

Inference accepts JSON tensors (nested or flat data) and Triton's binary tensor extension, echoes the request
``id``, names the answering version in ``model_version`` and its role in ``parameters.variant`` (plus the
``X-Model-Version``/``X-Variant``/``X-Request-Id`` headers). Outputs are ``predict`` (one per row) and, for
classifiers, ``predict_proba`` (``[rows, classes]``; the class order is in the model metadata).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelpilot import __version__
from modelpilot.auth import Role
from modelpilot.errors import BadRequestError, InvalidInputError, ModelPilotError, NotFoundError
from modelpilot.ids import version_number
from modelpilot.protocol.oip import INFERENCE_HEADER, decode_infer_request, encode_infer_response
from modelpilot.protocol.signature import Feature
from modelpilot.protocol.tensors import Tensor, datatype_of
from modelpilot.serving.context import ServerContext, require
from modelpilot.serving.http import check_request, json_response, read_body
from modelpilot.serving.infer import Call, after_response, answer_headers, checked_request_id, handle
from modelpilot.serving.inputs import batch_from_tensors
from modelpilot.serving.plan import sticky_text
from modelpilot.serving.state import LoadedVersion, ServedModel

__all__ = ["EXTENSIONS", "oip_routes"]

EXTENSIONS = ("binary_tensor_data",)
"""Protocol extensions this server implements, as listed in ``GET /v2``."""

_DATATYPE = {
    "integer": "INT64",
    "float": "FP64",
    "boolean": "BOOL",
    "category": "BYTES",
    "string": "BYTES",
    "datetime": "BYTES",
}


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.mp
    return ctx


async def live(request: Request) -> Response:
    """The process is up."""
    return json_response({"live": True})


async def ready(request: Request) -> Response:
    """Every planned model is loaded (503 before, while draining, or while a plan failed to load)."""
    ctx = _ctx(request)
    unserved = [name for name in ctx.table.errors if name not in ctx.table.models]
    ok = ctx.table.ready and not ctx.draining and not unserved
    body: dict[str, Any] = {"ready": ok}
    if ctx.table.errors and _may_see_details(request):  # load errors name paths and digests: operators only
        body["failed"] = ctx.table.errors
    return json_response(body, 200 if ok else 503)


def _may_see_details(request: Request) -> bool:
    try:
        require(request, Role.operate)
    except ModelPilotError:
        return False
    return True


async def server_metadata(request: Request) -> Response:
    """Name, version and extensions."""
    return json_response({"name": "modelpilot", "version": __version__, "extensions": list(EXTENSIONS)})


def _version_number(text: str) -> int:
    return version_number(text, "version", error=NotFoundError)


def _tensor_meta(feature: Feature) -> dict[str, Any]:
    return {"name": feature.name, "datatype": _DATATYPE[feature.type], "shape": [-1]}


def _metadata(served: ServedModel, loaded: LoadedVersion, versions: list[str]) -> dict[str, Any]:
    info = loaded.info
    outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": _predict_datatype(loaded), "shape": [-1]}]
    params: dict[str, Any] = {"variant": served.role(info.version), "format": info.format}
    if loaded.runner.classes is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(loaded.runner.classes)]})
        params["classes"] = [c.item() if hasattr(c, "item") else c for c in loaded.runner.classes]
    return {
        "name": served.name,
        "versions": versions,
        "platform": f"modelpilot_{info.format}",
        "inputs": [_tensor_meta(f) for f in info.signature.features],
        "outputs": outputs,
        "parameters": params,
    }


def _predict_datatype(loaded: LoadedVersion) -> str:
    """The datatype of the ``predict`` output: the class labels' type for classifiers, FP64 for regressors."""
    classes = loaded.runner.classes
    if not classes:
        return "FP64"
    return datatype_of(np.asarray(classes))


def _served_versions(served: ServedModel) -> list[str]:
    numbers = set(served.versions) | ({served.fallback.info.version} if served.fallback else set())
    return [str(v) for v in sorted(numbers)]


async def model_metadata(request: Request) -> Response:
    """Inputs and outputs of the stable version (or of the version in the path)."""
    require(request, Role.predict)
    served = _ctx(request).table.get(request.path_params["name"])
    version = request.path_params.get("version")
    loaded = served.version(_version_number(version) if version else served.plan.stable)
    meta = _metadata(served, loaded, _served_versions(served))
    if version:
        meta["versions"] = [str(loaded.info.version)]
    return json_response(meta)


async def model_ready(request: Request) -> Response:
    """200 when the model (version) is loaded here, 404 when it is not served."""
    require(request, Role.predict)
    served = _ctx(request).table.get(request.path_params["name"])
    version = request.path_params.get("version")
    if version:
        served.version(_version_number(version))
    return json_response({"name": served.name, "ready": True})


def _sticky_key(request: Request, served: ServedModel, inputs: tuple[Tensor, ...]) -> str | None:
    plan = served.plan
    if plan.sticky_header is not None:
        return request.headers.get(plan.sticky_header)
    if plan.sticky_field is not None:
        for t in inputs:
            if t.name == plan.sticky_field and t.data.size:
                return sticky_text(t.data.reshape(-1)[0])
    return None


async def infer(request: Request) -> Response:
    """Route the request, run the model, answer in OIP v2."""
    return await handle(request, "v2", _infer)


async def _infer(call: Call) -> Response:
    request, served = call.request, call.served
    serving = call.ctx.settings.serving
    check_request(request, binary=True)
    body = await read_body(request, serving.max_body_bytes)
    header = request.headers.get(INFERENCE_HEADER.lower())
    try:
        header_length = None if header is None else int(header)
    except ValueError:
        raise BadRequestError(
            f"{INFERENCE_HEADER} is not a number", hint="send the byte length of the JSON header"
        ) from None
    req = decode_infer_request(body, header_length=header_length, content_type=request.headers.get("content-type"))
    call.request_id = checked_request_id(req.id) or call.request_id
    pinned = request.path_params.get("version")
    if pinned:
        loaded = served.version(_version_number(pinned))
        variant = served.role(loaded.info.version)
    else:
        choice = served.router.choose(_sticky_key(request, served, req.inputs))
        loaded, variant = served.versions[choice.version], choice.variant
    call.variant, call.version = variant, loaded.info.version
    _check_outputs(req.outputs, loaded)
    outcome = await call.run(
        loaded, variant, batch_from_tensors(loaded.info.signature, req.inputs, max_rows=serving.max_rows)
    )
    p = outcome.prediction
    outputs = [Tensor.from_array("predict", p.prediction)]
    if p.probabilities is not None:
        outputs.append(Tensor.from_array("predict_proba", p.probabilities))
    params: dict[str, Any] = {"variant": outcome.variant}
    if outcome.fallback_reason:
        params["fallback_reason"] = outcome.fallback_reason
    content, headers = encode_infer_response(
        model_name=served.name,
        model_version=str(outcome.version),
        request_id=req.id,
        outputs=outputs,
        parameters=params,
        requested=req.outputs,
        binary_default=bool(req.parameters.get("binary_data_output")),
    )
    headers.update(answer_headers(outcome))
    return after_response(Response(content, headers=headers), outcome, call.ctx.shadows)


def _check_outputs(requested: Any, loaded: LoadedVersion) -> None:
    """Refuse unknown requested outputs before the model runs (so a refused request is never also answered)."""
    known = ("predict", "predict_proba") if loaded.runner.classes is not None else ("predict",)
    for i, out in enumerate(requested):
        if out.name not in known:
            raise InvalidInputError(
                f"outputs[{i}] {out.name!r}: this model has no such output", hint=f"ask for one of {list(known)}"
            )


def oip_routes() -> list[Route]:
    """The OIP v2 routes."""
    return [  # inference first: the router tries routes in order
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
    ]
