"""``lepton pull dataset`` to ``.npz`` and ``.parquet``, read back by numpy and pyarrow and pushed
back, and ``lepton verify`` on names that do not exist (issue 12). Expected values are the
pushed inputs, read back through numpy's ``np.load`` and pyarrow's ``pq.read_table``."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from lepton_ai import LeptonAI
from test_cli import env, reg, run  # noqa: F401  (the same registry fixtures and runner)

TOK = [np.arange(3, dtype=np.int32), np.arange(1, dtype=np.int32), np.arange(4, dtype=np.int32)]
PTS = [np.ones((2, 3)), np.zeros((1, 3)), np.full((3, 3), 2.5)]
LABEL = np.array([7, 8, 9])
S = ["a\x00", "", "c\x00\x00é"]
BLOB = [b"ab\x00", b"\x00\x00", b"x"]
IMG = np.arange(36, dtype=np.float32).reshape(3, 3, 2, 2)
SCHEMA = {
    "tok": ("int32", (None,)),
    "pts": ("float64", (None, 3)),
    "label": ("int64", ()),
    "s": ("string", ()),
    "blob": ("bytes", ()),
    "img": ("float32", (3, 2, 2)),
}


def push(reg: str, name: str = "d") -> None:
    cols = {"tok": TOK, "pts": PTS, "label": LABEL, "s": S, "blob": BLOB, "img": IMG}
    LeptonAI(reg, encrypt=False).push_dataset(name, "train", cols, schema=SCHEMA)


def assert_same_columns(back: dict) -> None:
    assert list(back) == list(SCHEMA)
    for name, want in (("tok", TOK), ("pts", PTS)):
        assert len(back[name]) == len(want)
        for g, w in zip(back[name], want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(back["label"], LABEL)
    np.testing.assert_array_equal(back["img"], IMG)
    assert list(back["s"]) == S and list(back["blob"]) == BLOB


def test_npz_keeps_bytes_text_order_and_shapes_and_pushes_back(capsys, tmp_path, reg):
    push(reg)
    dest = tmp_path / "d.npz"
    code, out, err = run(capsys, "-r", reg, "pull", "dataset", "d", "--output", str(dest))
    assert (code, out) == (0, f"wrote d/train version 1 (3 rows) to {dest}\n"), err
    with np.load(dest, allow_pickle=False) as npz:  # numpy alone reads every entry
        recorded = json.loads(str(npz["__lepton_schema__"]))
        assert [(c["name"], c["dtype"], tuple(c["shape"])) for c in recorded["columns"]] == [
            (n, d, s) for n, (d, s) in SCHEMA.items()
        ]
        offsets = npz["blob.offsets"]
        assert [npz["blob"][offsets[i] : offsets[i + 1]].tobytes() for i in range(3)] == BLOB
        offsets = npz["s.offsets"]
        assert [npz["s"][offsets[i] : offsets[i + 1]].tobytes().decode() for i in range(3)] == S
    code, _, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "back", str(dest))
    assert code == 0, err
    back = LeptonAI(reg).load_dataset("back", "train")
    assert back.schema == SCHEMA
    assert_same_columns(back.to_numpy())


def test_parquet_round_trip_keeps_order_dtypes_and_shapes(capsys, tmp_path, reg):
    import pyarrow.parquet as pq

    push(reg)
    dest = tmp_path / "x.parquet"
    code, out, err = run(capsys, "-r", reg, "pull", "dataset", "d", "--output", str(dest))
    assert (code, out) == (0, f"wrote d/train version 1 (3 rows) to {dest}\n"), err
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["x.parquet"]
    table = pq.read_table(dest)
    assert table.column_names == list(SCHEMA)
    assert table.column("s").to_pylist() == S and table.column("blob").to_pylist() == BLOB
    assert table.column("tok").to_pylist() == [t.tolist() for t in TOK]
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "back", str(dest))[0] == 0
    back = LeptonAI(reg).load_dataset("back", "train")
    assert back.schema == SCHEMA
    assert_same_columns(back.to_numpy())


@pytest.mark.parametrize("name", ["x.csv", "x", "x.npz.txt"])
def test_pull_refuses_other_suffixes_naming_the_supported_ones(capsys, tmp_path, reg, name):
    push(reg)
    dest = tmp_path / name
    code, out, err = run(capsys, "-r", reg, "pull", "dataset", "d", "--output", str(dest))
    assert (code, out) == (1, "")
    assert err == f"lepton: error: cannot pull a dataset to {dest}: the file name must end in .npz or .parquet (.parquet needs pyarrow)\n"
    assert not dest.exists()


def test_columns_named_like_savez_arguments(capsys, tmp_path, reg):
    LeptonAI(reg, encrypt=False).push_dataset("f", "train", {"file": np.arange(3), "allow_pickle": np.ones(3)})
    dest = tmp_path / "f.npz"
    assert run(capsys, "-r", reg, "pull", "dataset", "f", "--output", str(dest))[0] == 0
    with np.load(dest, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["file"], np.arange(3))
        np.testing.assert_array_equal(npz["allow_pickle"], np.ones(3))


def test_a_column_named_like_another_ones_offsets_is_refused(capsys, tmp_path, reg):
    cols = {"a": [np.arange(2), np.arange(1)], "a.offsets": np.array([5, 6])}
    LeptonAI(reg, encrypt=False).push_dataset("c", "train", cols)
    dest = tmp_path / "c.npz"
    code, _, err = run(capsys, "-r", reg, "pull", "dataset", "c", "--output", str(dest))
    assert code == 1
    assert err == (
        f"lepton: error: cannot write {dest}: column 'a.offsets' and column 'a' would both be stored as "
        ".npz entry 'a.offsets'; pull to a .parquet file instead, which keeps each column whole\n"
    )


@pytest.mark.parametrize(
    "offsets, shapes, what",
    [
        ([0, 1, 4], [[2], [2]], "row 0 has shape [2] but 1 values"),
        ([0, 2, 3], [[2], [2]], "offsets run 0..3 over 4 values or decrease"),
        ([0, 3, 2, 4], [[3], [1], [2]], "offsets run 0..4 over 4 values or decrease"),
        ([0, 2, 4], [[2]], "shapes must be an integer array of 2 rows x rank, got int64 (1, 1)"),
    ],
)
def test_inconsistent_offsets_or_shapes_fail_with_exit_1(capsys, tmp_path, reg, offsets, shapes, what):
    src = tmp_path / "bad.npz"
    np.savez(src, **{"v": np.arange(4.0), "v.offsets": np.array(offsets), "v.shapes": np.array(shapes)})
    code, out, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "bad", str(src))
    assert (code, out) == (1, "")
    assert err.startswith(f"lepton: error: cannot read {src}: v.offsets/v.shapes do not describe v ({what}); ")


def test_a_plain_npz_keeps_its_column_order(capsys, tmp_path, reg):
    src = tmp_path / "o.npz"
    with zipfile.ZipFile(src, "w") as zf:  # np.savez's layout, in this entry order
        for name, a in (("z", np.arange(2)), ("v", np.arange(3.0)), ("v.offsets", np.array([0, 1, 3])),
                        ("v.shapes", np.array([[1], [2]])), ("a", np.array(["p", "q"]))):
            with zf.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, a)
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "o", str(src))[0] == 0
    assert list(LeptonAI(reg).load_dataset("o", "train").schema) == ["z", "v", "a"]


def test_verify_names_that_do_not_exist_fail(capsys, tmp_path, reg):
    push(reg)
    code, out, err = run(capsys, "-r", reg, "verify", "model", "nope")
    assert (code, out, err) == (1, "", f"lepton: error: model `nope` not found in {reg} (there: none)\n")
    code, out, err = run(capsys, "-r", reg, "verify", "dataset", "nosuch")
    assert (code, out, err) == (1, "", f"lepton: error: dataset `nosuch` not found in {reg} (there: d)\n")
    code, out, err = run(capsys, "-r", reg, "verify", "dataset", "d", "--split", "nosuch")
    assert (code, out, err) == (1, "", f"lepton: error: split of dataset `d` `nosuch` not found in {reg} (there: train)\n")
    assert run(capsys, "-r", reg, "verify", "dataset", "d", "--split", "train")[0] == 0
