"""Rollback detection from Python: a registry whose latest version goes backwards (the newest
commit hidden and ``LATEST`` moved back, as a stale replica or an attacker with write access
would serve it) raises ``RollbackError``; pinning ``version=`` reads on; the mark lives in
``$LEPTON_HOME/seen``. A local-folder registry, tampered with through the file system."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lepton_ai import LeptonAI, RollbackError
from model_fixtures import sized
from lepton_ai.errors import IntegrityError


def test_latest_going_backwards_is_a_rollback_error(tmp_path, lepton_home):
    reg = tmp_path / "reg"
    p = LeptonAI(reg, encrypt=False)
    for i in range(3):
        p.push_model("m", sized(i + 1, 64))
        p.push_dataset("d", "train", {"y": np.full(10, i, np.int64)})
    assert p.model_info("m").version == 3
    assert p.load_dataset("d").version == 3
    assert list((lepton_home / "seen").glob("*.json")), "the marks live in LEPTON_HOME/seen"

    (reg / "models" / "m" / "3" / "manifest.json").unlink()
    (reg / "models" / "m" / "LATEST").write_text(json.dumps({"version": 2}))
    (reg / "datasets" / "d" / "train" / "3" / "manifests" / f"{3:020}.manifest").unlink()

    # a new handle (another session of this client) detects it too
    for q in (p, LeptonAI(reg, encrypt=False)):
        with pytest.raises(RollbackError) as e:
            q.model_info("m")
        assert isinstance(e.value, IntegrityError) and isinstance(e.value, RuntimeError)
        text = str(e.value)
        assert text.startswith(
            "rollback detected for model `m`: the registry says its latest version is 2, but this "
            "client has seen version 3 as the latest"
        ), text
        assert "Pin version=3" in text, text
        with pytest.raises(RollbackError, match="dataset `d` split `train`"):
            q.load_dataset("d")
    # pinned versions are not affected
    assert p.model_bytes("m", version=2) == sized(2, 64)
    np.testing.assert_array_equal(p.load_dataset("d", version=2).to_numpy()["y"], np.full(10, 1))
