"""Models past the inline limit through the registry from Python: stored as an object set (the
graph plus sealed weights objects of at most 64 MiB) and loaded back with the weights handed to
ONNX Runtime as external initializers, never one protobuf (the route of models over 2 GiB).

The limit is lowered with ``push_model(..., inline_limit=)`` so that ~128 MiB of generated weights
take the route a > 2 GiB model takes by default. Expected values come from onnxruntime's own
``InferenceSession`` on the original file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from lepton_ai import IntegrityError, InvalidArgumentError, Key, LeptonAI

ROWS, COLS, OUT = 1 << 19, 64, 16  # T: float32 [ROWS, COLS] = 128 MiB


def lookup_model(folder: Path) -> Path:
    """``y = Gather(T, i) @ W``: ``T`` float32 ``[ROWS, COLS]`` (128 MiB, seeded normal), ``W``
    float32 ``[COLS, OUT]``; input ``i`` int64 ``[n]``, output ``y`` float32 ``[n, OUT]``. Saved
    with every tensor in the side file ``model.onnx_data`` (``onnx.save``'s external data)."""
    rng = np.random.default_rng(11)
    table = rng.standard_normal((ROWS, COLS), dtype=np.float32)
    w = rng.standard_normal((COLS, OUT), dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["T", "i"], ["g"], axis=0),
            helper.make_node("MatMul", ["g", "W"], ["y"]),
        ],
        "lookup",
        [helper.make_tensor_value_info("i", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", OUT])],
        initializer=[numpy_helper.from_array(table, "T"), numpy_helper.from_array(w, "W")],
    )
    del table
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx_data", size_threshold=0)
    return path


I = np.array([0, 1, 12345, ROWS // 2, ROWS - 1], dtype=np.int64)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = lookup_model(tmp_path_factory.mktemp("big"))
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"i": I})[0]
    return path, want


def weights_objects(registry: Path) -> list[Path]:
    """The stored objects larger than 1 MiB (the graph is a few hundred bytes)."""
    return sorted(f for f in registry.rglob("*") if f.is_file() and f.stat().st_size > 1 << 20)


def test_past_the_inline_limit_a_model_is_pushed_as_an_object_set_and_loads_back(
    tmp_path: Path, big: tuple[Path, np.ndarray]
) -> None:
    path, want = big
    side = (path.parent / "model.onnx_data").stat().st_size
    key = Key.generate()
    platform = LeptonAI(str(tmp_path / "registry"), key=key)
    info = platform.push_model("big", path, inline_limit=64 << 20, progress=False)
    parts = -(-side // (64 << 20))  # the side file cut in objects of at most 64 MiB
    assert (info.format, info.weights_objects, info.encrypted) == (3, parts, True)  # keyed: format 3
    assert info.weights_bytes >= ROWS * COLS * 4 and info.weights_bytes <= side
    assert info.size < 1 << 20  # the graph only: its weights are the weights objects
    stored = weights_objects(tmp_path / "registry")
    assert len(stored) == 2  # T's two 64 MiB parts (W's 4 KiB is a third, small object)
    clear = (path.parent / "model.onnx_data").read_bytes()
    probe = clear[(ROWS // 2) * COLS * 4 :][:4096]
    for f in stored:
        assert probe not in f.read_bytes()  # sealed, not the plaintext weights
    del clear
    assert platform.model_info("big") == info

    # A fresh platform (nothing in memory) and options as an autotune profile passes them.
    again = LeptonAI(str(tmp_path / "registry"), key=key)
    model = again.load_model("big", intra_op_threads=1, optimization_level="basic")
    np.testing.assert_allclose(model(I), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        LeptonAI.load_model("big", platform=again, version=1).run(None, {"i": I})[0],
        want, rtol=1e-5, atol=1e-5,
    )
    # Its weights went to ONNX Runtime outside the protobuf: there are no self-contained bytes.
    with pytest.raises(InvalidArgumentError, match="handed to ONNX Runtime outside its bytes"):
        model.to_bytes()


def test_below_the_inline_limit_the_same_file_stays_one_object(
    tmp_path: Path, big: tuple[Path, np.ndarray]
) -> None:
    path, want = big
    platform = LeptonAI("memory://", key=Key.generate())
    info = platform.push_model("big", path, inline_limit=1 << 30, progress=False)
    assert (info.format, info.weights_objects, info.weights_bytes) == (3, 0, 0)  # keyed: format 3
    assert info.size > ROWS * COLS * 4
    np.testing.assert_allclose(platform.load_model("big")(I), want, rtol=1e-5, atol=1e-5)


def test_a_flipped_byte_in_a_weights_object_is_an_integrity_error(
    tmp_path: Path, big: tuple[Path, np.ndarray]
) -> None:
    path, _ = big
    key = Key.generate()
    registry = tmp_path / "registry"
    LeptonAI(str(registry), key=key).push_model("big", path, inline_limit=64 << 20, progress=False)
    target = weights_objects(registry)[1]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    del data
    with pytest.raises(IntegrityError):
        LeptonAI(str(registry), key=key).load_model("big")
