"""Model.inputs / Model.outputs: native TensorInfo values with the fields onnxruntime reports,
that unpack, index, compare, hash and pickle as the (name, dtype, shape, onnx_type) tuple."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import lepton_ai
from lepton_ai import TensorInfo, load_model

sys.path.insert(0, str(Path(__file__).parent))
import model_fixtures as fx  # noqa: E402

ELEMENT_TYPES = [
    TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8, TensorProto.INT16,
    TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32,
    TensorProto.UINT64, TensorProto.BOOL, TensorProto.STRING,
]


def expected_dtype(elem: int) -> str:
    """numpy's name for a number type; ONNX's own spelling (``string``) for text."""
    if elem == TensorProto.STRING:
        return TensorProto.DataType.Name(elem).lower()
    return str(helper.tensor_dtype_to_np_dtype(elem).name)


@pytest.mark.parametrize("elem", ELEMENT_TYPES, ids=TensorProto.DataType.Name)
def test_fields_match_onnxruntime(elem: int) -> None:
    onnx_bytes = fx.identity(elem, ["n", 3])
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    model = load_model(onnx_bytes)
    for ours, theirs in zip(model.inputs + model.outputs, session.get_inputs() + session.get_outputs()):
        assert isinstance(ours, TensorInfo)
        assert ours.name == theirs.name
        assert ours.shape == tuple(theirs.shape)
        assert ours.dtype == expected_dtype(elem)


def test_behaves_as_the_tuple_it_was() -> None:
    onnx_bytes = fx.logistic_regression()
    [theirs] = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"]).get_inputs()
    [info] = load_model(onnx_bytes).inputs
    name, dtype, shape, onnx_type = info
    assert (name, dtype, shape) == (theirs.name, "float32", tuple(theirs.shape))
    assert len(info) == 4 and info[0] == name and info[-2] == shape and info[1:3] == (dtype, shape)
    assert info == (name, dtype, shape, onnx_type) and info != (name, dtype, shape, "other")
    assert info == TensorInfo(name, dtype, list(shape), onnx_type)
    assert hash(info) == hash((name, dtype, shape, onnx_type))
    assert pickle.loads(pickle.dumps(info)) == info
    assert TensorInfo._fields == ("name", "dtype", "shape", "onnx_type")
    with pytest.raises(IndexError):
        info[4]
    assert repr(info) == f"TensorInfo(name={name!r}, dtype='float32', shape={shape!r}, onnx_type={onnx_type!r})"
    assert str(info) == f"{name}: float32[batch, 30]"
    assert lepton_ai.TensorInfo is lepton_ai._lepton.TensorInfo


@pytest.mark.parametrize("elem", ELEMENT_TYPES, ids=TensorProto.DataType.Name)
def test_numpy_dtype_is_what_onnxruntime_exchanges(elem: int) -> None:
    # onnxruntime's NodeArg.type spells the element type ONNX's way ("tensor(string)"); the
    # arrays it takes and returns are numpy's: object arrays for strings.
    onnx_bytes = fx.identity(elem, ["n", 3])
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    [theirs] = session.get_inputs()
    [info] = load_model(onnx_bytes).inputs
    if elem == TensorProto.STRING:
        assert theirs.type == "tensor(string)" and info.dtype == "string"
        feed = np.array([["a", "b", "c"]], dtype=object)
    else:
        feed = np.zeros((1, 3), dtype=helper.tensor_dtype_to_np_dtype(elem))
    [out] = session.run(None, {theirs.name: feed})
    assert info.numpy_dtype == out.dtype
    assert np.zeros((1, 3), dtype=info.numpy_dtype).dtype == out.dtype


def test_asdict_as_a_named_tuple_had_it() -> None:
    onnx_bytes = fx.logistic_regression()
    [theirs] = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"]).get_inputs()
    [info] = load_model(onnx_bytes).inputs
    d = info._asdict()
    assert list(d) == list(TensorInfo._fields)
    assert d == dict(zip(TensorInfo._fields, tuple(info)))
    assert (d["name"], d["shape"]) == (theirs.name, tuple(theirs.shape))


def test_numpy_dtype_is_none_for_what_is_not_a_tensor() -> None:
    graph = helper.make_graph(
        [helper.make_node("SequenceEmpty", [], ["s"], dtype=TensorProto.FLOAT)], "seq", [],
        [helper.make_value_info("s", helper.make_sequence_type_proto(
            helper.make_tensor_type_proto(TensorProto.FLOAT, None)))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    [out] = load_model(model.SerializeToString()).outputs
    assert (out.dtype, out.numpy_dtype) == (None, None)
