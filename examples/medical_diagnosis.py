"""The medical-diagnosis workflow of the product documents, end to end, on real data.

1. Builds a medical dataset from scikit-learn's breast-cancer data (569 tumours, 30 features
   measured on digitized fine-needle-aspirate images, labels malignant=0 / benign=1).
2. Pushes train and test splits, encrypted, to the platform (the local default registry, or the
   URI in $LEPTON_URI).
3. Trains a classifier on the train split read back from the platform, exports it to ONNX and
   pushes it as `medical_diagnosis`.
4. Runs the documents' evaluation loop unchanged (apart from building the DataLoader) and prints
   the accuracy; saves the model to a file, reloads it and checks the predictions agree.

Run it with `./scripts/main.sh` (sets everything up) or `python examples/medical_diagnosis.py`.
The key is $LEPTON_KEY (64 hex digits) or lives in $LEPTON_HOME/medical.key (~/.lepton/medical.key
without LEPTON_HOME; created on the first run, mode 0600); the Rust example
`examples/medical_diagnosis.rs` reads the same key, dataset and model. Each run pushes new
versions; loading takes the latest.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lepton_ai import Key, LeptonAI


def lepton_home() -> Path:
    """$LEPTON_HOME, else ~/.lepton: the folder of LeptonAI()'s local default registry
    (`<home>/registry`), by the rule lepton_core::platform::lepton_home follows."""
    return Path(os.environ.get("LEPTON_HOME") or Path.home() / ".lepton")


def load_or_create_key(home: Path) -> Key:
    """The example's key: $LEPTON_KEY (64 hex digits) or $LEPTON_HOME/medical.key, made once."""
    if "LEPTON_KEY" in os.environ:
        return Key.from_env("LEPTON_KEY")
    path = home / "medical.key"
    if path.exists():
        try:
            return Key.from_bytes(bytes.fromhex(path.read_text().strip()))
        except ValueError:  # not hex, or not 32 bytes (InvalidArgumentError is a ValueError)
            raise SystemExit(
                f"{path} does not hold a key (64 hex digits); restore it, or delete it to start "
                "over with a new key (data pushed under the old key stays unreadable)"
            ) from None
    key = Key.generate()
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.to_bytes().hex())
    return key


def export_onnx(clf: LogisticRegression, mean: np.ndarray, std: np.ndarray) -> bytes:
    """A standardize + linear layer graph: float32 images [N, 30] -> logits [N, 2]."""
    coef = clf.coef_.astype(np.float32)  # (1, 30) for two classes
    intercept = clf.intercept_.astype(np.float32)
    w = np.concatenate([-coef, coef]).T / 2  # softmax of [-z/2, z/2] == sigmoid(z)
    b = np.concatenate([-intercept, intercept]) / 2
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["images", "mean"], ["centered"]),
            helper.make_node("Div", ["centered", "std"], ["scaled"]),
            helper.make_node("Gemm", ["scaled", "W", "b"], ["logits"]),
        ],
        "medical_diagnosis",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 30])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            numpy_helper.from_array(mean.astype(np.float32), "mean"),
            numpy_helper.from_array(std.astype(np.float32), "std"),
            numpy_helper.from_array(w.astype(np.float32), "W"),
            numpy_helper.from_array(b.astype(np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main() -> int:
    key = load_or_create_key(lepton_home())
    platform = LeptonAI(os.environ.get("LEPTON_URI") or None, key=key)
    steps = tqdm(total=4, desc="medical diagnosis", unit="step")
    steps.set_postfix_str("push dataset")

    # 1-2. A real medical dataset, pushed encrypted as two splits.
    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    platform.push_dataset("medical", "train", {"images": x_train, "labels": y_train})
    platform.push_dataset("medical", "test", {"images": x_test, "labels": y_test})
    steps.update()
    steps.set_postfix_str("train")

    # 3. Train on the train split as the platform serves it, export to ONNX, push.
    train_dataset = platform.load_dataset("medical", split="train")
    train = train_dataset.to_numpy()  # {column: array}
    train_images, train_labels = train["images"], train["labels"]
    mean, std = train_images.mean(axis=0), train_images.std(axis=0) + 1e-6
    clf = LogisticRegression(max_iter=1000).fit((train_images - mean) / std, train_labels)
    platform.push_model(
        "medical_diagnosis",
        export_onnx(clf, mean, std),
        metadata={"task": "breast-cancer diagnosis", "classes": "malignant,benign"},
    )
    steps.update()
    steps.set_postfix_str("evaluate")

    # 4. The documents' code, unchanged apart from the DataLoader construction.
    device = "cpu"
    test_dataset = platform.load_dataset("medical", split="test")
    test_loader = DataLoader(test_dataset, batch_size=64)
    model = LeptonAI.load_model("medical_diagnosis", platform=platform)
    model.eval()
    correct = 0
    total = 0
    all_predicted = []
    with torch.no_grad():
        for images, labels in test_loader:
            outputs = model(images.to(device))
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            all_predicted.append(predicted)
    steps.update()
    steps.set_postfix_str("save and reload")
    accuracy = 100.0 * correct / total

    # 5. Save, reload, and check the reloaded model predicts the same.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "medical_diagnosis.model"
        model.save(path)  # sealed with the platform's key: the model came from an encrypted registry
        reloaded = LeptonAI.load_model(path, key=key)
        again = reloaded(test_dataset.to_numpy()["images"]).argmax(axis=1)
    same = bool(np.array_equal(again, torch.cat(all_predicted).numpy()))
    steps.update()
    steps.close()
    print(f"accuracy: {accuracy:.2f}% ({correct}/{total} test tumours)")
    print(f"reload check: {'predictions agree' if same else 'PREDICTIONS DIFFER'}")
    return 0 if same and accuracy > 90 else 1


if __name__ == "__main__":
    sys.exit(main())
