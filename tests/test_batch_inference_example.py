"""``examples/batch_inference_ray.py`` runs as a user runs it (a subprocess, its own local Ray with
``num_cpus=2``) on a fresh local default registry prepared as ``examples/medical_diagnosis.py``
leaves it: the medical test split (scikit-learn's breast-cancer data, split as the example splits
it) and a ``medical_diagnosis`` model. The model is a scikit-learn ``LogisticRegression`` written
as an ONNX ``Gemm`` (logits ``[0, x·w + b]``), so its accuracy has a peer: sklearn's ``score``.
``--rows 20000`` keeps the generated dataset small.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from bounded_run import run_bounded
from lepton_ai import Key, LeptonAI

ROOT = Path(__file__).resolve().parent.parent


def _logistic_onnx(clf: LogisticRegression) -> bytes:
    w = np.concatenate([np.zeros((30, 1)), clf.coef_.T], axis=1).astype(np.float32)
    b = np.array([0.0, clf.intercept_[0]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["images", "W", "b"], ["logits"])],
        "medical_logreg",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 30])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_batch_inference_example(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key = Key.generate()
    (home / "medical.key").write_text(key.to_bytes().hex())
    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    clf = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    platform = LeptonAI(home / "registry", key=key)
    platform.push_dataset("medical", "test", {"images": x_test, "labels": y_test})
    platform.push_model("medical_diagnosis", _logistic_onnx(clf))

    env = {k: v for k, v in os.environ.items() if k not in ("LEPTON_URI", "LEPTON_KEY")}
    env["LEPTON_HOME"] = str(home)
    command = [sys.executable, str(ROOT / "examples" / "batch_inference_ray.py"), "--rows", "20000"]
    code, out = run_bounded(command, env)
    assert code == 0, out

    correct = int((clf.predict(x_test) == y_test).sum())
    line = re.search(r"^accuracy: (\d+\.\d\d)% \((\d+)/(\d+) test tumours\), [\d,]+ rows/s$", out, re.M)
    assert line is not None, out
    assert (int(line[2]), int(line[3])) == (correct, len(y_test))
    assert re.search(r"^generated: 20,000 rows scored at [\d,]+ rows/s", out, re.M), out
    # The predictions went back to the registry as datasets, one version each.
    assert platform.dataset_versions("medical", "test_predictions") == [1]
    back = platform.load_dataset("medical", "test_predictions").to_numpy()
    np.testing.assert_array_equal(back["labels"], y_test)
    assert len(platform.load_dataset("generated", "predictions")) == 20000
