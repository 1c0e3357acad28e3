"""A small CNN on scikit-learn's 8x8 digit images, trained and evaluated through the platform.

1. Pushes scikit-learn's digits (1797 images of 8x8 pixels, 16 grey levels, labels 0-9) as
   encrypted train and test splits (images float32 [N, 1, 8, 8] scaled to [0, 1], labels int64).
2. Trains a two-convolution CNN on the train split through `DataLoader(platform.load_dataset(...))`.
3. Pushes the `nn.Module` itself (exported to ONNX with a parity check), loads it back and
   evaluates it on the test split through a `DataLoader`; prints the accuracy.

The platform is $LEPTON_URI, else an in-memory registry (nothing left behind), with a fresh key.
Run it with `python examples/digits_cnn.py`.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader

from lepton_ai import Key, LeptonAI


class DigitsCNN(nn.Module):
    """float32 images [N, 1, 8, 8] -> logits [N, 10]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Linear(32 * 4 * 4, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images).flatten(1))


def main() -> int:
    platform = LeptonAI(os.environ.get("LEPTON_URI") or "memory://", key=Key.generate())
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.25, random_state=0, stratify=labels
    )
    platform.push_dataset("digits", "train", {"images": x_train, "labels": y_train})
    platform.push_dataset("digits", "test", {"images": x_test, "labels": y_test})

    torch.manual_seed(0)
    train_dataset = platform.load_dataset("digits", split="train")
    net = DigitsCNN()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    for _ in range(15):
        for x, y in DataLoader(train_dataset, batch_size=64, shuffle=True):
            optimizer.zero_grad()
            loss_fn(net(x), y).backward()
            optimizer.step()
    example = next(iter(DataLoader(train_dataset, batch_size=64)))[0]
    info = platform.push_model("digits_cnn", net, example_inputs=example)
    parity = info.provenance["parity"]["output"]

    # Evaluate the loaded model batch by batch (torch in, torch out); the documents' own loop,
    # line by line, is in examples/medical_diagnosis.py.
    test_loader = DataLoader(platform.load_dataset("digits", split="test"), batch_size=64)
    model = LeptonAI.load_model("digits_cnn", platform=platform)
    model.eval()
    with torch.no_grad():
        hits = torch.cat([model(images_b).argmax(1) == labels_b for images_b, labels_b in test_loader])
    correct, total = int(hits.sum()), len(hits)
    accuracy = 100.0 * correct / total
    print(f"exported with {info.provenance['exporter']}, max abs diff {parity['max_abs_diff']:.2g}")
    print(f"accuracy: {accuracy:.2f}% ({correct}/{total} test digits)")
    return 0 if accuracy >= 95 else 1


if __name__ == "__main__":
    sys.exit(main())
