"""Inputs users have: a plain list of row dicts (as Hugging Face's ``Dataset.from_list`` takes)
and a streaming Hugging Face ``datasets.IterableDataset``, given to ``push_dataset`` and
``write_dataset``. Expected values come from pandas' and Hugging Face's own reading of the same
rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from lepton_ai import InvalidArgumentError, LeptonAI, SchemaError, write_dataset
from lepton_ai import _writer


def _rows(n: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(3)
    return [
        {"text": f"row {i}", "label": i % 3, "score": float(rng.standard_normal()), "vec": rng.random(4).astype(np.float32)}
        for i in range(n)
    ]


def test_a_list_of_row_dicts(tmp_path: Path) -> None:
    rows = _rows(2500)  # more than one gathered batch of 1024 rows
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    info = p.push_dataset("rows", "train", rows)
    assert info.rows == 2500
    got = p.load_dataset("rows", "train").to_pandas()
    want = pd.DataFrame(rows)  # pandas' own reading of the list of dicts
    assert list(got.columns) == list(want.columns)
    assert got["text"].tolist() == want["text"].tolist()
    np.testing.assert_array_equal(got["label"].to_numpy(), want["label"].to_numpy())
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy())
    np.testing.assert_array_equal(np.stack(got["vec"].tolist()), np.stack(want["vec"].tolist()))
    # write_dataset and one row given to a writer's write() too.
    ds = write_dataset(str(tmp_path / "w"), rows[:3])
    assert ds.to_numpy()["text"].tolist() == want["text"][:3].tolist()
    with p.dataset_writer("one", "train") as w:
        w.write({"text": "solo", "label": 7, "score": 0.5, "vec": np.zeros(4, np.float32)})
    assert p.load_dataset("one", "train").to_numpy()["label"].tolist() == [7]


def test_rows_with_other_columns_name_them(tmp_path: Path) -> None:
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    with pytest.raises(SchemaError, match=r"row 1 has the columns \['a', 'c'\], row 0 \['a', 'b'\]"):
        p.push_dataset("bad", "train", [{"a": 1, "b": 2}, {"a": 1, "c": 2}])
    assert p.list_datasets() == []
    assert _writer.is_row({"x": np.zeros(3), "y": 1}) and not _writer.is_row({"x": np.zeros(3)})


def _stream(n: int) -> Iterator[dict[str, object]]:
    for i in range(n):
        yield {"ids": list(range(i % 7)), "label": i % 2, "text": f"t{i}"}


def test_a_hugging_face_iterable_dataset(tmp_path: Path) -> None:
    stream = datasets.IterableDataset.from_generator(_stream, gen_kwargs={"n": 9000})
    assert stream.features is None  # a stream without declared features: the first batch decides
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    info = p.push_dataset("hf", "train", stream, chunk_bytes=1 << 16)
    assert info.rows == 9000 and info.chunks > 1
    got = p.load_dataset("hf", "train").to_numpy()
    want = list(stream)  # Hugging Face's own iteration of the same stream
    assert [r.tolist() for r in got["ids"]] == [w["ids"] for w in want]
    assert got["label"].tolist() == [w["label"] for w in want]
    assert got["text"].tolist() == [w["text"] for w in want]
    # With declared features, a Sequence column is variable-shape even if its first rows agree.
    features = datasets.Features({"ids": datasets.Sequence(datasets.Value("int32")), "label": datasets.Value("int64")})
    same = datasets.Dataset.from_dict(
        {"ids": [[1, 2], [3, 4], [5]], "label": [0, 1, 2]}, features=features
    ).to_iterable_dataset()
    ds = write_dataset(str(tmp_path / "w"), same)
    assert ds.schema == {"ids": ("int32", (None,)), "label": ("int64", ())}
    assert [r.tolist() for r in ds.to_numpy()["ids"]] == [r["ids"] for r in same]


def test_a_list_of_dicts_is_rows_whatever_they_hold(tmp_path: Path) -> None:
    # Arrays only, no scalar: still one mapping per row, as Hugging Face reads the list.
    rows = [{"x": np.full(4, i, np.float32), "y": np.arange(i, i + 2)} for i in range(3)]
    want = datasets.Dataset.from_list(rows).with_format("numpy")[:]  # {column: array}
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    info = p.push_dataset("arrays", "train", rows)
    assert info.rows == len(want["x"]) == 3
    got = p.load_dataset("arrays", "train").to_numpy()
    np.testing.assert_array_equal(got["x"], want["x"])
    np.testing.assert_array_equal(got["y"], want["y"])
    with p.dataset_writer("w", "train") as w:
        w.write(rows)  # a writer's write() reads a list the same way
    np.testing.assert_array_equal(p.load_dataset("w", "train").to_numpy()["x"], want["x"])
    # Batches come as a stream (a generator, an iterator): unchanged.
    batches = [{"x": np.zeros((5, 4), np.float32)}, {"x": np.ones((2, 4), np.float32)}]
    assert p.push_dataset("stream", "train", iter(batches)).rows == 7


def test_a_list_of_batches_names_both_forms(tmp_path: Path) -> None:
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    batches = [{"text": ["a", "b"], "label": np.arange(2)}, {"text": ["c"], "label": np.arange(1)}]
    with pytest.raises(
        InvalidArgumentError,
        match=r"item 0 of the list holds 2 values in column `text`: a list of mappings is rows.*"
        r"as a stream instead: a generator or iter\(\[batch, \.\.\.\]\)",
    ):
        p.push_dataset("bad", "train", batches)
    assert p.push_dataset("ok", "train", iter(batches)).rows == 3


def test_a_scalar_column_names_the_column(tmp_path: Path) -> None:
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    with pytest.raises(ValueError):  # pandas refuses the same mapping as columns
        pd.DataFrame({"a": 1})
    message = r"column `a` is one value \(1\), not a column: a column is a sequence with one value per row"
    with pytest.raises(SchemaError, match=message):
        p.push_dataset("n", "train", {"a": 1})
    with pytest.raises(SchemaError, match=r"column `t` is one value \('hello'\)"):
        write_dataset(str(tmp_path / "w"), {"t": "hello", "ids": [1, 2, 3, 4, 5]})
    with pytest.raises(SchemaError, match=r"column `z` is one value"):
        write_dataset(str(tmp_path / "w"), {"z": np.float32(2.0)})
    # As a list of one row, or written to a writer (a stream of rows), it is a row.
    assert p.push_dataset("n", "train", [{"a": 1}]).rows == 1


def test_a_dict_of_splits_names_the_split_to_pick(tmp_path: Path) -> None:
    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    splits = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"a": [1, 2]}), "test": datasets.Dataset.from_dict({"a": [3]})}
    )
    message = (
        r"a Hugging Face DatasetDict holds the splits \['train', 'test'\], and a push writes one split: "
        r'pick it, e.g. push_dataset\(name, "train", data\["train"\]\), once per split'
    )
    with pytest.raises(InvalidArgumentError, match=message):
        p.push_dataset("hf", "train", splits)
    with pytest.raises(InvalidArgumentError, match=r"IterableDatasetDict holds the splits \['train', 'test'\]"):
        write_dataset(str(tmp_path / "w"), datasets.IterableDatasetDict({k: v.to_iterable_dataset() for k, v in splits.items()}))
    assert p.list_datasets() == []  # refused before a version was claimed
    for split in splits:
        p.push_dataset("hf", split, splits[split])
    assert p.load_dataset("hf", "test").to_numpy()["a"].tolist() == splits["test"]["a"]


def test_a_stream_of_array_rows_names_both_forms(tmp_path: Path) -> None:
    # In a stream a mapping of arrays is a batch; rows of unequal arrays say how to give rows.
    def rows() -> Iterator[dict[str, object]]:
        yield {"x": np.ones(4), "y": np.ones(3)}

    p = LeptonAI(str(tmp_path / "reg"), encrypt=False, progress=False)
    with pytest.raises(
        SchemaError,
        match=r"columns disagree in length: `y` has 3 rows, `x` has 4 \(a batch holds one entry per row"
        r".*write_row, or in a list of rows",
    ):
        p.push_dataset("s", "train", rows())
    info = p.push_dataset("s", "train", list(rows()))  # the same rows as a list
    assert info.rows == 1
