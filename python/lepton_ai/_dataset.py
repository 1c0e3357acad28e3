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

import importlib.util
import json
import math
import multiprocessing.context
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import numpy.typing as npt

from . import _lepton
from ._progress import Progress, ProgressCallback, progress_callback
from ._schema_arg import SchemaArg, frame_schema, schema_spec
from ._writer import DatasetWriter, is_scalar
from .errors import IndexOutOfRangeError, InvalidArgumentError, MissingExtraError, SchemaError

__all__ = ["Dataset", "DatasetVersionInfo", "Key", "write_dataset"]

#: A dataset/model key: 32 random bytes (``Key.generate()``), given bytes
#: (``Key.from_bytes``), an environment variable (``Key.from_env``), or a passphrase
#: (``Key.from_passphrase``, Argon2id with the salt stored in the manifest). ``repr()`` never shows
#: the key; it pickles only while a multiprocessing worker is spawned (a spawn DataLoader), and
#: ``pickle.dumps``/``torch.save`` raise ``TypeError`` instead of writing it to disk.
Key = _lepton.Key

#: One committed dataset version (a frozen native class): ``version``, ``rows``, ``chunks``,
#: ``stored_bytes`` (compressed, encrypted), ``raw_bytes`` (before compression), ``encrypted``,
#: ``columns`` (``ColumnInfo``: ``name``, ``dtype``, ``shape``), ``metadata`` and ``dataset_id``.
#: ``Dataset.info`` and a URI writer's ``close()`` return it; ``info["rows"]``, ``keys()`` and
#: ``to_dict()`` read it as the dict it replaces. The registry's ``DatasetInfo`` subclasses it.
DatasetVersionInfo = _lepton.DatasetVersionInfo

_VARIABLE = ("string", "bytes")

ColumnValue = Union[npt.NDArray[Any], Sequence[Any]]


def _prepare_column(
    name: str, values: Any
) -> tuple[str, str, list[int], npt.NDArray[np.uint8], npt.NDArray[np.uint64] | None]:
    """Turns one column into what the native writer takes: dtype, row shape, bytes, offsets."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor
        values = values.detach().cpu().numpy()
    if is_scalar(values) or not isinstance(values, (np.ndarray, Iterable)):
        raise SchemaError(
            f"schema error: column `{name}` is one value ({values!r:.40}), not a column: a column is a "
            f"sequence with one value per row (a list, an array); give {{{name!r}: [value]}} for one row, "
            "or the rows as a list of mappings"
        )
    arr = values if isinstance(values, np.ndarray) else None
    if arr is None:
        seq = list(values)
        if seq and all(isinstance(v, str) for v in seq):
            return _variable(name, "string", _utf8(name, seq))
        if seq and all(isinstance(v, (bytes, bytearray, memoryview)) for v in seq):
            return _variable(name, "bytes", [bytes(v) for v in seq])
        _check_not_mixed(name, seq)
        ragged = _variable_shape(name, seq)
        if ragged is not None:
            return ragged
        arr = np.asarray(seq)
    if arr.dtype.kind == "U":
        return _variable(name, "string", _utf8(name, [str(v) for v in arr.reshape(-1)]))
    if arr.dtype.kind == "S":
        return _variable(name, "bytes", [bytes(v) for v in arr.reshape(-1)])
    if arr.dtype.kind == "O":
        seq = list(arr.reshape(-1))
        if all(isinstance(v, str) for v in seq):
            return _variable(name, "string", _utf8(name, seq))
        if all(isinstance(v, (bytes, bytearray, memoryview)) for v in seq):
            return _variable(name, "bytes", [bytes(v) for v in seq])
        _check_not_mixed(name, seq)
        ragged = _variable_shape(name, seq)
        if ragged is not None:
            return ragged
        raise SchemaError(_unstorable(name, seq))
    if _lepton.fixed_dtype(arr.dtype.kind, arr.dtype.itemsize) is None:
        raise SchemaError(f"schema error: column `{name}` has unsupported dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
    flat = arr.reshape(-1).view(np.uint8)
    return (name, arr.dtype.name, list(arr.shape[1:]), flat, None)


def _variable_shape(name: str, seq: list[Any]) -> _Prepared | None:
    """A list of arrays (or nested lists) of one dtype and rank but different shapes as a
    variable-shape column: each row's rank, dimensions and elements (the core's row encoding,
    ``lepton_core::dataset::ragged``). None when the rows are not arrays or all share a shape
    (then they stack into a fixed-shape column)."""
    if not seq or not all(isinstance(v, (np.ndarray, list, tuple)) or _is_tensor(v) for v in seq):
        return None
    given = [v.detach().cpu().numpy() if _is_tensor(v) else v for v in seq]
    arrays = [np.asarray(v) for v in given]
    if len({a.shape for a in arrays}) == 1:
        return None
    dtypes = {a.dtype for a, v in zip(arrays, given) if isinstance(v, np.ndarray)}
    if len(dtypes) > 1:
        raise SchemaError(
            f"schema error: column `{name}` mixes dtypes {sorted(str(d) for d in dtypes)}; a variable-shape "
            "column has one dtype: cast the arrays first"
        )
    # From lists: the common type of the non-empty rows (``np.asarray([])`` is float64).
    dtype = dtypes.pop() if dtypes else np.result_type(*([a for a in arrays if a.size] or arrays))
    ranks = {a.ndim for a in arrays}
    if len(ranks) > 1:
        first = arrays[0].ndim
        row = next(i for i, a in enumerate(arrays) if a.ndim != first)
        raise SchemaError(
            f"schema error: column `{name}` row {row} has {arrays[row].ndim} dimensions, row 0 has {first}: "
            "the rows of a variable-shape column share their rank"
        )
    if _lepton.fixed_dtype(dtype.kind, dtype.itemsize) is None:
        raise SchemaError(f"schema error: column `{name}` has unsupported dtype {dtype}")
    little = dtype.newbyteorder("<")
    parts: list[bytes] = []
    lengths = np.empty(len(arrays), dtype=np.uint64)
    for i, a in enumerate(arrays):
        header = np.array([a.ndim, *a.shape], dtype="<u8").tobytes()
        body = np.ascontiguousarray(a, dtype=little).tobytes()
        parts += (header, body)
        lengths[i] = len(header) + len(body)
    offsets = np.zeros(len(arrays) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    return (name, dtype.name, [], np.frombuffer(b"".join(parts), dtype=np.uint8), offsets)


def _as_array(values: Any) -> npt.NDArray[Any]:
    """A column as ``to_numpy`` gives it: arrays as they are; the rows of a variable-shape column
    (a list of arrays) as a 1-D object array of them, as ``str``/``bytes`` rows are."""
    if isinstance(values, np.ndarray):
        return values
    out: npt.NDArray[Any] = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "detach") and hasattr(value, "cpu")


def _decode_variable_shape(dtype: str, offsets: npt.NDArray[np.uint64], data: npt.NDArray[np.uint8]) -> list[Any]:
    """The rows of a variable-shape column, each an array of its own shape (read-only views when
    aligned, else copies)."""
    dt = np.dtype(dtype).newbyteorder("<")
    raw = data.tobytes()
    rows: list[Any] = []
    o = offsets.tolist()
    for i in range(len(o) - 1):
        a = o[i]
        ndim = int.from_bytes(raw[a : a + 8], "little")
        shape = [int.from_bytes(raw[a + 8 * (k + 1) : a + 8 * (k + 2)], "little") for k in range(ndim)]
        start = a + 8 * (ndim + 1)
        rows.append(np.frombuffer(raw, dtype=dt, count=(o[i + 1] - start) // dt.itemsize, offset=start).reshape(shape).copy())
    return rows


def _kind(value: Any) -> str:
    """What a column value is, for telling a mixed column apart: text, bytes or a number/array."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    return "number or array"


def _unstorable(name: str, seq: list[Any]) -> str:
    """Why a column of Python objects can't be stored, naming its first row that is not a
    number, an array or a list of numbers."""
    storable = (int, float, bool, str, bytes, np.generic, np.ndarray, list, tuple)
    odd = [(i, v) for i, v in enumerate(seq) if v is None] or [(i, v) for i, v in enumerate(seq) if not isinstance(v, storable)]
    i, v = odd[0] if odd else (0, seq[0] if seq else None)
    return (
        f"schema error: column `{name}` row {i} is {v!r:.40} ({type(v).__name__}): a column holds numbers, "
        "arrays, str or bytes; missing values (None) are not stored: fill or drop them first"
    )


def _check_not_mixed(name: str, seq: list[Any]) -> None:
    """Refuses a column mixing text, bytes and numbers (numpy would silently make them all
    strings), naming the column and the first row that differs."""
    if not seq:
        return
    first = _kind(seq[0])
    for i, v in enumerate(seq):
        if v is None:
            raise SchemaError(_unstorable(name, seq))
        if _kind(v) != first:
            raise SchemaError(
                f"schema error: column `{name}` mixes types: row 0 is a {first}, row {i} is a "
                f"{_kind(v)} ({v!r:.40}); give every row of a column the same type"
            )


def _utf8(name: str, seq: list[str]) -> list[bytes]:
    """The rows of a text column as UTF-8, naming the column and row of one that cannot be (a
    lone surrogate, e.g. from a bad decode with ``errors="surrogateescape"``)."""
    try:
        return [v.encode("utf-8") for v in seq]
    except UnicodeEncodeError:
        for i, v in enumerate(seq):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as e:
                raise SchemaError(
                    f"schema error: column `{name}` row {i} is not valid Unicode text ({e.reason} at "
                    f"character {e.start}); fix the text or store the column as bytes"
                ) from None
        raise


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
    columns: Any,
    key: Key | None = None,
    *,
    version: int = 1,
    chunk_bytes: int = 4 << 20,
    codec: str = "zstd",
    zstd_level: int = 3,
    filter: str = "shuffle",
    storage_options: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
    schema: SchemaArg | None = None,
    progress: Progress = None,
) -> "Dataset":
    """Writes ``columns`` as version ``version`` of the dataset at ``uri`` (a local path or an
    object-store URI), and returns it opened.

    ``columns`` is one batch (name -> array with one row per leading index; or a list of
    str/bytes), an iterable of batches (a generator: written as they come, memory bounded by a
    few chunks), a ``Dataset`` (copied in batches) or a data frame (pandas, polars, pyarrow,
    Hugging Face ``datasets``). ``key`` encrypts it (``None``: unencrypted, integrity-checked by
    hashes). ``codec`` is ``"zstd"`` or ``"none"`` (a chunk zstd shrinks by less than 5 % is
    stored as is); ``filter`` is ``"shuffle"`` (byte shuffle of numeric columns before zstd: on
    float32 data it makes zstd decode faster) or ``"none"``.

    Args:
        uri: a local path or an object-store URI (``s3://``, ``gs://``, ``az://``, ``memory://``).
        columns: one batch (column name -> array with rows along the first axis, or a list of
            str/bytes, or a list of arrays of one dtype and rank for a variable-shape column), a
            stream (generator, iterator) of such batches, a list of rows (one mapping per row),
            a ``Dataset``, or a data frame (see ``_writer.batches_of``).
        key: the key to encrypt with; None: unencrypted, integrity-checked by hashes.
        version: the version number to write (1, 2, ...).
        chunk_bytes: the target uncompressed size of a chunk, in bytes.
        codec: ``"zstd"`` or ``"none"``.
        zstd_level: zstd's compression level (1-22).
        filter: ``"shuffle"`` or ``"none"``.
        storage_options: object-store options (as ``LeptonAI`` takes them).
        metadata: free-form string metadata stored in the manifest.
        schema: the columns declared up front, as ``Dataset.schema`` reads them back:
            ``{name: (dtype, shape)}`` with ``None`` for each dimension that varies by row
            (``{"tokens": ("int64", (None,))}``), or a ``pyarrow.Schema`` /
            ``datasets.Features``. Default: a pyarrow, polars or Hugging Face frame's own
            schema; else the first batch's columns.
        progress: ``None`` (a bar on a terminal or in a notebook), ``True``/``False``, or a
            callable ``(done_bytes, total_bytes)`` (``total_bytes`` is 0 for a stream).

    Returns:
        The written version, opened as a :class:`Dataset`.

    Raises:
        AlreadyExistsError: that version exists.
        SchemaError: the columns disagree in length or with ``schema``, a column mixes types,
            or a column's dtype is not supported (the message names the column).
        InvalidArgumentError: an unknown codec or filter, or a bad option.
    """
    uri = str(uri)
    native = _lepton.DatasetWriter(
        uri,
        key=key,
        version=version,
        chunk_bytes=chunk_bytes,
        codec=codec,
        zstd_level=zstd_level,
        filter=filter,
        storage_options=dict(storage_options) if storage_options else None,
        metadata=dict(metadata) if metadata else None,
        schema=schema_spec(schema if schema is not None else frame_schema(columns)),
    )
    # Named by the folder's last part: the whole URI can be long or carry credentials.
    label = f"write {uri.rstrip('/').rsplit('/', 1)[-1]}"
    with DatasetWriter(native, lambda info: info, progress, label) as w:
        w._write_all(columns)
    return Dataset(uri, key=key, version=version, storage_options=storage_options)


def _prepare_columns(columns: Mapping[str, ColumnValue]) -> list[_Prepared]:
    """Every column as the native writer takes it (raises ``SchemaError`` before anything is
    written)."""
    if not columns:
        raise SchemaError("schema error: a dataset needs at least one column")
    return [_prepare_column(str(name), values) for name, values in columns.items()]


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


#: How often (in single-row reads) ``ds[i]`` asks the core whether the cache is thrashing.
_THRASH_CHECK_EVERY = 256


def _require(module: str, what: str) -> None:
    """Raises ``MissingExtraError`` naming ``module`` if it is not installed."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(f"{what} needs {module}: pip install {module}")


if TYPE_CHECKING:
    from ._loader import IterableBatches

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

    Args:
        uri: the dataset version's location (a local path or an object-store URI).
        key: the key it was encrypted with; None for an unencrypted dataset.
        version: the version to open; None for the latest.
        storage_options: object-store options (as ``LeptonAI`` takes them).
        cache_bytes: the bound of the decoded-chunk cache, in bytes.

    Raises:
        NotFoundError: no dataset (or version) at ``uri``.
        KeyRequiredError: the dataset is encrypted and no key was given.
        WrongKeyError: ``key`` is not the dataset's.
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
        self._info: DatasetVersionInfo = info
        self._version: int = info.version
        self._schema: list[tuple[str, str, tuple[int | None, ...]]] = [
            (c.name, c.dtype, tuple(c.shape)) for c in info.columns
        ]
        self._rank, self._world_size = 0, 1
        self._start, self._len = 0, len(self._native)
        self._epoch = 0
        self._state: str | None = None
        #: What progress bars call it (``name/split`` when opened from a registry).
        self._label: str | None = None
        self._resume: str | None = None
        #: Rows read one at a time, and whether the cache-thrashing warning was given.
        self._reads = 0
        self._warned = False

    # ----- description -----------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """Column names, in order."""
        return [n for n, _, _ in self._schema]

    @property
    def schema(self) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        """Column name -> (dtype name, per-row shape); a variable-shape column's dimensions are
        all ``None`` (e.g. ``(None,)`` for token-id lists of different lengths)."""
        return {n: (d, s) for n, d, s in self._schema}

    @property
    def version(self) -> int:
        """The version opened."""
        return self._version

    @property
    def info(self) -> DatasetVersionInfo:
        """Rows, stored_bytes, raw_bytes, chunks, version, dataset_id, encrypted, columns, metadata
        (``info.rows``; ``info["rows"]`` as when this was a dict)."""
        return self._info

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
            if None in shape:
                rows_of = _decode_variable_shape(dtype, *col)
                out.append(rows_of[0] if single else rows_of)
            elif dtype in _VARIABLE:
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
                fixed = tuple(int(d or 0) for d in shape)
                arr = col.view(np.dtype(dtype)).reshape(((rows,) if not single else ()) + fixed)
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
        self._reads += 1
        if self._reads % _THRASH_CHECK_EVERY == 0 and not self._warned and self._native.thrashing():
            self._warned = True
            warnings.warn(
                f"random row access to {self._where} is thrashing the chunk cache (each row read decodes a "
                f"whole chunk): the data is larger than cache_bytes={self._cache_bytes}. For shuffled "
                "training use ds.to_iterable_dataset(batch_size=..., shuffle=True) with "
                "DataLoader(..., batch_size=None), which reads chunk by chunk",
                UserWarning,
                stacklevel=2,
            )
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
            of ``str``/``bytes`` for variable-length columns, and of one array per row for
            variable-shape columns.

        Raises:
            IntegrityError, WrongKeyError: a chunk fails to authenticate.
            NotFoundError: a chunk is missing from the store.
        """
        total = self._info.raw_bytes * self._len // max(1, len(self._native))
        label = self._label or self._uri.rstrip("/").rsplit("/", 1)[-1]
        with progress_callback(progress, f"read {label}") as cb:
            if cb is None or self._len == 0:
                return {name: _as_array(values) for name, values in zip(self.columns, self[0 : self._len])}
            step = max(1, self._len * _SLICE_BYTES // max(1, total))
            parts: list[tuple[Any, ...]] = []
            for start in range(0, self._len, step):
                stop = min(self._len, start + step)
                parts.append(self[start:stop])
                cb(total * stop // self._len, total)
            return {
                name: _as_array([r for p in parts for r in p[i]])
                if isinstance(parts[0][i], list)
                else np.concatenate([p[i] for p in parts])
                for i, name in enumerate(self.columns)
            }

    def to_arrow(self) -> Any:
        """All rows (of this shard) as a ``pyarrow.Table``.

        Returns:
            One Arrow column per dataset column: scalar numeric columns wrap the decoded buffers
            without a copy; rows of shape ``(n,)`` are ``fixed_size_list<n>``, higher-rank rows
            a ``fixed_shape_tensor``, ``str``/``bytes`` ``string``/``binary``.

        Raises:
            MissingExtraError: pyarrow is not installed.
            IntegrityError, WrongKeyError: a chunk fails to authenticate.
        """
        from ._frames import to_arrow

        _require("pyarrow", "to_arrow()")
        return to_arrow(self.columns, self.to_numpy(progress=False), {n: s for n, (_, s) in self.schema.items()})

    def to_pandas(self) -> Any:
        """All rows (of this shard) as a ``pandas.DataFrame``.

        Returns:
            One column per dataset column: scalar columns in their dtype, ``str``/``bytes`` as
            text/objects, and one numpy array per cell for row-shaped columns.

        Raises:
            MissingExtraError: pandas is not installed.
            IntegrityError, WrongKeyError: a chunk fails to authenticate.
        """
        from ._frames import to_pandas

        _require("pandas", "to_pandas()")
        return to_pandas(self.columns, self.to_numpy(progress=False))

    def _column_batches(self, batch_bytes: int) -> Iterator[dict[str, Any]]:
        """The rows (of this shard) in order, as ``{column: values}`` batches of about
        ``batch_bytes`` uncompressed bytes (what copying a dataset writes)."""
        rows = max(1, len(self._native))
        step = max(1, batch_bytes * rows // max(1, self._info.raw_bytes))
        native = self._native.iter_batches(batch_size=step, rank=self._rank, world_size=self._world_size)
        for cols in native:
            yield dict(zip(self.columns, self._convert(cols, self._rows_of(cols), single=False)))

    # ----- iteration ---------------------------------------------------------------------------
    def to_iterable_dataset(
        self,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        *,
        shuffle_buffer: int = 16384,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> "IterableBatches":
        """This dataset as a ``torch.utils.data.IterableDataset`` of whole batches, in the
        chunk-aware shuffled order of :meth:`iter_batches` (the fast way to train on data larger
        than the cache: a shuffling sampler over ``ds[i]`` decodes a chunk per row).

        Give it to ``DataLoader(it, batch_size=None, num_workers=...)``. It splits the epoch
        across distributed ranks (``torch.distributed``'s rank and world size when it is
        initialised, else ``rank``/``world_size``, else one rank) and across the loader's
        workers, by the core's rules: every rank yields the same number of batches.

        Args:
            batch_size: rows per batch.
            shuffle: shuffle the chunk order and rows within a window each epoch.
            seed: the shuffle's seed (the same on every rank).
            drop_last: as ``DistributedSampler``: ``False`` pads every rank to
                ``ceil(len / world_size)`` rows by repeating rows; ``True`` gives each
                ``floor(len / world_size)`` rows and drops a last partial batch.
            shuffle_buffer: rows permuted together.
            rank: this process's rank, when not using ``torch.distributed``.
            world_size: the number of ranks, with ``rank``.

        Returns:
            An ``IterableDataset`` with ``set_epoch``, ``len()`` (batches per rank),
            ``state_dict``/``load_state_dict`` (torchdata's ``StatefulDataLoader`` resumes
            mid-epoch with them).

        Raises:
            MissingExtraError: torch is not installed.
            InvalidArgumentError: this is already a shard, or ``rank`` is outside
                ``0..world_size``.
        """
        _require("torch", "to_iterable_dataset()")
        from ._loader import IterableBatches

        if self._world_size != 1:
            raise InvalidArgumentError(
                "to_iterable_dataset() splits the dataset across ranks itself: call it on the whole "
                "dataset, not a shard (pass rank= and world_size= without torch.distributed)"
            )
        if (rank is None) != (world_size is None):
            raise InvalidArgumentError("give rank and world_size together, or neither")
        if world_size is not None:
            self._native.shard(int(rank or 0), int(world_size))  # the core's rank rule
        return IterableBatches(
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            shuffle_buffer=shuffle_buffer,
            rank=rank,
            world_size=world_size,
        )

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
        if dtype in _VARIABLE or None in shape:
            return len(native[0][0]) - 1
        rows: int = native[0].size // (np.dtype(dtype).itemsize * math.prod(int(d or 0) for d in shape))
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
