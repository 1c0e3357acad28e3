"""Progress while writing datasets: write_dataset(progress=) and LeptonAI.push_dataset(progress=)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lepton_ai._dataset as dataset_module
from lepton_ai import Key, LeptonAI, SchemaError, write_dataset


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_module, "_SLICE_BYTES", 64 << 10)  # 64 KiB: several slices


def test_push_dataset_reports_progress_and_slicing_changes_nothing(
    tmp_path: Path, small_slices: None
) -> None:
    x = np.random.default_rng(0).normal(size=(5000, 16)).astype(np.float32)
    y = np.arange(5000, dtype=np.int64)
    calls: list[tuple[int, int]] = []
    platform = LeptonAI(str(tmp_path / "reg"), key=Key.generate())
    platform.push_dataset("d", "train", {"x": x, "y": y}, progress=lambda d, t: calls.append((d, t)))
    total = x.nbytes + y.nbytes
    assert len(calls) > 3, calls
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == total
    back = platform.load_dataset("d", split="train").to_numpy()
    np.testing.assert_array_equal(back["x"], x)
    np.testing.assert_array_equal(back["y"], y)


def test_variable_length_columns_report_once(tmp_path: Path, small_slices: None) -> None:
    calls: list[tuple[int, int]] = []
    ds = write_dataset(
        str(tmp_path / "d"), {"text": ["a", "bb", "ccc"], "n": np.arange(3)}, progress=lambda d, t: calls.append((d, t))
    )
    assert len(calls) == 1 and calls[0][0] == calls[0][1] > 0
    assert ds[2][0] == "ccc"


def test_columns_of_different_lengths_still_raise_schema_error(tmp_path: Path, small_slices: None) -> None:
    with pytest.raises(SchemaError):
        write_dataset(
            str(tmp_path / "d"),
            {"a": np.zeros((100, 8), np.float32), "b": np.zeros(90, np.int64)},
            progress=lambda d, t: None,
        )
    assert not (tmp_path / "d" / "manifests").exists() or not any((tmp_path / "d" / "manifests").iterdir())
