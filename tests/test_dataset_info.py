"""A dataset version's description crosses as frozen native classes with typed fields:
``Dataset.info`` and a writer's ``close()`` give a ``DatasetVersionInfo``; the registry's
``DatasetInfo`` is one too, plus name, split and authentication. Code written for the dict the
first one used to be keeps working (``info["rows"]``, ``keys()``, ``to_dict()``). Expected values
come from numpy (row counts, dtype names, row shapes) and the writer's inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lepton_ai as la
from lepton_ai import DatasetInfo, DatasetVersionInfo, LeptonAI, write_dataset

COLUMNS = {
    "image": np.arange(40 * 6, dtype=np.float32).reshape(40, 2, 3),
    "label": np.arange(40, dtype=np.int64),
    "tokens": [np.arange(i % 4 + 1, dtype=np.int32) for i in range(40)],
}


def _want_columns() -> list[tuple[str, str, list[int | None]]]:
    image, label = COLUMNS["image"], COLUMNS["label"]
    assert isinstance(image, np.ndarray) and isinstance(label, np.ndarray)
    return [
        ("image", image.dtype.name, list(image.shape[1:])),
        ("label", label.dtype.name, list(label.shape[1:])),
        ("tokens", np.dtype(np.int32).name, [None]),  # one dimension, its length varies by row
    ]


def test_dataset_info_is_a_frozen_class_with_typed_fields(tmp_path: Path) -> None:
    ds = write_dataset(str(tmp_path / "d"), COLUMNS, metadata={"by": "test"})
    info = ds.info
    assert type(info) is DatasetVersionInfo
    assert (info.rows, info.version, info.encrypted) == (len(COLUMNS["label"]), 1, False)
    assert info.metadata == {"by": "test"}
    assert [(c.name, c.dtype, c.shape) for c in info.columns] == _want_columns()
    assert info.chunks >= 1 and info.stored_bytes > 0 and len(info.dataset_id) == 32
    with pytest.raises(AttributeError):
        info.rows = 1  # type: ignore[misc]


def test_the_old_dict_reads_still_work(tmp_path: Path) -> None:
    info = write_dataset(str(tmp_path / "d"), COLUMNS).info
    keys = ["rows", "stored_bytes", "raw_bytes", "chunks", "version", "dataset_id", "encrypted", "columns",
            "metadata"]
    assert info.keys() == keys
    assert info["rows"] == info.rows and info["raw_bytes"] == info.raw_bytes
    assert info["columns"] == [tuple(c) for c in _want_columns()]
    old = info.to_dict()
    assert list(old) == keys and old["version"] == 1 and old["columns"] == info["columns"]
    with pytest.raises(KeyError, match="name"):
        info["name"]
    # the rest of a dict's reads agree with the dict itself
    assert list(info) == list(old) and ("rows" in info) == ("rows" in old) and ("name" in info) is False
    assert 1 not in info
    assert info.get("rows") == old.get("rows") and info.get("name", 7) == old.get("name", 7)
    assert info.get("name") is None
    assert info.items() == list(old.items())
    assert info.values() == list(old.values()) and len(info) == len(old)


def test_registry_infos_are_version_infos_with_name_and_split() -> None:
    p = LeptonAI("memory://", encrypt=False)
    with p.dataset_writer("d", "train") as w:
        w.write(COLUMNS)
    pushed = w.info
    assert isinstance(pushed, DatasetInfo) and isinstance(pushed, DatasetVersionInfo)
    assert (pushed.name, pushed.split, pushed.version, pushed.rows) == ("d", "train", 1, 40)
    assert pushed.authenticated
    assert pushed == p.dataset_info("d", "train")
    ds = p.load_dataset("d", "train")
    assert ds.info.dataset_id == pushed.dataset_id
    assert [(c.name, c.dtype, c.shape) for c in pushed.columns] == _want_columns()
    assert 'name="d"' in repr(pushed) and "rows=40" in repr(ds.info)


def test_public_names() -> None:
    assert la.DatasetVersionInfo is DatasetVersionInfo and "DatasetVersionInfo" in la.__all__
