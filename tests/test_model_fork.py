"""Models in a forked child (a ``DataLoader`` worker, say), and the shared pool's size. The parent's models run on a thread
pool every model of the process shares; a child inherits that pool but none of its threads. A
model the child loads gets a pool of its own. One the parent loaded still gives the right answer
there on these operators (MatMul, Relu): ONNX Runtime's parallel loops run the work no thread
took on the calling thread. Both are checked against onnxruntime's own answer, and a hang fails
the test (the script runs in a bounded subprocess, each child with a deadline). A parent's
model running graph branches in parallel (``inter_op_threads`` > 1) would wait forever on the
parent's inter-op threads (as an ``InferenceSession`` does): it raises instead.
``LEPTON_INTRA_OP_THREADS`` sizes the shared pool: counted in the process's threads."""

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
from lepton_ai.errors import InvalidArgumentError

onnx = model_fixtures.matmul_chain(256, 4)
x = np.random.default_rng(0).standard_normal((512, 256)).astype(np.float32)
want = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
parent = lepton_ai.load_model(onnx)
parallel = lepton_ai.load_model(onnx, inter_op_threads=2)
for m in (parent, parallel):
    np.testing.assert_allclose(m(x), want, rtol=1e-4, atol=1e-4)


def in_child(which):
    if which == "loaded in the parent":
        model = parent
    elif which == "parallel, loaded in the parent":
        # Its branches would wait on the parent's inter-op threads: refused, not hung.
        try:
            parallel(x)
        except InvalidArgumentError as e:
            assert "inter_op_threads=2" in str(e) and "worker_init_fn" in str(e), e
            return
        raise AssertionError("a parallel model of the parent ran in the child")
    else:
        model = lepton_ai.load_model(onnx, **({"inter_op_threads": 2} if "parallel" in which else {}))
    for _ in range(3):
        np.testing.assert_allclose(model(x), want, rtol=1e-4, atol=1e-4)


for which in ("loaded in the child", "loaded in the parent", "parallel, loaded in the child",
              "parallel, loaded in the parent"):
    pid = os.fork()
    if pid == 0:
        try:
            in_child(which)
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
for m in (parent, parallel):
    np.testing.assert_allclose(m(x), want, rtol=1e-4, atol=1e-4)
print("ok")
"""

THREADS = r"""
import os, sys
import lepton_ai, model_fixtures
before = len(os.listdir("/proc/self/task"))
lepton_ai.load_model(model_fixtures.logistic_regression())(__import__("numpy").ones((1, 30), "float32"))
print(len(os.listdir("/proc/self/task")) - before)
"""


def _env(**extra: str) -> dict[str, str]:
    tests = os.path.dirname(__file__)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([tests, *sys.path]), **extra}


def test_models_run_in_a_forked_child() -> None:
    code, out = run_bounded([sys.executable, "-c", SCRIPT], _env(), timeout=240)
    assert code == 0 and out.strip().endswith("ok"), out[-3000:]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_lepton_intra_op_threads_sizes_the_shared_pool() -> None:
    started = {}
    for n in ("1", "4"):
        code, out = run_bounded([sys.executable, "-c", THREADS], _env(LEPTON_INTRA_OP_THREADS=n), timeout=120)
        assert code == 0, out[-3000:]
        started[n] = int(out.strip().splitlines()[-1])
    # 4 intra-op threads are the caller and 3 started; 1 is the caller alone.
    assert started["4"] - started["1"] == 3, started


def test_a_bad_lepton_intra_op_threads_is_a_clear_error() -> None:
    code, out = run_bounded([sys.executable, "-c", THREADS], _env(LEPTON_INTRA_OP_THREADS="many"), timeout=120)
    assert code != 0 and "InvalidArgumentError" in out, out[-3000:]
    assert 'LEPTON_INTRA_OP_THREADS="many" is not a number of threads' in out, out[-3000:]


def test_a_model_is_not_pickled_and_says_what_to_do() -> None:
    import pickle

    import lepton_ai
    from model_fixtures import logistic_regression

    with pytest.raises(TypeError, match="worker_init_fn"):
        pickle.dumps(lepton_ai.load_model(logistic_regression()))
