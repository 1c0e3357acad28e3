"""Data-parallel training with torch DDP on a registry dataset: each rank reads its own disjoint,
equal share.

    torchrun --nproc_per_node=2 examples/train_ddp.py [--dataset medical --split train]

CPU only (the gloo backend); every rank opens the same platform as `examples/medical_diagnosis.py`
(run it first: the local default registry or $LEPTON_URI, the key from $LEPTON_KEY or
$LEPTON_HOME/medical.key) and reads its share through `Dataset.to_iterable_dataset` (rank and
world size from torch.distributed): `ceil(len(ds) / world_size)` rows, padded by repeating rows as
`DistributedSampler` does, shuffled per epoch with the same seed on every rank, so ranks stay
disjoint and take the same number of steps (DDP needs both).
Rank 0 prints the loss per epoch and the accuracy on the test split. `--record DIR` makes each rank
save the rows of its first epoch as `DIR/rank<r>.npz` (the test checks the shares with it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from medical_diagnosis import lepton_home, load_or_create_key  # noqa: E402

from lepton_ai import Dataset, LeptonAI  # noqa: E402


def rank_batches(ds: Dataset, batch_size: int, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
    """This rank's batches of one epoch (dicts of tensors): a disjoint, equal share of the rows
    (rank and world size from ``torch.distributed``), shuffled by chunk and within a window,
    identically seeded on every rank, read by the core in whole batches."""
    it = ds.to_iterable_dataset(batch_size=batch_size, shuffle=True, seed=0)
    it.set_epoch(epoch)
    return iter(DataLoader(it, batch_size=None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="medical")
    parser.add_argument("--split", default="train")
    parser.add_argument("--features", default="images", help="the input column (float32 rows)")
    parser.add_argument("--labels", default="labels", help="the class column (int64)")
    parser.add_argument("--classes", type=int, default=2, help="labels are 0 .. classes - 1")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--record", type=Path, help="save each rank's first-epoch rows here")
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)

    platform = LeptonAI(os.environ.get("LEPTON_URI") or None, key=load_or_create_key(lepton_home()), progress=False)
    ds = platform.load_dataset(args.dataset, args.split)
    features = ds.schema[args.features][1][0]
    net = nn.Sequential(nn.BatchNorm1d(features), nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, args.classes))
    model = DistributedDataParallel(net)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        seen: list[dict[str, torch.Tensor]] = []
        total, steps = 0.0, 0
        for batch in rank_batches(ds, args.batch_size, epoch):
            if args.record and epoch == 0:
                seen.append(batch)
            x, y = batch[args.features], batch[args.labels]
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        if args.record and epoch == 0:
            args.record.mkdir(parents=True, exist_ok=True)
            np.savez(args.record / f"rank{rank}.npz", **{n: np.concatenate([b[n].numpy() for b in seen]) for n in ds.columns})
        mean = torch.tensor([total / max(1, steps)])
        dist.all_reduce(mean)
        if rank == 0:
            print(f"epoch {epoch}: loss {mean.item() / world:.4f} ({steps} steps per rank)")

    if rank == 0 and "test" in platform.dataset_splits(args.dataset):
        test = platform.load_dataset(args.dataset, "test").to_numpy(progress=False)
        net.eval()
        with torch.no_grad():
            predicted = net(torch.from_numpy(test[args.features])).argmax(dim=1).numpy()
        correct = int((predicted == test[args.labels]).sum())
        print(f"accuracy: {100.0 * correct / len(predicted):.2f}% ({correct}/{len(predicted)} test rows)")
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
