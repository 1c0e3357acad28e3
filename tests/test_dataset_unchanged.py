"""A ``push_dataset`` of the rows the latest version already holds adds no version (as
``push_model`` and ``lepton push`` do for identical content): the core compares a digest of the
rows recorded in each pushed manifest (keyed when encrypted). Other rows, metadata or encryption
add a version. Expected rows are the numpy arrays pushed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lepton_ai import Key, LeptonAI


def _columns(seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((3000, 6)).astype(np.float32),
        "ids": [np.arange(i % 5) for i in range(3000)],
        "t": [f"row {i}" for i in range(3000)],
    }


def _in_batches(cols: dict[str, object], size: int) -> Iterator[dict[str, object]]:
    for start in range(0, 3000, size):
        yield {k: v[start : start + size] for k, v in cols.items()}  # type: ignore[index]


@pytest.mark.parametrize("encrypted", [True, False])
def test_identical_rows_return_the_latest_version(tmp_path: Path, encrypted: bool) -> None:
    p = LeptonAI(str(tmp_path / "reg"), key=Key.generate() if encrypted else None, encrypt=encrypted, progress=False)
    cols = _columns()
    first = p.push_dataset("d", "train", cols, chunk_bytes=8192, metadata={"src": "a"})
    assert first.version == 1 and first.chunks > 3
    # The same rows again, given whole or in other batches: version 1, nothing added.
    again = p.push_dataset("d", "train", cols, chunk_bytes=8192, metadata={"src": "a"})
    assert (again.version, again.rows) == (1, 3000)
    assert p.push_dataset("d", "train", _in_batches(cols, 700), chunk_bytes=8192, metadata={"src": "a"}).version == 1
    assert p.dataset_versions("d", "train") == [1]
    # The chunks written by the unchanged pushes were removed: only version 1's data is stored.
    stored = [f for f in (tmp_path / "reg").rglob("*") if f.is_file() and "/data/" in f.as_posix()]
    assert len(stored) == first.chunks
    # One changed value, or other metadata: a new version.
    changed = _columns()
    changed["x"][2999, 5] += 1  # type: ignore[index]
    assert p.push_dataset("d", "train", changed, chunk_bytes=8192, metadata={"src": "a"}).version == 4
    assert p.push_dataset("d", "train", changed, chunk_bytes=8192, metadata={"src": "b"}).version == 5
    assert p.dataset_versions("d", "train") == [1, 4, 5]
    got = p.load_dataset("d", "train", 4).to_numpy()
    np.testing.assert_array_equal(got["x"], changed["x"])  # type: ignore[arg-type]
    np.testing.assert_array_equal(p.load_dataset("d", "train", 1).to_numpy()["x"], cols["x"])  # type: ignore[arg-type]


def test_encryption_or_another_key_is_not_the_same_content(tmp_path: Path) -> None:
    uri = str(tmp_path / "reg")
    cols = _columns(1)
    assert LeptonAI(uri, encrypt=False, progress=False).push_dataset("d", "train", cols).version == 1
    key = Key.generate()
    assert LeptonAI(uri, key=key, progress=False).push_dataset("d", "train", cols).version == 2
    # Under the same key the encrypted rows are found; under another key they are not.
    assert LeptonAI(uri, key=key, progress=False).push_dataset("d", "train", cols).version == 2
    other = LeptonAI(uri, key=Key.generate(), progress=False)
    assert other.push_dataset("d", "train", cols).version == 4
