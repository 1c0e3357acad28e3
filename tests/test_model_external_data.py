"""Models whose weights live in side files (``onnx.save(..., save_as_external_data=True)``).

Expected values come from ``onnxruntime.InferenceSession`` loading the same file by path (it finds
side files next to the model). lepton_ai must find them there too, whatever the working directory,
and ``to_bytes``/``save``/``push_model`` must keep every weight.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import lepton_ai
from lepton_ai import InvalidModelError, Key, LeptonAI, NotFoundError


def gemm_model(rows: int, cols: int, seed: int) -> onnx.ModelProto:
    """``y = x @ W + b`` with ``W`` float32 ``[rows, cols]`` and ``b`` ``[cols]`` (seeded normal):
    input ``x`` float32 ``[batch, rows]``, output ``y`` float32 ``[batch, cols]``."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "b"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", cols])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def save_external(model: onnx.ModelProto, folder: Path, name: str = "model.onnx") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=f"{name}_data", size_threshold=0)
    return path


def expected(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


X = np.random.default_rng(7).standard_normal((3, 64)).astype(np.float32)


def test_side_files_are_found_next_to_the_model_not_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_external(gemm_model(64, 64, seed=1), tmp_path / "a")
    assert path.stat().st_size < 1000 and (tmp_path / "a" / "model.onnx_data").stat().st_size >= 16384
    # Stand in another model's folder with a side file of the same name (all zeros).
    other = save_external(gemm_model(64, 64, seed=2), tmp_path / "b")
    zeros = np.zeros_like(np.frombuffer((tmp_path / "b" / "model.onnx_data").read_bytes(), np.uint8))
    (tmp_path / "b" / "model.onnx_data").write_bytes(zeros.tobytes())
    monkeypatch.chdir(other.parent)
    want = expected(path, X)
    assert np.abs(want).max() > 1  # not the zeros of the other folder
    np.testing.assert_allclose(lepton_ai.load_model(path)(X), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lepton_ai.load_model(os.path.relpath(path))(X), want, rtol=1e-5, atol=1e-5)


def test_bytes_need_their_side_files_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_external(gemm_model(64, 64, seed=3), tmp_path)
    monkeypatch.chdir(tmp_path)  # even where onnxruntime would resolve it, bytes alone are refused
    with pytest.raises(InvalidModelError, match=r"side file `model.onnx_data`.*external_data="):
        lepton_ai.load_model(path.read_bytes())
    with pytest.raises(NotFoundError, match="model.onnx_data"):
        lepton_ai.load_model(path.read_bytes(), external_data={"other.bin": b"x"})
    side = {"model.onnx_data": (tmp_path / "model.onnx_data").read_bytes()}
    model = lepton_ai.load_model(path.read_bytes(), external_data=side)
    np.testing.assert_allclose(model(X), expected(path, X), rtol=1e-5, atol=1e-5)


def test_a_missing_side_file_is_named(tmp_path: Path) -> None:
    path = save_external(gemm_model(64, 64, seed=4), tmp_path)
    (tmp_path / "model.onnx_data").unlink()
    with pytest.raises(NotFoundError, match=r"external data file `.*model.onnx_data` of tensor `W`"):
        lepton_ai.load_model(path)


def test_save_and_push_keep_every_weight(tmp_path: Path) -> None:
    path = save_external(gemm_model(64, 64, seed=5), tmp_path / "src")
    want = expected(path, X)
    model = lepton_ai.load_model(path)
    weights = (tmp_path / "src" / "model.onnx_data").read_bytes()
    assert weights[: 64 * 64 * 4] in model.to_bytes()  # W (offset 0) inline: one self-contained model
    plain, sealed = tmp_path / "plain.onnx", tmp_path / "sealed.model"
    model.save(plain)
    key = Key.generate()
    model.save(sealed, key=key)
    assert weights[:4096] not in sealed.read_bytes()  # encrypted, weights included
    assert sealed.stat().st_size > len(weights)
    for f in (tmp_path / "src").iterdir():
        f.unlink()  # the side file is gone: the saved files must not need it
    np.testing.assert_allclose(lepton_ai.load_model(plain)(X), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lepton_ai.load_model(sealed, key=key)(X), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(expected(plain, X), want, rtol=1e-5, atol=1e-5)

    path = save_external(gemm_model(64, 64, seed=5), tmp_path / "again")
    platform = LeptonAI("memory://", key=Key.generate())
    info = platform.push_model("ext", path)
    assert info.size > len(weights)
    for f in (tmp_path / "again").iterdir():
        f.unlink()
    pulled = LeptonAI.load_model("ext", platform=platform)
    np.testing.assert_allclose(pulled(X), want, rtol=1e-5, atol=1e-5)


def test_a_few_hundred_mib_of_external_weights_through_the_registry(tmp_path: Path) -> None:
    """192 MiB of weights in a side file: a ``Gather`` table ``[rows, 64]`` float32, so running it
    is cheap; pushed to a keyed local registry, pulled and run against onnxruntime."""
    rows, cols = 3 << 18, 64
    table = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
    table *= np.float32(1e-3)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["T", "i"], ["y"], axis=0)],
        "lookup",
        [helper.make_tensor_value_info("i", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", cols])],
        initializer=[numpy_helper.from_array(table, "T")],
    )
    del table
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path = save_external(proto, tmp_path / "big")
    del proto, graph
    i = np.array([0, 1, rows // 2, rows - 1], dtype=np.int64)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"i": i})[0]
    platform = LeptonAI(str(tmp_path / "registry"), key=Key.generate())
    info = platform.push_model("big", path)
    assert info.size > rows * cols * 4
    stored = sum(f.stat().st_size for f in (tmp_path / "registry").rglob("*") if f.is_file())
    assert stored > rows * cols * 4  # the weights are in the registry, not only the graph
    got = LeptonAI.load_model("big", platform=platform).run(None, {"i": i})[0]
    np.testing.assert_array_equal(got, want)
