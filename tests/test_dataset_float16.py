"""A float16 column: values given as float16 are stored bit for bit (expected: numpy's own
float16 array); other dtypes are refused with a message saying how to give float16, since the
core has no half-precision conversion (issue 12 item 7; the guide says so)."""

from __future__ import annotations

import numpy as np
import pytest

from lepton_ai import LeptonAI
from lepton_ai.errors import SchemaError


def test_float16_values_round_trip_bit_for_bit(tmp_path):
    want = np.asarray([0.1, 65504.0, -2.5e-8, np.inf], dtype=np.float16)
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    p.push_dataset("h", "train", {"a": want}, schema={"a": "float16"})
    got = p.load_dataset("h", "train").to_numpy()["a"]
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))


@pytest.mark.parametrize("given, dtype", [([0.5, 1.5], "float64"), ([1, 2], "int64"), (np.ones(2, np.float32), "float32")])
def test_other_dtypes_for_float16_say_how_to_give_float16(tmp_path, given, dtype):
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with pytest.raises(SchemaError) as e:
        p.push_dataset("h", "train", {"a": given}, schema={"a": "float16"})
    assert str(e.value) == (
        f"schema error: column `a` is float16, got {dtype}: float16 converts to or from no other dtype "
        "here; give float16 values (numpy: np.asarray(values, dtype=np.float16))"
    )
