"""How a batch of the iterable form crosses from a ``DataLoader`` worker to the main process.

torch hands each tensor over in a shared-memory segment of its own, and with its default
``file_descriptor`` strategy the main process fetches every segment's descriptor from the
worker through a socket round trip (the worker's resource-sharer thread answers): measured, that
hand-off, not decoding, bounds a multi-worker loader (``benches/bench_loaders.py``). So a worker
puts all fixed-shape columns of a batch in one shared storage (each column a view at a 64-byte
aligned offset, copied there once; consecutive batches share a storage of a few MiB, and the
main process keeps the last few mapped), so torch passes one descriptor per batch, not one per
column. With ``LEPTON_TORCH_SHM_BY_NAME=1`` (experimental, see ``_BY_NAME``) the batch pickles
that storage by name instead, as torch's own ``file_system`` strategy does
(``torch_shm_manager`` frees it if the processes die): no descriptor to fetch. That applies
to our batches only, and only to multiprocessing's pickler (the workers' queue), as torch
registers its own tensor reductions; ``pickle``/``torch.save`` store the data. Torch's global
sharing strategy is left as the user set it. Text, bytes and variable-shape columns, and any
value a user's transform put in the batch, pickle as torch pickles them.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from multiprocessing.reduction import ForkingPickler
from typing import Any, Optional

import numpy as np
import torch
from torch.multiprocessing import reductions
from torch.utils.data import get_worker_info

__all__ = ["Batch", "Slab", "in_one_storage"]

#: Byte alignment of each column inside a batch's storage (a cache line; SIMD loads).
ALIGN = 64

#: Consecutive batches of a worker share one storage up to this size (or one batch, if larger):
#: the main process maps it once for all of them (torch caches a mapping by name). A batch held
#: keeps at most this much more memory alive.
SLAB_BYTES = 4 << 20

#: Whether batches cross by name: only where torch has the internals for storages shared by
#: name (its ``file_system`` strategy), and only when ``LEPTON_TORCH_SHM_BY_NAME=1`` opts in.
#: Off by default: in two of four full test-suite runs, forked workers using it died with
#: SIGSEGV (not reproduced alone; suspected: torch's shared-memory manager client state is
#: inherited across fork). Otherwise a batch's one storage (slabs still) crosses by torch's own
#: pickling: a descriptor per batch instead of one per column.
_BY_NAME = (
    os.environ.get("LEPTON_TORCH_SHM_BY_NAME") == "1"
    and all(
        hasattr(torch.UntypedStorage, a)
        for a in ("_new_using_filename_cpu", "_share_filename_cpu_", "_shared_incref")
    )
    and hasattr(reductions, "rebuild_storage_filename")
)


#: Slabs the main process keeps mapped (by name), most recent last: a few per worker.
_KEEP_MAPPED = 8
_MAPPED: OrderedDict[bytes, torch.UntypedStorage] = OrderedDict()


class Batch(dict[str, Any]):
    """A batch as the iterable form yields it: a ``dict`` of columns. Its own type so that
    ``default_collate`` can refuse to batch it again, and so that, in a worker, it can pickle its
    shared storage by name when opted in (see the module docs)."""

    #: The shared storage of the fixed-shape columns (set in a worker), else None.
    storage: Optional[torch.UntypedStorage] = None

    def __copy__(self) -> "Batch":
        """A shallow copy that keeps the storage (torch's ``default_convert`` and
        ``pin_memory`` copy mappings)."""
        clone = Batch(self)
        clone.storage = self.storage
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> "Batch":
        """A deep copy: tensors of its own (``copy.deepcopy`` would otherwise go through
        ``__reduce_ex__`` and, in a worker, map the same storage again)."""
        return Batch({name: copy.deepcopy(value, memo) for name, value in self.items()})

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickles the data itself (``pickle``, ``torch.save``, a user's own queue): a plain
        ``dict``'s items, pickled as torch pickles them. Only multiprocessing's pickler, which
        carries a batch from a worker to the main process, takes the by-name form
        (:func:`_reduce_for_transfer`)."""
        storage = self.storage
        if storage is None:
            return (Batch, (dict(self),))
        # A column viewing the worker's shared storage pickles as a compact copy of its own
        # (torch would otherwise pickle the whole storage, every batch sharing it).
        base = storage.data_ptr()
        return (
            Batch,
            (
                {
                    name: value.clone()
                    if isinstance(value, torch.Tensor) and value.untyped_storage().data_ptr() == base
                    else value
                    for name, value in self.items()
                },
            ),
        )


def _reduce_for_transfer(batch: Batch) -> Any:
    """How multiprocessing's pickler (a ``DataLoader`` worker's queue) carries a batch: in a
    worker, the storage by name and each column that views it by (dtype, offset, size, stride);
    other values as they are. Elsewhere, as :meth:`Batch.__reduce_ex__` does."""
    storage = batch.storage
    if storage is None or not _BY_NAME or get_worker_info() is None:
        return (Batch, (dict(batch),))
    views: dict[str, tuple[torch.dtype, int, tuple[int, ...], tuple[int, ...]]] = {}
    rest: dict[str, Any] = {}
    base = storage.data_ptr()
    for name, value in batch.items():
        if isinstance(value, torch.Tensor) and not value.requires_grad and value.untyped_storage().data_ptr() == base:
            views[name] = (value.dtype, int(value.storage_offset()), tuple(value.size()), tuple(value.stride()))
        else:
            rest[name] = value
    meta = storage._share_filename_cpu_()
    # Kept alive in transit; the receiver's rebuild drops this reference (torch's protocol).
    storage._shared_incref()  # type: ignore[no-untyped-call]
    return (_rebuild, (meta, list(batch), views, rest))


# As torch registers its tensor reductions: only inter-process transfers use this form.
ForkingPickler.register(Batch, _reduce_for_transfer)


def _rebuild(
    meta: tuple[bytes, bytes, int],
    names: list[str],
    views: dict[str, tuple[torch.dtype, int, tuple[int, ...], tuple[int, ...]]],
    rest: dict[str, Any],
) -> Batch:
    """The batch in the receiving process: the storage mapped by name, the columns as views."""
    storage = reductions.rebuild_storage_filename(torch.UntypedStorage, *meta)  # type: ignore[no-untyped-call]
    if storage.nbytes() == SLAB_BYTES:
        # torch finds a mapping again only while it is alive: keep the last few slabs mapped, so
        # that a slab's later batches do not map it again after its earlier ones were freed.
        _MAPPED[meta[1]] = storage
        _MAPPED.move_to_end(meta[1])
        while len(_MAPPED) > _KEEP_MAPPED:
            _MAPPED.popitem(last=False)
    out = Batch()
    for name in names:
        if name in views:
            dtype, offset, size, stride = views[name]
            out[name] = torch.empty(0, dtype=dtype).set_(storage, offset, size, stride)
        else:
            out[name] = rest[name]
    return out


class Slab:
    """Where a worker's next batches go: a shared storage of ``SLAB_BYTES`` filled from the
    front, batch after batch (never written twice), and a new one when a batch does not fit."""

    def __init__(self) -> None:
        self.storage: Optional[torch.UntypedStorage] = None
        self.used = 0

    def take(self, nbytes: int) -> tuple[torch.UntypedStorage, int]:
        """Room for ``nbytes`` (a multiple of ``ALIGN``): (storage, byte offset)."""
        if self.storage is None or self.storage.nbytes() - self.used < nbytes:
            size = max(SLAB_BYTES, nbytes)
            if _BY_NAME:
                self.storage = torch.UntypedStorage._new_using_filename_cpu(size)
            else:
                self.storage = torch.UntypedStorage(size).share_memory_()  # type: ignore[no-untyped-call]
            self.used = 0
        at = self.used
        self.used += nbytes
        return self.storage, at


def in_one_storage(names: list[str], values: tuple[Any, ...], to_torch: Any, slab: Slab) -> Batch:
    """A batch's columns in a worker: the fixed-shape numeric numpy arrays copied once into the
    worker's current shared storage, each a view at an ``ALIGN``-byte offset; the others
    through ``to_torch``.

    Args:
        names: the column names.
        values: one converted column per name (numpy arrays, object arrays, lists of arrays).
        to_torch: converts a column that is not fixed-shape numeric.
        slab: the worker's storage for its batches.

    Returns:
        The batch, its storage set when it has fixed-shape columns.
    """
    fixed = [(n, v) for n, v in zip(names, values) if isinstance(v, np.ndarray) and v.dtype.kind != "O"]
    offsets, end = [], 0
    for _, v in fixed:
        offsets.append(end)
        end += -(-v.nbytes // ALIGN) * ALIGN
    out = Batch()
    flat = torch.empty(0, dtype=torch.uint8)
    if end:
        out.storage, at = slab.take(end)
        flat.set_(out.storage, at, (end,), (1,))
    placed = {}
    for (n, v), o in zip(fixed, offsets):
        part = flat[o : o + v.nbytes]
        # Copied by numpy, byte for byte: no tensor of the (possibly read-only) source is made.
        part.numpy()[:] = np.ascontiguousarray(v).reshape(-1).view(np.uint8)
        placed[n] = part.view(torch.from_numpy(np.empty(0, dtype=v.dtype)).dtype).view(v.shape)
    for n, v in zip(names, values):
        out[n] = placed[n] if n in placed else to_torch(v)
    return out
