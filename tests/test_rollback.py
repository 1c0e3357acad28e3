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


def assert_pushes_refused(p: LeptonAI) -> None:
    """Pushes to the rolled-back model `m` and dataset `d` split `train` are refused."""
    with pytest.raises(RollbackError, match="pushes to it are refused until then"):
        p.push_model("m", sized(9, 64))
    with pytest.raises(RollbackError):
        p.push_dataset("d", "train", {"y": np.full(10, 9, np.int64)})


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
        # it suggests only versions the store still has (3 is hidden)
        assert "To read on, pin one of the versions the store has (version=2, 1);" in text, text
        assert "Pin version=3" not in text and "version=3" not in text, text
        with pytest.raises(RollbackError, match="dataset `d` split `train`"):
            q.load_dataset("d")
    # a push to a rolled-back item is refused and the mark stays (as TUF keeps it): a new
    # version would hide the rollback
    assert_pushes_refused(p)
    with pytest.raises(RollbackError):
        LeptonAI(reg, encrypt=False).model_info("m")
    assert p.model_versions("m") == [1, 2] and p.dataset_versions("d", "train") == [1, 2]
    # pinned versions are not affected
    assert p.model_bytes("m", version=2) == sized(2, 64)
    np.testing.assert_array_equal(p.load_dataset("d", version=2).to_numpy()["y"], np.full(10, 1))


def test_every_version_gone_is_a_rollback_and_a_push_is_refused(tmp_path, lepton_home):
    """A store that hides every version (its folder removed outside lepton) is the extreme
    rollback: a push must not start again at version 1 under the old mark."""
    import shutil

    reg = tmp_path / "reg"
    p = LeptonAI(reg, encrypt=False)
    for i in range(2):
        p.push_model("m", sized(i + 1, 64))
        p.push_dataset("d", "train", {"y": np.full(10, i, np.int64)})
    shutil.rmtree(reg / "models" / "m")
    shutil.rmtree(reg / "datasets" / "d")
    with pytest.raises(RollbackError, match="its latest version is none"):
        p.model_info("m")
    assert_pushes_refused(p)
    assert not (reg / "models" / "m").exists() or p.model_versions("m") == []
    # deleting through lepton forgets the mark: a name removed that way starts again at 1
    p.push_model("fresh", sized(3, 64))
    p.delete_model("fresh", 1)
    assert p.push_model("fresh", sized(4, 64)).version == 2
