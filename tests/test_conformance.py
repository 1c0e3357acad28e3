"""The ONNX backend node suite, run through lepton_ai and through onnxruntime.InferenceSession.

The onnx wheel ships no test data files; ``collect_testcases(None)`` generates every node case
(model + inputs + expected outputs) in memory. Every case is kept: plain tensors, and sequence,
optional and map inputs and outputs (lists, None, dicts). Each is run by onnxruntime's Python API
and by lepton_ai on the same model bytes and inputs, and compared with the expected outputs by
one comparison (:func:`_similar`: onnx's own ``Runner.assert_similar_outputs`` for each array,
structure checked around it). lepton_ai must pass every case onnxruntime passes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnxruntime as ort
from onnx.backend.test.runner import Runner

import lepton_ai


#: Cases onnxruntime's Python API passes that no C API caller can: the case name, and the typed
#: error lepton_ai must raise instead. onnxruntime's Python binding builds an empty sequence in
#: C++; the C API's CreateValue needs at least one element to know the element type.
CANNOT_THROUGH_THE_C_API = {
    "test_loop13_seq": "input `seq_empty`: an empty sequence cannot be passed",
}


def _cases() -> list[Any]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators overflow casts and divide by zero on purpose
        cases = collect_testcases(None)
    return [c for c in cases if c.kind == "node" and c.data_sets]


def _is_plain(case: Any) -> bool:
    """Whether every input and output of every data set is a plain numpy array."""
    return all(
        isinstance(v, np.ndarray) for ins, outs in case.data_sets for v in (*ins, *outs)
    )


def _similar(expected: Any, got: Any, rtol: float, atol: float, name: str) -> None:
    """Asserts ``got`` matches ``expected``: same structure (list, dict, None), arrays compared
    by onnx's backend-test comparison."""
    if expected is None:
        assert got is None, f"expected None, got {type(got).__name__}"
    elif isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)), f"expected a list, got {type(got).__name__}"
        assert len(got) == len(expected), f"expected {len(expected)} items, got {len(got)}"
        for e, g in zip(expected, got):
            _similar(e, g, rtol, atol, name)
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), f"map keys differ: {got}"
        for k in expected:
            _similar(np.asarray(expected[k]), np.asarray(got[k]), rtol, atol, name)
    else:
        assert isinstance(got, np.ndarray), f"expected an array, got {type(got).__name__}"
        Runner.assert_similar_outputs([np.asarray(expected)], [got], rtol, atol, name)


def _passes(run: Any, model_bytes: bytes, case: Any) -> str | None:
    """None if every data set of the case matches; else why not."""
    try:
        session = run(model_bytes)
    except Exception as e:  # noqa: BLE001 - any load failure means "does not pass"
        return f"load: {type(e).__name__}: {str(e)[:200]}"
    names = [i.name for i in case.model.graph.input]
    for inputs, expected in case.data_sets:
        feed = dict(zip(names, inputs))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outputs = session.run(None, feed)
                _similar(list(expected), list(outputs), case.rtol, case.atol, case.name)
        except Exception as e:  # noqa: BLE001
            return f"run: {type(e).__name__}: {str(e)[:200]}"
    return None


def test_node_suite_matches_onnxruntime() -> None:
    ort.set_default_logger_severity(3)  # errors only: many cases trigger benign warnings
    cases = _cases()
    assert len(cases) > 1000, len(cases)
    # [all cases, non-tensor cases]: onnxruntime passes, lepton_ai passes of those, lepton extra
    totals = {"all": [0, 0, 0, 0], "non-tensor": [0, 0, 0, 0]}
    regressions = []
    for case in cases:
        model_bytes = case.model.SerializeToString()
        ort_ok = (
            _passes(
                lambda b: ort.InferenceSession(b, providers=["CPUExecutionProvider"]),
                model_bytes,
                case,
            )
            is None
        )
        why = _passes(lepton_ai.load_model, model_bytes, case)
        groups = ["all"] if _is_plain(case) else ["all", "non-tensor"]
        for g in groups:
            t = totals[g]
            t[0] += 1
            t[1] += ort_ok
            t[2] += ort_ok and why is None
            t[3] += (not ort_ok) and why is None
        known = CANNOT_THROUGH_THE_C_API.get(case.name)
        if known is not None:
            assert why is not None and known in why, (case.name, why)
        elif ort_ok and why is not None:
            regressions.append(f"{case.name}: {why}")
    for g, (n, ort_passed, lepton_passed, extra) in totals.items():
        print(
            f"\nONNX node suite, {g} cases: {n}; onnxruntime passes {ort_passed}, lepton_ai "
            f"passes {lepton_passed} of those (+{extra} onnxruntime fails)"
        )
    print(f"known exceptions (no C API for them): {sorted(CANNOT_THROUGH_THE_C_API)}")
    assert not regressions, "\n".join(regressions[:50])
    assert totals["all"][1] > 1000
    assert totals["non-tensor"][1] > 50, totals
