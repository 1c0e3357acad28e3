"""Variable-shape tensor columns: token-id lists of different lengths and images of different sizes
round trip (row access, slices, batches, the iterable form), stream across batches, pad for
torch (checked against torch's own ``pad_sequence``), and typed errors for rows of another rank
or dtype. Expected values are the numpy arrays the rows were made from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from lepton_ai import LeptonAI, SchemaError, collate_padded, write_dataset


def _tokens(rows: int = 200) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 30000, rng.integers(0, 40)).astype(np.int32) for _ in range(rows)]


def _images(rows: int = 200) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.standard_normal((3, rng.integers(1, 9), rng.integers(1, 9))).astype(np.float32) for _ in range(rows)]


def _assert_rows(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def test_round_trip(tmp_path: Path) -> None:
    tok, img = _tokens(), _images()
    ds = write_dataset(str(tmp_path / "d"), {"tok": tok, "img": img, "y": np.arange(200)}, chunk_bytes=2048)
    assert ds.info["chunks"] > 3
    assert ds.schema == {"tok": ("int32", (None,)), "img": ("float32", (None, None, None)), "y": ("int64", ())}
    t, i, y = ds[57]
    np.testing.assert_array_equal(t, tok[57])
    np.testing.assert_array_equal(i, img[57])
    assert y == 57
    cols = ds.to_numpy()
    _assert_rows(cols["tok"], tok)  # type: ignore[arg-type]
    _assert_rows(cols["img"], img)  # type: ignore[arg-type]
    got_tok, got_img, _ = ds[10:150]
    _assert_rows(got_tok, tok[10:150])
    _assert_rows(got_img, img[10:150])
    seen = []
    for bt, _, by in ds.iter_batches(32, shuffle=True, seed=1):
        for row, label in zip(bt, by):
            np.testing.assert_array_equal(row, tok[label])
            seen.append(int(label))
    assert sorted(seen) == list(range(200))


def test_nested_lists_and_tensors(tmp_path: Path) -> None:
    ds = write_dataset(str(tmp_path / "d"), {"ids": [[1, 2, 3], [4], [], [5, 6]]})
    assert ds.schema["ids"] == ("int64", (None,))
    _assert_rows(ds.to_numpy()["ids"], [np.array(r, dtype=np.int64) for r in [[1, 2, 3], [4], [], [5, 6]]])  # type: ignore[arg-type]
    rows = [torch.arange(n, dtype=torch.float32) for n in (2, 5)]
    ds2 = write_dataset(str(tmp_path / "t"), {"x": rows})
    _assert_rows(ds2.to_numpy()["x"], [r.numpy() for r in rows])  # type: ignore[arg-type]


def test_streamed_batches_including_one_with_equal_shapes(tmp_path: Path) -> None:
    tok = _tokens(90)
    same = [np.full(7, k, np.int32) for k in range(10)]  # this batch's rows share a shape
    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with platform.dataset_writer("d", "train", chunk_bytes=1024) as w:
        w.write({"tok": tok[:40]})
        w.write({"tok": same})
        w.write({"tok": tok[40:]})
    _assert_rows(platform.load_dataset("d", "train").to_numpy()["tok"], tok[:40] + same + tok[40:])  # type: ignore[arg-type]


def test_iterable_form_and_collate_padded_match_pad_sequence(tmp_path: Path) -> None:
    tok = _tokens()
    ds = write_dataset(str(tmp_path / "d"), {"tok": tok, "y": np.arange(200)}, chunk_bytes=2048)
    it = ds.to_iterable_dataset(batch_size=16, shuffle=True, seed=2)
    for batch in DataLoader(it, batch_size=None, num_workers=2):
        rows = batch["tok"]
        assert isinstance(rows, list) and all(isinstance(r, torch.Tensor) for r in rows)
        for r, label in zip(rows, batch["y"].tolist()):
            np.testing.assert_array_equal(r.numpy(), tok[label])
        padded = collate_padded(rows, padding_value=-1)
        want = pad_sequence(rows, batch_first=True, padding_value=-1)
        if want.shape[1] < padded.values.shape[1]:  # every row empty
            want = torch.nn.functional.pad(want, (0, padded.values.shape[1] - want.shape[1]), value=-1)
        torch.testing.assert_close(padded.values, want)
        assert padded.lengths.tolist() == [len(r) for r in rows]
        lengths = torch.tensor([len(r) for r in rows])
        torch.testing.assert_close(padded.mask, torch.arange(padded.values.shape[1])[None, :] < lengths[:, None])


def test_collate_padded_images_gives_shapes() -> None:
    imgs = [torch.ones(2, 3), torch.ones(4, 1) * 2]
    padded = collate_padded(imgs)
    assert padded.values.shape == (2, 4, 3)
    assert padded.lengths.tolist() == [[2, 3], [4, 1]]
    assert padded.mask.sum().item() == 6 + 4
    assert padded.values[1, :, 0].tolist() == [2, 2, 2, 2] and padded.values[1, :, 1:].abs().sum().item() == 0


def test_rows_of_another_rank_or_dtype_are_schema_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"column `x` row 1 has 2 dimensions, row 0 has 1"):
        write_dataset(str(tmp_path / "d"), {"x": [np.zeros(3, np.float32), np.zeros((2, 2), np.float32)]})
    with pytest.raises(SchemaError, match=r"column `x` mixes dtypes \['float32', 'float64'\]"):
        write_dataset(str(tmp_path / "d"), {"x": [np.zeros(3, np.float32), np.zeros(2)]})
    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with pytest.raises(SchemaError, match=r"column `x` holds 1-dimensional rows, got 2-dimensional ones"):
        with platform.dataset_writer("d", "train") as w:
            w.write({"x": [np.zeros(3, np.float32), np.zeros(2, np.float32)]})
            w.write({"x": [np.zeros((3, 1), np.float32), np.zeros((2, 2), np.float32)]})
    assert "d" not in platform.list_datasets()


def test_manifest_of_a_variable_shape_dataset_is_format_2(tmp_path: Path) -> None:
    # Format 1 readers can't read variable-shape columns: such a manifest must say 2 (or newer).
    write_dataset(str(tmp_path / "v"), {"x": [np.zeros(3, np.float32), np.zeros(2, np.float32)]})
    (ragged,) = (tmp_path / "v" / "manifests").iterdir()
    assert ragged.read_bytes().startswith(b"lepton-dataset 2\n")
