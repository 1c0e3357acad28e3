"""Model.save(path, key=...) and load_model(path, key=...): one encrypted file, decrypted in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lepton_ai
from lepton_ai import Key, KeyRequiredError, LeptonAI, WrongKeyError
from model_fixtures import logistic_regression


def test_save_with_key_round_trips_and_is_not_clear_onnx(tmp_path: Path) -> None:
    onnx = logistic_regression()
    model = lepton_ai.load_model(onnx)
    key = Key.generate()
    path = tmp_path / "m.model"
    model.save(path, key=key)
    stored = path.read_bytes()
    assert onnx not in stored and onnx[:64] not in stored  # no clear ONNX on disk
    x = np.random.default_rng(0).normal(size=(4, 30)).astype(np.float32)
    for reloaded in (lepton_ai.load_model(path, key=key), LeptonAI.load_model(path, key=key)):
        np.testing.assert_array_equal(reloaded(x), model(x))


def test_encrypted_file_needs_the_right_key(tmp_path: Path) -> None:
    path = tmp_path / "m.model"
    lepton_ai.load_model(logistic_regression()).save(path, key=Key.generate())
    with pytest.raises(KeyRequiredError):
        lepton_ai.load_model(path)
    with pytest.raises(WrongKeyError):
        lepton_ai.load_model(path, key=Key.generate())


def test_save_without_key_writes_plain_onnx(tmp_path: Path) -> None:
    onnx = logistic_regression()
    path = tmp_path / "m.onnx"
    lepton_ai.load_model(onnx).save(path)
    assert path.read_bytes() == onnx
