"""Hugging Face ``Array2D``/``Array3D`` features (Arrow extension types of HF's own, not pyarrow's
``fixed_shape_tensor``) push as fixed-shape columns, ``(None, ...)`` where HF's first dimension
is None; expected values are ``ds.with_format("numpy")``'s (issue 12 item 5)."""

from __future__ import annotations

import datasets
import numpy as np
from datasets import Array2D, Array3D, Features

from lepton_ai import LeptonAI


def test_array2d_and_array3d_features_push_with_their_shapes(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    b = [np.zeros((1, 2, 3), np.int16), np.ones((2, 2, 3), np.int16), np.full((3, 2, 3), 7, np.int16)]
    features = Features({"a": Array2D((2, 2), "float32"), "b": Array3D((None, 2, 3), "int16")})
    ds = datasets.Dataset.from_dict({"a": a, "b": b}, features=features)
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    p.push_dataset("x", "train", ds)
    back = p.load_dataset("x", "train")
    assert back.schema == {"a": ("float32", (2, 2)), "b": ("int16", (None, 2, 3))}
    want = ds.with_format("numpy")[:]
    got = back.to_numpy()
    assert got["a"].dtype == np.float32
    np.testing.assert_array_equal(got["a"], want["a"])
    assert len(got["b"]) == len(want["b"]) == 3
    for g, w in zip(got["b"], want["b"]):
        assert g.dtype == np.dtype(features["b"].dtype)
        np.testing.assert_array_equal(g, w)


def test_features_as_a_schema_give_the_same_shapes(tmp_path):
    features = Features({"a": Array2D((None, 4), "float64")})
    rows = {"a": [np.ones((1, 4)), np.zeros((2, 4))]}
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    p.push_dataset("y", "train", rows, schema=features)
    assert p.load_dataset("y", "train").schema == {"a": ("float64", (None, 4))}
