"""Models in a forked child (a ``DataLoader`` worker, say). The parent's models run on a thread
pool every model of the process shares; a child inherits that pool but none of its threads. A
model the child loads gets a pool of its own. One the parent loaded still gives the right answer
there on these operators (MatMul, Relu): ONNX Runtime's parallel loops run the work no thread
took on the calling thread. Both are checked against onnxruntime's own answer, and a hang fails
the test (the script runs in a bounded subprocess, each child with a deadline)."""

from __future__ import annotations

import os
import sys

import pytest

from bounded_run import run_bounded

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")

SCRIPT = r"""
import os, sys, time
import numpy as np
import onnxruntime as ort
import lepton_ai
import model_fixtures

onnx = model_fixtures.matmul_chain(256, 4)
x = np.random.default_rng(0).standard_normal((512, 256)).astype(np.float32)
want = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
parent = lepton_ai.load_model(onnx)
np.testing.assert_allclose(parent(x), want, rtol=1e-4, atol=1e-4)

for which in ("loaded in the child", "loaded in the parent"):
    pid = os.fork()
    if pid == 0:
        try:
            model = lepton_ai.load_model(onnx) if which == "loaded in the child" else parent
            for _ in range(3):
                np.testing.assert_allclose(model(x), want, rtol=1e-4, atol=1e-4)
        except BaseException as e:
            print(f"a model {which} failed in the child: {e!r}", flush=True)
            os._exit(3)
        os._exit(0)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.exit(f"a model {which} hung in the child")
    assert os.waitstatus_to_exitcode(done[1]) == 0, which
np.testing.assert_allclose(parent(x), want, rtol=1e-4, atol=1e-4)
print("ok")
"""


def test_models_run_in_a_forked_child() -> None:
    tests = os.path.dirname(__file__)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, *sys.path])}
    code, out = run_bounded([sys.executable, "-c", SCRIPT], env, timeout=240)
    assert code == 0 and out.strip().endswith("ok"), out[-3000:]
