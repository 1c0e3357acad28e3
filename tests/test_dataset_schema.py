"""``schema=`` where a writer starts: a variable-shape column declared up front can start with
``write_row`` or a first batch whose rows share one shape; frames (pyarrow, Hugging Face) bring
their own schema; without one, a later batch of another shape names the column and says to pass
``schema=``. Expected values are the numpy arrays the rows were made from, or pyarrow's and
Hugging Face's own reading of their data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lepton_ai import Dataset, InvalidArgumentError, LeptonAI, SchemaError, _lepton, write_dataset


def _platform(tmp_path: Path) -> LeptonAI:
    return LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)


def _assert_rows(got: object, want: list[np.ndarray]) -> None:
    rows = list(got)  # type: ignore[call-overload]
    assert len(rows) == len(want)
    for g, w in zip(rows, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_write_row_starts_a_declared_variable_shape_column(tmp_path: Path) -> None:
    # The first two rows share a length: without the schema the column would be fixed (3,).
    tokens = [np.arange(3, dtype=np.int32), np.arange(3, 6, dtype=np.int32), np.arange(7, dtype=np.int32)]
    p = _platform(tmp_path)
    with p.dataset_writer("tok", "train", schema={"ids": ("int32", (None,)), "label": "int64"}) as w:
        for i, t in enumerate(tokens):
            w.write_row({"ids": t, "label": i})
    ds = p.load_dataset("tok", "train")
    assert ds.schema == {"ids": ("int32", (None,)), "label": ("int64", ())}
    got = ds.to_numpy()
    _assert_rows(got["ids"], tokens)
    np.testing.assert_array_equal(got["label"], np.arange(3))


def test_a_first_batch_of_one_shape_then_others(tmp_path: Path) -> None:
    first = [np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)]
    later = [np.full((3, 1), 7, np.float32)]
    p = _platform(tmp_path)
    with p.dataset_writer("img", "train", schema={"img": ("float32", (None, None))}) as w:
        w.write({"img": np.stack(first)})  # one (2, 2, 2) array: rows of one shape
        w.write({"img": later})
    _assert_rows(p.load_dataset("img", "train").to_numpy()["img"], first + later)


def test_without_a_schema_a_later_shape_names_the_column_and_schema(tmp_path: Path) -> None:
    p = _platform(tmp_path)
    with pytest.raises(SchemaError) as e:
        with p.dataset_writer("d", "train") as w:
            w.write({"ids": [np.arange(3), np.arange(3)]})
            w.write({"ids": [np.arange(3), np.arange(5)]})
    assert str(e.value) == (
        "schema error: column `ids` holds fixed-shape int64 rows, got variable-shape int64 rows; if "
        "the rows of `ids` vary in shape, declare it variable-shape where the writer starts (earlier "
        'rows fixed its shape otherwise): schema={"ids": ("int64", (None,))} in Python, '
        "WriteOptions::schema with Column::variable_shape in Rust"
    )
    assert p.list_datasets() == []  # aborted: nothing visible
    with pytest.raises(SchemaError, match=r"`x` has rows of shape \[3\], got \[4\].*schema=\{\"x\""):
        with p.dataset_writer("d", "train") as w:
            w.write({"x": np.zeros((2, 3), np.float32)})
            w.write({"x": np.zeros((2, 4), np.float32)})


def test_write_dataset_and_push_dataset_take_a_schema(tmp_path: Path) -> None:
    rows = [np.arange(4, dtype=np.int64), np.arange(4, 8, dtype=np.int64)]  # equal lengths
    ds = write_dataset(str(tmp_path / "w"), {"ids": rows}, schema={"ids": ("int64", (None,))})
    assert ds.schema == {"ids": ("int64", (None,))}
    _assert_rows(ds.to_numpy()["ids"], rows)
    p = _platform(tmp_path)
    p.push_dataset("d", "train", iter([{"ids": rows}]), schema={"ids": ("int64", (None,))})  # a stream of batches
    _assert_rows(p.load_dataset("d", "train").to_numpy()["ids"], rows)
    # Copying a Dataset keeps its declared schema, even when every row has one shape.
    copy = write_dataset(str(tmp_path / "copy"), ds)
    assert copy.schema == ds.schema


def test_a_pyarrow_schema_and_a_table_own_schema(tmp_path: Path) -> None:
    import pyarrow as pa
    table = pa.table(
        {
            "ids": pa.array([[1, 2], [3, 4], [5, 6]], pa.list_(pa.int16())),  # equal lengths
            "xy": pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], pa.list_(pa.float32(), 2)),
            "text": ["a", "b", "c"],
        }
    )
    p = _platform(tmp_path)
    p.push_dataset("t", "train", table)  # the table's own schema: list<> varies, fixed_size_list not
    ds = p.load_dataset("t", "train")
    assert ds.schema == {"ids": ("int16", (None,)), "xy": ("float32", (2,)), "text": ("string", ())}
    assert ds.to_arrow().column("ids").to_pylist() == table.column("ids").to_pylist()
    assert ds.to_arrow().column("xy").to_pylist() == table.column("xy").to_pylist()
    # A pyarrow.Schema given for numpy batches.
    p.push_dataset("s", "train", {"ids": np.ones((2, 3), np.int16)}, schema=pa.schema([("ids", pa.list_(pa.int16()))]))
    assert p.load_dataset("s", "train").schema == {"ids": ("int16", (None,))}


def test_hugging_face_features_declare_sequences_variable(tmp_path: Path) -> None:
    import datasets
    hf = datasets.Dataset.from_dict({"ids": [[1, 2], [3, 4]], "label": [0, 1]})  # equal lengths
    p = _platform(tmp_path)
    p.push_dataset("hf", "train", hf)
    ds = p.load_dataset("hf", "train")
    assert ds.schema == {"ids": ("int64", (None,)), "label": ("int64", ())}
    assert [r.tolist() for r in ds.to_numpy()["ids"]] == hf["ids"]


def test_bad_schemas_are_typed_errors_naming_the_column(tmp_path: Path) -> None:
    p = _platform(tmp_path)
    with pytest.raises(SchemaError, match="schema column `z`: unsupported dtype `complex64`"):
        write_dataset(str(tmp_path / "w"), {"z": np.zeros(2)}, schema={"z": "complex64"})
    with pytest.raises(InvalidArgumentError, match="schema column 'x': expected a dtype or"):
        p.dataset_writer("d", "train", schema={"x": ("int64", "3")})
    with pytest.raises(InvalidArgumentError, match="schema must be a mapping"):
        p.dataset_writer("d", "train", schema=[("x", "int64")])
    # Data that disagrees with a declared schema names the column.
    with pytest.raises(SchemaError, match="column `y` is int64, got float64"):
        p.push_dataset("d", "train", {"y": np.zeros(3)}, schema={"y": "int64"})
    assert isinstance(write_dataset(str(tmp_path / "ok"), {"y": np.arange(2)}, schema={"y": np.int64}), Dataset)


def test_python_numbers_convert_to_the_declared_dtype(tmp_path: Path) -> None:
    import pyarrow as pa

    labels, scores, ids = [0, 1, -5], [0.1, 2.5, 1e30], [[1, 2, 3], [4], [70000, 8]]
    spec = {"label": ("int8", ()), "score": ("float32", ()), "ids": ("int32", (None,))}
    p = _platform(tmp_path)
    with p.dataset_writer("d", "train", schema=spec) as w:
        for row in zip(labels, scores, ids):
            w.write_row({"label": row[0], "score": row[1], "ids": row[2]})
    got = p.load_dataset("d", "train").to_numpy()
    # pyarrow's safe cast of the same Python values to the declared types.
    np.testing.assert_array_equal(got["label"], pa.array(labels, pa.int8()).to_numpy())
    assert got["label"].dtype == np.int8
    np.testing.assert_array_equal(got["score"], pa.array(scores, pa.float32()).to_numpy())
    _assert_rows(got["ids"], [pa.array(r, pa.int32()).to_numpy() for r in ids])
    # One batch of plain lists, and numpy's default int64 too (checked, then converted).
    ds = write_dataset(str(tmp_path / "w"), {"a": [1, 2, 3], "b": np.arange(3)}, schema={"a": "int32", "b": "uint16"})
    assert ds.schema == {"a": ("int32", ()), "b": ("uint16", ())}
    np.testing.assert_array_equal(ds.to_numpy()["b"], np.arange(3, dtype=np.uint16))


def test_unsafe_conversions_name_the_column_and_dtypes(tmp_path: Path) -> None:
    import pyarrow as pa

    p = _platform(tmp_path)
    with pytest.raises(pa.ArrowInvalid):  # the peer refuses the same value
        pa.array([1, 2**31], pa.int32())
    with pytest.raises(
        SchemaError, match=r"column `a` is int32, got int64 values that do not fit: row 1 holds 2147483648 \(int32 holds"
    ):
        p.push_dataset("d", "train", {"a": [1, 2**31]}, schema={"a": "int32"})
    with pytest.raises(SchemaError, match=r"column `a` is int32, got float64: float64 does not convert to int32"):
        p.push_dataset("d", "train", {"a": [1.5, 2.0]}, schema={"a": "int32"})
    with pytest.raises(
        SchemaError, match=r"column `ids` is uint8, got int64 values that do not fit: row 1 holds -1 \(uint8 holds 0..=255\)"
    ):
        p.push_dataset("d", "train", {"ids": [[1, 2], [-1]]}, schema={"ids": ("uint8", (None,))})
    assert p.list_datasets() == []


@pytest.mark.parametrize("dtype, exact", [("float32", 2**24), ("float64", 2**53)])
def test_integers_a_float_cannot_hold_exactly_are_refused(tmp_path: Path, dtype: str, exact: int) -> None:
    """As pyarrow's safe cast: integers up to 2^24 (float32) / 2^53 (float64) convert exactly;
    one past that would be rounded, so it is refused naming the row (not stored rounded)."""
    import pyarrow as pa

    p = _platform(tmp_path)
    ok = [-exact, exact]
    want = pa.array(ok).cast(getattr(pa, dtype)()).to_numpy()
    p.push_dataset("d", "train", {"a": ok}, schema={"a": dtype})
    np.testing.assert_array_equal(p.load_dataset("d", "train").to_numpy()["a"], want)
    with pytest.raises(pa.ArrowInvalid):  # the peer refuses the same value
        pa.array([1, exact + 1]).cast(getattr(pa, dtype)())
    with pytest.raises(SchemaError, match=rf"column `a` is {dtype}, got int64 values that do not fit: row 1 holds {exact + 1}"):
        p.push_dataset("e", "train", {"a": [1, exact + 1]}, schema={"a": dtype})
    assert p.list_datasets() == ["d"]


def test_some_dimensions_fixed_others_varying(tmp_path: Path) -> None:
    import pyarrow as pa

    rng = np.random.default_rng(5)
    clouds = [rng.random((n, 3), dtype=np.float32) for n in (4, 1, 6)]
    p = _platform(tmp_path)
    with p.dataset_writer("pts", "train", schema={"pts": ("float32", (None, 3))}) as w:
        for c in clouds:
            w.write_row({"pts": c})
    ds = p.load_dataset("pts", "train")
    assert ds.schema == {"pts": ("float32", (None, 3))}
    assert [c.shape for c in p.dataset_info("pts", "train").columns] == [[None, 3]]
    _assert_rows(ds.to_numpy()["pts"], clouds)
    # pyarrow's list<fixed_size_list<float, 3>> is the same declaration.
    table = pa.table({"pts": pa.array([c.tolist() for c in clouds], pa.list_(pa.list_(pa.float32(), 3)))})
    p.push_dataset("arrow", "train", table)
    back = p.load_dataset("arrow", "train")
    assert back.schema == {"pts": ("float32", (None, 3))}
    assert [r.tolist() for r in back.to_numpy()["pts"]] == table.column("pts").to_pylist()
    assert back.to_arrow().equals(table)  # read back as pyarrow's own type
    # A row of another shape names the column, the row and both shapes.
    with pytest.raises(
        SchemaError,
        match=r"column `pts`: row 1 of the batch being written has shape \(2, 4\), but the schema declares "
        r"\(None, 3\) \(None where rows vary\)",
    ):
        rows = [np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)]
        p.push_dataset("bad", "train", {"pts": rows}, schema={"pts": ("float32", (None, 3))})
    with pytest.raises(SchemaError, match=r"row 0 of the batch being written has shape \(2, 4\)"):
        p.push_dataset("bad", "train", {"pts": np.zeros((3, 2, 4), np.float32)}, schema={"pts": ("float32", (None, 3))})


@pytest.mark.parametrize(
    "code", ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16", "U3", "S3", "O", "M8[s]", "m8[s]", "V4"]
)
def test_fixed_column_dtypes_are_the_cores_one_mapping(code, tmp_path):
    """Which numpy dtypes a fixed-shape column holds is the core's rule (``DType``), named as
    numpy names them; the writer refuses the others before writing anything."""
    dt = np.dtype(code)
    fixed = dt.kind in "biuf" and dt.itemsize <= 8
    assert _lepton.fixed_dtype(dt.kind, dt.itemsize) == (dt.name if fixed else None)
    if fixed:
        data = np.zeros((3, 2), dtype=dt)
        write_dataset(tmp_path / "d", {"x": data})
        got = Dataset(str(tmp_path / "d"), key=None).to_numpy()["x"]
        assert got.dtype == dt and got.shape == (3, 2)
    elif dt.kind in "cMmV":
        with pytest.raises(SchemaError, match="column `x` has unsupported dtype"):
            write_dataset(tmp_path / "d", {"x": np.zeros((3, 2), dtype=dt)})
        assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.manifest"))


def test_a_schema_naming_some_columns_says_to_declare_the_rest(tmp_path):
    """A schema names every column (as HF ``Features`` do; pyarrow's ``from_pydict(schema=)``
    silently drops the others): one that leaves columns out is a SchemaError naming them and how
    to declare them; nothing is written."""
    data = {"pts": [np.ones((2, 3), np.float32)], "label": [0]}
    with pytest.raises(SchemaError, match=r"add \[\"label\"\] to it \(a dtype alone for one value per row\)"):
        write_dataset(tmp_path / "d", data, schema={"pts": ("float32", (None, 3))})
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.manifest"))
