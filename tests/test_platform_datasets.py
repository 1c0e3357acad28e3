"""Datasets through the registry on every backend (memory, local folder, S3 via moto), and the
design document's medical-diagnosis flow end to end with real torch on real data (scikit-learn's
breast cancer set, 569 rows x 30 features, and the 30-feature logistic-regression ONNX model of
``tests/model_fixtures.py``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lepton_ai import LeptonAI
from lepton_ai.errors import (
    IntegrityError,
    InvalidArgumentError,
    KeyRequiredError,
    NotFoundError,
    SchemaError,
    WrongKeyError,
)
from model_fixtures import logistic_regression, logistic_regression_weights

pytestmark = pytest.mark.usefixtures("lepton_home")


def columns(seed: int, rows: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((rows, 3)).astype(np.float32),
        "y": np.arange(rows, dtype=np.int64) + seed,
        "s": [f"row {i} of {seed}" for i in range(rows)],
    }


def assert_same(ds, cols: dict) -> None:
    got = ds.to_numpy()
    np.testing.assert_array_equal(got["x"], cols["x"])
    np.testing.assert_array_equal(got["y"], cols["y"])
    assert list(got["s"]) == cols["s"]


def test_push_load_list_info(uri):  # noqa: F811
    p = LeptonAI(uri, encrypt=False)
    train, test = columns(1, 700), columns(2, 50)
    info = p.push_dataset("medical", "train", train, metadata={"source": "synthetic"}, chunk_bytes=4096)
    assert (info.version, info.rows, info.encrypted) == (1, 700, False)
    assert info.chunks > 1
    assert info.metadata == {"source": "synthetic"}
    p.push_dataset("medical", "test", test)
    ds = p.load_dataset("medical", split="train")
    assert len(ds) == 700 and ds.version == 1
    assert_same(ds, train)
    assert_same(p.load_dataset("medical", "test"), test)
    assert p.list_datasets() == ["medical"]
    assert p.dataset_splits("medical") == ["test", "train"]
    # versions, and a Dataset pushed as is
    assert p.push_dataset("medical", "train", p.load_dataset("medical", "test")).version == 2
    assert p.dataset_versions("medical", "train") == [1, 2]
    assert len(p.load_dataset("medical", "train")) == 50
    assert len(p.load_dataset("medical", "train", version=1)) == 700
    assert p.verify_dataset("medical", "train", 1).rows == 700


def test_delete_and_errors(uri):  # noqa: F811
    p = LeptonAI(uri, encrypt=False)
    p.push_dataset("d", "train", columns(1, 10))
    p.push_dataset("d", "train", columns(2, 10))
    p.delete_dataset("d", "train", 2)
    assert p.dataset_versions("d", "train") == [1]
    with pytest.raises(NotFoundError) as e:
        p.load_dataset("d", "train", version=2)
    assert str(e.value) == "dataset `d` split `train` version 2 not found; versions of `d` split `train`: 1"
    with pytest.raises(NotFoundError, match="splits of `d`: train"):
        p.load_dataset("d", "valid")
    with pytest.raises(InvalidArgumentError, match="invalid split name"):
        p.load_dataset("d", "../x")
    with pytest.raises(InvalidArgumentError, match="mapping of column name"):
        p.push_dataset("d", "train", [1, 2, 3])
    p.delete_dataset("d")
    assert p.list_datasets() == []


def test_failed_push_leaves_no_version(uri):  # noqa: F811
    p = LeptonAI(uri, encrypt=False)
    p.push_dataset("f", "train", columns(1, 10))
    bad = columns(2, 10)
    bad["y"] = bad["y"][:5]  # columns of different lengths
    with pytest.raises(SchemaError):
        p.push_dataset("f", "train", bad)
    assert p.dataset_versions("f", "train") == [1]
    assert len(p.load_dataset("f", "train")) == 10
    assert p.push_dataset("f", "train", columns(3, 4)).version == 3


def test_encrypted_datasets(uri):  # noqa: F811
    key = os.urandom(32)
    p = LeptonAI(uri, key=key)
    cols = columns(5, 100)
    assert p.push_dataset("s", "train", cols).encrypted
    assert_same(p.load_dataset("s", "train"), cols)
    with pytest.raises(KeyRequiredError, match=r"LeptonAI\(uri, key=...\)"):
        LeptonAI(uri, cache=False, encrypt=False).load_dataset("s", "train")
    with pytest.raises(WrongKeyError):
        LeptonAI(uri, key=os.urandom(32), cache=False).load_dataset("s", "train")
    info = LeptonAI(uri, cache=False, encrypt=False).dataset_info("s", "train")
    assert info.encrypted and not info.authenticated
    with pytest.raises(KeyRequiredError):
        LeptonAI(uri, encrypt=False).push_dataset("s", "train", cols, encrypt=True)


def test_medical_diagnosis_flow(tmp_path):
    """The design document's snippet, as written, on real data and a real model."""
    import torch
    from sklearn.datasets import load_breast_cancer
    from torch.utils.data import DataLoader

    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    y = y.astype(np.int64)
    publisher = LeptonAI(tmp_path / "registry", key=b"k" * 32)
    publisher.push_dataset("medical", "train", {"images": x[:400], "labels": y[:400]})
    publisher.push_dataset("medical", "test", {"images": x[400:], "labels": y[400:]})
    publisher.push_model("medical_diagnosis", logistic_regression(features=30, classes=2))

    platform = LeptonAI(tmp_path / "registry", key=b"k" * 32)
    train = platform.load_dataset("medical", split="train")
    test = platform.load_dataset("medical", split="test")
    model = LeptonAI.load_model("medical_diagnosis", platform=platform)
    model.eval()
    predictions, seen = [], []
    with torch.no_grad():
        for images, labels in DataLoader(test, batch_size=64):
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            predictions.append(predicted.numpy())
            seen.append(labels.numpy())
    assert len(train) == 400
    w, b = logistic_regression_weights(30, 2)
    np.testing.assert_array_equal(np.concatenate(predictions), (x[400:] @ w + b).argmax(1))
    np.testing.assert_array_equal(np.concatenate(seen), y[400:])
    # a model from a keyed registry is saved encrypted with that key by default
    model.save(tmp_path / "medical_diagnosis.model")
    assert b"logistic" not in (tmp_path / "medical_diagnosis.model").read_bytes()
    with pytest.raises(KeyRequiredError, match=r"key="):
        LeptonAI.load_model(tmp_path / "medical_diagnosis.model")
    saved = LeptonAI.load_model(tmp_path / "medical_diagnosis.model", key=b"k" * 32)
    assert saved.inputs == model.inputs


def test_plain_dataset_in_place_of_an_encrypted_one_is_refused(tmp_path):
    key = os.urandom(32)
    LeptonAI(tmp_path / "r", key=key).push_dataset("med", "train", columns(1, 20))
    # someone with write access but no key pushes a plain version 2
    LeptonAI(tmp_path / "r", encrypt=False).push_dataset("med", "train", columns(2, 20), encrypt=False)
    with pytest.raises(KeyRequiredError):
        LeptonAI(tmp_path / "r", key=key, cache=False).load_dataset("med", "train")


def test_split_copied_over_another_split_is_refused(tmp_path):
    import shutil

    key = os.urandom(32)
    p = LeptonAI(tmp_path / "r", key=key, cache=False)
    p.push_dataset("med", "train", columns(1, 30))
    p.push_dataset("med", "test", columns(2, 10))
    assert "lepton.item" not in p.dataset_info("med", "train").metadata
    base = tmp_path / "r" / "datasets" / "med"
    shutil.rmtree(base / "train" / "1")
    shutil.copytree(base / "test" / "1", base / "train" / "1")
    with pytest.raises(IntegrityError, match="belong to med/test"):
        p.load_dataset("med", "train")
    assert_same(p.load_dataset("med", "test"), columns(2, 10))


def test_s3_dataset_reads_through_the_cache_and_offline(tmp_path):
    from backends import make_uri, offline

    uri = make_uri("s3", tmp_path)
    key = os.urandom(32)
    cache = tmp_path / "cache"
    p = LeptonAI(uri, key=key, cache_dir=cache)
    cols = columns(7, 300)
    p.push_dataset("edge", "test", cols, chunk_bytes=2048)
    assert_same(p.load_dataset("edge", "test"), cols)  # warms the cache
    cached = [f for f in (cache / "objects").rglob("*") if f.is_file()]
    assert len(cached) == p.dataset_info("edge", "test").chunks
    cached[0].write_bytes(b"corrupt")  # re-fetched, not trusted
    assert_same(p.load_dataset("edge", "test"), cols)
    dead = offline(uri, key, cache)
    with pytest.warns(UserWarning, match="unreachable; serving dataset `edge` split `test` version 1 from the local cache"):
        assert_same(dead.load_dataset("edge", "test"), cols)


def test_registry_dataset_pickles_as_its_registry_item(tmp_path):
    """A dataset from the registry is the registry's own reader: it reads through the cache, and
    a pickled copy (what a spawn DataLoader worker gets) reopens the registry and the same
    version, so it reads through the same cache: with the chunk objects gone from the store, both
    still read (from the cache), and a copy pickled before version 2 was pushed keeps version 1."""
    import pickle

    cache = tmp_path / "cache"
    p = LeptonAI(tmp_path / "r", cache_dir=cache, encrypt=False)
    cols = columns(3, 200)
    p.push_dataset("med", "train", cols, chunk_bytes=1024)
    ds = p.load_dataset("med", "train")
    assert_same(ds, cols)  # warms the cache
    assert "'med', split='train'" in repr(ds) and "datasets/med" not in repr(ds)
    chunks = list((tmp_path / "r" / "datasets" / "med" / "train" / "1" / "data").rglob("*.chunk"))
    assert len(chunks) == p.dataset_info("med", "train").chunks > 1
    for c in chunks:
        c.unlink()
    state = pickle.dumps(ds)
    p.push_dataset("med", "train", columns(4, 10))
    copy = pickle.loads(state)
    assert copy.version == 1 and len(copy) == 200
    assert_same(copy, cols)
    with pytest.raises(NotFoundError, match="is missing"):
        LeptonAI(tmp_path / "r", encrypt=False).load_dataset("med", "train", version=1).to_numpy()


def test_dataset_info_is_one_frozen_typed_value(tmp_path):
    """The registry's dataset entry crosses as a frozen native class (one DatasetInfo, stored size
    spelled ``stored_bytes`` as in ``Dataset.info``), not JSON text."""
    from lepton_ai import DatasetInfo

    p = LeptonAI(tmp_path / "r", encrypt=False)
    cols = columns(1, 50)
    info = p.push_dataset("m", "train", cols, metadata={"k": 1})
    assert isinstance(info, DatasetInfo) and info == p.dataset_info("m", "train")
    assert [(c.name, c.dtype, list(c.shape)) for c in info.columns] == [
        ("x", "float32", [3]),
        ("y", "int64", []),
        ("s", "string", []),
    ]
    assert (info.name, info.split, info.metadata, info.authenticated) == ("m", "train", {"k": "1"}, True)
    ds = p.load_dataset("m", "train")
    assert (info.stored_bytes, info.raw_bytes, info.dataset_id) == (
        ds.info["stored_bytes"],
        ds.info["raw_bytes"],
        ds.info["dataset_id"],
    )
    with pytest.raises(AttributeError):
        info.rows = 1  # type: ignore[misc]
