"""Data frames in and out: pandas, polars, pyarrow (``Table``, ``RecordBatch``,
``RecordBatchReader``) and Hugging Face ``datasets.Dataset`` / ``IterableDataset`` as input
batches; Arrow and pandas as output.

Arrow lives in Python (pyarrow), not in the Rust core: every frame library named here already
depends on pyarrow or converts to it, pyarrow wraps numpy buffers without copying for the
fixed-size numeric columns that make up most of a dataset's bytes, and the core keeps its own
compact chunk layout (so no ``arrow`` crate to compile or keep in step with pyarrow's version).
None of these libraries is imported unless the caller already passed one of its objects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from .errors import InvalidArgumentError, SchemaError

__all__ = ["frame_batches", "refuse_splits", "to_arrow", "to_pandas"]

#: Rows per batch when a frame is written (each batch is handed to the native writer whole).
FRAME_BATCH_ROWS = 65536

#: Rows per batch read from a Hugging Face ``IterableDataset`` (Python values: smaller batches).
STREAM_BATCH_ROWS = 4096


def _is(obj: Any, module: str, *names: str) -> bool:
    """Whether ``obj`` is an instance of ``module.<name>`` (only if ``module`` is imported)."""
    mod = sys.modules.get(module)
    return mod is not None and any(isinstance(obj, getattr(mod, n, ())) for n in names)


def refuse_splits(data: Any) -> None:
    """Refuses a Hugging Face ``DatasetDict``/``IterableDatasetDict`` (several splits, where a
    dataset version is one), naming its splits and how to pick one.

    Args:
        data: what is being written.

    Raises:
        InvalidArgumentError: ``data`` is such a dict of splits.
    """
    if _is(data, "datasets", "DatasetDict", "IterableDatasetDict"):
        splits = list(data)
        first = splits[0] if splits else "train"
        raise InvalidArgumentError(
            f"a Hugging Face {type(data).__name__} holds the splits {splits}, and a push writes one "
            f'split: pick it, e.g. push_dataset(name, "{first}", data["{first}"]), once per split'
        )


def frame_batches(data: Any) -> Optional[Iterator[Mapping[str, Any]]]:
    """The batches of a data frame as ``{column: values}``, or None if ``data`` is no frame.

    Args:
        data: a pandas ``DataFrame``, a polars ``DataFrame``, a pyarrow ``Table``,
            ``RecordBatch`` or ``RecordBatchReader``, or a Hugging Face ``datasets.Dataset`` or
            (streaming) ``datasets.IterableDataset``.

    Returns:
        An iterator of batches of up to 65536 rows, or None.
    """
    if _is(data, "pandas", "DataFrame"):
        return _pandas_batches(data)
    if _is(data, "polars", "DataFrame"):
        return _arrow_batches(data.to_arrow())
    if _is(data, "pyarrow", "Table", "RecordBatch", "RecordBatchReader"):
        return _arrow_batches(data)
    if _is(data, "datasets", "Dataset"):
        return _arrow_batches(data.with_format("arrow").iter(batch_size=FRAME_BATCH_ROWS))
    if _is(data, "datasets", "IterableDataset"):
        # A stream, one batch at a time: as Arrow when its features are declared (typed like
        # them), else as Python values (the Arrow form needs batches whose types agree).
        if data.features is not None:
            return _arrow_batches(data.with_format("arrow").iter(batch_size=STREAM_BATCH_ROWS))
        return (dict(b) for b in data.iter(batch_size=STREAM_BATCH_ROWS))
    return None


def _pandas_batches(frame: Any) -> Iterator[Mapping[str, Any]]:
    for start in range(0, max(len(frame), 1), FRAME_BATCH_ROWS):
        part = frame.iloc[start : start + FRAME_BATCH_ROWS]
        batch: dict[str, Any] = {}
        for name in part.columns:
            series = part[name]
            if series.isna().any():
                row = int(np.flatnonzero(series.isna().to_numpy())[0]) + start
                raise SchemaError(
                    f"schema error: column `{name}` has a missing value (row {row}); fill or drop missing "
                    "values first (datasets store no nulls)"
                )
            values = series.to_numpy()
            if values.dtype.kind == "O" or str(series.dtype) in ("string", "str"):
                values = list(values)
            batch[str(name)] = values
        yield batch


def _arrow_batches(source: Any) -> Iterator[Mapping[str, Any]]:
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    if isinstance(source, pa.Table):
        source = source.to_batches(max_chunksize=FRAME_BATCH_ROWS)
    elif isinstance(source, pa.RecordBatch):
        source = [source]
    for item in source:
        batches = item.to_batches(max_chunksize=FRAME_BATCH_ROWS) if isinstance(item, pa.Table) else [item]
        for rb in batches:
            yield {name: _from_arrow(name, col) for name, col in zip(rb.schema.names, rb.columns)}


def _from_arrow(name: str, col: Any) -> Any:
    """One Arrow array as the writer takes it: numpy for numbers (zero-copy where Arrow's layout
    is numpy's), a list for strings/bytes, stacked rows for fixed-size lists and tensors, a list
    of arrays for variable-length lists."""
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count:
        row = col.is_null().to_numpy(zero_copy_only=False).argmax()
        raise SchemaError(
            f"schema error: column `{name}` has a missing value (row {row}); fill or drop missing values "
            "first (datasets store no nulls)"
        )
    t = col.type
    if isinstance(t, pa.BaseExtensionType) and hasattr(col, "to_numpy_ndarray"):  # fixed_shape_tensor
        return col.to_numpy_ndarray()
    if isinstance(t, pa.BaseExtensionType) and isinstance(getattr(t, "value_type", None), str):
        # Hugging Face's Array2D..Array5D: its own to_numpy gives (rows, *shape), or one array
        # per row when the first dimension is None.
        rows = col.to_numpy()
        return list(rows) if rows.dtype == object else rows
    if pa.types.is_fixed_size_list(t):
        shape: list[int] = []
        flat = col
        while pa.types.is_fixed_size_list(flat.type):
            shape.append(flat.type.list_size)
            flat = flat.flatten()
        return _from_arrow(name, flat).reshape([len(col), *shape])
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        values = _from_arrow(name, col.flatten())
        offsets = col.offsets.to_numpy()
        return [values[offsets[i] : offsets[i + 1]] for i in range(len(col))]
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.to_pylist()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return col.to_pylist()
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
        return col.to_numpy(zero_copy_only=False)
    raise SchemaError(f"schema error: column `{name}` has Arrow type {t}, which a dataset cannot store")


def to_arrow(
    names: list[str], columns: Mapping[str, Any], shapes: Optional[Mapping[str, Any]] = None
) -> Any:
    """Columns (as ``Dataset.to_numpy`` returns them) as a ``pyarrow.Table``.

    Args:
        names: the column names in order.
        columns: name -> array of shape ``(rows, *row_shape)``, object arrays of ``str``/
            ``bytes``, or object arrays (or lists) of one array per row (variable-shape columns).
        shapes: name -> row shape as ``Dataset.schema`` spells it (``None`` where rows vary);
            a variable-shape column whose only varying dimension is the first, ``(None, 3)``,
            becomes ``list<fixed_size_list<3>>``.

    Returns:
        A table: scalar numeric columns wrap the numpy buffers (no copy); rows of shape ``(n,)``
        become ``fixed_size_list<n>``; higher-rank rows a ``fixed_shape_tensor``; variable-shape
        rows ``list`` of their flattened values (``list`` of ``fixed_size_list`` when only the
        first dimension varies); ``str``/``bytes`` become ``string``/``binary``.
    """
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    arrays = []
    for name in names:
        values = columns[name]
        shape = tuple((shapes or {}).get(name, ()))
        if _is_variable_shape(values) and len(shape) > 1 and shape[0] is None and None not in shape[1:]:
            arrays.append(_list_of_fixed(values, shape[1:]))
        elif _is_variable_shape(values):  # one array per row: list of each row's flattened values
            arrays.append(pa.array([np.asarray(v).reshape(-1) for v in values]))
        elif values.dtype.kind == "O":
            arrays.append(pa.array(list(values)))
        elif values.ndim == 1:
            arrays.append(pa.array(values))
        elif values.ndim == 2:
            flat = pa.array(np.ascontiguousarray(values).reshape(-1))
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, values.shape[1]))
        else:
            arrays.append(pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(values)))
    return pa.table(arrays, names=names)


def _list_of_fixed(rows: Any, inner: tuple[int, ...]) -> Any:
    """Rows of shape ``(n_i, *inner)`` as ``list<fixed_size_list<...>>`` (as pyarrow spells a
    varying number of fixed-size items, e.g. 3-d points)."""
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    arrays = [np.asarray(r) for r in rows]
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0)
    items: Any = pa.array(flat)
    for d in reversed(inner):
        items = pa.FixedSizeListArray.from_arrays(items, int(d))
    offsets = np.zeros(len(arrays) + 1, dtype=np.int32)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def _is_variable_shape(values: Any) -> bool:
    """Whether a column holds one array per row (a variable-shape column)."""
    if isinstance(values, list):
        return True
    return bool(values.dtype.kind == "O" and len(values) and isinstance(values[0], np.ndarray))


def to_pandas(names: list[str], columns: Mapping[str, Any]) -> Any:
    """Columns (as ``Dataset.to_numpy`` returns them) as a ``pandas.DataFrame``.

    Args:
        names: the column names in order.
        columns: as for :func:`to_arrow`.

    Returns:
        A frame with one column per dataset column: scalar columns in their dtype (no copy),
        ``str``/``bytes`` as objects, and one array per cell for row-shaped columns.
    """
    import pandas as pd  # type: ignore[import-untyped,import-not-found,unused-ignore]

    data: dict[str, Any] = {}
    for name in names:
        values: Any = columns[name]
        if not _is_variable_shape(values) and values.ndim > 1:
            cells: npt.NDArray[Any] = np.empty(len(values), dtype=object)
            cells[:] = list(values)
            values = cells
        data[name] = values
    return pd.DataFrame(data, columns=names)
