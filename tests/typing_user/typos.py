"""Typos a type checker must catch (tests/test_typing.py expects one error per marked line)."""

from __future__ import annotations

import numpy as np

from lepton_ai import LeptonAI

platform = LeptonAI()
model = LeptonAI.load_model("m", platfrom=platform)  # typo: platfrom
train = platform.load_dataset("medical", splt="train")  # typo: splt
n: str = len(platform.load_dataset("medical"))  # wrong type: int
y: str = LeptonAI.load_model("m.onnx")(np.zeros((1, 30), np.float32))  # wrong type: ndarray
