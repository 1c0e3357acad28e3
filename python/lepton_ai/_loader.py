"""The torch iterable form of a dataset (``Dataset.to_iterable_dataset``, Hugging Face's name):
whole batches in the core's chunk-aware shuffled order, split across distributed ranks and
``DataLoader`` workers by the core's rules, resumable mid-epoch with torchdata's
``StatefulDataLoader``.

    it = ds.to_iterable_dataset(batch_size=256, shuffle=True, seed=0)
    loader = DataLoader(it, batch_size=None, num_workers=2)   # batch_size=None: whole batches
    for epoch in range(3):
        it.set_epoch(epoch)
        for batch in loader:                                  # {column: tensor}
            ...

In the main process (``num_workers=0``) the tensors share the decoded buffers, without a copy;
from a ``DataLoader`` worker a batch's fixed-shape columns cross as one file in ``/dev/shm``
(``_handoff.py``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional

import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info
from torch.utils.data._utils.collate import default_collate_fn_map

from . import _lepton
from ._handoff import Batch, Slab, in_one_storage
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from ._dataset import Dataset

__all__ = ["IterableBatches"]


class IterableBatches(IterableDataset[dict[str, Any]]):
    """Batches of a lepton ``Dataset`` as a ``torch.utils.data.IterableDataset``.

    Each item is a whole batch, a ``dict`` ``{column: tensor of shape (batch, *row_shape)}``
    (a list of ``str``/``bytes`` for text and bytes columns, a list of tensors for
    variable-shape columns). Give it to ``DataLoader(..., batch_size=None)``; with another
    batch size the ``DataLoader``'s default collate raises ``InvalidArgumentError``. Every rank
    yields the same number of batches; ``len()`` is that number. ``state_dict``/``load_state_dict`` make it resumable
    mid-epoch under torchdata's ``StatefulDataLoader``, with any number of workers.
    """

    def __init__(
        self,
        dataset: "Dataset",
        *,
        batch_size: int,
        shuffle: bool,
        seed: int,
        drop_last: bool,
        shuffle_buffer: int,
        rank: Optional[int],
        world_size: Optional[int],
    ) -> None:
        self._dataset = dataset
        self._options: dict[str, Any] = dict(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_last=drop_last,
            pad=not drop_last,
        )
        self._rank, self._world_size = rank, world_size
        # In shared memory (Hugging Face's way): DataLoader workers, persistent ones included,
        # see the epoch the main process sets; a plain pickle copies the value.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # type: ignore[no-untyped-call]
        self._native_iter: Any = None
        self._resume: Optional[str] = None
        _, world = self._ranks()
        if len(dataset._native) < world:
            per = _lepton.Dataset.rows_per_rank(len(dataset._native), world, not drop_last)
            warnings.warn(
                f"the dataset has {len(dataset._native)} rows for {world} ranks: each rank reads {per} "
                + ("(rows repeated to pad)" if not drop_last else "(drop_last=True drops them all)"),
                UserWarning,
                stacklevel=3,
            )

    def _ranks(self) -> tuple[int, int]:
        """(rank, world size): the explicit ones, else ``torch.distributed``'s when it is
        initialised, else (0, 1)."""
        if self._world_size is not None:
            return int(self._rank or 0), int(self._world_size)
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _iter_options(self) -> dict[str, Any]:
        rank, world = self._ranks()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return dict(
            self._options,
            epoch=int(self._epoch),
            rank=rank,
            world_size=world,
            worker=worker,
            num_workers=workers,
        )

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch of the next iteration (each epoch has its own order for the seed).

        Call it before iterating the ``DataLoader`` of each epoch, as for
        ``DistributedSampler``; its workers see it, ``persistent_workers=True`` included (the
        epoch lives in shared memory).

        Args:
            epoch: the epoch number.
        """
        self._epoch.fill_(int(epoch))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Starts an iteration (or resumes the loaded state) and yields its batches."""
        native = self._dataset._native.iter_batches(**self._iter_options(), resume=self._resume)
        self._resume = None
        self._native_iter = native
        return self._generate(native)

    def _generate(self, native: Any) -> Iterator[dict[str, Any]]:
        names = self._dataset.columns
        in_worker = get_worker_info() is not None
        slab = Slab()
        for cols in native:
            values = self._dataset._convert(cols, self._dataset._rows_of(cols), single=False)
            if in_worker:
                yield in_one_storage(names, values, _to_torch, slab)
            else:
                yield Batch({n: _to_torch(v) for n, v in zip(names, values)})

    def __len__(self) -> int:
        """Batches per epoch on this rank (the same on every rank; all workers together)."""
        options = dict(self._iter_options(), worker=0, num_workers=1)
        return len(self._dataset._native.iter_batches(**options))

    def state_dict(self) -> dict[str, Any]:
        """Where the current iteration stands (JSON-able): pass it to ``load_state_dict`` to
        resume after the batches already yielded. Before any iteration, the start of the next.

        Returns:
            The core iterator's state: options, epoch, rank, worker, rows consumed, and the
            dataset's id, version and rows.
        """
        native = self._native_iter
        if native is None:
            native = self._dataset._native.iter_batches(**self._iter_options())
        state: dict[str, Any] = json.loads(native.state())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Makes the next iteration resume ``state`` (the rest of its epoch).

        Args:
            state: a dict from :meth:`state_dict`.

        Raises:
            InvalidArgumentError: the state was saved on another dataset or with other loader
                settings (batch size, seed, ranks, workers); checked when iteration starts.
        """
        self._resume = json.dumps(dict(state))
        self._epoch.fill_(int(state["epoch"]))

    def __getstate__(self) -> dict[str, Any]:
        """Pickles for a spawned ``DataLoader`` worker (the native iterator stays behind)."""
        state = dict(self.__dict__)
        state["_native_iter"] = None
        return state


def _refuse_collate(batch: Any, *, collate_fn_map: Any = None) -> Any:
    """``default_collate`` of our batches: a ``DataLoader`` without ``batch_size=None`` would
    stack ``batch_size`` whole batches into one more dimension, ``(1, 256, ...)``."""
    raise InvalidArgumentError(
        "to_iterable_dataset() yields whole batches, and this DataLoader batches them again (any "
        "batch_size other than None, its default 1 included, stacks batches into one more "
        "dimension: (n, batch, ...)): pass DataLoader(it, batch_size=None, ...) and set the batch "
        "size in to_iterable_dataset(batch_size=...)"
    )


# torch's documented way to extend default_collate, for our own type only.
default_collate_fn_map[Batch] = _refuse_collate


def _to_torch(values: Any) -> Any:
    """A column of a batch as torch takes it: a tensor sharing the numpy buffer; text and bytes
    as a list; variable-shape rows as a list of tensors."""
    if isinstance(values, list):
        return [torch.from_numpy(v) for v in values]
    if values.dtype.kind == "O":
        return list(values)
    return torch.from_numpy(values)
