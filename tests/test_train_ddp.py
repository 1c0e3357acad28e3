"""``examples/train_ddp.py`` under ``torchrun --nproc_per_node=2`` (gloo, CPU): each rank reads a
disjoint, equal share of a registry dataset, and the shares' union is the dataset.

The dataset is pushed here (400 rows, each row unique: its ``id`` column), encrypted, to a fresh
local default registry ($LEPTON_HOME in a temporary folder, the key in ``medical.key`` as the
example reads it); each rank saves the rows of its first epoch (``--record``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np

from bounded_run import run_bounded
from lepton_ai import Key, LeptonAI

ROOT = Path(__file__).resolve().parent.parent


def test_two_ranks_read_disjoint_equal_shares_whose_union_is_the_dataset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key = Key.generate()
    (home / "medical.key").write_text(key.to_bytes().hex())
    rows = 400
    rng = np.random.default_rng(5)
    features = rng.normal(size=(rows, 6)).astype(np.float32)
    platform = LeptonAI(home / "registry", key=key)
    platform.push_dataset(
        "toy",
        "train",
        {"x": features, "y": (features[:, 0] > 0).astype(np.int64), "id": np.arange(rows)},
        chunk_bytes=2 << 10,  # many chunks, so the per-epoch chunk shuffle matters
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LEPTON_URI", "LEPTON_KEY")}
    env["LEPTON_HOME"] = str(home)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    command = [
        torchrun, "--standalone", "--nproc_per_node=2", str(ROOT / "examples" / "train_ddp.py"),
        "--dataset", "toy", "--features", "x", "--labels", "y", "--epochs", "2",
        "--record", str(tmp_path / "record"),
    ]
    code, out = run_bounded(command, env)
    assert code == 0, out
    assert "epoch 1: loss" in out
    shares = [np.load(tmp_path / "record" / f"rank{r}.npz") for r in (0, 1)]
    ids = [s["id"] for s in shares]
    assert [len(i) for i in ids] == [rows // 2, rows // 2]
    assert set(ids[0].tolist()).isdisjoint(ids[1].tolist())
    union = np.sort(np.concatenate(ids))
    np.testing.assert_array_equal(union, np.arange(rows))
    # Each rank got the rows themselves, not only their ids.
    for s in shares:
        np.testing.assert_array_equal(s["x"], features[s["id"]])
