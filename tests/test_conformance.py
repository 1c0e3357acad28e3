"""The ONNX backend node suite, run through lepton_ai and through onnxruntime.InferenceSession.

The onnx wheel ships no test data files; ``collect_testcases(None)`` generates every node case
(model + inputs + expected outputs) in memory. Cases whose inputs and outputs are all plain tensors
are kept. Each is run by onnxruntime's Python API and by lepton_ai on the same model bytes and
inputs, and compared with the expected outputs using onnx's own backend-test comparison
(``Runner.assert_similar_outputs``). lepton_ai must pass every case onnxruntime passes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnxruntime as ort
from onnx.backend.test.runner import Runner

import lepton_ai


def _plain_cases() -> list[Any]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators overflow casts and divide by zero on purpose
        cases = collect_testcases(None)

    def plain(values: Any) -> bool:
        return all(isinstance(v, np.ndarray) for v in values)

    return [
        c
        for c in cases
        if c.kind == "node"
        and c.data_sets
        and all(plain(ins) and plain(outs) for ins, outs in c.data_sets)
    ]


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
                Runner.assert_similar_outputs(expected, outputs, case.rtol, case.atol, case.name)
        except Exception as e:  # noqa: BLE001
            return f"run: {type(e).__name__}: {str(e)[:200]}"
    return None


def test_node_suite_matches_onnxruntime() -> None:
    ort.set_default_logger_severity(3)  # errors only: many cases trigger benign warnings
    cases = _plain_cases()
    assert len(cases) > 1000, len(cases)
    ort_passed, lepton_passed, lepton_extra, regressions = 0, 0, 0, []
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
        if ort_ok:
            ort_passed += 1
            if why is None:
                lepton_passed += 1
            else:
                regressions.append(f"{case.name}: {why}")
        elif why is None:
            lepton_extra += 1
    print(
        f"\nONNX node suite: {len(cases)} plain-tensor cases; onnxruntime passes {ort_passed}, "
        f"lepton_ai passes {lepton_passed} of those (+{lepton_extra} onnxruntime fails)"
    )
    assert not regressions, "\n".join(regressions[:50])
    assert ort_passed > 1000
