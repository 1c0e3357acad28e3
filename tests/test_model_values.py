"""Models that onnxruntime runs and whose inputs or outputs are not plain tensors: sequences,
maps, optional inputs, overridable initializers, ``.ort`` files, and inputs that need converting.

Every expected value comes from ``onnxruntime.InferenceSession(...).run`` on the same model and
inputs, in the same test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import lepton_ai
from lepton_ai import InvalidInputError


def _bytes(graph: onnx.GraphProto, opset: int = 18) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _ort(model: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def assert_same(got: Any, want: Any) -> None:
    """Equal structure (list/dict/array/None) and values."""
    assert type(got) is type(want), (type(got), type(want))
    if isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)
    elif isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-6)
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape
        if want.dtype == object:
            assert got.tolist() == want.tolist()
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6)
    else:
        assert got == want


def test_scikit_learn_classifier_with_default_zipmap_export() -> None:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    onx = to_onnx(clf, x[:1]).SerializeToString()  # defaults: ZipMap on
    want = _ort(onx).run(None, {"X": x[:5]})
    assert isinstance(want[1], list) and isinstance(want[1][0], dict)
    model = lepton_ai.load_model(onx)
    assert_same(model.run(None, {"X": x[:5]}), want)
    labels, probabilities = model(x[:5])
    assert_same([labels, probabilities], want)
    np.testing.assert_array_equal(labels, clf.predict(x[:5]))


def _concat_sequence() -> bytes:
    """A model joining a sequence input ``parts`` of float vectors into one vector ``joined``."""
    graph = helper.make_graph(
        [helper.make_node("ConcatFromSequence", ["parts"], ["joined"], axis=0)],
        "concat",
        [helper.make_value_info("parts", helper.make_sequence_type_proto(
            helper.make_tensor_type_proto(TensorProto.FLOAT, ["n"])))],
        [helper.make_tensor_value_info("joined", TensorProto.FLOAT, ["m"])],
    )
    return _bytes(graph)


def test_sequence_input_of_arrays_of_different_lengths() -> None:
    onx = _concat_sequence()
    parts = [np.arange(3, dtype=np.float32), np.arange(5, dtype=np.float32) + 10]
    want = _ort(onx).run(None, {"parts": parts})
    model = lepton_ai.load_model(onx)
    assert_same(model.run(None, {"parts": parts}), want)
    assert_same([model(parts)], want)
    with pytest.raises(InvalidInputError, match="element 1 of the sequence has dtype int64"):
        model.run(None, {"parts": [parts[0], np.arange(2)]})


def _split_to_sequence() -> bytes:
    """x: int64 [n, 2] -> parts: the sequence of its rows, each [1, 2]."""
    graph = helper.make_graph(
        [helper.make_node("SplitToSequence", ["x"], ["parts"], axis=0, keepdims=1)],
        "split",
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["n", 2])],
        [helper.make_value_info("parts", helper.make_sequence_type_proto(
            helper.make_tensor_type_proto(TensorProto.INT64, ["k", 2])))],
    )
    return _bytes(graph)


def test_sequence_outputs_come_back_as_lists() -> None:
    onx = _split_to_sequence()
    x = np.arange(6, dtype=np.int64).reshape(3, 2)
    want = _ort(onx).run(None, {"x": x})
    assert_same(lepton_ai.load_model(onx).run(None, {"x": x}), want)


def _optional_model() -> bytes:
    """``y = x`` if the optional input ``x`` has a value, else ``[5.0]``."""
    then_g = helper.make_graph(
        [helper.make_node("OptionalGetElement", ["x"], ["t"])], "then", [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["n"])])
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["e"],
                          value=helper.make_tensor("e", TensorProto.FLOAT, [1], [5.0]))],
        "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["n"])])
    graph = helper.make_graph(
        [helper.make_node("OptionalHasElement", ["x"], ["h"]),
         helper.make_node("If", ["h"], ["y"], then_branch=then_g, else_branch=else_g)],
        "optional",
        [helper.make_value_info("x", helper.make_optional_type_proto(
            helper.make_tensor_type_proto(TensorProto.FLOAT, ["n"])))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
    )
    return _bytes(graph)


def test_optional_inputs_may_be_left_out_given_or_none() -> None:
    onx = _optional_model()
    session, model = _ort(onx), lepton_ai.load_model(onx)
    x = np.array([1.0, 2.0], dtype=np.float32)
    for feed in ({}, {"x": x}, {"x": None}):
        assert_same(model.run(None, feed), session.run(None, feed))
    assert_same([model()], session.run(None, {}))


def test_overridable_initializers_may_be_overridden_by_name() -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        "bias",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[helper.make_tensor("b", TensorProto.FLOAT, [2], [10.0, 20.0])],
    )
    onx = _bytes(graph, opset=17)
    session, model = _ort(onx), lepton_ai.load_model(onx)
    assert [i.name for i in session.get_overridable_initializers()] == ["b"]
    x = np.ones(2, dtype=np.float32)
    for feed in ({"x": x}, {"x": x, "b": np.array([-1.0, 3.0], dtype=np.float32)}):
        assert_same(model.run(None, feed), session.run(None, feed))
    assert_same([model(x, b=np.zeros(2, np.float32))], session.run(None, {"x": x, "b": np.zeros(2, np.float32)}))


def test_ort_format_models_load_by_path_and_from_bytes(tmp_path: Path) -> None:
    from model_fixtures import logistic_regression

    src = tmp_path / "logreg.onnx"
    src.write_bytes(logistic_regression())
    subprocess.run(
        [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(src),
         "--output_dir", str(tmp_path / "out")],
        check=True, capture_output=True,
    )
    path = tmp_path / "out" / "logreg.ort"
    x = np.random.default_rng(0).standard_normal((4, 30)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for source in (path, path.read_bytes()):
        assert_same(lepton_ai.load_model(source).run(None, {"x": x}), want)


def _identity(elem: int) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["inp"], ["out"])], "identity",
        [helper.make_tensor_value_info("inp", elem, ["n"])],
        [helper.make_tensor_value_info("out", elem, ["n"])],
    )
    return _bytes(graph, opset=17)


def test_conversion_errors_name_the_input() -> None:
    model = lepton_ai.load_model(_identity(TensorProto.INT8))
    with pytest.raises(InvalidInputError, match=r"input `inp`: cannot convert list to int8"):
        model(inp=[1, 1000])
    with pytest.raises(InvalidInputError, match=r"input `inp`: cannot convert list to int8"):
        model(inp=["abc"])
    floats = lepton_ai.load_model(_identity(TensorProto.FLOAT))
    with pytest.raises(InvalidInputError, match=r"input `inp`: cannot convert list to float32"):
        floats.run(None, {"inp": ["not a number"]})


def test_strings_with_nul_bytes_pass_as_onnxruntime_passes_them() -> None:
    onx = _identity(TensorProto.STRING)
    x = np.array(["a\x00b", "", "é\x00"], dtype=object)
    want = _ort(onx).run(None, {"inp": x})
    assert_same(lepton_ai.load_model(onx).run(None, {"inp": x}), want)


def test_non_utf8_bytes_are_a_typed_error_naming_the_input() -> None:
    model = lepton_ai.load_model(_identity(TensorProto.STRING))
    with pytest.raises(InvalidInputError, match=r"input `inp`: element 1 is bytes that are not valid UTF-8"):
        model.run(None, {"inp": np.array([b"ok", b"\xff\xfe"], dtype=object)})


def test_map_input_from_a_dict_vectorizer_pipeline() -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DictionaryType, FloatTensorType, StringTensorType
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows = [{"a": 1.0, "b": 2.0}, {"a": 0.5, "c": 3.0}, {"b": 1.0, "c": 1.0}, {"a": 2.0}]
    fitted = make_pipeline(DictVectorizer(sparse=False), LogisticRegression()).fit(rows, [0, 1, 1, 0])
    onx = convert_sklearn(
        fitted, initial_types=[("input", DictionaryType(StringTensorType([1]), FloatTensorType([1])))]
    ).SerializeToString()
    session, model = _ort(onx), lepton_ai.load_model(onx)
    for row in rows:
        assert_same(model.run(None, {"input": row}), session.run(None, {"input": row}))


def test_torch_values_inside_sequences_come_back_as_torch() -> None:
    torch = pytest.importorskip("torch")
    onx = _split_to_sequence()
    x = np.arange(6, dtype=np.int64).reshape(3, 2)
    [want] = _ort(onx).run(None, {"x": x})
    got = lepton_ai.load_model(onx)(torch.from_numpy(x))
    assert isinstance(got, list) and all(isinstance(t, torch.Tensor) for t in got)
    assert_same([t.numpy() for t in got], want)

    onx = _concat_sequence()
    parts = [np.arange(2, dtype=np.float32), np.arange(4, dtype=np.float32)]
    [want] = _ort(onx).run(None, {"parts": parts})
    joined = lepton_ai.load_model(onx)([torch.from_numpy(p) for p in parts])
    assert isinstance(joined, torch.Tensor)
    assert_same(joined.numpy(), want)
