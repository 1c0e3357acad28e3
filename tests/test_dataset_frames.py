"""Data frames in and out: push from pandas, pyarrow (Table, RecordBatchReader), polars and Hugging
Face ``datasets``; read back with ``to_arrow()`` and ``to_pandas()``. Expected values are the
source frames themselves, compared with pandas'/pyarrow's own equality checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lepton_ai import LeptonAI, SchemaError, write_dataset


def _frame(rows: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "f": rng.standard_normal(rows).astype(np.float32),
            "i": np.arange(rows, dtype=np.int64),
            "b": rng.integers(0, 2, rows).astype(bool),
            "s": [f"text {i}" for i in range(rows)],
        }
    )


def test_pandas_round_trip(tmp_path: Path) -> None:
    df = _frame()
    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    info = platform.push_dataset("d", "train", df, chunk_bytes=8192)
    assert info.rows == len(df)
    back = platform.load_dataset("d", "train").to_pandas()
    pd.testing.assert_frame_equal(back, df)


def test_pyarrow_table_and_reader_round_trip(tmp_path: Path) -> None:
    df = _frame()
    table = pa.table({name: pa.array(list(df[name]) if name == "s" else df[name].to_numpy()) for name in df.columns})
    ds = write_dataset(str(tmp_path / "t"), table, chunk_bytes=8192)
    assert ds.to_arrow().equals(table)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=700))
    ds2 = write_dataset(str(tmp_path / "r"), reader)
    assert ds2.to_arrow().equals(table)


def test_tensor_columns_to_arrow(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vec = rng.standard_normal((50, 3)).astype(np.float32)
    img = rng.standard_normal((50, 2, 4)).astype(np.float32)
    ds = write_dataset(str(tmp_path / "d"), {"vec": vec, "img": img})
    table = ds.to_arrow()
    assert table.schema.field("vec").type == pa.list_(pa.float32(), 3)
    np.testing.assert_array_equal(np.stack(table.column("vec").to_numpy(zero_copy_only=False)), vec)
    np.testing.assert_array_equal(table.column("img").combine_chunks().to_numpy_ndarray(), img)
    # ... and back in: fixed-size lists and tensors become the same columns again.
    again = write_dataset(str(tmp_path / "again"), table).to_numpy()
    np.testing.assert_array_equal(again["vec"], vec)
    np.testing.assert_array_equal(again["img"], img)
    frame = ds.to_pandas()
    np.testing.assert_array_equal(np.stack(frame["img"].to_list()), img)


def test_polars_round_trip(tmp_path: Path) -> None:
    import polars as pl
    df = pl.from_pandas(_frame())
    ds = write_dataset(str(tmp_path / "p"), df)
    assert pl.from_arrow(ds.to_arrow()).equals(df)


def test_hugging_face_dataset_round_trip(tmp_path: Path) -> None:
    import datasets

    hf = datasets.Dataset.from_pandas(_frame(), preserve_index=False)
    ds = write_dataset(str(tmp_path / "h"), hf)
    pd.testing.assert_frame_equal(ds.to_pandas(), hf.to_pandas())


def test_missing_values_are_refused_naming_column_and_row(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, None, 4.0]})
    with pytest.raises(SchemaError, match=r"column `a` has a missing value \(row 2\)"):
        write_dataset(str(tmp_path / "d"), df)
    table = pa.table({"s": ["x", None, "z"]})
    with pytest.raises(SchemaError, match=r"column `s` has a missing value \(row 1\)"):
        write_dataset(str(tmp_path / "d"), table)
