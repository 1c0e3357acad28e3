"""Dataset columns from a file, for ``lepton push dataset``: ``.npz``, ``.npy``, ``.parquet``,
``.csv``.

Every reader returns ``{column name: numpy array or list of str}``, the form
``LeptonAI.push_dataset`` takes: numeric columns as numpy arrays (rows on axis 0), text columns
as lists of ``str`` (the datasets' variable-length type), a Parquet ``list`` column as a list of
one array per row (a variable-shape column; ``read_schema`` declares it so).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional, Union

from .errors import InvalidArgumentError

Columns = Dict[str, Any]
PathLike = Union[str, "os.PathLike[str]"]


def read_columns(path: PathLike, *, column: Optional[str] = None) -> Columns:
    """The columns stored in ``path``, by its extension.

    Args:
        path: ``.npz`` (one array per column, ``np.savez(path, x=..., y=...)``); ``.npy`` (one
            array: a structured array gives one column per field, any other array one column
            named ``column``); ``.parquet`` (needs ``pyarrow``); ``.csv`` (a header row of column
            names; numbers become int64/float64 columns, anything else text).
        column: the column name for a plain ``.npy`` array (default ``"x"``).

    Returns:
        The columns, numeric ones as numpy arrays of shape ``(rows, ...)``, text as lists of str.

    Raises:
        InvalidArgumentError: an unknown extension, a file that cannot be read or parsed (the
            message names the file and the expected layout), or ``column`` given for a file
            format whose columns carry their own names.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    readers: Dict[str, Callable[[str], Columns]] = {
        ".npz": _read_npz,
        ".npy": lambda f: _read_npy(f, column or "x"),
        ".parquet": _read_parquet,
        ".pq": _read_parquet,
        ".csv": _read_csv,
    }
    if ext not in readers:
        raise InvalidArgumentError(
            f"cannot push {p} as a dataset: expected a .npz, .npy, .parquet or .csv file"
        )
    if column is not None and ext != ".npy":
        raise InvalidArgumentError("--column applies to a plain .npy array only")
    if not os.path.isfile(p):
        raise InvalidArgumentError(f"cannot read {p}: no such file")
    return readers[ext](p)


def _text_as_list(columns: Dict[str, Any]) -> Columns:
    # Fixed-width numpy text (kind U or S) goes in as lists of str.
    def text(v: Any) -> Any:
        if isinstance(v, list) or v.dtype.kind not in "US":
            return v
        return [x.decode() if isinstance(x, bytes) else x for x in v.tolist()]

    return {k: text(v) for k, v in columns.items()}


#: How a ``.npz`` holds a variable-shape column ``NAME`` (each row its own shape) without object
#: arrays (which ``np.load`` reads only with ``allow_pickle``), as Arrow's list arrays do:
#: ``NAME`` every row's elements flattened and concatenated (1-D), ``NAME.offsets`` the rows+1
#: element offsets (int64), ``NAME.shapes`` each row's shape (int64, rows x ndim). Row ``i`` is
#: ``NAME[offsets[i]:offsets[i + 1]].reshape(shapes[i])``.
OFFSETS, SHAPES = ".offsets", ".shapes"


def ragged_to_npz(name: str, rows: Any) -> Dict[str, Any]:
    """A variable-shape column's rows as the ``.npz`` arrays :data:`OFFSETS` describes.

    Args:
        name: the column name.
        rows: one numpy array per row, all of one dtype and rank.

    Returns:
        ``{name: values, name.offsets: offsets, name.shapes: shapes}``.
    """
    import numpy as np

    arrays = [np.asarray(r) for r in rows]
    ndim = arrays[0].ndim if arrays else 1
    shapes = np.array([a.shape for a in arrays], dtype=np.int64).reshape(len(arrays), ndim)
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.size for a in arrays], out=offsets[1:])
    values = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0)
    return {name: values, name + OFFSETS: offsets, name + SHAPES: shapes}


def _read_npz(path: str) -> Columns:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(
            f"cannot read {path} as .npz (one array per column, e.g. np.savez(path, x=..., y=...)): {e}"
        ) from None
    for name in [n for n in arrays if n + OFFSETS in arrays and n + SHAPES in arrays]:
        values, offsets, shapes = arrays.pop(name), arrays.pop(name + OFFSETS), arrays.pop(name + SHAPES)
        arrays[name] = [values[offsets[i] : offsets[i + 1]].reshape(shapes[i]) for i in range(len(shapes))]
    return _text_as_list(arrays)


def _fields(array: Any) -> Columns:
    return {name: array[name] for name in array.dtype.names}


def _read_npy(path: str, column: str) -> Columns:
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(
            f"cannot read {path} as .npy (one array, rows on axis 0; object arrays are not "
            f"supported): {e}"
        ) from None
    if not isinstance(array, np.ndarray) or array.ndim == 0:
        raise InvalidArgumentError(f"{path} holds a scalar; a dataset column needs rows on axis 0")
    if array.dtype.names:
        return _text_as_list(_fields(array))
    return _text_as_list({column: array})


#: Cells that mean "no value" to pandas' and pyarrow's CSV readers: refused rather than stored as
#: a number (a -1 or NaN filled in silently would be wrong data).
_CSV_MISSING = frozenset({"", "NA", "N/A", "n/a", "null", "NULL", "None", "#N/A"})


def _csv_column(name: str, cells: "list[str]") -> Any:
    """One CSV column typed as pandas would: int64, else float64, else bool, else str."""
    import numpy as np

    for dtype in (np.int64, np.float64):
        try:
            return np.array([dtype(c) for c in cells], dtype=dtype)
        except (ValueError, OverflowError):
            pass
    if all(c in ("True", "False", "true", "false") for c in cells):
        return np.array([c in ("True", "true") for c in cells], dtype=np.bool_)
    return list(cells)


def _read_csv(path: str) -> Columns:
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InvalidArgumentError(
            f"cannot read {path} as .csv (UTF-8, a header row of column names, then one row per "
            f"line): {e}"
        ) from None
    if not rows or not any(rows[0]):
        raise InvalidArgumentError(f"cannot read {path} as .csv: no header row of column names")
    header, body = rows[0], [r for r in rows[1:] if r]
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InvalidArgumentError(
                f"cannot read {path} as .csv: line {line} has {len(row)} fields, the header "
                f"{len(header)}"
            )
    columns: Columns = {}
    for i, name in enumerate(header):
        cells = [row[i] for row in body]
        missing = [line for line, c in enumerate(cells, start=2) if c.strip() in _CSV_MISSING]
        if missing:
            raise InvalidArgumentError(
                f"column {name!r} of {path} has {len(missing)} missing value(s) (first on line "
                f"{missing[0]}); datasets hold no nulls: fill or drop them first"
            )
        columns[name] = _csv_column(name, cells)
    return columns


def _read_parquet(path: str) -> Columns:
    from ._frames import _from_arrow

    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise InvalidArgumentError(
            f"reading {path} needs pyarrow: pip install pyarrow (or push a .npz)"
        ) from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(f"cannot read {path} as .parquet: {e}") from None
    import pyarrow.types as pat  # type: ignore[import-untyped,import-not-found,unused-ignore]

    columns: Columns = {}
    for name in table.column_names:
        chunked = table.column(name)
        kind = chunked.type
        if chunked.null_count:
            raise InvalidArgumentError(
                f"{path}: column {name!r} holds {chunked.null_count} nulls; a dataset column "
                "has a value in every row"
            )
        if pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind):
            columns[name] = chunked.to_numpy()
        elif pat.is_string(kind) or pat.is_large_string(kind):
            columns[name] = chunked.to_pylist()
        elif pat.is_list(kind) or pat.is_large_list(kind) or pat.is_fixed_size_list(kind):
            # Fixed-size lists become one array of shape (rows, n, ...); lists one array per row
            # (a variable-shape column, as read_schema declares it).
            columns[name] = _from_arrow(name, chunked)
        else:
            raise InvalidArgumentError(
                f"{path}: column {name!r} has type {kind}; a dataset column holds numbers, "
                "booleans, text, or lists of numbers"
            )
    return columns


def read_schema(path: PathLike) -> Any:
    """The schema a file declares, for ``push_dataset(schema=...)``: a Parquet file's Arrow
    schema (a ``list<...>`` column is variable-shape even when its rows share a length); for a
    ``.npz`` holding a variable-shape column (see :data:`OFFSETS`), every column's dtype and
    shape, that one's dimensions ``None``; None otherwise (the first rows define the schema).

    Args:
        path: the file ``read_columns`` reads.

    Returns:
        A ``pyarrow.Schema``, a ``{name: (dtype, shape)}`` mapping, or None.

    Raises:
        InvalidArgumentError: a Parquet file whose schema cannot be read.
    """
    p = os.fspath(path)
    if os.path.splitext(p)[1].lower() == ".npz":
        return _npz_schema(p)
    if os.path.splitext(p)[1].lower() not in (".parquet", ".pq"):
        return None
    import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    try:
        return pq.read_schema(p)
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(f"cannot read {p} as .parquet: {e}") from None


def _npz_schema(path: str) -> Any:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            ragged = any(n.endswith(OFFSETS) for n in npz.files)
    except (OSError, ValueError):
        return None  # read_columns names what is wrong with the file
    if not ragged:
        return None
    schema: Dict[str, Any] = {}
    for name, values in _read_npz(path).items():
        if isinstance(values, list) and values and isinstance(values[0], str):
            schema[name] = ("string", ())
        elif isinstance(values, list):
            first = values[0] if values else np.zeros(0)
            schema[name] = (first.dtype.name, (None,) * first.ndim)
        else:
            schema[name] = (values.dtype.name, tuple(values.shape[1:]))
    return schema
