"""Streaming dataset writes: a writer that takes batches (or rows) as they come, so that a dataset
larger than memory is written with memory bounded by a few chunks.

    with platform.dataset_writer("tokens", "train") as w:
        for batch in produce():                 # each a {column: array} of some rows
            w.write(batch)
    print(w.info.rows)

The native writer (``lepton_core::dataset::DatasetWriter``) cuts the rows into chunks, encodes
and uploads them in parallel with a bounded number in flight, and commits on ``close()``; leaving
the ``with`` block with an exception aborts, so that nothing becomes visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar

import numpy as np

from . import _lepton
from ._progress import Progress, ProgressCallback, progress_callback
from .errors import InvalidArgumentError, SchemaError

if TYPE_CHECKING:
    import contextlib

__all__ = ["DatasetWriter", "batches_of", "is_row", "is_scalar", "rows_to_batch"]

Info = TypeVar("Info")

#: Rows given one at a time to ``write_row`` are handed to the native writer in batches of this
#: many (Python-side buffering only; the stored chunks do not depend on it).
ROWS_PER_BATCH = 1024

#: A ``Dataset`` being copied is read in batches of about this many bytes.
COPY_BATCH_BYTES = 64 << 20


def batches_of(data: Any) -> Iterator[Mapping[str, Any]]:
    """The batches of ``data`` as ``{column: values}`` mappings, one at a time.

    The one rule for what a mapping is, wherever data is written (as Hugging Face's
    ``Dataset.from_dict`` and ``Dataset.from_list`` read them):

    - a mapping given alone is columns, one batch (``{"x": array_of_rows}``);
    - a list (or tuple) of mappings is rows, one mapping per row, whatever the values are
      (``[{"x": np.ones(4)}, {"x": np.ones(4)}]`` is two rows of shape ``(4,)``);
    - a stream (a generator, an iterator) yields batches, except that a mapping holding a
      scalar (a number, ``str``, ``bytes``) is one row, since no column of a batch can be one.

    Args:
        data: a mapping of column name -> values (one batch); a list of rows; a
            ``lepton_ai.Dataset`` (read in batches of about 64 MiB); a data frame (pandas,
            polars, pyarrow ``Table`` or ``RecordBatchReader``, Hugging Face ``datasets.Dataset``
            or streaming ``IterableDataset``); or a stream of batches, rows or frames.

    Returns:
        An iterator of mappings; nothing is read ahead of the batch being written (rows are
        gathered 1024 at a time).

    Raises:
        InvalidArgumentError: ``data`` (or an item of it) is none of these, a list's mapping
            looks like a batch (a column of several ``str``/``bytes``), or ``data`` is a Hugging
            Face ``DatasetDict`` (several splits).
    """
    from ._dataset import Dataset
    from ._frames import frame_batches, refuse_splits

    refuse_splits(data)
    if isinstance(data, Mapping):
        yield data
        return
    if isinstance(data, Dataset):
        yield from data._column_batches(COPY_BATCH_BYTES)
        return
    frames = frame_batches(data)
    if frames is not None:
        yield from frames
        return
    if isinstance(data, (str, bytes, bytearray, np.ndarray)) or not isinstance(data, Iterable):
        raise InvalidArgumentError(_what_data(data))
    listed = isinstance(data, (list, tuple))
    # A list is in memory already: its rows are one batch, so a column's dtype is inferred over
    # the whole list (as Hugging Face's from_list does), not fixed by its first 1024 rows.
    per_batch = max(len(data), 1) if isinstance(data, (list, tuple)) else ROWS_PER_BATCH
    rows: list[Mapping[str, Any]] = []
    start = 0  # the index of rows[0] in data
    for i, item in enumerate(data):
        if isinstance(item, Mapping) and (listed or is_row(item)):
            if listed:
                _check_row(i, item)
            if not rows:
                start = i
            rows.append(item)
            if len(rows) >= per_batch:
                yield rows_to_batch(rows, first=start)
                rows = []
            continue
        if rows:
            yield rows_to_batch(rows, first=start)
            rows = []
        if isinstance(item, Mapping):
            yield item
            continue
        nested = frame_batches(item)
        if nested is None:
            raise InvalidArgumentError(f"item {i} of the batches: {_what_data(item)}")
        yield from nested
    if rows:
        yield rows_to_batch(rows, first=start)


def _check_row(i: int, row: Mapping[str, Any]) -> None:
    """Refuses a list item that is a batch, not a row: a column holding several ``str``/``bytes``
    (one row holds one), naming both forms."""
    for name, v in row.items():
        if isinstance(v, (list, tuple)) and v and isinstance(v[0], (str, bytes)):
            raise InvalidArgumentError(
                f"item {i} of the list holds {len(v)} values in column `{name}`: a list of mappings is "
                "rows, one mapping per row (as Hugging Face's Dataset.from_list); give batches "
                "(mappings of columns) as a stream instead: a generator or iter([batch, ...])"
            )


def is_scalar(value: Any) -> bool:
    """Whether ``value`` is one value (a number, ``str``, ``bytes``, a 0-d array), not a sequence.

    Args:
        value: anything.

    Returns:
        True for a scalar.
    """
    return isinstance(value, (str, bytes, bytearray, int, float, complex, np.generic)) or (
        getattr(value, "ndim", None) == 0
    )


def is_row(mapping: Mapping[str, Any]) -> bool:
    """Whether a mapping in a stream is one row (``{"text": "a", "label": 1}``) rather than a
    batch: it holds a scalar (see :func:`is_scalar`), which no column of a batch can be. A
    mapping of arrays only in a stream is a batch: give such rows as a list, to ``write_row``,
    or declare them with a scalar column.

    Args:
        mapping: a row or a batch.

    Returns:
        True for a row.
    """
    return any(is_scalar(v) for v in mapping.values())


def rows_to_batch(rows: list[Mapping[str, Any]], *, first: int = 0) -> dict[str, list[Any]]:
    """Rows (``{column: value}`` each, the same columns) as one batch: each column the list of its
    rows' values (rows of one shape stack; of different shapes, a variable-shape column).

    Args:
        rows: at least one row.
        first: the index of ``rows[0]`` among all rows given, for the row numbers in errors.

    Returns:
        ``{column: [value of row 0, value of row 1, ...]}`` in the first row's column order.

    Raises:
        SchemaError: a row's columns differ from the first row's (naming both), or a value no
            column can hold (``None``, an int beyond 64 bits, a nested list whose inner lists
            differ in length), naming the row.
    """
    names = list(rows[0])
    for i, r in enumerate(rows):
        if len(r) != len(names) or any(n not in r for n in names):
            raise SchemaError(
                f"schema error: row {first + i} has the columns {sorted(map(str, r))}, row {first} "
                f"{sorted(map(str, names))}; give every row the same columns"
            )
    batch = {name: [r[name] for r in rows] for name in names}
    for name, values in batch.items():
        _check_values(str(name), values, first)
    return batch


def _check_values(name: str, values: list[Any], first: int) -> None:
    """Refuses, naming the row, a row value no column can hold."""
    for i, v in enumerate(values):
        where = f"schema error: column `{name}` row {first + i}"
        if v is None:
            raise SchemaError(f"{where} is None; datasets store no nulls: fill or drop missing values first")
        if isinstance(v, int) and not -(2**63) <= v < 2**64:
            raise SchemaError(
                f"{where} holds {v}, which fits no 64-bit integer (int64 or uint64); store it as "
                f"float64 (schema={{{name!r}: 'float64'}}) or as text"
            )
        if isinstance(v, (list, tuple)) and any(isinstance(x, (list, tuple)) for x in v):
            lengths = {len(x) if isinstance(x, (list, tuple)) else None for x in v}
            if len(lengths) > 1:
                raise SchemaError(
                    f"{where} is a nested list whose inner lists differ in length "
                    f"({sorted(lengths, key=str)}); a row is one array of one shape: pad the inner "
                    f"lists, or flatten each row into one list of varying length (schema="
                    f"{{{name!r}: ('int64', (None,))}} declares such a column)"
                )


def _what_data(data: Any) -> str:
    return (
        "expected a mapping of column name -> array (a batch) or -> value (a row), an iterable "
        "(list, generator) of such mappings, a lepton_ai.Dataset, or a data frame (pandas, "
        f"polars, pyarrow, Hugging Face datasets); got {type(data).__name__}"
    )


class DatasetWriter(Generic[Info]):
    """Writes one dataset version from batches (or rows) given as they come.

    Made by ``LeptonAI.dataset_writer`` (the registry's next version; ``write_dataset`` uses one
    for a dataset at a URI). Use it as a context manager: leaving the block commits; an exception
    inside aborts and nothing becomes visible. Memory stays bounded by a few chunks in flight,
    whatever the total size.

    The first batch fixes the schema (column names, dtypes, row shapes) unless the writer was
    made with ``schema=``; later batches must match it. Declare a column whose rows vary in
    shape (``schema={"tokens": ("int64", (None,))}``) when the first rows may happen to share one.

    Args:
        native: the native writer (``_lepton.DatasetWriter``) the batches go to.
        committed: turns the native writer's summary into what :attr:`info` returns.
        progress: ``None`` (a bar on a terminal or in a notebook), ``True``/``False``, or a
            callable ``(done_bytes, total_bytes)``.
        label: the progress bar's name (the dataset's name and split).
    """

    def __init__(
        self,
        native: Any,
        committed: Callable[[_lepton.DatasetVersionInfo], Info],
        progress: Progress,
        label: str,
    ) -> None:
        self._native = native
        self._committed = committed
        self._progress: "contextlib.AbstractContextManager[Optional[ProgressCallback]]" = progress_callback(
            progress, label
        )
        self._cb = self._progress.__enter__()
        self._streaming = False
        self._rows: list[Mapping[str, Any]] = []
        self._rows_flushed = 0  # rows given to write_row before self._rows, for errors' row numbers
        self._written = 0  # rows given to write() so far, for errors' row numbers
        self._info: Optional[Info] = None
        self._open = True

    def write(self, batch: Any) -> None:
        """Appends rows.

        Args:
            batch: ``{column: values}`` with one entry per row along the first axis (numpy
                arrays, torch tensors, lists of ``str``/``bytes``), every column the same number
                of rows; one row ``{column: value}`` holding a scalar (successive ``write`` calls
                are a stream: see :func:`batches_of` and :func:`is_row`); a list of rows; or a
                data frame.

        Raises:
            SchemaError: the columns disagree with each other or with earlier batches; a
                column holds mixed or unsupported values (the message names it).
            InvalidArgumentError: the writer is closed, or ``batch`` is not a batch.
        """
        from ._dataset import _prepare_columns

        self._check_open()
        self._flush_rows()
        if self._cb is not None and not self._streaming:
            # The core writer reports each chunk it stores; the total is not known ahead (0).
            cb = self._cb
            self._native.set_progress(lambda rows, stored: cb(stored, 0))
            self._streaming = True
        one_row = isinstance(batch, Mapping) and is_row(batch)
        parts = [rows_to_batch([batch], first=self._written)] if one_row else batches_of(batch)
        for part in parts:
            rows = len(next(iter(part.values()), ()))
            try:
                self._native.write(_prepare_columns(part))
            except SchemaError as e:
                if not self._written or "schema=" in str(e):
                    raise
                # A later batch: the core sees it alone, so name where it lies among all rows (a
                # message that already says how to declare the schema has said what to do).
                raise SchemaError(
                    f"{e} (in rows {self._written} to {self._written + rows - 1}, after the first "
                    f"{self._written} rows fixed the schema; declare it with schema= where rows may differ)"
                ) from None
            self._written += rows

    def _write_all(self, data: Any) -> None:
        """Writes ``data`` (see :func:`batches_of`): one mapping in slices with its total known
        (a progress bar with an end), anything else batch by batch as it comes."""
        from ._dataset import _prepare_columns, _write_in_slices

        self._check_open()
        if isinstance(data, Mapping):
            _write_in_slices(self._native, _prepare_columns(data), self._cb)
        else:
            for batch in batches_of(data):
                self.write(batch)

    def write_row(self, row: Mapping[str, Any]) -> None:
        """Appends one row (buffered, written in batches of 1024 rows).

        Args:
            row: ``{column: value}``: a number, an array of the column's row shape, a
                ``str`` or ``bytes``.

        Raises:
            SchemaError: as for :meth:`write`, when the buffered rows are written.
            InvalidArgumentError: the writer is closed.
        """
        self._check_open()
        self._rows.append(row)
        if len(self._rows) >= ROWS_PER_BATCH:
            self._flush_rows()

    def _flush_rows(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        first, self._rows_flushed = self._rows_flushed, self._rows_flushed + len(rows)
        self.write(rows_to_batch(rows, first=first))

    def close(self) -> Info:
        """Writes the last chunk, waits for every upload, and commits the version.

        Returns:
            What was written (``rows``, ``version``, ...): the registry's ``DatasetInfo`` for a
            push, a ``DatasetVersionInfo`` for a dataset at a URI.

        Raises:
            SchemaError: nothing was written.
            AlreadyExistsError: another writer committed this version first.
            InvalidArgumentError: the writer is already closed.
        """
        self._check_open()
        try:
            self._flush_rows()
            info: _lepton.DatasetVersionInfo = self._native.close()
        except BaseException:
            self.abort()
            raise
        self._open = False
        self._progress.__exit__(None, None, None)
        self._info = self._committed(info)
        return self._info

    def abort(self) -> None:
        """Drops what was written without committing; nothing becomes visible."""
        self._rows = []
        if self._open:
            self._open = False
            self._native.abort()
            self._progress.__exit__(None, None, None)

    @property
    def info(self) -> Info:
        """What ``close()`` returned.

        Raises:
            InvalidArgumentError: the writer has not committed.
        """
        if self._info is None:
            raise InvalidArgumentError("the writer has not committed yet: call close() or leave the with block")
        return self._info

    def _check_open(self) -> None:
        if not self._open:
            raise InvalidArgumentError("the writer is closed")

    def __enter__(self) -> "DatasetWriter[Info]":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._open:
            self.close()
