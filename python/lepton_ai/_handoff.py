"""How a batch of the iterable form crosses from a ``DataLoader`` worker to the main process.

torch hands each tensor over in a shared-memory segment of its own, and with its default
``file_descriptor`` strategy the main process fetches every segment's descriptor from the
worker through a socket round trip (the worker's resource-sharer thread answers): measured, that
hand-off, not decoding, bounds a multi-worker loader (``benches/bench_loaders.py``). So a worker
copies all fixed-shape columns of a batch into one file of its own under ``/dev/shm`` (each
column a view at a 64-byte aligned offset) and the batch pickles as that file's name and the
views; the main process maps the file and unlinks it at once (the mapping stays valid), so
nothing is left in ``/dev/shm`` once a batch is received. Only the standard library maps the
files: no torch internals, no ``torch_shm_manager``. Files never received (a loader abandoned
mid-epoch) are unlinked by their worker when it exits; those of a worker that was killed are
swept by the next worker that starts (in the same pid namespace).

That applies to our batches only, and only to multiprocessing's pickler (the workers' queue), as
torch registers its own tensor reductions; ``pickle``/``torch.save`` store the data. Torch's
global sharing strategy is left as the user set it. Where ``/dev/shm`` is missing or not
writable, a batch's columns share one storage of torch's shared memory instead (consecutive
batches in 4 MiB slabs), pickled by torch: one descriptor per batch, not one per column. Text,
bytes and variable-shape columns, and any value a user's transform put in the batch, pickle as
torch pickles them.
"""

from __future__ import annotations

import copy
import errno
import mmap
import os
import signal
from multiprocessing.reduction import ForkingPickler
from multiprocessing.util import Finalize
from typing import Any, Optional

import numpy as np
import torch

__all__ = ["Batch", "Slab", "in_one_storage"]

#: Byte alignment of each column inside a batch's storage (a cache line; SIMD loads).
ALIGN = 64

#: Where batch files go: a RAM file system on Linux. Elsewhere (missing, not writable), batches
#: take torch's shared memory (:class:`Slab`).
SHM_DIR = "/dev/shm"

#: Without ``SHM_DIR``, consecutive batches of a worker share one storage up to this size (or one
#: batch, if larger), which torch hands over once for all of them. A batch held keeps at most
#: this much more memory alive.
SLAB_BYTES = 4 << 20


def _pid_namespace() -> int:
    """This process's pid namespace (the inode of ``/proc/self/ns/pid``; 0 where unknown): a pid
    in a file name means a process only within it, as containers may share ``/dev/shm``."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (one of another user counts; a zombie, a killed worker its
    parent has not reaped yet, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


def _reserve(fd: int, nbytes: int, path: str) -> None:
    """Sizes a new batch file, its pages allocated now: a full ``SHM_DIR`` is an error here, not
    a ``SIGBUS`` at the first write to a page that cannot be had (a container's 64 MiB default).

    Raises:
        OSError: ``ENOSPC``, saying what to do; another error of the file system.
    """
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise OSError(
                errno.ENOSPC,
                f"{SHM_DIR} has no room for a batch of {nbytes} bytes: give it more (a container's "
                f"default is 64 MiB: docker run --shm-size=2g, say), or use fewer DataLoader "
                f"workers or a lower prefetch_factor",
                path,
            ) from None
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.ftruncate(fd, nbytes)  # a file system without fallocate


class _Files:
    """This process's batch files: ``lepton-<pid namespace>-<pid>-<counter>`` in ``SHM_DIR``.
    The first file sweeps those of dead processes and registers the unlinking of this process's
    own at its exit (``multiprocessing``'s finalizers run in ``DataLoader`` workers, ``atexit``
    handlers do not)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.prefix = f"lepton-{_pid_namespace()}-"
        self.counter = 0
        self.started = False

    def create(self, nbytes: int) -> tuple[str, torch.Tensor]:
        """A new file of ``nbytes`` bytes, mapped: (path, writable ``uint8`` tensor over it).

        Raises:
            OSError: the file could not be made, with its path (``ENOSPC``: ``SHM_DIR`` is full,
                and the message says what to do).
        """
        if not self.started:
            self.started = True
            self._sweep()
            # After the queue's own finalizers (its feeder thread flushed, -5): a batch pickled
            # before the exit still names a file when it reaches the pipe.
            Finalize(None, self.unlink_own, exitpriority=-10)
            _unlink_on_sigterm(self)
        self.counter += 1
        path = os.path.join(SHM_DIR, f"{self.prefix}{self.pid}-{self.counter}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _reserve(fd, nbytes, path)
            mapped = mmap.mmap(fd, nbytes)
        except BaseException:
            os.unlink(path)
            raise
        finally:
            os.close(fd)
        return path, torch.frombuffer(mapped, dtype=torch.uint8)

    def _names(self) -> list[tuple[int, str]]:
        """(pid, name) of the batch files in ``SHM_DIR`` from this pid namespace."""
        out = []
        for name in os.listdir(SHM_DIR):
            if name.startswith(self.prefix):
                pid = name[len(self.prefix) :].split("-", 1)[0]
                if pid.isdigit():
                    out.append((int(pid), name))
        return out

    def _unlink(self, names: list[str]) -> None:
        for name in names:
            try:
                os.unlink(os.path.join(SHM_DIR, name))
            except OSError:
                pass  # received (unlinked) meanwhile, or another user's

    def _sweep(self) -> None:
        """Unlinks the files of processes that died without doing so (killed), this pid's
        included: before this process's first file, they are a dead one's whose pid it reuses."""
        files = self._names()
        dead = {pid for pid in {pid for pid, _ in files} if pid == self.pid or not _alive(pid)}
        self._unlink([name for pid, name in files if pid in dead])

    def unlink_own(self) -> None:
        """Unlinks this process's files not received (at its exit: the receiver has stopped)."""
        if os.getpid() == self.pid:
            self._unlink([name for pid, name in self._names() if pid == self.pid])


def _unlink_on_sigterm(files: _Files) -> None:
    """Makes SIGTERM unlink this process's files first: a script that ends with a loader
    abandoned mid-epoch has its daemonic workers terminated, and no finalizer runs then. A
    Python handler runs when the worker's main thread is back in Python, so a worker stuck in
    native code stops later than with torch's C handler alone."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        files.unlink_own()
        if callable(previous):
            previous(signum, frame)
        else:
            # torch's own worker handler is installed from C (Python sees SIG_DFL); it exits
            # with status 0 on its parent's SIGTERM. Dying by the signal instead makes the main
            # process report "DataLoader worker ... is killed by signal: Terminated" at its exit.
            os._exit(0)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:
        pass  # not the main thread: only the exit finalizer then


#: This process's batch files, or None without a writable ``SHM_DIR``; found once per process
#: (the pid it was found in comes first: a forked child looks again).
_FILES: tuple[int, Optional[_Files]] = (0, None)


def _files() -> Optional[_Files]:
    """This process's batch files (a forked child starts its own), or None without ``SHM_DIR``."""
    global _FILES
    pid = os.getpid()
    if _FILES[0] != pid:
        usable = os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK | os.X_OK)
        _FILES = (pid, _Files() if usable else None)
    return _FILES[1]


class _File:
    """A batch file in transit: its path, and whether a pickle has carried it (a file has one
    receiver, which unlinks it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sent = False


class Batch(dict[str, Any]):
    """A batch as the iterable form yields it: a ``dict`` of columns. Its own type so that
    ``default_collate`` can refuse to batch it again, and so that, in a worker, it can pickle its
    fixed-shape columns by the name of their file (see the module docs)."""

    #: The storage of the fixed-shape columns (set in a worker), else None.
    storage: Optional[torch.UntypedStorage] = None
    #: The file under ``SHM_DIR`` that holds ``storage``, else None (torch's shared memory).
    file: Optional[_File] = None

    def __copy__(self) -> "Batch":
        """A shallow copy that keeps the storage (torch's ``default_convert`` and
        ``pin_memory`` copy mappings)."""
        clone = Batch(self)
        clone.storage, clone.file = self.storage, self.file
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
        # A column viewing the worker's storage pickles as a compact copy of its own (torch would
        # otherwise pickle the whole storage).
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
    """How multiprocessing's pickler (a ``DataLoader`` worker's queue) carries a batch: with a
    file not yet sent, its path and each column that views it by (dtype, offset, size, stride);
    other values as they are. Otherwise a plain ``dict``, pickled by torch."""
    storage, file = batch.storage, batch.file
    if storage is None or file is None or file.sent:
        return (Batch, (dict(batch),))
    file.sent = True
    views: dict[str, tuple[torch.dtype, int, tuple[int, ...], tuple[int, ...]]] = {}
    rest: dict[str, Any] = {}
    base = storage.data_ptr()
    for name, value in batch.items():
        if isinstance(value, torch.Tensor) and not value.requires_grad and value.untyped_storage().data_ptr() == base:
            views[name] = (value.dtype, int(value.storage_offset()), tuple(value.size()), tuple(value.stride()))
        else:
            rest[name] = value
    return (_rebuild, (file.path, storage.nbytes(), list(batch), views, rest))


# As torch registers its tensor reductions: only inter-process transfers use this form.
ForkingPickler.register(Batch, _reduce_for_transfer)


def _rebuild(
    path: str,
    nbytes: int,
    names: list[str],
    views: dict[str, tuple[torch.dtype, int, tuple[int, ...], tuple[int, ...]]],
    rest: dict[str, Any],
) -> Batch:
    """The batch in the receiving process: its file mapped and unlinked, the columns as views.

    Raises:
        FileNotFoundError: the file is gone (received already, or swept after its worker was
            killed), naming it.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            e.errno,
            f"a DataLoader worker's batch file is gone (each batch's file is received once; the "
            f"files of a killed worker are swept by the next one): {path}",
            path,
        ) from None
    try:
        os.unlink(path)
        mapped = mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)
    storage = torch.frombuffer(mapped, dtype=torch.uint8).untyped_storage()
    out = Batch()
    for name in names:
        if name in views:
            dtype, offset, size, stride = views[name]
            out[name] = torch.empty(0, dtype=dtype).set_(storage, offset, size, stride)
        else:
            out[name] = rest[name]
    return out


class Slab:
    """Where a worker's next batches go without ``SHM_DIR``: a storage of torch's shared memory
    of ``SLAB_BYTES`` filled from the front, batch after batch (never written twice), and a new
    one when a batch does not fit."""

    def __init__(self) -> None:
        self.storage: Optional[torch.UntypedStorage] = None
        self.used = 0

    def take(self, nbytes: int) -> tuple[torch.UntypedStorage, int]:
        """Room for ``nbytes`` (a multiple of ``ALIGN``): (storage, byte offset)."""
        if self.storage is None or self.storage.nbytes() - self.used < nbytes:
            self.storage = torch.UntypedStorage(max(SLAB_BYTES, nbytes)).share_memory_()  # type: ignore[no-untyped-call]
            self.used = 0
        at = self.used
        self.used += nbytes
        return self.storage, at


def in_one_storage(names: list[str], values: tuple[Any, ...], to_torch: Any, slab: Slab) -> Batch:
    """A batch's columns in a worker: the fixed-shape numeric numpy arrays copied once into one
    storage (a new file under ``SHM_DIR``, else the worker's current slab), each a view at an
    ``ALIGN``-byte offset; the others through ``to_torch``.

    Args:
        names: the column names.
        values: one converted column per name (numpy arrays, object arrays, lists of arrays).
        to_torch: converts a column that is not fixed-shape numeric.
        slab: the worker's storage for its batches without ``SHM_DIR``.

    Returns:
        The batch, its storage (and file) set when it has fixed-shape columns.

    Raises:
        OSError: a batch file could not be made under ``SHM_DIR`` (full, say).
    """
    fixed = [(n, v) for n, v in zip(names, values) if isinstance(v, np.ndarray) and v.dtype.kind != "O"]
    offsets, end = [], 0
    for _, v in fixed:
        offsets.append(end)
        end += -(-v.nbytes // ALIGN) * ALIGN
    out = Batch()
    flat = torch.empty(0, dtype=torch.uint8)
    files = _files() if end else None
    if files is not None:
        path, flat = files.create(end)
        out.storage, out.file = flat.untyped_storage(), _File(path)
    elif end:
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
