"""Datasets: named columns of tensors in zstd-compressed, AES-256-GCM encrypted chunks.

    import numpy as np
    from lepton_ai import Dataset, Key, write_dataset

    key = Key.generate()
    write_dataset("data/train", {"image": images, "label": labels}, key=key)
    ds = Dataset("data/train", key=key)
    image, label = ds[0]                       # a tuple in column order
    for images, labels in ds.iter_batches(64, shuffle=True, seed=0):
        ...
    DataLoader(ds, batch_size=64, num_workers=2)  # each worker opens its own reader (fork or spawn)

The storage format is specified in ``docs/dataset-format.md``.
"""

from __future__ import annotations

import json
import multiprocessing.context
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import numpy.typing as npt

from . import _lepton
from ._progress import Progress, ProgressCallback, progress_callback
from .errors import IndexOutOfRangeError, InvalidArgumentError, SchemaError

__all__ = ["Dataset", "Key", "write_dataset"]

#: A dataset/model key: 32 random bytes (``Key.generate()``), given bytes
#: (``Key.from_bytes``), an environment variable (``Key.from_env``), or a passphrase
#: (``Key.from_passphrase``, Argon2id with the salt stored in the manifest). ``repr()`` never shows
#: the key; it pickles only while a multiprocessing worker is spawned (a spawn DataLoader), and
#: ``pickle.dumps``/``torch.save`` raise ``TypeError`` instead of writing it to disk.
Key = _lepton.Key

_FIXED_KINDS = "biuf"
_VARIABLE = ("string", "bytes")

ColumnValue = Union[npt.NDArray[Any], Sequence[Any]]


def _prepare_column(
    name: str, values: Any
) -> tuple[str, str, list[int], npt.NDArray[np.uint8], npt.NDArray[np.uint64] | None]:
    """Turns one column into what the native writer takes: dtype, row shape, bytes, offsets."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor
        values = values.detach().cpu().numpy()
    arr = values if isinstance(values, np.ndarray) else None
    if arr is None:
        seq = list(values)
        if seq and all(isinstance(v, str) for v in seq):
            return _variable(name, "string", [v.encode("utf-8") for v in seq])
        if seq and all(isinstance(v, (bytes, bytearray, memoryview)) for v in seq):
            return _variable(name, "bytes", [bytes(v) for v in seq])
        arr = np.asarray(seq)
    if arr.dtype.kind == "U":
        return _variable(name, "string", [str(v).encode("utf-8") for v in arr.reshape(-1)])
    if arr.dtype.kind == "S":
        return _variable(name, "bytes", [bytes(v) for v in arr.reshape(-1)])
    if arr.dtype.kind == "O":
        seq = list(arr.reshape(-1))
        if all(isinstance(v, str) for v in seq):
            return _variable(name, "string", [v.encode("utf-8") for v in seq])
        if all(isinstance(v, (bytes, bytearray, memoryview)) for v in seq):
            return _variable(name, "bytes", [bytes(v) for v in seq])
        raise SchemaError(f"schema error: column `{name}` holds Python objects that are neither all str nor all bytes")
    if arr.dtype.kind not in _FIXED_KINDS or arr.dtype.itemsize > 8 or arr.dtype.kind == "f" and arr.dtype.itemsize < 2:
        raise SchemaError(f"schema error: column `{name}` has unsupported dtype {arr.dtype}")
    if arr.ndim == 0:
        raise SchemaError(f"schema error: column `{name}` is a scalar; give one value per row")
    arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
    flat = arr.reshape(-1).view(np.uint8)
    return (name, arr.dtype.name, list(arr.shape[1:]), flat, None)


def _variable(
    name: str, dtype: str, items: list[bytes]
) -> tuple[str, str, list[int], npt.NDArray[np.uint8], npt.NDArray[np.uint64]]:
    lengths = np.fromiter((len(b) for b in items), dtype=np.uint64, count=len(items))
    offsets = np.zeros(len(items) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"".join(items), dtype=np.uint8)
    return (name, dtype, [], data, offsets)


def write_dataset(
    uri: str | Any,
    columns: Mapping[str, ColumnValue],
    key: Key | None = None,
    *,
    version: int = 1,
    chunk_bytes: int = 4 << 20,
    codec: str = "zstd",
    zstd_level: int = 3,
    filter: str = "shuffle",
    storage_options: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
    progress: Progress = None,
) -> "Dataset":
    """Writes ``columns`` (name -> array with one row per leading index; or a list of str/bytes)
    as version ``version`` of the dataset at ``uri`` (a local path or an object-store URI), and
    returns it opened.

    ``key`` encrypts it (``None``: unencrypted, integrity-checked by hashes). ``codec`` is
    ``"zstd"`` or ``"none"`` (a chunk zstd shrinks by less than 5 % is stored as is);
    ``filter`` is ``"shuffle"`` (byte shuffle of numeric columns before zstd: on float32 data it
    makes zstd decode faster) or ``"none"``. ``progress`` shows a bar while writing (``None``:
    automatic on a terminal or in a notebook; ``True``/``False``; or a callable
    ``(done_bytes, total_bytes)``). Raises ``AlreadyExistsError`` if that version exists and
    ``SchemaError`` if the columns disagree in length.
    """
    uri = str(uri)
    prepared = _prepare_columns(columns)
    writer = _lepton.DatasetWriter(
        uri,
        key=key,
        version=version,
        chunk_bytes=chunk_bytes,
        codec=codec,
        zstd_level=zstd_level,
        filter=filter,
        storage_options=dict(storage_options) if storage_options else None,
        metadata=dict(metadata) if metadata else None,
    )
    # Named by the folder's last part: the whole URI can be long or carry credentials.
    _write_prepared(writer, prepared, progress, f"write {str(uri).rstrip('/').rsplit('/', 1)[-1]}")
    return Dataset(uri, key=key, version=version, storage_options=storage_options)


def _prepare_columns(columns: Mapping[str, ColumnValue]) -> list[_Prepared]:
    """Every column as the native writer takes it (raises ``SchemaError`` before anything is
    written)."""
    if not columns:
        raise SchemaError("schema error: a dataset needs at least one column")
    return [_prepare_column(str(name), values) for name, values in columns.items()]


def _write_prepared(writer: Any, prepared: list[_Prepared], progress: Progress, label: str) -> dict[str, Any]:
    """Streams the rows to a native writer (a ``write_dataset`` one, or the registry's push
    writer), showing progress, then commits; returns the writer's info dict."""
    with progress_callback(progress, label) as cb:
        _write_in_slices(writer, prepared, cb)
    info: dict[str, Any] = writer.close()
    return info


#: Rows are handed to the native writer in slices of about this many bytes, so that a progress
#: bar moves during a long write (the writer streams; slicing changes nothing in the output).
_SLICE_BYTES = 64 << 20

_Prepared = tuple[str, str, list[int], npt.NDArray[np.uint8], "npt.NDArray[np.uint64] | None"]


def _write_in_slices(writer: Any, prepared: list[_Prepared], cb: ProgressCallback | None) -> None:
    total = sum(int(c[3].nbytes) for c in prepared)
    row_bytes = [
        np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64))
        for (_, dtype, shape, _, offsets) in prepared
        if offsets is None
    ]
    fixed = len(row_bytes) == len(prepared) and all(b > 0 for b in row_bytes)
    rows = {len(c[3]) // b for c, b in zip(prepared, row_bytes)} if fixed else set()
    if cb is None or len(rows) != 1:
        # One call: variable-length columns, or columns that disagree in length (the native
        # writer then raises the usual SchemaError), or nobody watching.
        writer.write(prepared)
        if cb is not None:
            cb(total, total)
        return
    (n,) = rows
    step = max(1, _SLICE_BYTES // sum(row_bytes))
    for start in range(0, n, step):
        stop = min(n, start + step)
        writer.write(
            [
                (name, dtype, shape, flat[start * b : stop * b], None)
                for (name, dtype, shape, flat, _), b in zip(prepared, row_bytes)
            ]
        )
        cb(stop * sum(row_bytes), total)


if TYPE_CHECKING:
    # For type checkers only: a lepton Dataset goes wherever torch takes a map-style dataset
    # (``DataLoader(ds)``); at run time torch stays an optional dependency.
    from torch.utils.data import Dataset as _MapStyle

    _DatasetBase = _MapStyle[tuple[Any, ...]]
else:
    _DatasetBase = object


class Dataset(_DatasetBase):
    """An encrypted, chunked dataset, opened read-only.

    ``len(ds)`` rows; ``ds[i]`` is a tuple with one value per column (a numpy array of the
    column's row shape, or ``str``/``bytes``), so a torch ``DataLoader`` with the default collate
    yields ``(images, labels)``; ``ds[i:j]`` a tuple of column arrays. Random access decodes one
    chunk and keeps recent chunks in a bounded cache (``cache_bytes``).
    """

    def __init__(
        self,
        uri: str | Any,
        key: Key | None = None,
        *,
        version: int | None = None,
        storage_options: Mapping[str, str] | None = None,
        cache_bytes: int = 256 << 20,
    ) -> None:
        self._uri = str(uri)
        self._where = repr(self._uri)
        self._storage_options = dict(storage_options) if storage_options else None
        self._cache_bytes = cache_bytes
        self._registry: dict[str, Any] | None = None
        self._attach(
            _lepton.Dataset.open(
                self._uri, key=key, version=version, storage_options=self._storage_options, cache_bytes=cache_bytes
            )
        )

    @classmethod
    def _from_registry(
        cls, native: Any, registry: dict[str, Any], name: str, split: str, shown: str, cache_bytes: int
    ) -> "Dataset":
        """A dataset the registry opened (``LeptonAI.load_dataset``): it reads through the
        registry's cache, and pickles as (registry, name, split, version).

        ``registry`` holds the arguments that reopen the native ``Platform``; ``shown`` is the
        registry's printable URI."""
        ds = cls.__new__(cls)
        ds._uri = f"{shown}#{name}/{split}"
        ds._where = f"{name!r}, split={split!r}, registry={shown!r}"
        ds._storage_options = registry["storage_options"]
        ds._cache_bytes = cache_bytes
        ds._registry = {**registry, "name": name, "split": split}
        ds._attach(native)
        return ds

    def _attach(self, native: Any) -> None:
        self._native = native
        info = self._native.info()
        self._info: dict[str, Any] = info
        self._version: int = info["version"]
        self._schema: list[tuple[str, str, tuple[int, ...]]] = [
            (n, d, tuple(s)) for (n, d, s) in info["columns"]
        ]
        self._rank, self._world_size = 0, 1
        self._start, self._len = 0, len(self._native)
        self._epoch = 0
        self._state: str | None = None
        #: What progress bars call it (``name/split`` when opened from a registry).
        self._label: str | None = None
        self._resume: str | None = None

    # ----- description -----------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """Column names, in order."""
        return [n for n, _, _ in self._schema]

    @property
    def schema(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """Column name -> (dtype name, per-row shape)."""
        return {n: (d, s) for n, d, s in self._schema}

    @property
    def version(self) -> int:
        """The version opened."""
        return self._version

    @property
    def info(self) -> dict[str, Any]:
        """Rows, stored_bytes, raw_bytes, chunks, version, dataset_id, encrypted, columns, metadata."""
        return dict(self._info)

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return (
            f"Dataset({self._where}, version={self._version}, rows={self._len}, columns={self.columns}, "
            f"encrypted={self._info['encrypted']})"
        )

    # ----- access ----------------------------------------------------------------------------
    def _convert(self, native: list[Any], rows: int, single: bool) -> tuple[Any, ...]:
        out: list[Any] = []
        for (_, dtype, shape), col in zip(self._schema, native):
            if dtype in _VARIABLE:
                offsets, data = col
                raw = data.tobytes()
                o = offsets.tolist()
                values = [raw[o[i] : o[i + 1]] for i in range(rows)]
                if dtype == "string":
                    values = [v.decode("utf-8") for v in values]
                if single:
                    out.append(values[0])
                else:
                    arr = np.empty(rows, dtype=object)
                    arr[:] = values
                    out.append(arr)
            else:
                arr = col.view(np.dtype(dtype)).reshape(((rows,) if not single else ()) + shape)
                out.append(arr)
        return tuple(out)

    def __getitem__(self, index: int | slice) -> tuple[Any, ...]:
        """Row ``index`` (negative counts from the end) or a slice (step 1) of rows.

        Args:
            index: a row number in ``[-len(ds), len(ds))``, or a slice with step 1.

        Returns:
            One value per column: for a row, a numpy array of the column's row shape and dtype
            (or ``str``/``bytes``); for a slice, arrays of shape ``(rows, *row_shape)``.

        Raises:
            IndexOutOfRangeError: ``index`` is outside the rows.
            InvalidArgumentError: a slice with a step other than 1.
            IntegrityError, WrongKeyError: the chunk holding the rows fails to authenticate.
        """
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step != 1:
                raise InvalidArgumentError("only slices with step 1 are supported")
            stop = max(start, stop)
            native = self._native.slice(self._start + start, self._start + stop)
            return self._convert(native, stop - start, single=False)
        i = int(index)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexOutOfRangeError(f"index {index} is out of range for {self._len} rows")
        return self._convert(self._native.slice(self._start + i, self._start + i + 1), 1, single=True)

    def to_numpy(self, *, progress: Progress = None) -> dict[str, npt.NDArray[Any]]:
        """All rows (of this shard), column by column.

        Args:
            progress: None (a bar for 1 MiB or more on a terminal or in a notebook, off with
                ``LEPTON_PROGRESS=0``), True, False, or a callable ``(done_bytes, total_bytes)``
                counting uncompressed bytes. With a bar the rows are read in slices of about
                64 MiB; without one, in one call.

        Returns:
            ``{column: array of shape (rows, *row_shape)}`` in the stored dtype; object arrays
            of ``str``/``bytes`` for variable-length columns.

        Raises:
            IntegrityError, WrongKeyError: a chunk fails to authenticate.
            NotFoundError: a chunk is missing from the store.
        """
        total = int(self._info["raw_bytes"]) * self._len // max(1, len(self._native))
        label = self._label or self._uri.rstrip("/").rsplit("/", 1)[-1]
        with progress_callback(progress, f"read {label}") as cb:
            if cb is None or self._len == 0:
                return dict(zip(self.columns, self[0 : self._len]))
            step = max(1, self._len * _SLICE_BYTES // max(1, total))
            parts: list[tuple[Any, ...]] = []
            for start in range(0, self._len, step):
                stop = min(self._len, start + step)
                parts.append(self[start:stop])
                cb(total * stop // self._len, total)
            return {
                name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(self.columns)
            }

    # ----- iteration ---------------------------------------------------------------------------
    def shard(self, rank: int, world_size: int) -> "Dataset":
        """This rank's part of the dataset: ``len(ds) // world_size`` rows for every rank.

        Indexing a shard gives its contiguous block of rows; ``iter_batches(shuffle=True)``
        permutes the chunk order across all ranks each epoch (same seed on every rank), so ranks
        stay disjoint and equal in size while seeing different rows each epoch.

        Args:
            rank: this process's rank, ``0 <= rank < world_size``.
            world_size: the number of ranks.

        Returns:
            A view of ``len(ds) // world_size`` rows (the remainder is dropped on every rank).

        Raises:
            InvalidArgumentError: ``rank`` outside ``0..world_size``, or already a shard.
        """
        if self._world_size != 1:
            raise InvalidArgumentError("this dataset is already a shard")
        view = self._copy()
        start, stop = self._native.shard(rank, world_size)
        view._rank, view._world_size, view._start, view._len = rank, world_size, start, stop - start
        return view

    def _copy(self) -> "Dataset":
        view = Dataset.__new__(Dataset)
        view.__dict__.update(self.__dict__)
        view._state = None
        view._resume = None
        return view

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch used by the next ``iter_batches`` (each epoch shuffles differently).

        Args:
            epoch: the epoch number (0, 1, ...), as ``DistributedSampler.set_epoch`` takes it.
        """
        self._epoch = int(epoch)

    def iter_batches(
        self,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int = 0,
        *,
        epoch: int | None = None,
        shuffle_buffer: int = 16384,
        drop_last: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """Yields batches as tuples of column arrays, in order or shuffled (chunk order, then a
        window of ``shuffle_buffer`` rows; deterministic for ``seed`` and ``epoch``). Chunks ahead
        are decoded in parallel. After ``load_state_dict``, the next call resumes that iteration.

        Args:
            batch_size: rows per batch (the last one may be smaller unless ``drop_last``).
            shuffle: shuffle the chunk order and rows within a window.
            seed: the shuffle's seed (the same on every rank).
            epoch: the epoch (default: the one given to ``set_epoch``, else 0).
            shuffle_buffer: rows in the shuffle window.
            drop_last: drop a final batch smaller than ``batch_size``.

        Returns:
            An iterator of tuples with one array per column, each of shape
            ``(batch, *row_shape)`` (object arrays for ``str``/``bytes`` columns).

        Raises:
            InvalidArgumentError: ``batch_size`` or ``shuffle_buffer`` below 1.
            IntegrityError, WrongKeyError: a chunk fails to authenticate while iterating.
        """
        opts: dict[str, Any] = dict(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            epoch=self._epoch if epoch is None else epoch,
            shuffle_buffer=shuffle_buffer,
            rank=self._rank,
            world_size=self._world_size,
            drop_last=drop_last,
            position=0,
        )
        if self._resume is not None:
            native = self._native.iter_batches(state=self._resume)
            self._resume = None
        else:
            native = self._native.iter_batches(**opts)
        self._state = native.state()
        return self._generate(native)

    def _rows_of(self, native: list[Any]) -> int:
        _, dtype, shape = self._schema[0]
        if dtype in _VARIABLE:
            return len(native[0][0]) - 1
        rows: int = native[0].size // (np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)))
        return rows

    def _generate(self, native: Any) -> Iterator[tuple[Any, ...]]:
        for cols in native:
            self._state = native.state()
            yield self._convert(cols, self._rows_of(cols), single=False)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """Rows in order (one tuple per row)."""
        for batch in self.iter_batches(1024):
            for i in range(len(batch[0])):
                yield tuple(c[i] for c in batch)

    def state_dict(self) -> dict[str, Any]:
        """The state of the latest ``iter_batches`` iteration (JSON-able): pass it to
        ``load_state_dict`` (in this or a new process) to resume after the batches consumed.

        Returns:
            The options, position (rows consumed), and this dataset's id, version and rows.

        Raises:
            InvalidArgumentError: ``iter_batches`` was never called.
        """
        if self._state is None:
            raise InvalidArgumentError("no iteration to save: call iter_batches() first")
        state: dict[str, Any] = json.loads(self._state)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Makes the next ``iter_batches()`` resume the saved iteration (its options and position).

        Args:
            state: a dict from :meth:`state_dict`.

        Raises:
            InvalidArgumentError: the state was saved on another dataset, version, row count or
                shard (resuming there would silently skip or repeat rows), or is not a state.
        """
        text = json.dumps(dict(state))
        self._native.check_state(text, self._rank, self._world_size)
        self._resume = text
        self._epoch = int(state["epoch"])

    # ----- pickling (DataLoader workers open their own reader) ---------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Pickles for a multiprocessing worker being started (a spawn/forkserver ``DataLoader``).

        A dataset opened with a key or ``storage_options`` holds secrets, so it pickles only while
        a multiprocessing child is being spawned (as ``multiprocessing.AuthenticationString``
        does): ``pickle.dumps``/``torch.save`` elsewhere raise ``TypeError`` rather than write them
        to disk. A dataset from a ``memory://`` registry cannot go to a spawned child at all
        (``InvalidArgumentError``): that registry lives in this process only."""
        spawning = multiprocessing.context.get_spawning_popen() is not None
        if spawning and self._registry is not None and self._registry.get("process_local"):
            raise InvalidArgumentError(
                f"dataset {self._where} comes from an in-memory registry (memory://), which lives "
                "in this process only: a worker started with spawn or forkserver cannot read it; "
                "use a local folder (LeptonAI('/path/to/registry')) or an object store as the "
                "registry, or DataLoader(..., multiprocessing_context='fork')"
            )
        key = self._native.key()
        secret = key is not None or bool(self._storage_options)
        if self._registry is not None:
            secret = secret or self._registry["uri_is_secret"]
        if secret and not spawning:
            raise TypeError(
                "a Dataset opened with a key or storage_options is not picklable (the pickle would hold "
                "the secret); save its uri and version and open it again with Key.from_env(...) or "
                "Key.from_passphrase(...) and credentials from the environment"
            )
        return {
            "uri": self._uri,
            "registry": self._registry,
            "key": key.to_bytes() if key is not None else None,
            "version": self._version,
            "storage_options": self._storage_options,
            "cache_bytes": self._cache_bytes,
            "shard": (self._rank, self._world_size),
            "epoch": self._epoch,
            "resume": self._resume,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        registry = state["registry"]
        if registry is not None:
            # Reopen the registry (same URI, cache and options), then the same version from it.
            platform = _lepton.Platform(
                registry["uri"],
                state["key"],
                registry["cache_dir"],
                registry["cache_max_bytes"],
                registry["no_cache"],
                registry["storage_options"],
            )
            native = platform.load_dataset(
                registry["name"], registry["split"], state["version"], cache_bytes=state["cache_bytes"]
            )
            self.__dict__.update(
                Dataset._from_registry(
                    native, registry, registry["name"], registry["split"], platform.uri, state["cache_bytes"]
                ).__dict__
            )
        else:
            key = Key.from_bytes(state["key"]) if state["key"] is not None else None
            self.__init__(  # type: ignore[misc]
                state["uri"],
                key=key,
                version=state["version"],
                storage_options=state["storage_options"],
                cache_bytes=state["cache_bytes"],
            )
        rank, world = state["shard"]
        if world != 1:
            start, stop = self._native.shard(rank, world)
            self._rank, self._world_size, self._start, self._len = rank, world, start, stop - start
        self._epoch = state["epoch"]
        self._resume = state["resume"]
