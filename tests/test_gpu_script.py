"""benches/gpu/gpu_check.py (issue 6) must keep working where it can be checked: on this CPU-only
machine it reports the CUDA fallback (providers == ["cpu"], a fallback reason, strict raises) and
fails under --require-cuda, so the one-shot GPU run can't rot silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benches" / "gpu" / "gpu_check.py"


def _run(*args: str) -> tuple[int, dict, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    p = subprocess.run([sys.executable, str(SCRIPT), "--quick", *args], capture_output=True,
                       text=True, env=env, timeout=120)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no RESULT line\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p.returncode, json.loads(lines[-1][len("RESULT "):]), p.stdout


def test_quick_run_reports_the_cpu_fallback() -> None:
    rc, r, out = _run()
    assert rc == 0, out
    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # this test's premise
    assert r["providers"] == ["cpu"] and r["cpu_providers"] == ["cpu"]
    assert r["cuda_active"] is False
    assert "cuda" in r["fallback_reason"]
    assert r["strict"].startswith("ProviderUnavailableError")
    assert r["max_abs_diff"] == 0.0 and r["within_tolerance"] is True
    assert [row["batch"] for row in r["rows"]] == [1, 32, 256]
    assert all(row["cuda_rows_s"] > 0 and row["cpu_rows_s"] > 0 for row in r["rows"])
    assert "CUDA NOT ACTIVE" in out


def test_require_cuda_fails_without_cuda() -> None:
    rc, r, out = _run("--require-cuda", "--batches", "2")
    assert rc == 1, out
    assert r["ok"] is False and r["cuda_active"] is False


def test_generated_mlp_matches_numpy(tmp_path: Path) -> None:
    """The hand-written ONNX protobuf is a valid model computing the MLP it claims to."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    onnx_bytes = gpu_check.mlp_onnx(8, 16, 2, 3, seed=5)
    y = ort.InferenceSession(onnx_bytes).run(None, {"x": np.eye(8, dtype=np.float32)})[0]
    rng = np.random.default_rng(5)
    h = np.eye(8, dtype=np.float32)
    for i, (fi, fo) in enumerate([(8, 16), (16, 16), (16, 3)]):
        w = rng.standard_normal((fi, fo), dtype=np.float32) * np.float32((2.0 / fi) ** 0.5)
        b = rng.standard_normal(fo, dtype=np.float32) * np.float32(0.01)
        h = h @ w + b
        if i < 2:
            h = np.maximum(h, 0)
    np.testing.assert_allclose(y, h, rtol=1e-5, atol=1e-6)
    assert y.shape == (8, 3)


def test_bad_batches_is_a_usage_error() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    p = subprocess.run([sys.executable, str(SCRIPT), "--batches", "0,x"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 2 and "--batches must be positive integers" in p.stderr
