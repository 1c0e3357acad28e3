"""The ``schema=`` argument of the dataset writers, converted to what the core reads
(``lepton_core::dataset::Schema::from_spec``): one ``(name, dtype name, shape)`` per column,
``None`` in the shape for a dimension that varies from row to row. The rules (dtypes, which
shapes are allowed) live in the core; this file only converts.

Accepted forms:

- the form ``Dataset.schema`` reads back, ``{name: (dtype, shape)}``, e.g.
  ``{"tokens": ("int64", (None,)), "image": ("float32", (28, 28)), "label": ("int64", ())}``;
  a bare dtype stands for one value per row (``{"label": "int64", "text": "string"}``);
- a ``pyarrow.Schema`` (``list<int64>`` is ``("int64", (None,))``, ``fixed_size_list<int64>[3]``
  is ``("int64", (3,))``, ``string``/``binary`` are ``"string"``/``"bytes"``);
- Hugging Face ``datasets.Features`` (through its Arrow schema: ``Sequence(Value("int64"))`` is
  variable-length, ``Array2D((None, 3), "float32")`` is ``("float32", (None, 3))``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Optional, Union

import numpy as np

from .errors import InvalidArgumentError, SchemaError

__all__ = ["SchemaArg", "frame_schema", "schema_spec"]

#: What ``schema=`` takes (see the module docstring).
SchemaArg = Union[Mapping[str, Any], Any]

_Spec = list[tuple[str, str, list[Optional[int]]]]


def schema_spec(schema: Optional[SchemaArg]) -> Optional[_Spec]:
    """``schema`` as the core's column specs, or None when no schema is given.

    Args:
        schema: None, ``{name: (dtype, shape)}`` / ``{name: dtype}``, a ``pyarrow.Schema`` or a
            ``datasets.Features``.

    Returns:
        One ``(name, dtype name, shape)`` per column, in order; None for None.

    Raises:
        InvalidArgumentError: ``schema`` is none of these forms.
        SchemaError: an Arrow type no dataset column can hold (the message names the column).
    """
    if schema is None:
        return None
    given: Any = schema
    if _is(given, "datasets", "Features"):
        given = given.arrow_schema
    if _is(given, "pyarrow", "Schema"):
        return [(f.name, *_arrow_type(f.name, f.type)) for f in given]
    if not isinstance(given, Mapping):
        raise InvalidArgumentError(
            "schema must be a mapping {column: (dtype, shape)} (shape None where rows vary, e.g. "
            f'{{"tokens": ("int64", (None,))}}), a pyarrow.Schema or datasets.Features; got {type(given).__name__}'
        )
    return [_column(str(name), value) for name, value in given.items()]


def frame_schema(data: Any) -> Optional[SchemaArg]:
    """The schema a typed source declares (a ``lepton_ai.Dataset`` being copied, a pyarrow
    ``Table``/``RecordBatch``/``RecordBatchReader``, a polars ``DataFrame``, a Hugging Face
    ``Dataset`` or ``IterableDataset`` with features), or None for anything else (pandas,
    mappings, iterables): there the first batch defines the schema.

    Args:
        data: what is being written.

    Returns:
        A ``schema=`` argument (see :func:`schema_spec`), or None.

    Raises:
        InvalidArgumentError: ``data`` is a Hugging Face ``DatasetDict`` (several splits).
    """
    from ._dataset import Dataset
    from ._frames import refuse_splits

    refuse_splits(data)

    if isinstance(data, Dataset):
        return data.schema
    if _is(data, "pyarrow", "Table", "RecordBatch", "RecordBatchReader"):
        return data.schema
    if _is(data, "polars", "DataFrame"):
        return data.head(0).to_arrow().schema
    if _is(data, "datasets", "Dataset", "IterableDataset"):
        return getattr(data, "features", None)
    return None


def _is(obj: Any, module: str, *names: str) -> bool:
    mod = sys.modules.get(module)
    return mod is not None and any(isinstance(obj, getattr(mod, n, ())) for n in names)


def _column(name: str, value: Any) -> tuple[str, str, list[Optional[int]]]:
    if isinstance(value, (str, np.dtype, type)):
        return (name, _dtype_name(value), [])
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (tuple, list)):
        dtype, shape = value
        if all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)) for d in shape):
            return (name, _dtype_name(dtype), [None if d is None else int(d) for d in shape])
    raise InvalidArgumentError(
        f"schema column {name!r}: expected a dtype or (dtype, shape) with a shape of ints and None "
        f'(None where rows vary, e.g. ("int64", (None,))); got {value!r:.60}'
    )


def _dtype_name(dtype: Any) -> str:
    """A dtype's name as the core spells it: numpy's (``float32``), or ``string``/``bytes``
    (also for ``str``/``bytes`` and numpy's ``U``/``S``/``O`` kinds)."""
    if dtype in (str, "str"):
        return "string"
    if dtype is bytes:
        return "bytes"
    if isinstance(dtype, str) and dtype in ("string", "bytes"):
        return dtype
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        return str(dtype)  # the core names what it supports
    return {"U": "string", "S": "bytes"}.get(np_dtype.kind, np_dtype.name)


def _arrow_type(name: str, t: Any) -> tuple[str, list[Optional[int]]]:
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    shape: list[Optional[int]] = []
    if isinstance(t, pa.BaseExtensionType) and hasattr(t, "shape") and hasattr(t, "value_type"):
        # pyarrow's fixed_shape_tensor (an Arrow value type), or Hugging Face's Array2D..Array5D
        # (a dtype name; the first dimension None where rows vary).
        value = _dtype_name(t.value_type) if isinstance(t.value_type, str) else _arrow_scalar(name, t.value_type)
        return (value, [None if d is None else int(d) for d in t.shape])
    while True:
        if pa.types.is_fixed_size_list(t):
            shape.append(int(t.list_size))
        elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
            shape.append(None)
        else:
            break
        t = t.value_type
    return (_arrow_scalar(name, t), shape)


def _arrow_scalar(name: str, t: Any) -> str:
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "bytes"
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
        return str(np.dtype(t.to_pandas_dtype()))
    raise SchemaError(f"schema error: column `{name}` has Arrow type {t}, which a dataset cannot store")
