"""The floor of the serving benchmark: the least a Python server can do to answer an OIP v2 inference request.

One Starlette route parses the JSON body with orjson, builds the numpy matrix, calls ``predict_proba`` on the
scikit-learn model in the event loop and answers with the label and the probabilities. No validation beyond what
is needed to not crash, no metrics, no events, no thread pool. ``bench/serving.py`` starts it as::

    BENCH_FLOOR_MODEL=/tmp/.../model.skops .venv/bin/python -m uvicorn --app-dir bench floor_app:app \\
        --host 127.0.0.1 --port PORT --workers 1 --no-access-log --http httptools --loop uvloop

It is a benchmark fixture, not part of modelpilot.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import orjson
import skops.io as sio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MODEL_NAME = os.environ.get("BENCH_FLOOR_MODEL_NAME", "credit")


def _load(path: str) -> Any:
    # The benchmark wrote this file itself a moment ago, so trusting the types it contains is safe here.
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


_MODEL = _load(os.environ["BENCH_FLOOR_MODEL"])
_CLASSES = np.asarray(_MODEL.classes_)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type="application/json")


# BENCH_FLOOR_THREADED=1: call the model through Starlette's thread pool, as Starlette itself runs blocking (sync)
# code, so the event loop stays free while the model computes. This is the least a server that keeps answering
# probes and other models during a slow call can do; the default calls the model on the event loop.
_THREADED = os.environ.get("BENCH_FLOOR_THREADED") == "1"


async def infer(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body())
        tensor = body["inputs"][0]
        matrix = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
        return _json({"error": f"bad request: {exc}"}, 400)
    proba = await run_in_threadpool(_MODEL.predict_proba, matrix) if _THREADED else _MODEL.predict_proba(matrix)
    labels = _CLASSES[proba.argmax(axis=1)]
    rows = matrix.shape[0]
    return _json(
        {
            "model_name": MODEL_NAME,
            "id": body.get("id"),
            "outputs": [
                {"name": "predict", "shape": [rows], "datatype": "INT64", "data": labels},
                {"name": "predict_proba", "shape": [rows, proba.shape[1]], "datatype": "FP64", "data": proba},
            ],
        }
    )


async def ready(request: Request) -> Response:
    return _json({"ready": True})


app = Starlette(
    routes=[
        Route(f"/v2/models/{MODEL_NAME}/infer", infer, methods=["POST"]),
        Route(f"/v2/models/{MODEL_NAME}/ready", ready, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
    ]
)
