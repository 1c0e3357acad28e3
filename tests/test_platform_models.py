"""Real ONNX models (built by ``tests/model_fixtures.py`` with the ``onnx`` package) through the
registry on every backend, run on ONNX Runtime with numpy and torch; and encrypted model files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lepton_ai import LeptonAI, Model
from lepton_ai._model_file import save_model_file
from lepton_ai.errors import InvalidArgumentError, InvalidModelError, KeyRequiredError, WrongKeyError
from model_fixtures import add_mul, logistic_regression

X = np.arange(6, dtype=np.float32).reshape(2, 3)
Y = np.full((2, 3), 2.0, dtype=np.float32)

pytestmark = pytest.mark.usefixtures("lepton_home")


def check_add_mul(model: Model) -> None:
    s, p = model(X, Y)
    np.testing.assert_array_equal(s, X + Y)
    np.testing.assert_array_equal(p, X * Y)


def test_push_and_run_a_real_model(uri, tmp_path):  # noqa: F811
    platform = LeptonAI(uri, cache_dir=tmp_path / "cache", encrypt=False)
    path = tmp_path / "add_mul.onnx"
    path.write_bytes(add_mul())
    assert platform.push_model("add_mul", path, metadata={"op": "add+mul"}).version == 1
    model = LeptonAI.load_model("add_mul", platform=platform)
    check_add_mul(model)
    check_add_mul(platform.load_model("add_mul", version=1, providers=["cpu"]))
    # a loaded Model can be pushed as is
    assert platform.push_model("copy", model).size == len(add_mul())
    check_add_mul(platform.load_model("copy"))


def test_encrypted_registry_model_runs_and_needs_the_key(uri):  # noqa: F811
    key = os.urandom(32)
    platform = LeptonAI(uri, key=key)
    platform.push_model("lr", logistic_regression())
    model = LeptonAI.load_model("lr", platform=platform)
    x = np.ones((4, 30), dtype=np.float32)
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape[0] == 4 and np.isfinite(out).all()
    with pytest.raises(KeyRequiredError):
        LeptonAI.load_model("lr", platform=LeptonAI(uri, cache=False, encrypt=False))
    with pytest.raises(WrongKeyError):
        LeptonAI.load_model("lr", platform=LeptonAI(uri, key=os.urandom(32), cache=False))


def test_models_from_encrypted_sources_are_saved_encrypted(tmp_path):
    key = os.urandom(32)
    platform = LeptonAI(tmp_path / "reg", key=key)
    platform.push_model("add_mul", add_mul())
    model = LeptonAI.load_model("add_mul", platform=platform)
    model.save(tmp_path / "a.model")
    assert (tmp_path / "a.model").read_bytes()[:8] == b"LEPTONMF"
    with pytest.raises(KeyRequiredError, match=r"key="):
        LeptonAI.load_model(tmp_path / "a.model")
    again = LeptonAI.load_model(tmp_path / "a.model", key=key)
    check_add_mul(again)
    # an encrypted file's key is remembered too; decrypt=True writes plain ONNX on purpose
    again.save(tmp_path / "b.model")
    check_add_mul(LeptonAI.load_model(tmp_path / "b.model", key=key))
    again.save(tmp_path / "c.onnx", decrypt=True)
    assert (tmp_path / "c.onnx").read_bytes() == add_mul()
    other = os.urandom(32)
    again.save(tmp_path / "d.model", key=other)
    check_add_mul(LeptonAI.load_model(tmp_path / "d.model", key=other))
    with pytest.raises(InvalidArgumentError, match="not both"):
        again.save(tmp_path / "e.model", key=other, decrypt=True)
    # models from plain sources stay plain
    open_platform = LeptonAI(tmp_path / "p", encrypt=False)
    open_platform.push_model("add_mul", add_mul())
    LeptonAI.load_model("add_mul", platform=open_platform).save(tmp_path / "f.onnx")
    assert (tmp_path / "f.onnx").read_bytes() == add_mul()


def test_torch_in_torch_out_from_the_registry(tmp_path):
    import torch
    platform = LeptonAI(tmp_path / "reg", encrypt=False)
    platform.push_model("add_mul", add_mul())
    model = LeptonAI.load_model("add_mul", platform=platform).eval()
    with torch.no_grad():
        s, p = model(torch.from_numpy(X), torch.from_numpy(Y))
    assert isinstance(s, torch.Tensor)
    assert torch.equal(s, torch.from_numpy(X + Y))


def test_encrypted_model_files_load_with_the_key(tmp_path):
    key = os.urandom(32)
    plain = tmp_path / "m.onnx"
    plain.write_bytes(add_mul())
    check_add_mul(LeptonAI.load_model(plain))
    sealed = tmp_path / "m.model"
    save_model_file(sealed, LeptonAI.load_model(plain).to_bytes(), key=key)
    assert b"add_mul" not in sealed.read_bytes()
    check_add_mul(LeptonAI.load_model(sealed, key=key))
    check_add_mul(LeptonAI.load_model(sealed.read_bytes(), key=key.hex()))
    with pytest.raises(KeyRequiredError, match="is encrypted; pass the key"):
        LeptonAI.load_model(sealed)
    with pytest.raises(WrongKeyError):
        LeptonAI.load_model(sealed, key=os.urandom(32))
    with pytest.raises(InvalidArgumentError, match="version= needs a registry"):
        LeptonAI.load_model(plain, version=2)
    # a registry push of an encrypted file decrypts it with key= first
    reg = LeptonAI(tmp_path / "reg", encrypt=False)
    reg.push_model("from_sealed", sealed, key=key)
    check_add_mul(reg.load_model("from_sealed"))


def test_push_refuses_bytes_that_are_not_a_model(tmp_path):
    """Bytes that are neither ONNX nor ORT format are refused at push, before any version exists;
    onnx and onnxruntime (the peers) refuse the same bytes."""
    import onnx
    import onnxruntime

    junk = b"not a model"
    with pytest.raises(Exception):
        onnx.load_from_string(junk)
    with pytest.raises(Exception):
        onnxruntime.InferenceSession(junk)
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    p.push_model("m", add_mul())
    for bad, why in [(junk, "not an ONNX model"), (b"", "it is empty"), (add_mul()[:40], "it is truncated")]:
        with pytest.raises(InvalidModelError) as e:
            p.push_model("m", bad)
        assert str(e.value).startswith(f"invalid model `m`: {why}"), e.value
        assert str(e.value).endswith("nothing was pushed")
    with pytest.raises(InvalidModelError):
        p.push_model("fresh", junk)
    assert p.list_models() == ["m"] and p.model_versions("m") == [1]


def test_pushing_identical_content_returns_the_latest_version(tmp_path):
    """The rule lives in the core push, so Python gets it too: same ONNX bytes (SHA-256, checked
    with hashlib) and metadata as the latest → that version, nothing written."""
    import hashlib

    p = LeptonAI(str(tmp_path / "reg"), key=os.urandom(32))
    first = p.push_model("m", add_mul(), metadata={"auc": 0.9})
    again = p.push_model("m", add_mul(), metadata={"auc": 0.9})
    assert again == first and p.model_versions("m") == [1]
    assert hashlib.sha256(p.model_bytes("m")).hexdigest() == hashlib.sha256(add_mul()).hexdigest()
    assert p.push_model("m", add_mul(), metadata={"auc": 0.95}).version == 2
    assert p.push_model("m", logistic_regression(), metadata={"auc": 0.95}).version == 3
    assert p.model_versions("m") == [1, 2, 3]
