"""Small real models in every format, written to files for registration tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

PY_MODEL = """
import numpy as np

def predict(batch):
    return (np.asarray(batch["x1"], dtype=float) + np.asarray(batch["x2"], dtype=float) > 1.0).astype(int)

class Classifier:
    classes = [0, 1]

    def predict(self, batch):
        return predict(batch)

    def predict_proba(self, batch):
        s = 1 / (1 + np.exp(-(np.asarray(batch["x1"], dtype=float) + np.asarray(batch["x2"], dtype=float) - 1.0)))
        return np.column_stack([1 - s, s])
"""


def numeric_table(rows: int = 200, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.random(rows), rng.random(rows)
    y = (x1 + x2 > 1.0).astype(np.int64)
    return pa.table({"x1": x1, "x2": x2, "y": y})


def write_reference(path: Path, rows: int = 200, seed: int = 0) -> Path:
    pacsv.write_csv(numeric_table(rows, seed), path)
    return path


def write_python_model(path: Path) -> Path:
    path.write_text(PY_MODEL)
    return path


def write_skops_model(path: Path, seed: int = 0) -> Path:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    t = numeric_table(300, seed)
    X = np.column_stack([t.column("x1").to_numpy(), t.column("x2").to_numpy()])
    model = LogisticRegression().fit(X, t.column("y").to_numpy())
    sio.dump(model, path)
    return path


def write_onnx_model(path: Path) -> Path:
    """A 2-feature linear classifier: label = argmax(softmax(xW + b))."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, [2, 2], [-4.0, 4.0, -4.0, 4.0])
    b = helper.make_tensor("B", TensorProto.FLOAT, [2], [4.0, -4.0])
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["z0"]),
        helper.make_node("Add", ["z0", "B"], ["z"]),
        helper.make_node("Softmax", ["z"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["z"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
