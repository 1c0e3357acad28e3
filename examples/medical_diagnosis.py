"""The medical-diagnosis workflow of the product documents, end to end, on real data.

1. Builds a medical dataset from scikit-learn's breast-cancer data (569 tumours, 30 features
   measured on digitized fine-needle-aspirate images, labels malignant=0 / benign=1).
2. Pushes train and test splits, encrypted, to the platform (the local default registry, or the
   URI in $LEPTON_URI).
3. Trains a PyTorch classifier (`nn.Module`) on the train split read back from the platform
   through a `DataLoader`, and pushes the module itself as `medical_diagnosis` (exported to ONNX by
   torch's exporter, checked against the module, provenance recorded).
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
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from torch import nn
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


class Classifier(nn.Module):
    """Standardize (with the train split's statistics) + a small MLP: float32 images [N, 30] ->
    logits [N, 2]."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.layers = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers((images - self.mean) / self.std)


def train(train_dataset: object, epochs: int = 20) -> Classifier:
    """Trains on the platform's train split, as a torch user would."""
    images = torch.cat([x for x, _ in DataLoader(train_dataset, batch_size=256)])
    torch.manual_seed(0)  # after the pass above: iterating a DataLoader draws from torch's RNG
    loader = DataLoader(train_dataset, batch_size=32, shuffle=True)
    net = Classifier(images.mean(dim=0), images.std(dim=0) + 1e-6)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(net(x), y).backward()
            optimizer.step()
    return net


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

    # 3. Train a torch module on the train split as the platform serves it; push the module.
    train_dataset = platform.load_dataset("medical", split="train")
    net = train(train_dataset)
    example = next(iter(DataLoader(train_dataset, batch_size=64)))[0]
    platform.push_model(
        "medical_diagnosis",
        net,
        example_inputs=example,
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
    return 0 if same and accuracy >= 95 else 1


if __name__ == "__main__":
    sys.exit(main())
