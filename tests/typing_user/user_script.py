"""A user's script, type-checked by tests/test_typing.py with ``mypy --strict`` and basedpyright:
the public API must give precise types (no ``Any`` leaking into user code) and accept the
documented calls. Never run; only checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import DataLoader
from typing_extensions import assert_type

import lepton_ai
from lepton_ai import Dataset, Key, LeptonAI, Model, ModelInfo, NotFoundError, TensorInfo


def main() -> None:
    key = Key.generate()
    platform = LeptonAI("s3://bucket/prefix", key=key)
    LeptonAI("./registry", key=key.to_bytes().hex())
    x = np.zeros((4, 30), dtype=np.float32)

    info = platform.push_dataset("medical", "train", {"x": x, "y": np.arange(4)})
    assert_type(info.rows, int)
    train = platform.load_dataset("medical", split="train")
    assert_type(train, Dataset)
    assert_type(len(train), int)
    cols = train.to_numpy()
    assert_type(cols, dict[str, npt.NDArray[Any]])

    minfo = platform.push_model("medical_diagnosis", "model.onnx", metadata={"auc": 0.97})
    assert_type(minfo, ModelInfo)
    model = LeptonAI.load_model("medical_diagnosis", platform=platform, providers=["cuda", "cpu"])
    assert_type(model, Model)
    assert_type(platform.load_model("medical_diagnosis"), Model)
    assert_type(lepton_ai.load_model("model.onnx"), Model)
    assert_type(model.eval(), Model)
    assert_type(model.inputs, list[TensorInfo])
    assert_type(model.inputs[0].dtype, str | None)
    assert_type(model.inputs[0].shape, tuple[int | str | None, ...])
    try:
        platform.load_dataset("absent", split="train")
    except NotFoundError as e:  # errors come from `from .errors import *` in lepton_ai
        assert_type(e, NotFoundError)
    except lepton_ai.WrongKeyError as e:
        assert_type(e, lepton_ai.WrongKeyError)

    y = model(x)
    assert_type(y, npt.NDArray[Any])
    print(y.argmax(axis=1))
    t = torch.zeros(4, 30)
    assert_type(model(t), torch.Tensor)

    with torch.no_grad():
        images: torch.Tensor
        for images, labels in DataLoader(train, batch_size=64):
            outputs = model(images)
            assert_type(outputs, torch.Tensor)
            _, best = torch.max(outputs.data, 1)
            print((best == labels).sum().item())
    model.save("medical_diagnosis.model")


if __name__ == "__main__":
    main()
