"""Bad model files and bad inputs raise typed errors with exact, actionable messages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import lepton_ai
from lepton_ai import load_model

sys.path.insert(0, str(Path(__file__).parent))
import model_fixtures as fx  # noqa: E402


@pytest.fixture(scope="module")
def add_mul() -> lepton_ai.Model:
    return load_model(fx.add_mul())


A = np.ones((1, 3), np.float32)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(lepton_ai.NotFoundError) as e:
        load_model(path)
    assert isinstance(e.value, FileNotFoundError)
    assert str(e.value) == (
        f"model file `{path}` not found; check the path (relative paths start at the working directory)"
    )


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(lepton_ai.InvalidModelError) as e:
        load_model(path)
    assert isinstance(e.value, ValueError)
    assert str(e.value) == (
        f"invalid model `{path}`: it is empty (0 bytes); an ONNX model is a serialized ModelProto"
    )
    with pytest.raises(lepton_ai.InvalidModelError, match=r"^invalid model: it is empty"):
        load_model(b"")


def test_not_onnx(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("these are my notes, not a model\n")
    with pytest.raises(lepton_ai.InvalidModelError) as e:
        load_model(path)
    assert str(e.value).startswith(f"invalid model `{path}`: not an ONNX model (")
    assert str(e.value).endswith("); expected a serialized ModelProto (.onnx)")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
    with pytest.raises(lepton_ai.InvalidModelError, match=r"^invalid model: not an ONNX model"):
        load_model(png)


def test_truncated_file(tmp_path: Path) -> None:
    data = fx.logistic_regression()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(lepton_ai.InvalidModelError) as e:
        load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"invalid model `{path}`: it is truncated: field 7 at byte ")
    assert msg.endswith(f"but the data ends at byte {len(data) * 2 // 3}; re-download or re-export the model")


def test_onnx_runtime_rejections_are_invalid_model() -> None:
    # A well-formed protobuf whose graph uses an operator that does not exist.
    import onnx
    from onnx import TensorProto, helper

    i = helper.make_tensor_value_info("i", TensorProto.FLOAT, [1])
    o = helper.make_tensor_value_info("o", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("NoSuchOp", ["i"], ["o"])], "g", [i], [o])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(lepton_ai.InvalidModelError) as e:
        load_model(model.SerializeToString())
    assert str(e.value).startswith("invalid model: ")
    assert "NoSuchOp" in str(e.value)
    del onnx


def test_unknown_input(add_mul: lepton_ai.Model) -> None:
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul(x=A, z=A)
    assert isinstance(e.value, ValueError)
    assert str(e.value) == "unknown input `z`; the model's inputs are `x`, `y`"


def test_missing_input(add_mul: lepton_ai.Model) -> None:
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul(A)
    assert str(e.value) == "missing input `y` (float32 [N, 3]); the model's inputs are `x`, `y`"
    with pytest.raises(lepton_ai.InvalidInputError, match="^missing input `x`"):
        add_mul.run(None, {"y": A})


def test_too_many_inputs(add_mul: lepton_ai.Model) -> None:
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul(A, A, A)
    assert str(e.value) == "too many inputs: the model takes 2 (`x`, `y`), got 3"


def test_wrong_dtype(add_mul: lepton_ai.Model) -> None:
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul(A, A.astype(np.float64))
    assert str(e.value) == (
        "input `y`: expected dtype float32, got float64; convert the input to float32"
    )
    # onnxruntime (the peer) refuses the same feed, naming both dtypes
    import onnxruntime

    session = onnxruntime.InferenceSession(fx.add_mul(), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match=r"tensor\(double\).*tensor\(float\)"):
        session.run(None, {"x": A, "y": A.astype(np.float64)})
    # following the hint works, and matches the peer
    fixed = add_mul(A, A.astype(np.float64).astype(np.float32))
    want_all = session.run(None, {"x": A, "y": A})
    assert len(fixed) == len(want_all) == 2
    for got, want in zip(fixed, want_all):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul(A, A.astype(np.complex64))
    assert str(e.value) == (
        "input `y`: numpy dtype complex64 is not supported; use a numeric, bool or str array"
    )


def test_wrong_rank(add_mul: lepton_ai.Model) -> None:
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul(A, np.ones(3, np.float32))
    assert str(e.value) == "input `y`: expected rank 2 (shape [N, 3]), got rank 1 (shape [3])"


def test_wrong_shape(add_mul: lepton_ai.Model) -> None:
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul(x=np.ones((2, 4), np.float32), y=A)
    assert str(e.value) == "input `x`: expected shape [N, 3], got [2, 4] (dimension 1 must be 3)"


def test_runtime_errors_during_run_are_typed(add_mul: lepton_ai.Model) -> None:
    # Batch sizes that do not broadcast pass our checks (N is free) but fail inside Add.
    with pytest.raises(lepton_ai.OnnxRuntimeError) as e:
        add_mul(np.ones((2, 3), np.float32), np.ones((3, 3), np.float32))
    assert str(e.value).startswith("ONNX Runtime error: ")
    # and the model keeps working afterwards
    s, _ = add_mul(A, A)
    np.testing.assert_array_equal(s, A * 2)


def test_int64_fed_to_an_int32_input_names_the_conversion() -> None:
    """numpy's default integer is int64; a model declaring int32 gets the dtype to convert to."""
    model = lepton_ai.Model(fx.identity(fx.TensorProto.INT32, [2]))
    x = np.array([1, 2])
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        model(x)
    name = model.inputs[0].name
    assert str(e.value) == (
        f"input `{name}`: expected dtype int32, got int64; convert the input to int32"
    )
    np.testing.assert_array_equal(model(x.astype(np.int32)), x.astype(np.int32))
