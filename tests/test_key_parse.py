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


def test_a_malformed_ambient_key_fails_only_what_uses_it(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg = str(tmp_path / "reg")
    LeptonAI(reg, encrypt=False).push_dataset("d", "train", {"x": np.arange(3)})
    home = tmp_path / "home-with-a-bad-key"  # not the tests' own home (pushes record marks there)
    home.mkdir()
    (home / "key").write_text("not a key\n")
    (home / "key").chmod(0o600)
    monkeypatch.setenv("LEPTON_HOME", str(home))
    monkeypatch.delenv("LEPTON_KEY", raising=False)
    p = LeptonAI(reg)  # opening, listing and reading plaintext need no key
    assert p.list_datasets() == ["d"]
    np.testing.assert_array_equal(p.load_dataset("d", "train").to_numpy()["x"], np.arange(3))
    with pytest.raises(InvalidArgumentError, match=f"^key file {home / 'key'} holds neither 32 raw bytes"):
        p.push_dataset("d", "train", {"x": np.arange(4)})
    monkeypatch.setenv("LEPTON_KEY", "zz")  # $LEPTON_KEY comes first, and says so
    with pytest.raises(InvalidArgumentError, match="^environment variable LEPTON_KEY: a key as text"):
        LeptonAI(reg).push_dataset("d", "train", {"x": np.arange(4)})
    with pytest.raises(InvalidArgumentError, match="^key=: a key as text is 64 hex digits"):
        LeptonAI(reg, key="zz")
