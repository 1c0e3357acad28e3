"""Rows given as a list of mappings: dtypes inferred over the whole list (as Hugging Face's
``Dataset.from_list`` does, the expected schema and values come from it), and values no column
can hold refused naming the column and the row (issue 12 item 6)."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from lepton_ai import LeptonAI, write_dataset
from lepton_ai.errors import SchemaError


def test_a_list_infers_dtypes_over_every_row_as_from_list(tmp_path):
    rows = [{"a": 1}] * 1024 + [{"a": 2.5}]
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    p.push_dataset("d", "train", rows)
    want = datasets.Dataset.from_list(rows)
    got = p.load_dataset("d", "train").to_numpy()["a"]
    assert got.dtype.name == want.features["a"].dtype == "float64"  # Arrow's type, as stored
    assert got.tolist() == want["a"]


def _refused(tmp_path, data, **kw) -> str:
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with pytest.raises(SchemaError) as e:
        p.push_dataset("d", "train", data, **kw)
    assert "d" not in p.list_datasets()
    return str(e.value)


def test_none_in_a_row_names_the_row(tmp_path):
    assert _refused(tmp_path, [{"a": 1}, {"a": 2}, {"a": None}]) == (
        "schema error: column `a` row 2 is None; datasets store no nulls: fill or drop missing values first"
    )


def test_none_in_a_written_row_names_its_place_among_all_rows(tmp_path):
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with pytest.raises(SchemaError, match=r"^schema error: column `a` row 1500 is None;"):
        with p.dataset_writer("d", "train") as w:
            for i in range(1500):
                w.write_row({"a": i})
            w.write_row({"a": None})


def test_an_int_beyond_64_bits_names_the_row_and_value(tmp_path):
    assert np.iinfo(np.uint64).max == 2**64 - 1  # numpy's widest integer stops one short
    assert _refused(tmp_path, [{"a": 1}, {"a": 2**64}], schema={"a": "uint64"}) == (
        "schema error: column `a` row 1 holds 18446744073709551616, which fits no 64-bit integer "
        "(int64 or uint64); store it as float64 (schema={'a': 'float64'}) or as text"
    )


def test_ragged_inner_lists_in_a_row_name_the_row_and_the_fix(tmp_path):
    with pytest.raises(ValueError):  # numpy cannot make one array of such a row either
        np.asarray([[1, 2], [3]])
    assert _refused(tmp_path, [{"a": [[1, 2], [3, 4]]}, {"a": [[1, 2], [3]]}]) == (
        "schema error: column `a` row 1 is a nested list whose inner lists differ in length ([1, 2]); "
        "a row is one array of one shape: pad the inner lists, or flatten each row into one list of "
        "varying length (schema={'a': ('int64', (None,))} declares such a column)"
    )


def test_flat_lists_of_varying_length_are_a_variable_shape_column(tmp_path):
    rows = [{"a": [1, 2]}, {"a": [3]}]
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    p.push_dataset("d", "train", rows)
    back = p.load_dataset("d", "train")
    assert back.schema == {"a": ("int64", (None,))}
    want = datasets.Dataset.from_list(rows)["a"]
    assert [r.tolist() for r in back.to_numpy()["a"]] == want


def test_a_later_batch_of_a_stream_names_its_rows(tmp_path):
    def rows():
        yield from ({"a": 1} for _ in range(1024))
        yield {"a": 2.5}

    assert _refused(tmp_path, rows()) == (
        "schema error: column `a` is int64, got float64 (in rows 1024 to 1024, after the first 1024 rows "
        "fixed the schema; declare it with schema= where rows may differ)"
    )


@pytest.mark.parametrize("column", [[1, None], [None, 2.5], ["a", None], [None, None]])
def test_a_missing_value_in_a_column_is_named(tmp_path, column):
    """A None among a column's values (pandas would make it NaN or an object; numpy an object
    array) is a SchemaError naming the column and the row of the first None."""
    row = column.index(None)
    with pytest.raises(SchemaError, match=rf"column `a` row {row} is None \(NoneType\).*missing values"):
        write_dataset(tmp_path / "d", {"a": column})
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.manifest"))
