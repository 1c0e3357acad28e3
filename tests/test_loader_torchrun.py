"""Two processes under ``torchrun --nproc_per_node=2`` (gloo, CPU): each takes its rank and world
size from ``torch.distributed`` and reads a disjoint, equal share whose union is the dataset
(checked against the ``label`` column written from ``np.arange``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from lepton_ai import write_dataset

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    from lepton_ai import Dataset

    dist.init_process_group("gloo")
    ds = Dataset(sys.argv[1])
    it = ds.to_iterable_dataset(batch_size=16, shuffle=True, seed=4)
    batches = [b["label"].tolist() for b in DataLoader(it, batch_size=None, num_workers=2)]
    out = {"rank": dist.get_rank(), "world": dist.get_world_size(), "len": len(it), "batches": batches}
    with open(f"{sys.argv[2]}/rank{dist.get_rank()}.json", "w") as f:
        json.dump(out, f)
    dist.barrier()
    dist.destroy_process_group()
    """
)


def test_torchrun_two_ranks_read_disjoint_equal_shares(tmp_path: Path) -> None:
    rows = 600
    write_dataset(str(tmp_path / "d"), {"label": np.arange(rows, dtype=np.int64)}, chunk_bytes=512)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    result = subprocess.run(
        [*cmd, str(script), str(tmp_path / "d"), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [(o["rank"], o["world"]) for o in outs] == [(0, 2), (1, 2)]
    shares = [sorted(sum(o["batches"], [])) for o in outs]
    assert len(shares[0]) == len(shares[1]) == rows // 2
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == list(range(rows))
    assert len(outs[0]["batches"]) == len(outs[1]["batches"]) == outs[0]["len"] == outs[1]["len"]
