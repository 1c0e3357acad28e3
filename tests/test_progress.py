"""Progress bars: LEPTON_PROGRESS, bar names, and the tqdm class chosen in a notebook."""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lepton_ai._progress as progress_module
from model_fixtures import holding
from lepton_ai import Key, LeptonAI


class RecordingBar:
    made: list["RecordingBar"] = []

    def __init__(self, total: int, desc: str, **kwargs: Any) -> None:
        self.total, self.desc, self.n, self.closed = total, desc, 0, False
        RecordingBar.made.append(self)

    def update(self, k: int) -> None:
        self.n += k

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[RecordingBar]:
    RecordingBar.made = []
    monkeypatch.setattr(progress_module, "_tqdm_class", lambda: RecordingBar)
    monkeypatch.delenv("LEPTON_PROGRESS", raising=False)
    return RecordingBar.made


def test_bars_are_named_by_the_item(tmp_path: Path, bars: list[RecordingBar]) -> None:
    platform = LeptonAI(str(tmp_path / "reg"), key=Key.generate(), progress=True)
    x = np.zeros((1000, 8), np.float32)
    platform.push_dataset("medical", "train", {"x": x})
    platform.push_model("net", holding(b"not really onnx but bytes"))
    platform.model_bytes("net")
    assert [b.desc for b in bars] == ["push medical/train", "push net", "pull net"]
    assert bars[0].n == bars[0].total == x.nbytes and all(b.closed for b in bars)


def test_lepton_progress_0_turns_every_bar_off(
    tmp_path: Path, bars: list[RecordingBar], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_PROGRESS", "0")
    platform = LeptonAI(str(tmp_path / "reg"), progress=True, encrypt=False)
    platform.push_dataset("d", "train", {"x": np.zeros((1000, 8), np.float32)})
    assert bars == []
    # a callable of the user's own is still called
    calls: list[tuple[int, int]] = []
    platform.push_dataset("d", "train", {"x": np.ones(10)}, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1] == 80


def test_lepton_progress_1_shows_bars_without_a_terminal(
    bars: list[RecordingBar], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not progress_module.auto_enabled()  # pytest captures stderr: no terminal
    monkeypatch.setenv("LEPTON_PROGRESS", "1")
    assert progress_module.auto_enabled()
    with progress_module.progress_callback(None, "pull m") as cb:
        assert cb is not None
        cb(2 << 20, 2 << 20)
    assert [(b.desc, b.n) for b in bars] == [("pull m", 2 << 20)]


def _fake_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_notebook_without_ipywidgets_uses_the_text_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm.std import tqdm as text_tqdm

    _fake_notebook(monkeypatch)
    real_find_spec = progress_module.importlib.util.find_spec
    monkeypatch.setattr(
        progress_module.importlib.util, "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real_find_spec(name, *a),
    )
    assert progress_module._in_notebook()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm.auto here would warn "IProgress not found"
        cls = progress_module._tqdm_class()
        bar = cls(total=10, desc="pull m", disable=True)
        bar.close()
    assert cls is text_tqdm


def test_to_numpy_reports_progress_in_slices_and_reads_the_same_rows(
    tmp_path: Path, bars: list[RecordingBar], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lepton_ai._dataset as dataset_module

    monkeypatch.setattr(dataset_module, "_SLICE_BYTES", 64 << 10)  # 64 KiB: several slices
    platform = LeptonAI(str(tmp_path / "reg"), key=Key.generate())
    x = np.random.default_rng(0).normal(size=(5000, 16)).astype(np.float32)
    names = [f"row{i}" for i in range(5000)]
    platform.push_dataset("medical", "train", {"x": x, "name": names}, progress=False)
    ds = platform.load_dataset("medical")
    plain = ds.to_numpy()
    calls: list[tuple[int, int]] = []
    sliced = ds.to_numpy(progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 3 and calls[-1][0] == calls[-1][1] and all(t == calls[0][1] for _, t in calls)
    np.testing.assert_array_equal(sliced["x"], x)
    np.testing.assert_array_equal(plain["x"], x)
    assert list(sliced["name"]) == names and sliced["name"].dtype == plain["name"].dtype
    ds.to_numpy(progress=True)
    assert [b.desc for b in bars] == ["read medical/train"]


def test_verify_reports_the_bytes_it_checks(tmp_path: Path, bars: list[RecordingBar]) -> None:
    reg = tmp_path / "reg"
    platform = LeptonAI(str(reg), key=Key.generate())
    x = np.random.default_rng(1).normal(size=(20000, 32)).astype(np.float32)
    platform.push_dataset("medical", "train", {"x": x}, chunk_bytes=256 << 10, progress=False)
    platform.push_model("m", holding(b"w" * 300_000), progress=False)
    # What the store holds, measured on disk: every chunk object, and the sealed model object.
    chunks = sum(f.stat().st_size for f in (reg / "datasets" / "medical" / "train").rglob("*.chunk"))
    (model_object,) = [f for f in (reg / "models" / "m").rglob("*") if f.is_file() and f.stat().st_size > 300_000]
    calls: list[tuple[int, int]] = []
    platform.verify_dataset("medical", "train", progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 3 and calls[-1] == (chunks, chunks)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    calls.clear()
    platform.verify_model("m", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (model_object.stat().st_size, model_object.stat().st_size)
    platform.verify_dataset("medical", "train", progress=True)
    platform.verify_model("m", progress=True)
    assert [b.desc for b in bars] == ["verify medical/train", "verify m"]
