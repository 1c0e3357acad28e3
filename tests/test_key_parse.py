"""Every form of key the API accepts goes through lepton-core's one parser (``Key.parse``)."""

from __future__ import annotations

import base64
import os

import numpy as np
import pytest

from lepton_ai import InvalidArgumentError, Key, LeptonAI


def test_every_form_gives_the_same_key() -> None:
    raw = os.urandom(32)
    expected = Key.from_bytes(raw)
    forms = [expected, raw, bytearray(raw), memoryview(raw), raw.hex(), raw.hex().upper(),
             base64.b64encode(raw).decode(), f" {raw.hex()}\n"]
    for form in forms:
        assert Key.parse(form) == expected, type(form)
        assert Key.parse(form).to_bytes() == raw


@pytest.mark.parametrize("bad", [12, 1.5, [0] * 32, b"x" * 31, "abc", None])
def test_other_values_are_invalid_argument(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        Key.parse(bad)  # type: ignore[arg-type]


def test_platform_takes_a_base64_key() -> None:
    raw = os.urandom(32)
    p = LeptonAI("memory://key-parse", key=base64.b64encode(raw).decode())
    p.push_dataset("d", "train", {"x": np.arange(5.0)})
    same = LeptonAI("memory://key-parse", key=raw.hex())
    np.testing.assert_array_equal(same.load_dataset("d").to_numpy()["x"], np.arange(5.0))
