"""Small ONNX models built with the ``onnx`` package, for the model tests and benchmarks.

Every fixture is a pure function returning the serialized model bytes; nothing is downloaded.
The Rust integration tests use the same models, written to ``lepton-core/tests/fixtures/`` by::

    python tests/model_fixtures.py lepton-core/tests/fixtures

(the files are checked in; rerun this after changing a fixture).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: The opset every fixture targets (supported by onnxruntime 1.17 and later).
OPSET = 17


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lepton-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def holding(payload: bytes) -> bytes:
    """A tiny model the registry accepts: the top level of an ONNX ``ModelProto`` (``ir_version``
    8, ``doc_string`` = ``payload``, an empty ``graph``), written by hand so ``payload`` may be any
    bytes. Registry tests use it where what the graph computes does not matter."""
    return b"\x08\x08\x32" + _varint(len(payload)) + payload + b"\x3a\x00"


def sized(seed: int, n: int = 1000) -> bytes:
    """A model from :func:`holding` of exactly ``n`` bytes (``n >= 6``; a few sizes such as 134
    cannot be written this way), different per ``seed``."""
    for varint_len in range(1, 5):
        payload = n - 5 - varint_len
        if payload >= 0 and len(_varint(payload)) == varint_len:
            return holding(bytes((i * 31 + seed) % 251 for i in range(payload)))
    raise ValueError(f"no model of {n} bytes")


def add_mul() -> bytes:
    """Two float32 inputs ``x``, ``y`` of shape ``[N, 3]`` (``N`` symbolic) and two outputs:
    ``sum = x + y`` and ``prod = x * y``. Made with ``helper.make_node("Add"/"Mul")``."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 3])
    p = helper.make_tensor_value_info("prod", TensorProto.FLOAT, ["N", 3])
    nodes = [
        helper.make_node("Add", ["x", "y"], ["sum"]),
        helper.make_node("Mul", ["x", "y"], ["prod"]),
    ]
    return _model(helper.make_graph(nodes, "add_mul", [x, y], [s, p]))


def logistic_regression_weights(features: int = 30, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic weights (seed 0) of :func:`logistic_regression`."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((features, classes)) / np.sqrt(features)).astype(np.float32)
    b = (rng.standard_normal(classes) * 0.1).astype(np.float32)
    return w, b


def logistic_regression(features: int = 30, classes: int = 2) -> bytes:
    """A logistic regression ``probabilities = softmax(x @ W + b)``: input ``x`` float32
    ``[batch, 30]``, output ``probabilities`` float32 ``[batch, 2]``. ``W``/``b`` come from
    :func:`logistic_regression_weights`; made with ``Gemm`` and ``Softmax`` nodes."""
    w, b = logistic_regression_weights(features, classes)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])
    out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])
    nodes = [
        helper.make_node("Gemm", ["x", "W", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")]
    return _model(helper.make_graph(nodes, "logreg", [x], [out], initializer=inits))


def identity(elem_type: int = TensorProto.FLOAT, shape: list | None = None, name: str = "identity") -> bytes:
    """``out = Identity(inp)`` for one element type (an ``onnx.TensorProto`` constant) and shape
    (default ``["n"]``); used to round-trip each dtype, strings included."""
    shape = ["n"] if shape is None else shape
    i = helper.make_tensor_value_info("inp", elem_type, shape)
    o = helper.make_tensor_value_info("out", elem_type, shape)
    return _model(helper.make_graph([helper.make_node("Identity", ["inp"], ["out"])], name, [i], [o]))


def matmul_chain(n: int = 256, depth: int = 8) -> bytes:
    """``depth`` chained ``MatMul`` + ``Relu`` layers of ``n × n`` (seed 1) on input ``x`` float32
    ``[batch, n]``; output ``y``. Heavy enough that concurrent runs overlap in time."""
    rng = np.random.default_rng(1)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])
    nodes, inits, prev = [], [], "x"
    for i in range(depth):
        w = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"W{i}"))
        out = "y" if i == depth - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu", [f"m{i}"], [out]))
        prev = out
    return _model(helper.make_graph(nodes, "matmul_chain", [x], [y], initializer=inits))


def split_concat() -> bytes:
    """Sequences both ways: input ``x`` int64 ``[n, 2]`` is split into a sequence ``rows`` of
    ``[1, 2]`` tensors (``SplitToSequence``), and input ``parts``, a sequence of int64 ``[k]``
    tensors, is joined into ``joined`` (``ConcatFromSequence``, axis 0). Opset 18."""
    seq = lambda dims: helper.make_sequence_type_proto(  # noqa: E731
        helper.make_tensor_type_proto(TensorProto.INT64, dims)
    )
    graph = helper.make_graph(
        [
            helper.make_node("SplitToSequence", ["x"], ["rows"], axis=0, keepdims=1),
            helper.make_node("ConcatFromSequence", ["parts"], ["joined"], axis=0),
        ],
        "split_concat",
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["n", 2]),
         helper.make_value_info("parts", seq(["k"]))],
        [helper.make_value_info("rows", seq(["one", 2])),
         helper.make_tensor_value_info("joined", TensorProto.INT64, ["m"])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="lepton-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


#: Files written for the Rust tests: name -> builder.
RUST_FIXTURES = {
    "add_mul.onnx": add_mul,
    "logreg.onnx": logistic_regression,
    "identity_string.onnx": lambda: identity(TensorProto.STRING, ["n"], "identity_string"),
    "identity_bool.onnx": lambda: identity(TensorProto.BOOL, ["n"], "identity_bool"),
    "identity_f16.onnx": lambda: identity(TensorProto.FLOAT16, ["n"], "identity_f16"),
    "identity_i64_2d.onnx": lambda: identity(TensorProto.INT64, ["a", "b"], "identity_i64_2d"),
    "split_concat.onnx": split_concat,
}


def main(out_dir: str) -> None:
    """Writes :data:`RUST_FIXTURES` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, build in RUST_FIXTURES.items():
        (out / name).write_bytes(build())
        print(out / name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "lepton-core/tests/fixtures")
