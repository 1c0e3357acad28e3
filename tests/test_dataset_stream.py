"""Streaming dataset writes: ``LeptonAI.dataset_writer`` / ``lepton_ai.dataset_writer`` as context
managers, ``push_dataset``/``write_dataset`` from generators and from a ``Dataset``, abort on
error, and the typed errors for mixed columns and invalid text. Expected values are the numpy
arrays the batches were made from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import lepton_ai as la
from lepton_ai import Key, LeptonAI, SchemaError, write_dataset


def _batches(n: int, rows: int = 300) -> Iterator[dict[str, object]]:
    rng = np.random.default_rng(1)
    for b in range(n):
        yield {
            "x": rng.standard_normal((rows, 8)).astype(np.float32),
            "y": np.arange(b * rows, (b + 1) * rows, dtype=np.int64),
            "t": [f"r{b * rows + i}" for i in range(rows)],
        }


def _expected(n: int, rows: int = 300) -> dict[str, np.ndarray]:
    parts = list(_batches(n, rows))
    return {
        "x": np.concatenate([p["x"] for p in parts]),  # type: ignore[misc]
        "y": np.concatenate([p["y"] for p in parts]),  # type: ignore[misc]
        "t": np.array([t for p in parts for t in p["t"]], dtype=object),  # type: ignore[attr-defined]
    }


def _assert_columns(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_push_dataset_from_a_generator(tmp_path: Path) -> None:
    platform = LeptonAI(str(tmp_path / "reg"), key=Key.generate())
    info = platform.push_dataset("d", "train", _batches(5), chunk_bytes=4096)
    assert info.rows == 1500 and info.chunks > 5
    _assert_columns(platform.load_dataset("d", "train").to_numpy(), _expected(5))


def test_dataset_writer_context_manager_and_rows(tmp_path: Path) -> None:
    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with platform.dataset_writer("d", "train", chunk_bytes=4096) as w:
        for batch in _batches(2):
            w.write(batch)
        for i in range(5):
            w.write_row({"x": np.full(8, i, np.float32), "y": 10_000 + i, "t": f"row{i}"})
    assert w.info.rows == 605 and w.info.version == 1
    got = platform.load_dataset("d", "train").to_numpy()
    want = _expected(2)
    np.testing.assert_array_equal(got["x"][:600], want["x"])
    np.testing.assert_array_equal(got["x"][600:], np.repeat(np.arange(5, dtype=np.float32)[:, None], 8, axis=1))
    np.testing.assert_array_equal(got["y"][600:], 10_000 + np.arange(5))
    assert list(got["t"][600:]) == [f"row{i}" for i in range(5)]


def test_an_exception_in_the_block_aborts(tmp_path: Path) -> None:
    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with pytest.raises(RuntimeError, match="boom"):
        with platform.dataset_writer("d", "train", chunk_bytes=4096) as w:
            for batch in _batches(3):
                w.write(batch)
            raise RuntimeError("boom")
    assert "d" not in platform.list_datasets()
    with pytest.raises(la.InvalidArgumentError, match="closed"):
        w.write(next(_batches(1)))


def test_a_failing_generator_leaves_no_version(tmp_path: Path) -> None:
    def broken() -> Iterator[dict[str, object]]:
        yield from _batches(2)
        raise ValueError("source failed")

    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with pytest.raises(ValueError, match="source failed"):
        platform.push_dataset("d", "train", broken())
    assert "d" not in platform.list_datasets()


def test_copy_a_dataset_in_batches(tmp_path: Path) -> None:
    src = write_dataset(str(tmp_path / "src"), _batches(4), chunk_bytes=4096)
    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    info = platform.push_dataset("copy", "train", src)
    assert info.rows == 1200
    _assert_columns(platform.load_dataset("copy", "train").to_numpy(), _expected(4))
    # The copy went through in batches, not one to_numpy() of everything.
    import lepton_ai._writer as writer_module

    seen: list[int] = []
    original = src._column_batches

    def spy(batch_bytes: int) -> Iterator[dict[str, object]]:
        for b in original(batch_bytes):
            seen.append(len(b["y"]))  # type: ignore[arg-type]
            yield b

    src._column_batches = spy  # type: ignore[method-assign]
    old = writer_module.COPY_BATCH_BYTES
    writer_module.COPY_BATCH_BYTES = 8192
    try:
        write_dataset(str(tmp_path / "copy2"), src)
    finally:
        writer_module.COPY_BATCH_BYTES = old
    assert len(seen) > 3 and sum(seen) == 1200


def test_later_batches_must_match_the_schema(tmp_path: Path) -> None:
    platform = LeptonAI(str(tmp_path / "reg"), encrypt=False)
    with pytest.raises(SchemaError, match="`x`"):
        with platform.dataset_writer("d", "train") as w:
            w.write({"x": np.zeros((4, 8), np.float32)})
            w.write({"x": np.zeros((4, 9), np.float32)})
    assert "d" not in platform.list_datasets()


def test_write_dataset_refuses_what_is_not_batches(tmp_path: Path) -> None:
    with pytest.raises(la.InvalidArgumentError, match="got int"):
        write_dataset(str(tmp_path / "d"), [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(la.InvalidArgumentError, match="got str"):
        write_dataset(str(tmp_path / "d"), "columns")  # type: ignore[arg-type]


def test_stream_progress_comes_from_the_core_writer_per_chunk(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    ds = write_dataset(str(tmp_path / "d"), _batches(3), chunk_bytes=4096, progress=lambda d, t: calls.append((d, t)))
    assert len(calls) == ds.info["chunks"] > 3 and all(t == 0 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == ds.info["raw_bytes"]


def test_an_exception_in_the_progress_callback_stops_the_write(tmp_path: Path) -> None:
    def stop(done: int, total: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(la.InvalidArgumentError, match="stopped by its progress callback: RuntimeError: stop"):
        write_dataset(str(tmp_path / "d"), _batches(3), chunk_bytes=4096, progress=stop)
    assert not (tmp_path / "d" / "manifests").exists()


def test_mixed_column_is_a_schema_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"column `mixed` mixes types: row 0 is a number or array, row 1 is a str"):
        write_dataset(str(tmp_path / "d"), {"mixed": [1, "a"], "ok": np.arange(2)})
    with pytest.raises(SchemaError, match=r"column `m2` mixes types: row 0 is a str, row 2 is a bytes"):
        write_dataset(str(tmp_path / "d"), {"m2": ["a", "b", b"c"]})
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.manifest"))


def test_lone_surrogate_is_a_schema_error_naming_column_and_row(tmp_path: Path) -> None:
    text = ["fine", "also fine", "bad \udc80 text"]
    with pytest.raises(SchemaError, match=r"column `text` row 2 is not valid Unicode text"):
        write_dataset(str(tmp_path / "d"), {"text": text})
    with pytest.raises(SchemaError, match=r"column `text` row 2"):
        write_dataset(str(tmp_path / "d"), {"text": np.array(text)})
