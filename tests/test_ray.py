"""``lepton_ai.ray`` on a local Ray (``ray.init(num_cpus=2)``, started once for this module).

Expected values come from numpy (the arrays pushed), ``Dataset.to_numpy()`` and onnxruntime's own
``InferenceSession``; the key checks look for the key's bytes, hex and base64 in what Ray ships
(the pickled tasks and actor arguments), what it records about tasks, and every file of the Ray
session (its logs).
"""

from __future__ import annotations

import base64
import inspect
import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import onnxruntime
import pytest
import ray
from ray import cloudpickle

import lepton_ai.ray as lray
from lepton_ai import InvalidArgumentError, Key, LeptonAI
from model_fixtures import logistic_regression

pytestmark = [
    pytest.mark.usefixtures("lepton_home"),
    # Ray's DataContext warns about its own deprecated defaults when it copies itself (ray 2.60).
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray for the module; yields the session folder (its logs)."""
    temp = tmp_path_factory.mktemp("ray")
    # Ray's workers start with this process's environment: give them a LEPTON_HOME of their own
    # (rollback marks, key file), as conftest gives each test, so nothing is written to ~.
    home = os.environ.get("LEPTON_HOME")
    os.environ["LEPTON_HOME"] = str(tmp_path_factory.mktemp("ray-home"))
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(temp), log_to_driver=True)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    yield temp
    ray.shutdown()
    if home is None:
        os.environ.pop("LEPTON_HOME", None)
    else:
        os.environ["LEPTON_HOME"] = home


@pytest.fixture
def key() -> Key:
    return Key.generate()


@pytest.fixture
def platform(tmp_path: Path, key: Key) -> LeptonAI:
    return LeptonAI(tmp_path / "registry", key=key)


def _columns(rows: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    return {
        "image": rng.normal(size=(rows, 3, 4)).astype(np.float32),
        "label": rng.integers(0, 10, size=rows).astype(np.int64),
        "flag": rng.random(rows) > 0.5,
        "note": np.array([f"row {i}" for i in range(rows)], dtype=object),
    }


def _all_numpy(ds: ray.data.Dataset) -> dict[str, np.ndarray]:
    batches = list(ds.iter_batches(batch_size=None, batch_format="numpy"))
    return {c: np.concatenate([b[c] for b in batches]) for c in batches[0]}


def test_read_equals_to_numpy(ray_session: Path, platform: LeptonAI) -> None:
    data = _columns(3000)
    info = platform.push_dataset("d", "train", data, chunk_bytes=16 << 10)
    assert info.chunks > 8
    expected = platform.load_dataset("d", "train").to_numpy()

    ds = lray.read_dataset(platform, "d", "train", override_num_blocks=4)
    got = _all_numpy(ds)
    assert list(got) == list(expected)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype, name
        assert got[name].shape == want.shape, name
        if want.dtype == object:
            assert got[name].tolist() == want.tolist()
        else:
            np.testing.assert_array_equal(got[name], want)
    # And against the arrays pushed (numpy is the peer of to_numpy itself).
    np.testing.assert_array_equal(got["image"], data["image"])


def test_read_tasks_are_whole_chunk_ranges(ray_session: Path, platform: LeptonAI) -> None:
    platform.push_dataset("d", "train", _columns(2000), chunk_bytes=8 << 10)
    ds = platform.load_dataset("d", "train")
    chunk_rows = ds._native.chunk_rows()
    assert len(chunk_rows) == ds.info["chunks"] and sum(chunk_rows) == len(ds)
    starts = set(np.cumsum([0, *chunk_rows]).tolist())
    for parts in (1, 3, 4, len(chunk_rows), len(chunk_rows) + 5):
        ranges = lray._chunk_ranges(chunk_rows, parts)
        assert len(ranges) == min(parts, len(chunk_rows))
        assert ranges[0][0] == 0 and ranges[-1][1] == len(ds)
        assert all(a < b for a, b in ranges)
        assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
        assert {a for a, _ in ranges} | {b for _, b in ranges} <= starts
    # Uneven chunks: the ranges still cover every chunk once, balanced by rows.
    assert lray._chunk_ranges([10, 1, 1, 10], 2) == [(0, 11), (11, 22)]
    assert lray._chunk_ranges([5], 3) == [(0, 5)]


def test_read_a_version_and_columns(ray_session: Path, platform: LeptonAI) -> None:
    platform.push_dataset("d", "train", {"x": np.arange(10, dtype=np.int32)})
    platform.push_dataset("d", "train", {"x": np.arange(20, dtype=np.int32), "y": np.ones(20)})
    got = _all_numpy(lray.read_dataset(platform, "d", "train", version=1))
    np.testing.assert_array_equal(got["x"], np.arange(10, dtype=np.int32))
    got = _all_numpy(lray.read_dataset(platform, "d", "train", columns=["y"]))
    assert list(got) == ["y"]
    with pytest.raises(InvalidArgumentError, match=r"has no column 'z'; it has \['x', 'y'\]"):
        lray.read_dataset(platform, "d", "train", columns=["z"])


def _source(rows: int) -> ray.data.Dataset:
    def columns(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        i = batch["id"]
        return {
            "id": i,
            "x": (i[:, None] * np.arange(1, 4)).astype(np.float32),
            "name": np.array([f"n{v}" for v in i], dtype=object),
        }

    return ray.data.range(rows, override_num_blocks=4).map_batches(columns)


def test_write_then_read_round_trips(ray_session: Path, platform: LeptonAI) -> None:
    version = lray.write_dataset(_source(1000), platform, "w", "train", metadata={"by": "ray"})
    assert version == 1
    assert platform.dataset_splits("w") == ["train"]  # no staging split left
    stored = platform.load_dataset("w", "train")
    assert stored.info["metadata"]["by"] == "ray"
    got = stored.to_numpy()
    ids = np.arange(1000, dtype=np.int64)
    np.testing.assert_array_equal(got["id"], ids)
    np.testing.assert_array_equal(got["x"], (ids[:, None] * np.arange(1, 4)).astype(np.float32))
    assert got["name"].tolist() == [f"n{v}" for v in ids]
    assert stored.info["encrypted"]
    # ... and back through Ray.
    again = _all_numpy(lray.read_dataset(platform, "w", "train"))
    np.testing.assert_array_equal(again["x"], got["x"])


def test_a_failing_task_leaves_no_version(ray_session: Path, platform: LeptonAI) -> None:
    platform.push_dataset("w", "train", {"id": np.arange(5), "x": np.zeros((5, 3), np.float32), "name": ["a"] * 5})

    def fail_on_700(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if 700 in batch["id"]:
            raise RuntimeError("task failed on purpose")
        return batch

    with pytest.raises(Exception, match="task failed on purpose"):
        lray.write_dataset(_source(1000).map_batches(fail_on_700), platform, "w", "train")
    assert platform.dataset_versions("w", "train") == [1]
    assert platform.dataset_splits("w") == ["train"]  # the staging splits are gone too
    assert len(platform.load_dataset("w", "train")) == 5


def test_predictor_equals_the_model(ray_session: Path, platform: LeptonAI) -> None:
    onnx = logistic_regression()
    platform.push_model("logreg", onnx)
    x = np.random.default_rng(3).normal(size=(500, 30)).astype(np.float32)
    y = np.arange(500)
    platform.push_dataset("feat", "test", {"features": x, "id": y})
    registry = lray.RegistryRef(platform)

    scored = lray.read_dataset(registry, "feat", "test").map_batches(
        lray.Predictor,
        fn_constructor_kwargs={
            "registry": registry,
            "model": "logreg",
            "input_columns": ["features"],
            "keep_columns": ["id"],
        },
        concurrency=1,
        batch_size=128,
    )
    got = _all_numpy(scored)
    assert sorted(got) == ["id", "probabilities"]
    (want,) = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(got["id"], y)
    np.testing.assert_allclose(got["probabilities"], want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got["probabilities"], LeptonAI.load_model("logreg", platform=platform)(x))


def test_predictor_names_a_missing_column(ray_session: Path, platform: LeptonAI) -> None:
    platform.push_model("logreg", logistic_regression())
    predictor = lray.Predictor(lray.RegistryRef(platform), "logreg")  # input column: "x"
    with pytest.raises(InvalidArgumentError, match=r"the batch has no column 'x'; it has \['features'\]"):
        predictor({"features": np.zeros((2, 30), np.float32)})
    with pytest.raises(InvalidArgumentError, match=r"takes 1 inputs \['x'\]; input_columns names 2"):
        lray.Predictor(lray.RegistryRef(platform), "logreg", input_columns=["a", "b"])


def _forms(key: Key) -> list[bytes]:
    raw = key.to_bytes()
    return [
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
    ]


def _holds_key(blob: bytes, key: Key) -> bool:
    return any(f in blob for f in _forms(key))


def test_the_key_stays_out_of_task_arguments_and_logs(ray_session: Path, platform: LeptonAI, key: Key) -> None:
    platform.push_model("logreg", logistic_regression())
    platform.push_dataset("feat", "test", {"x": np.ones((300, 30), np.float32)}, chunk_bytes=4 << 10)
    registry = lray.RegistryRef(platform)
    # The check sees a key where there is one (so a pass below means something).
    assert _holds_key(cloudpickle.dumps({"k": key.to_bytes().hex()}), key)
    assert _holds_key(cloudpickle.dumps(ray.get(registry._secrets)), key)

    # What Ray ships: read tasks, the datasink, the actor's constructor arguments.
    source = lray._LeptonDatasource(registry, "feat", "test", 1, ["x"], [100, 100, 100], 36000)
    for task in source.get_read_tasks(3):
        assert not _holds_key(cloudpickle.dumps(task), key)
    sink = lray._LeptonDatasink(registry, "feat", "out", None, 4 << 20)
    assert not _holds_key(cloudpickle.dumps(sink), key)
    assert not _holds_key(cloudpickle.dumps({"registry": registry, "model": "logreg"}), key)
    for text in (repr(registry), repr(source), repr(sink)):
        assert not _holds_key(text.encode(), key)

    # A real run of all three, then what Ray recorded and logged.
    scored = lray.read_dataset(registry, "feat", "test").map_batches(
        lray.Predictor, fn_constructor_kwargs={"registry": registry, "model": "logreg"}, concurrency=1
    )
    lray.write_dataset(scored, registry, "feat", "scored")
    assert len(platform.load_dataset("feat", "scored")) == 300
    # The task records the GCS keeps (what the dashboard and the state API show; the state API
    # itself needs the dashboard, which this session does not start).
    from ray._private.state import state

    time.sleep(1.5)  # task events reach the GCS on a 1 s flush
    records = repr(state._get_all_task_events())
    assert "Predictor" in records and "LeptonRead" in records  # the records are there...
    assert not _holds_key(records.encode(), key)
    files = [p for p in ray_session.rglob("*") if p.is_file() and not p.is_socket()]
    assert any("worker" in p.name for p in files)
    leaks = [str(p) for p in files if _holds_key(p.read_bytes(), key)]
    assert leaks == []


def test_a_memory_registry_is_refused(ray_session: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="lives in this process's memory and Ray workers are other processes"):
        lray.RegistryRef(LeptonAI("memory://"))


def test_public_names_are_documented() -> None:
    for name in lray.__all__:
        obj = getattr(lray, name)
        doc = inspect.getdoc(obj) or ""
        assert "Args:" in doc and "Raises:" in doc, name
        params = [p for p in inspect.signature(obj).parameters if p != "self"]
        assert all(f"{p}:" in doc for p in params), name
        if inspect.isfunction(obj):
            assert "Returns:" in doc, name
    assert "Returns:" in (inspect.getdoc(lray.Predictor.__call__) or "")
    assert "Returns:" in (inspect.getdoc(lray.RegistryRef.open) or "")
