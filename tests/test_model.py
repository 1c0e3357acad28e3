"""lepton_ai.load_model / Model: loading, running (numpy, lists, torch), persistence, providers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

import lepton_ai
from lepton_ai import LeptonAI, Model, load_model

sys.path.insert(0, str(Path(__file__).parent))
import model_fixtures as fx  # noqa: E402


@pytest.fixture(scope="module")
def logreg() -> Model:
    return load_model(fx.logistic_regression())


@pytest.fixture(scope="module")
def add_mul() -> Model:
    return load_model(fx.add_mul())


def reference_logreg(x: np.ndarray) -> np.ndarray:
    w, b = fx.logistic_regression_weights()
    z = x.astype(np.float64) @ w + b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_loads_from_path_pathlike_and_bytes(tmp_path: Path) -> None:
    p = tmp_path / "m.onnx"
    p.write_bytes(fx.logistic_regression())
    x = np.ones((2, 30), np.float32)
    for source in (str(p), p, p.read_bytes(), bytearray(p.read_bytes())):
        m = load_model(source)
        np.testing.assert_allclose(m(x), reference_logreg(x), rtol=1e-5)
    # LeptonAI.load_model without a platform delegates here
    assert LeptonAI.load_model(p).to_bytes() == p.read_bytes()


def test_signature_and_repr(logreg: Model, add_mul: Model) -> None:
    [x] = logreg.inputs
    assert (x.name, x.dtype, x.shape) == ("x", "float32", ("batch", 30))
    assert [o.name for o in add_mul.outputs] == ["sum", "prod"]
    assert logreg.providers == ["cpu"]
    assert repr(logreg) == (
        "Model(inputs=[x: float32[batch, 30]], outputs=[probabilities: float32[batch, 2]], "
        "providers=['cpu'])"
    )
    assert logreg.eval() is logreg


def test_one_input_one_output_is_bare(logreg: Model) -> None:
    x = np.random.default_rng(0).standard_normal((5, 30)).astype(np.float32)
    y = logreg(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (5, 2)
    np.testing.assert_allclose(y, reference_logreg(x), rtol=1e-5, atol=1e-6)


def test_several_inputs_by_position_name_and_mixed(add_mul: Model) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2.0, np.float32)
    s, p = add_mul(a, b)
    np.testing.assert_array_equal(s, a + b)
    np.testing.assert_array_equal(p, a * b)
    s2, p2 = add_mul(y=b, x=a)
    np.testing.assert_array_equal(s2, s)
    s3, _ = add_mul(a, y=b)
    np.testing.assert_array_equal(s3, s)
    d = add_mul.run_dict(a, b)
    assert list(d) == ["sum", "prod"]
    np.testing.assert_array_equal(d["prod"], p)
    with pytest.raises(TypeError, match="input `x` given both by position and by name"):
        add_mul(a, x=a)


def test_onnxruntime_style_run(add_mul: Model) -> None:
    a = np.ones((1, 3), np.float32)
    feed = {"x": a, "y": a * 3}
    s, p = add_mul.run(None, feed)
    np.testing.assert_array_equal(s, a * 4)
    [only] = add_mul.run(["prod"], feed)
    np.testing.assert_array_equal(only, a * 3)
    with pytest.raises(lepton_ai.InvalidInputError) as e:
        add_mul.run(["nope"], feed)
    assert str(e.value) == "unknown output `nope`; the model's outputs are `sum`, `prod`"


def test_lists_and_layouts_are_converted(logreg: Model, add_mul: Model) -> None:
    x = np.linspace(-1, 1, 60, dtype=np.float32).reshape(2, 30)
    expected = logreg(x)
    np.testing.assert_allclose(logreg(x.tolist()), expected, rtol=1e-6)  # float list -> float32
    np.testing.assert_allclose(logreg([[1] * 30]), logreg(np.ones((1, 30), np.float32)))  # ints
    wide = np.zeros((2, 60), np.float32)
    wide[:, ::2] = x
    np.testing.assert_allclose(logreg(wide[:, ::2]), expected, rtol=1e-6)  # strided view
    np.testing.assert_allclose(logreg(np.asfortranarray(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(logreg(x.astype(">f4")), expected, rtol=1e-6)  # big-endian
    s, _ = add_mul([[1, 2, 3]], [[1.5, 1.5, 1.5]])
    np.testing.assert_array_equal(s, [[2.5, 3.5, 4.5]])


@pytest.mark.parametrize(
    "elem,values",
    [
        (TensorProto.FLOAT, np.array([1.5, -2], np.float32)),
        (TensorProto.FLOAT16, np.array([1.5, -2], np.float16)),
        (TensorProto.DOUBLE, np.array([1.5, -2], np.float64)),
        (TensorProto.INT8, np.array([-128, 127], np.int8)),
        (TensorProto.INT16, np.array([-3, 4], np.int16)),
        (TensorProto.INT32, np.array([-3, 4], np.int32)),
        (TensorProto.INT64, np.array([-(2**40), 4], np.int64)),
        (TensorProto.UINT8, np.array([0, 255], np.uint8)),
        (TensorProto.UINT16, np.array([0, 65535], np.uint16)),
        (TensorProto.UINT32, np.array([0, 2**32 - 1], np.uint32)),
        (TensorProto.UINT64, np.array([0, 2**63], np.uint64)),
        (TensorProto.BOOL, np.array([True, False])),
        (TensorProto.STRING, np.array(["héllo", ""], dtype=object)),
    ],
)
def test_every_dtype_round_trips(elem: int, values: np.ndarray) -> None:
    m = load_model(fx.identity(elem))
    out = m(values)
    assert out.dtype == values.dtype
    np.testing.assert_array_equal(out, values)


def test_string_inputs_from_unicode_arrays() -> None:
    m = load_model(fx.identity(TensorProto.STRING, ["a", "b"]))
    out = m(np.array([["x", "yy"], ["zzz", "ü"]]))
    assert out.dtype == object and out.shape == (2, 2)
    assert out.tolist() == [["x", "yy"], ["zzz", "ü"]]


def test_torch_in_torch_out(logreg: Model) -> None:
    torch = pytest.importorskip("torch")
    x = torch.randn(8, 30)
    model = logreg.eval()
    with torch.no_grad():
        outputs = model(x)
    assert isinstance(outputs, torch.Tensor) and outputs.dtype == torch.float32
    _, predicted = torch.max(outputs.data, 1)
    assert predicted.shape == (8,)
    np.testing.assert_allclose(outputs.numpy(), reference_logreg(x.numpy()), rtol=1e-5, atol=1e-6)
    # tensors that require grad are detached
    y = logreg(x.clone().requires_grad_(True))
    assert isinstance(y, torch.Tensor)
    [z] = logreg.run(None, {"x": x})
    assert isinstance(z, torch.Tensor)


def test_save_round_trips(logreg: Model, tmp_path: Path) -> None:
    path = tmp_path / "medical_diagnosis.model"
    logreg.save(path)
    again = load_model(path)
    assert again.to_bytes() == logreg.to_bytes() == fx.logistic_regression()
    x = np.ones((1, 30), np.float32)
    np.testing.assert_array_equal(again(x), logreg(x))
    assert not list(tmp_path.glob("*.tmp-*"))


def test_concurrent_calls_from_threads() -> None:
    m = load_model(fx.matmul_chain(n=64, depth=4), intra_op_threads=1)
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((4, 64)).astype(np.float32) for _ in range(16)]
    expected = [m(x) for x in xs]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            got = list(pool.map(m, xs))
            for g, e in zip(got, expected):
                np.testing.assert_array_equal(g, e)


def test_options_are_accepted() -> None:
    m = load_model(
        fx.logistic_regression(),
        providers="cpu",
        intra_op_threads=1,
        inter_op_threads=2,
        optimization_level="disable",
    )
    assert m.providers == ["cpu"]
    with pytest.raises(lepton_ai.InvalidArgumentError) as e:
        load_model(fx.logistic_regression(), optimization_level="max")
    assert str(e.value) == (
        "unknown optimization level `max`; use `disable`, `basic`, `extended` or `all`"
    )
    with pytest.raises(lepton_ai.InvalidArgumentError) as e:
        load_model(fx.logistic_regression(), providers=["tpu"])
    assert str(e.value).startswith("unknown execution provider `tpu`; use `cpu`, `cuda` or `cuda:N`")
    with pytest.raises(TypeError, match="load_model expects a path or bytes, got int"):
        load_model(3)  # type: ignore[arg-type]


def test_cuda_falls_back_to_cpu_unless_strict() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        m = load_model(fx.add_mul(), providers=["cuda", "cpu"])
    if m.providers[0] == "cuda":
        pytest.skip("onnxruntime-gpu with a GPU: no fallback to observe")
    assert m.providers == ["cpu"]
    assert "cuda" in (m.fallback_reason or "")
    # the fallback is a UserWarning (as onnxruntime warns), saying why
    assert [w.category for w in seen] == [UserWarning]
    assert str(seen[0].message) == m.fallback_reason
    with pytest.raises(lepton_ai.ProviderUnavailableError) as e:
        load_model(fx.add_mul(), providers=["CUDAExecutionProvider"], strict=True)
    assert str(e.value).startswith("execution provider `cuda` is not available: ")
    assert isinstance(e.value, RuntimeError)


def test_runtime_path_must_match_the_loaded_runtime(logreg: Model) -> None:
    with pytest.raises(lepton_ai.InvalidArgumentError) as e:
        load_model(fx.add_mul(), runtime_path="/elsewhere/libonnxruntime.so")
    assert "ONNX Runtime is already loaded from `" in str(e.value)
    path, version, found_by = lepton_ai._lepton.runtime_info()
    assert found_by in ("python package", "ORT_DYLIB_PATH")
    assert load_model(fx.add_mul(), runtime_path=path).providers == ["cpu"]


def _fresh_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    python_dir = str(Path(lepton_ai.__file__).parents[1])
    full_env = {**os.environ, **env, "PYTHONPATH": python_dir}
    full_env.pop("ORT_DYLIB_PATH", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=full_env, capture_output=True, text=True
    )


def test_runtime_not_found_lists_what_was_tried() -> None:
    code = """
        import lepton_ai, lepton_ai._model as m
        m.find_onnxruntime_library = lambda: None   # as if onnxruntime were not installed
        try:
            lepton_ai.load_model(b"\\x08\\x08\\x3a\\x00")
        except lepton_ai.RuntimeNotFoundError as e:
            assert isinstance(e, ImportError)
            print(e)
    """
    out = _fresh_python(code, {"LD_LIBRARY_PATH": ""})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("could not load ONNX Runtime: no ONNX Runtime library could be loaded\ntried:\n")
    assert "  - ORT_DYLIB_PATH: not set\n" in text
    assert "  - python package onnxruntime: onnxruntime is not installed in this Python" in text
    assert "  - system `libonnxruntime.so`: " in text
    assert "fix: `pip install onnxruntime` (or onnxruntime-gpu), or set ORT_DYLIB_PATH" in text


def test_explicit_runtime_path_is_authoritative() -> None:
    code = """
        import lepton_ai
        try:
            lepton_ai.load_model(b"\\x08\\x08\\x3a\\x00", runtime_path="/no/libonnxruntime.so.1")
        except lepton_ai.RuntimeNotFoundError as e:
            print(e)
    """
    out = _fresh_python(code, {})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(
        "could not load ONNX Runtime: the runtime_path given could not be loaded\ntried:\n"
        "  - runtime_path `/no/libonnxruntime.so.1`: no such file\n"
    )


def test_the_gil_is_released_while_running() -> None:
    import threading
    import time

    # ~17 GFLOP in a single run on one thread (~0.1-0.5 s): long enough to observe from outside.
    m = load_model(fx.matmul_chain(n=1024, depth=8), intra_op_threads=1)
    x = np.ones((1024, 1024), np.float32)
    timing: dict[str, float] = {}

    def run() -> None:
        t0 = time.perf_counter()
        m(x)
        timing["run"] = time.perf_counter() - t0

    t = threading.Thread(target=run)
    # This thread keeps running Python while the other runs the model. Had the run kept the GIL,
    # this loop would stall for the whole run: its longest pause would be about the run's length.
    longest_pause, last = 0.0, time.perf_counter()
    t.start()
    while t.is_alive():
        now = time.perf_counter()
        longest_pause, last = max(longest_pause, now - last), now
    t.join()
    assert timing["run"] > 0.03, timing  # the run was long enough for the check to mean something
    assert longest_pause < timing["run"] / 2, (longest_pause, timing)
