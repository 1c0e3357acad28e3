"""Registries are encrypted by default: plaintext is an explicit choice (``encrypt=False``,
``--no-encrypt``), the key comes from ``key=``, else ``$LEPTON_KEY``, else ``$LEPTON_HOME/key``
(created 0600 by the local default registry's first push), and a push with no key at all is a
``KeyRequiredError`` that says how to get one. Existing plaintext data keeps reading.

Every test has its own ``LEPTON_HOME`` and no ``LEPTON_KEY`` (``conftest.py``). Expected values
come from the test's own inputs (the bytes and arrays pushed), never from lepton's output.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from lepton_ai import Key, LeptonAI
from model_fixtures import sized
from lepton_ai.errors import KeyRequiredError


def blob(seed: int, n: int = 1000) -> bytes:
    """A model the registry accepts (pushes refuse bytes that are not ONNX), different per seed."""
    return sized(seed, n)


COLUMNS = {"x": np.arange(40, dtype=np.float32).reshape(20, 2)}


def test_push_without_any_key_is_refused_naming_both_ways_out(uri):
    p = LeptonAI(uri)
    assert not p.encrypted
    with pytest.raises(KeyRequiredError) as e:
        p.push_model("m", blob(1))
    text = str(e.value)
    assert text.startswith("pushing needs a key: registries are encrypted by default"), text
    assert "LEPTON_KEY" in text and "Key.generate()" in text and "encrypt=False" in text, text
    with pytest.raises(KeyRequiredError, match="pushing needs a key"):
        p.push_dataset("d", "train", COLUMNS)
    # nothing was pushed
    assert p.list_models() == [] and p.list_datasets() == []


def test_plaintext_is_an_explicit_choice(uri):
    p = LeptonAI(uri, encrypt=False)
    assert p.push_model("m", blob(1)).encrypted is False
    assert p.push_dataset("d", "train", COLUMNS).encrypted is False
    # and readable by a handle without any key
    assert LeptonAI(uri, cache=False).model_bytes("m") == blob(1)
    np.testing.assert_array_equal(LeptonAI(uri).load_dataset("d").to_numpy()["x"], COLUMNS["x"])


def test_key_from_lepton_key_encrypts(uri, monkeypatch):
    key = Key.generate()
    monkeypatch.setenv("LEPTON_KEY", key.to_bytes().hex())
    p = LeptonAI(uri)
    assert p.encrypted
    assert p.push_model("m", blob(2)).encrypted is True
    assert p.push_dataset("d", "train", COLUMNS).encrypted is True
    monkeypatch.delenv("LEPTON_KEY")
    with pytest.raises(KeyRequiredError):
        LeptonAI(uri, cache=False).model_bytes("m")
    assert LeptonAI(uri, key=key, cache=False).model_bytes("m") == blob(2)
    np.testing.assert_array_equal(
        LeptonAI(uri, key=key).load_dataset("d").to_numpy()["x"], COLUMNS["x"]
    )


def test_local_default_registry_creates_a_private_key_file_on_first_push(lepton_home):
    p = LeptonAI()
    key_file = lepton_home / "key"
    assert not key_file.exists()  # opening alone creates no key
    info = p.push_model("m", blob(3))
    assert info.encrypted is True
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = Key.from_file(str(key_file))
    assert p.push_dataset("d", "train", COLUMNS).encrypted is True
    # the same key is used by the next handle, and is the one in the file
    assert LeptonAI().model_bytes("m") == blob(3)
    assert LeptonAI(lepton_home / "registry", key=key).model_bytes("m") == blob(3)
    with pytest.raises(KeyRequiredError):
        LeptonAI(lepton_home / "registry", encrypt=False).model_bytes("m")
    # a second push keeps the same key file
    before = key_file.read_bytes()
    LeptonAI().push_model("m", blob(4))
    assert key_file.read_bytes() == before


def test_a_moved_key_file_reads_the_registry_elsewhere(tmp_path, monkeypatch, lepton_home):
    LeptonAI().push_model("m", blob(5))
    # The guide's recipe: copy the registry and the key file to another LEPTON_HOME.
    other = tmp_path / "other-home"
    other.mkdir()
    (other / "key").write_bytes((lepton_home / "key").read_bytes())
    os.chmod(other / "key", 0o600)
    monkeypatch.setenv("LEPTON_HOME", str(other))
    assert LeptonAI(lepton_home / "registry").model_bytes("m") == blob(5)


def test_existing_plaintext_keeps_reading_with_a_key_from_the_environment(uri, monkeypatch):
    LeptonAI(uri, encrypt=False).push_model("old", blob(6))
    LeptonAI(uri, encrypt=False).push_dataset("old", "train", COLUMNS)
    monkeypatch.setenv("LEPTON_KEY", Key.generate().to_bytes().hex())
    p = LeptonAI(uri, cache=False)
    assert p.model_bytes("old") == blob(6)
    np.testing.assert_array_equal(p.load_dataset("old").to_numpy()["x"], COLUMNS["x"])
    # new pushes are encrypted
    assert p.push_model("new", blob(7)).encrypted is True


def test_cli_push_without_a_key_names_the_flags(tmp_path):
    reg = tmp_path / "reg"
    model = tmp_path / "m.onnx"
    model.write_bytes(blob(8))
    env = {**os.environ}
    cmd = [sys.executable, "-m", "lepton_ai.cli", "--registry", str(reg), "push", "model", "m"]
    r = subprocess.run([*cmd, str(model)], capture_output=True, text=True, env=env)
    assert r.returncode == 1, r.stderr
    assert "pushing needs a key" in r.stderr, r.stderr
    assert "--key-file" in r.stderr and "--no-encrypt" in r.stderr, r.stderr
    assert "LeptonAI(" not in r.stderr, r.stderr
    r = subprocess.run([*cmd, str(model), "--no-encrypt"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert LeptonAI(reg).model_info("m").encrypted is False


def test_a_lost_key_file_is_not_silently_replaced(lepton_home):
    # A new key for a registry that already holds data would split it under two keys.
    LeptonAI().push_model("m", blob(8))
    (lepton_home / "key").unlink()
    with pytest.raises(KeyRequiredError, match="already holds models or datasets, but there is no key file"):
        LeptonAI().push_dataset("d", "train", COLUMNS)
    assert not (lepton_home / "key").exists()
    assert LeptonAI().list_datasets() == [] and LeptonAI().model_versions("m") == [1]


def test_encrypt_false_stores_in_clear_even_with_a_key(uri):
    p = LeptonAI(uri, key=Key.generate(), encrypt=False)
    assert p.push_dataset("d", "train", COLUMNS).encrypted is False
    assert p.push_model("m", blob(9)).encrypted is False
    assert LeptonAI(uri, encrypt=False, cache=False).model_bytes("m") == blob(9)


def test_a_key_file_others_can_read_warns(lepton_home):
    LeptonAI().push_model("m", blob(10))
    os.chmod(lepton_home / "key", 0o644)
    with pytest.warns(UserWarning, match=r"key file .* is readable by other users \(mode 644\); make it private"):
        p = LeptonAI()
    assert p.model_bytes("m") == blob(10)  # still used
    os.chmod(lepton_home / "key", 0o600)
