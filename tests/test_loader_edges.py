"""Rough edges a new user of ``to_iterable_dataset`` hit: no torch warning about read-only
numpy arrays (main process and workers), ``set_epoch`` seen by persistent workers (fork and
spawn), and a ``DataLoader`` left at its default ``batch_size=1`` refused with an error naming
``batch_size=None`` instead of silently adding a dimension."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from torch.utils.data import DataLoader, default_collate

import lepton_ai as la
from lepton_ai import Dataset, write_dataset

ROWS = 300


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    source = {
        "x": np.linspace(0, 1, ROWS * 4, dtype=np.float32).reshape(ROWS, 4),
        "label": np.arange(ROWS, dtype=np.int64),
        "text": [f"t{i}" for i in range(ROWS)],
        "tokens": [np.arange(i % 5 + 1, dtype=np.int64) for i in range(ROWS)],
    }
    return write_dataset(str(tmp_path_factory.mktemp("edges") / "d"), source, chunk_bytes=1024)


def _collate_rows(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Map-style rows: torch's default_collate for the fixed columns and text, lepton's padding
    for the variable-shape one."""
    fixed = default_collate([r[:3] for r in rows])
    return (*fixed, la.collate_padded([r[3] for r in rows]))


def _warnings_are_errors(_: int) -> None:
    """In a worker: any warning raises, and the DataLoader re-raises it in the main process."""
    warnings.simplefilter("error")


@pytest.mark.parametrize("workers", [0, 2])
def test_no_warning_reaches_the_user(ds: Dataset, workers: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init = _warnings_are_errors if workers else None
        it = ds.to_iterable_dataset(batch_size=64, shuffle=True)
        batches = list(DataLoader(it, batch_size=None, num_workers=workers, worker_init_fn=init))
        mapped = list(DataLoader(ds, batch_size=32, num_workers=workers, worker_init_fn=init, collate_fn=_collate_rows))
    assert sorted(sum((b["label"].tolist() for b in batches), [])) == list(range(ROWS))
    assert sum(len(b[1]) for b in mapped) == ROWS
    # The tensors are writable buffers of their own (torch warns about read-only ones).
    batches[0]["x"].add_(1)
    batches[0]["tokens"][0].add_(1)


def _epoch_batches(ds: Dataset, epoch: int) -> list[tuple[int, ...]]:
    """Epoch ``epoch``'s batches from a loader whose fresh workers start after ``set_epoch``."""
    it = ds.to_iterable_dataset(batch_size=50, shuffle=True, seed=3)
    it.set_epoch(epoch)
    return sorted(tuple(b["label"].tolist()) for b in DataLoader(it, batch_size=None, num_workers=2))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_set_epoch_reaches_persistent_workers(ds: Dataset, context: str) -> None:
    it = ds.to_iterable_dataset(batch_size=50, shuffle=True, seed=3)
    loader = DataLoader(it, batch_size=None, num_workers=2, persistent_workers=True, multiprocessing_context=context)
    seen = []
    for epoch in (0, 1, 2):
        it.set_epoch(epoch)
        seen.append(sorted(tuple(b["label"].tolist()) for b in loader))
    expected = [_epoch_batches(ds, e) for e in (0, 1, 2)]
    assert expected[0] != expected[1] != expected[2]
    assert seen == expected
    for batches in seen:
        assert sorted(sum(batches, ())) == list(range(ROWS))


def test_a_plain_pickle_copies_the_epoch(ds: Dataset) -> None:
    import pickle

    it = ds.to_iterable_dataset(batch_size=50, shuffle=True, seed=3)
    it.set_epoch(1)
    copy: Any = pickle.loads(pickle.dumps(it))
    it.set_epoch(2)
    once = ds.iter_batches(50, shuffle=True, seed=3, epoch=1)
    assert [b["label"].tolist() for b in copy] == [b[1].tolist() for b in once]


@pytest.mark.parametrize("workers", [0, 2])
def test_default_batch_size_is_refused_naming_batch_size_none(ds: Dataset, workers: int) -> None:
    it = ds.to_iterable_dataset(batch_size=64)
    for loader in (DataLoader(it, num_workers=workers), DataLoader(it, batch_size=4, num_workers=workers)):
        with pytest.raises(la.InvalidArgumentError, match=r"pass DataLoader\(it, batch_size=None"):
            next(iter(loader))
    # What the error asks for works: whole batches of 64 rows, no added dimension.
    batch = next(iter(DataLoader(it, batch_size=None, num_workers=workers)))
    assert tuple(batch["x"].shape) == (64, 4)
    assert isinstance(batch, dict)
