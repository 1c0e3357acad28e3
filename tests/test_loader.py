"""The torch iterable form (``Dataset.to_iterable_dataset``): whole batches in the chunk-aware
shuffled order, split across DataLoader workers and ranks, padding/dropping as torch's
``DistributedSampler`` (its ``len`` is the expected row count per rank), ``set_epoch``, exact
mid-epoch resume through torchdata's ``StatefulDataLoader`` with 2 workers, and the warning
when a shuffling sampler thrashes the chunk cache. Rows are checked against the numpy arrays
they were written from (each row carries its index in ``label``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

import lepton_ai as la
from lepton_ai import Dataset, write_dataset

ROWS = 1000


def _source(rows: int = ROWS) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"x": rng.standard_normal((rows, 6)).astype(np.float32), "label": np.arange(rows, dtype=np.int64)}


@pytest.fixture
def ds(tmp_path: Path) -> Dataset:
    # 1 KiB chunks: ~18 rows each, many chunks to shuffle and deal out.
    return write_dataset(str(tmp_path / "d"), _source(), chunk_bytes=1024)


def _labels(batches: list[dict[str, torch.Tensor]]) -> list[list[int]]:
    return [b["label"].tolist() for b in batches]


def _check_rows(batches: list[dict[str, torch.Tensor]]) -> None:
    src = _source()
    for b in batches:
        np.testing.assert_array_equal(b["x"].numpy(), src["x"][b["label"].numpy()])


def test_one_epoch_is_every_row_once_in_whole_batches(ds: Dataset) -> None:
    it = ds.to_iterable_dataset(batch_size=64, shuffle=True, seed=0)
    batches = list(DataLoader(it, batch_size=None))
    assert isinstance(it, torch.utils.data.IterableDataset)
    assert [len(b["label"]) for b in batches] == [64] * 15 + [40]
    assert len(it) == 16
    flat = np.concatenate(_labels(batches))
    np.testing.assert_array_equal(np.sort(flat), np.arange(ROWS))
    assert not np.array_equal(flat, np.arange(ROWS))  # shuffled
    _check_rows(batches)
    # The order is the core's chunk-aware order: the same as iter_batches.
    same = [b[1].tolist() for b in ds.iter_batches(64, shuffle=True, seed=0)]
    assert _labels(batches) == same


def test_two_workers_split_the_epoch(ds: Dataset) -> None:
    it = ds.to_iterable_dataset(batch_size=64, shuffle=True, seed=1)
    batches = list(DataLoader(it, batch_size=None, num_workers=2))
    flat = np.concatenate(_labels(batches))
    np.testing.assert_array_equal(np.sort(flat), np.arange(ROWS))
    assert sorted(len(b["label"]) for b in batches) == [40] + [64] * 15
    _check_rows(batches)


def test_set_epoch_reshuffles(ds: Dataset) -> None:
    it = ds.to_iterable_dataset(batch_size=100, shuffle=True, seed=0)
    e0 = _labels(list(it))
    assert _labels(list(it)) == e0
    it.set_epoch(1)
    e1 = _labels(list(it))
    assert e1 != e0 and sorted(sum(e1, [])) == list(range(ROWS))


@pytest.mark.parametrize("world", [2, 3, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_read_equal_shares_like_distributed_sampler(ds: Dataset, world: int, drop_last: bool) -> None:
    per_rank = []
    counts = []
    for rank in range(world):
        it = ds.to_iterable_dataset(batch_size=32, shuffle=True, seed=5, drop_last=drop_last, rank=rank, world_size=world)
        batches = list(DataLoader(it, batch_size=None, num_workers=2))
        labels = np.concatenate(_labels(batches)) if batches else np.array([], np.int64)
        per_rank.append(labels)
        counts.append(len(batches))
        assert len(it) == len(batches)
        sampler = DistributedSampler(range(ROWS), num_replicas=world, rank=rank, shuffle=False, drop_last=drop_last)
        expected_rows = len(sampler) // 32 * 32 if drop_last else len(sampler)
        assert len(labels) == expected_rows
    assert len(set(counts)) == 1  # every rank the same number of batches
    everything = np.concatenate(per_rank)
    if drop_last:
        assert len(np.unique(everything)) == len(everything)  # disjoint
    else:
        np.testing.assert_array_equal(np.unique(everything), np.arange(ROWS))  # all rows, some twice
        assert len(everything) - ROWS == len(DistributedSampler(range(ROWS), num_replicas=world, rank=0)) * world - ROWS


def test_fewer_rows_than_ranks_warns_and_pads(tmp_path: Path) -> None:
    small = write_dataset(str(tmp_path / "s"), {"label": np.arange(5, dtype=np.int64)})
    got = []
    for rank in range(8):
        with pytest.warns(UserWarning, match="5 rows for 8 ranks: each rank reads 1"):
            it = small.to_iterable_dataset(batch_size=4, rank=rank, world_size=8)
        got.append([b["label"].tolist() for b in it])
    assert all(len(g) == 1 and len(g[0]) == 1 for g in got)
    assert sorted({g[0][0] for g in got}) == [0, 1, 2, 3, 4]
    with pytest.warns(UserWarning, match="drop_last=True drops them all"):
        it = small.to_iterable_dataset(batch_size=4, drop_last=True, rank=0, world_size=8)
    assert list(it) == [] and len(it) == 0


def test_resume_mid_epoch_with_stateful_dataloader_and_two_workers(ds: Dataset) -> None:
    from torchdata.stateful_dataloader import StatefulDataLoader

    def loader() -> StatefulDataLoader:
        it = ds.to_iterable_dataset(batch_size=32, shuffle=True, seed=7)
        it.set_epoch(2)
        return StatefulDataLoader(it, batch_size=None, num_workers=2)

    full = _labels(list(loader()))
    assert sorted(sum(full, [])) == list(range(ROWS))
    for k in (1, 5, 12):
        first = loader()
        seen = []
        for i, b in enumerate(first):
            seen.append(b["label"].tolist())
            if i + 1 == k:
                break
        state = first.state_dict()
        del first
        resumed = loader()
        resumed.load_state_dict(state)
        rest = _labels(list(resumed))
        assert seen == full[:k]
        assert rest == full[k:], k


def test_resume_in_process(ds: Dataset) -> None:
    it = ds.to_iterable_dataset(batch_size=50, shuffle=True, seed=3)
    full = _labels(list(it))
    gen = iter(it)
    head = [next(gen)["label"].tolist() for _ in range(4)]
    state = it.state_dict()
    again = ds.to_iterable_dataset(batch_size=50, shuffle=True, seed=3)
    again.load_state_dict(state)
    assert head + _labels(list(again)) == full


def test_resume_with_other_settings_is_refused(ds: Dataset) -> None:
    it = ds.to_iterable_dataset(batch_size=50, shuffle=True, seed=3)
    gen = iter(it)
    next(gen)
    state = it.state_dict()
    other = ds.to_iterable_dataset(batch_size=64, shuffle=True, seed=3)
    other.load_state_dict(state)
    with pytest.raises(la.InvalidArgumentError, match="batch_size = 50, this iteration has batch_size = 64"):
        list(other)


def test_bad_rank_arguments(ds: Dataset) -> None:
    with pytest.raises(la.InvalidArgumentError, match="rank and world_size together"):
        ds.to_iterable_dataset(rank=1)
    with pytest.raises(la.InvalidArgumentError, match="rank must be in 0..world_size"):
        ds.to_iterable_dataset(rank=2, world_size=2)
    with pytest.raises(la.InvalidArgumentError, match="not a shard"):
        ds.shard(0, 2).to_iterable_dataset()


def test_map_style_shuffle_stays_correct_and_warns_when_thrashing(tmp_path: Path) -> None:
    # 1 KiB chunks and a 4 KiB cache: a shuffling sampler decodes a chunk for most rows.
    ds = Dataset(str(write_dataset(str(tmp_path / "d"), _source(), chunk_bytes=1024)._uri), cache_bytes=4096)
    with pytest.warns(UserWarning, match=r"thrashing the chunk cache.*to_iterable_dataset"):
        batches = list(DataLoader(ds, batch_size=50, shuffle=True, generator=torch.Generator().manual_seed(0)))
    x = torch.cat([b[0] for b in batches]).numpy()
    labels = torch.cat([b[1] for b in batches]).numpy()
    np.testing.assert_array_equal(np.sort(labels), np.arange(ROWS))
    np.testing.assert_array_equal(x, _source()["x"][labels])


def test_sequential_access_does_not_warn(ds: Dataset) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            labels = torch.cat([b[1] for b in DataLoader(ds, batch_size=50)]).numpy()
    np.testing.assert_array_equal(labels, np.arange(ROWS))
