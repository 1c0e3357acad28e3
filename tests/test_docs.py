"""Every ```python snippet in README.md and docs/*.md runs, so the docs can't rot.

The snippets of one file run in order in one namespace, like cells of a notebook, in a fresh
temporary folder with $LEPTON_HOME pointing inside it. The folder holds `model.onnx`, the tiny
30 -> 2 logistic-regression model the quick start loads (made by `_tiny_model` below), so the
README's snippet runs as a user would type it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _tiny_model(path: Path) -> None:
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "W", "b"], ["logits"])],
        "logreg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 30])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            numpy_helper.from_array(rng.normal(size=(30, 2)).astype(np.float32), "W"),
            numpy_helper.from_array(np.zeros(2, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def _snippets(path: Path) -> list[str]:
    return SNIPPET.findall(path.read_text())


@pytest.mark.parametrize("doc", [d for d in DOCS if _snippets(d)], ids=lambda d: d.name)
def test_doc_snippets_run(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path / "lepton-home"))
    _tiny_model(tmp_path / "model.onnx")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for i, code in enumerate(_snippets(doc)):
        try:
            with warnings.catch_warnings():
                # The docs ask for CUDA first; on a machine without it, the fallback to CPU is a
                # UserWarning by design (tests/test_model.py checks it), not a failure of the docs.
                warnings.filterwarnings(
                    "ignore", message="requested execution providers unavailable", category=UserWarning
                )
                exec(compile(code, f"{doc.name}[snippet {i}]", "exec"), namespace)
        except Exception as e:  # pragma: no cover - the message is what matters
            raise AssertionError(f"{doc.name} snippet {i} failed:\n{code}") from e


def test_every_doc_with_code_is_checked() -> None:
    # A guard on the harness itself: the README's quick start must be among the snippets run.
    assert _snippets(ROOT / "README.md"), "README.md lost its python quick start"
