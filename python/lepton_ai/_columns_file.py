"""Dataset columns from a file, for ``lepton push dataset``: ``.npz``, ``.npy``, ``.parquet``,
``.csv``.

Every reader returns ``{column name: numpy array or list of str}``, the form
``LeptonAI.push_dataset`` takes: numeric columns as numpy arrays (rows on axis 0), text columns
as lists of ``str`` (the datasets' variable-length type), a Parquet ``list`` column as a list of
one array per row (a variable-shape column; ``read_schema`` declares it so).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Optional, Union

from .errors import InvalidArgumentError

Columns = Dict[str, Any]
PathLike = Union[str, "os.PathLike[str]"]


def read_columns(path: PathLike, *, column: Optional[str] = None) -> Columns:
    """The columns stored in ``path``, by its extension.

    Args:
        path: ``.npz`` (one array per column, ``np.savez(path, x=..., y=...)``; a ragged
            column as ``NAME`` values + ``NAME.offsets`` + ``NAME.shapes``, text and bytes as
            ``uint8`` ``NAME`` + ``NAME.offsets``, and the column order, dtypes and shapes in a
            ``__lepton_schema__`` entry, as ``lepton pull`` writes them); ``.npy`` (one
            array: a structured array gives one column per field, any other array one column
            named ``column``); ``.parquet`` (needs ``pyarrow``); ``.csv`` (a header row of column
            names; numbers become int64/float64 columns, anything else text).
        column: the column name for a plain ``.npy`` array (default ``"x"``).

    Returns:
        The columns, numeric ones as numpy arrays of shape ``(rows, ...)`` (ragged ones as lists
        of arrays), text as lists of str, bytes as lists of bytes.

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


#: The ``.npz`` entry in which ``write_npz`` records the columns' order, dtypes and shapes: JSON
#: ``{"columns": [{"name", "dtype", "shape"}, ...]}`` (``None`` for a dimension rows vary in) in a
#: 0-d str array, which ``np.load`` reads without ``allow_pickle``. A ``string``/``bytes``
#: column is stored as ``NAME`` (every row's bytes, UTF-8 for text, concatenated, uint8) and
#: ``NAME.offsets`` (rows+1 byte offsets), so no byte (a trailing NUL included) is lost.
SCHEMA_ENTRY = "__lepton_schema__"
TEXT_DTYPES = ("string", "bytes")


def write_npz(path: PathLike, columns: Columns, schema: Dict[str, Any]) -> None:
    """Writes a dataset's columns to a ``.npz`` that ``read_columns`` reads back unchanged.

    Args:
        path: the file to write, exactly this path.
        columns: ``Dataset.to_numpy()``: numeric arrays of shape ``(rows, ...)``, object arrays
            of ``str``/``bytes`` or of one array per row (variable-shape columns).
        schema: ``Dataset.schema``, ``{name: (dtype, shape)}`` in column order.

    Raises:
        InvalidArgumentError: two columns would be stored under one entry name (such as ``a``
            variable-shape next to a column named ``a.offsets``); the message suggests
            ``.parquet``, which stores each column whole.
    """
    import zipfile

    import numpy as np

    entries: Dict[str, Any] = {SCHEMA_ENTRY: None}
    owner: Dict[str, str] = {SCHEMA_ENTRY: "the schema record"}
    for name, (dtype, shape) in schema.items():
        v = columns[name]
        if dtype in TEXT_DTYPES:
            parts = _text_to_npz(name, v)
        elif None in shape:
            parts = ragged_to_npz(name, v)
        else:
            parts = {name: v}
        for entry, array in parts.items():
            if entry in entries:
                raise InvalidArgumentError(
                    f"cannot write {os.fspath(path)}: column {name!r} and {owner[entry]} would both be "
                    f"stored as .npz entry {entry!r}; pull to a .parquet file instead, which "
                    "keeps each column whole"
                )
            entries[entry], owner[entry] = array, f"column {name!r}"
    recorded = [{"name": n, "dtype": d, "shape": list(s)} for n, (d, s) in schema.items()]
    entries[SCHEMA_ENTRY] = np.array(json.dumps({"columns": recorded}))
    # zipfile + format.write_array is what np.savez does, without its keyword arguments (`file`,
    # `allow_pickle`) colliding with column names.
    with zipfile.ZipFile(os.fspath(path), "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for entry, array in entries.items():
            with zf.open(entry + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)  # type: ignore[no-untyped-call,unused-ignore]


def _text_to_npz(name: str, rows: Any) -> Dict[str, Any]:
    import numpy as np

    data = [r.encode("utf-8") if isinstance(r, str) else bytes(r) for r in rows]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return {name: np.frombuffer(b"".join(data), dtype=np.uint8), name + OFFSETS: offsets}


def write_parquet(path: PathLike, table: Any) -> None:
    """Writes ``Dataset.to_arrow()`` to ``path`` with ``pyarrow.parquet.write_table``.

    Args:
        path: the file to write.
        table: a ``pyarrow.Table``.

    Raises:
        InvalidArgumentError: the file cannot be written.
    """
    import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    try:
        pq.write_table(table, os.fspath(path))
    except OSError as e:
        raise InvalidArgumentError(f"cannot write {os.fspath(path)}: {e}") from None


def _read_npz(path: str) -> Columns:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(
            f"cannot read {path} as .npz (one array per column, e.g. np.savez(path, x=..., y=...)): {e}"
        ) from None
    if SCHEMA_ENTRY in arrays:
        schema = _stored_schema(path, arrays.pop(SCHEMA_ENTRY))
        return {name: _stored_column(path, name, dtype, shape, arrays) for name, (dtype, shape) in schema.items()}
    ragged = _ragged_names(set(arrays))
    columns: Columns = {}
    for name, values in arrays.items():  # in the file's order, each ragged column where its values are
        if name in ragged:
            columns[name] = _ragged_rows(path, name, values, arrays[name + OFFSETS], arrays[name + SHAPES])
        elif not any(name in (r + OFFSETS, r + SHAPES) for r in ragged):
            columns[name] = values
    return _text_as_list(columns)


def _ragged_names(names: set[str]) -> set[str]:
    """The variable-shape columns of a ``.npz`` holding these entries: each ``NAME`` stored with
    ``NAME.offsets`` and ``NAME.shapes``."""
    return {n for n in names if n + OFFSETS in names and n + SHAPES in names}


def _stored_schema(path: str, entry: Any) -> Dict[str, Any]:
    """The ``{name: (dtype, shape)}`` a :data:`SCHEMA_ENTRY` records, in column order."""
    try:
        recorded = json.loads(str(entry))
        return {c["name"]: (c["dtype"], tuple(c["shape"])) for c in recorded["columns"]}
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidArgumentError(
            f"cannot read {path}: its {SCHEMA_ENTRY} entry is not the JSON `lepton pull` writes "
            f"({e}); remove that entry to read the arrays as plain columns"
        ) from None


def _stored_column(path: str, name: str, dtype: str, shape: Any, arrays: Dict[str, Any]) -> Any:
    """Column ``name`` of a ``.npz`` that ``write_npz`` wrote, from the entries it uses."""
    text, ragged = dtype in TEXT_DTYPES, None in shape
    needed = [name] + ([name + OFFSETS] if text or ragged else []) + ([name + SHAPES] if ragged and not text else [])
    missing = [e for e in needed if e not in arrays]
    if missing:
        raise InvalidArgumentError(
            f"cannot read {path}: column {name!r} is recorded in {SCHEMA_ENTRY} but entry "
            f"{missing[0]!r} is missing"
        )
    if dtype in TEXT_DTYPES:
        values = arrays[name]
        if values.dtype.kind != "u" or values.itemsize != 1:
            raise InvalidArgumentError(f"cannot read {path}: text column {name!r} must be uint8, got {values.dtype}")
        rows = _ragged_rows(path, name, values, arrays[name + OFFSETS], None)
        if dtype == "bytes":
            return [r.tobytes() for r in rows]
        try:
            return [r.tobytes().decode("utf-8") for r in rows]
        except UnicodeDecodeError as e:
            raise InvalidArgumentError(f"cannot read {path}: text column {name!r} is not UTF-8: {e}") from None
    if None in shape:
        return _ragged_rows(path, name, arrays[name], arrays[name + OFFSETS], arrays[name + SHAPES])
    return arrays[name]


def _ragged_rows(path: str, name: str, values: Any, offsets: Any, shapes: Optional[Any]) -> "list[Any]":
    """Rows ``values[offsets[i]:offsets[i + 1]].reshape(shapes[i])`` (no reshape without
    ``shapes``), after checking the entries describe ``values``."""
    import numpy as np

    def bad(what: str) -> InvalidArgumentError:
        if shapes is None:  # text: no shapes entry
            return InvalidArgumentError(
                f"cannot read {path}: {name}{OFFSETS} does not describe {name} ({what}); row i is "
                f"{name}[offsets[i]:offsets[i + 1]], offsets start at 0, never decrease and end at len({name})"
            )
        return InvalidArgumentError(
            f"cannot read {path}: {name}{OFFSETS}/{name}{SHAPES} do not describe {name} ({what}); "
            f"row i is {name}[offsets[i]:offsets[i + 1]].reshape(shapes[i]), offsets start at 0, "
            f"never decrease and end at len({name}), shapes has one row per row"
        )

    if values.ndim != 1:
        raise bad(f"{name} has shape {values.shape}, expected 1-D")
    if offsets.ndim != 1 or offsets.dtype.kind not in "iu" or len(offsets) == 0:
        raise bad(f"offsets must be a non-empty 1-D integer array, got {offsets.dtype} {offsets.shape}")
    if offsets[0] != 0 or offsets[-1] != values.size or (np.diff(offsets) < 0).any():
        raise bad(f"offsets run {offsets[0]}..{offsets[-1]} over {values.size} values or decrease")
    rows = len(offsets) - 1
    if shapes is None:
        return [values[offsets[i] : offsets[i + 1]] for i in range(rows)]
    if shapes.ndim != 2 or shapes.dtype.kind not in "iu" or len(shapes) != rows:
        raise bad(f"shapes must be an integer array of {rows} rows x rank, got {shapes.dtype} {shapes.shape}")
    wrong = (shapes < 0).any(axis=1) | (np.prod(shapes, axis=1) != np.diff(offsets))
    if wrong.any():
        row = int(np.argmax(wrong))
        raise bad(f"row {row} has shape {shapes[row].tolist()} but {offsets[row + 1] - offsets[row]} values")
    return [values[offsets[i] : offsets[i + 1]].reshape(shapes[i]) for i in range(rows)]


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
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
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
        elif pat.is_binary(kind) or pat.is_large_binary(kind):
            columns[name] = chunked.to_pylist()
        elif (
            pat.is_list(kind)
            or pat.is_large_list(kind)
            or pat.is_fixed_size_list(kind)
            or isinstance(kind, pa.FixedShapeTensorType)
        ):
            # Fixed-size lists and tensors become one array of shape (rows, n, ...); lists one
            # array per row (a variable-shape column, as read_schema declares it).
            columns[name] = _from_arrow(name, chunked)
        else:
            raise InvalidArgumentError(
                f"{path}: column {name!r} has type {kind}; a dataset column holds numbers, "
                "booleans, text, bytes, or lists of numbers"
            )
    return columns


def read_schema(path: PathLike, columns: Columns) -> Any:
    """The schema a file declares, for ``push_dataset(schema=...)``: a Parquet file's Arrow
    schema (a ``list<...>`` column is variable-shape even when its rows share a length); for a
    ``.npz`` that ``lepton pull`` wrote, the schema it records (:data:`SCHEMA_ENTRY`); for
    another ``.npz`` holding a variable-shape column (see :data:`OFFSETS`), every column's dtype
    and shape, that one's dimensions ``None``; None otherwise (the first rows define the schema).

    Args:
        path: the file ``read_columns`` reads.
        columns: what ``read_columns`` returned for it (a ``.npz`` without a recorded schema
            takes its dtypes from them; the file is not read again).

    Returns:
        A ``pyarrow.Schema``, a ``{name: (dtype, shape)}`` mapping, or None.

    Raises:
        InvalidArgumentError: a Parquet file whose schema cannot be read.
    """
    p = os.fspath(path)
    if os.path.splitext(p)[1].lower() == ".npz":
        return _npz_schema(p, columns)
    if os.path.splitext(p)[1].lower() not in (".parquet", ".pq"):
        return None
    import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    try:
        return pq.read_schema(p)
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(f"cannot read {p} as .parquet: {e}") from None


def _npz_schema(path: str, columns: Columns) -> Any:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:  # only the entry names and the schema
            files = set(npz.files)
            recorded = npz[SCHEMA_ENTRY] if SCHEMA_ENTRY in files else None
    except (OSError, ValueError):
        return None  # read_columns names what is wrong with the file
    if recorded is not None:
        return _stored_schema(path, recorded)
    if not _ragged_names(files):
        return None
    schema: Dict[str, Any] = {}
    for name, values in columns.items():
        if isinstance(values, list) and values and isinstance(values[0], str):
            schema[name] = ("string", ())
        elif isinstance(values, list):
            first = values[0] if values else np.zeros(0)
            schema[name] = (first.dtype.name, (None,) * first.ndim)
        else:
            schema[name] = (values.dtype.name, tuple(values.shape[1:]))
    return schema
