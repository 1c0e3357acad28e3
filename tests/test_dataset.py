"""lepton_ai.Dataset / write_dataset / Key: round trips on local folders and S3 (moto), typed
errors for bad input, shuffling, sharding, resume, pickling and torch DataLoader workers.
Fixtures are generated in each test (random arrays with fixed seeds)."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import lepton_ai as la
from lepton_ai import Dataset, Key, write_dataset

ROWS = 500


def _sample(rows: int = ROWS) -> dict[str, object]:
    rng = np.random.default_rng(0)
    return {
        "image": rng.standard_normal((rows, 4, 4)).astype(np.float32),
        "label": np.arange(rows, dtype=np.int64),
        "name": [f"row-{i}" for i in range(rows)],
    }


def _write(path: Path, key: Key | None, **kw: object) -> Dataset:
    return write_dataset(str(path), _sample(), key=key, chunk_bytes=2048, **kw)


def test_round_trip(tmp_path: Path) -> None:
    key = Key.generate()
    ds = _write(tmp_path / "ds", key)
    data = _sample()
    assert len(ds) == ROWS
    assert ds.columns == ["image", "label", "name"]
    assert ds.schema["image"] == ("float32", (4, 4))
    assert ds.info["chunks"] > 10
    image, label, name = ds[7]
    np.testing.assert_array_equal(image, data["image"][7])  # type: ignore[index]
    assert label.shape == () and int(label) == 7 and name == "row-7"
    assert int(ds[-1][1]) == ROWS - 1
    images, labels, names = ds[100:250]
    np.testing.assert_array_equal(images, data["image"][100:250])  # type: ignore[index]
    np.testing.assert_array_equal(labels, np.arange(100, 250))
    assert list(names[:2]) == ["row-100", "row-101"]
    full = ds.to_numpy()
    np.testing.assert_array_equal(full["image"], data["image"])
    assert "redacted" in repr(key) and key.to_bytes().hex() not in repr(ds)
    reopened = Dataset(str(tmp_path / "ds"), key=Key.from_bytes(key.to_bytes()))
    np.testing.assert_array_equal(reopened[3][0], data["image"][3])  # type: ignore[index]


def test_unencrypted_and_codecs(tmp_path: Path) -> None:
    for i, (codec, filt) in enumerate([("none", "none"), ("zstd", "none"), ("zstd", "shuffle")]):
        ds = _write(tmp_path / f"p{i}", None, codec=codec, filter=filt)
        assert not ds.info["encrypted"]
        np.testing.assert_array_equal(ds[0:ROWS][1], np.arange(ROWS))
    with pytest.raises(la.InvalidArgumentError, match='^codec must be "zstd" or "none", got "lz4"$'):
        _write(tmp_path / "bad", None, codec="lz4")
    with pytest.raises(la.InvalidArgumentError, match='^filter must be "shuffle" or "none", got "x"$'):
        _write(tmp_path / "bad", None, filter="x")


def test_errors(tmp_path: Path) -> None:
    key = Key.generate()
    path = tmp_path / "ds"
    _write(path, key)
    with pytest.raises(la.WrongKeyError, match="wrong key for manifest of version 1"):
        Dataset(str(path), key=Key.generate())
    with pytest.raises(la.KeyRequiredError, match="is encrypted: pass the key"):
        Dataset(str(path))
    ds = Dataset(str(path), key=key)
    with pytest.raises(IndexError):
        ds[ROWS]
    with pytest.raises(la.IndexOutOfRangeError, match=f"index -{ROWS + 1} is out of range for {ROWS} rows"):
        ds[-ROWS - 1]
    chunks = sorted((path / "data").rglob("*.chunk"))
    original = chunks[2].read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 1
    chunks[2].write_bytes(bytes(flipped))
    with pytest.raises(la.IntegrityError, match="chunk 2 of version 1"):
        list(Dataset(str(path), key=key).iter_batches(64))
    chunks[2].write_bytes(original[:-5])
    with pytest.raises(la.IntegrityError, match="truncated"):
        Dataset(str(path), key=key).to_numpy()
    chunks[2].write_bytes(chunks[3].read_bytes())
    with pytest.raises(la.IntegrityError):
        Dataset(str(path), key=key).to_numpy()
    chunks[2].unlink()
    with pytest.raises(FileNotFoundError, match="is missing: the dataset is incomplete"):
        Dataset(str(path), key=key).to_numpy()
    manifest = next((path / "manifests").iterdir())
    text = manifest.read_bytes()
    header = text.split(b"\n", 1)[0]  # b"lepton-dataset <the format version this build writes>"
    current = header.split(b" ")[1].decode()
    manifest.write_bytes(text.replace(header, b"lepton-dataset 7", 1))
    with pytest.raises(la.UnsupportedVersionError, match=f"format version 7, this build reads up to {current}"):
        Dataset(str(path), key=key)
    manifest.write_bytes(text.replace(b'"rows":500', b'"rows":400', 1))
    with pytest.raises(la.IntegrityError, match="modified"):
        Dataset(str(path), key=key)
    with pytest.raises(la.NotFoundError):
        Dataset(str(tmp_path / "nothing"))


def test_schema_errors(tmp_path: Path) -> None:
    with pytest.raises(la.SchemaError, match="disagree in length"):
        write_dataset(str(tmp_path / "a"), {"x": np.zeros((10, 2), np.float32), "y": np.zeros(9, np.int64)})
    with pytest.raises(ValueError, match="unsupported dtype complex128"):
        write_dataset(str(tmp_path / "b"), {"x": np.zeros(3, np.complex128)})
    write_dataset(str(tmp_path / "c"), {"x": np.zeros(3, np.float32)})
    with pytest.raises(la.AlreadyExistsError, match="version 1 of the dataset"):
        write_dataset(str(tmp_path / "c"), {"x": np.zeros(3, np.float32)})
    ds = write_dataset(str(tmp_path / "c"), {"x": np.ones(4, np.float32)}, version=2)
    assert len(ds) == 4 and Dataset(str(tmp_path / "c"), version=1)[0:3][0].sum() == 0


def test_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Key.generate()
    assert repr(key) == "Key(<redacted>)"
    # Pickling a key (torch.save, joblib) would write the secret to disk.
    with pytest.raises(TypeError, match="Key.from_env"):
        pickle.dumps(key)
    monkeypatch.setenv("LEPTON_TEST_KEY", key.to_bytes().hex())
    assert Key.from_env("LEPTON_TEST_KEY") == key
    with pytest.raises(la.InvalidArgumentError, match="a key is 32 bytes, got 3"):
        Key.from_bytes(b"abc")
    pw = Key.from_passphrase("open sesame")
    assert "sesame" not in repr(pw)
    _write(tmp_path / "pw", pw)
    ds = Dataset(str(tmp_path / "pw"), key=Key.from_passphrase("open sesame"))
    assert int(ds[9][1]) == 9
    with pytest.raises(TypeError, match="Key.from_env"):
        pickle.dumps(ds)
    with pytest.raises(TypeError, match="Key.from_env"):
        pickle.dumps(Key.from_passphrase("open sesame"))
    with pytest.raises(la.WrongKeyError) as e:
        Dataset(str(tmp_path / "pw"), key=Key.from_passphrase("open barley"))
    assert "barley" not in str(e.value)


def test_shuffle_shard_resume(tmp_path: Path) -> None:
    ds = _write(tmp_path / "ds", Key.generate())

    def labels(d: Dataset, **kw: object) -> list[int]:
        return [int(v) for _, lab, _ in d.iter_batches(**kw) for v in lab]  # type: ignore[arg-type]

    assert labels(ds, batch_size=64) == list(range(ROWS))
    a = labels(ds, batch_size=64, shuffle=True, seed=3, shuffle_buffer=100)
    assert sorted(a) == list(range(ROWS)) and a != list(range(ROWS))
    assert a == labels(ds, batch_size=64, shuffle=True, seed=3, shuffle_buffer=100)
    assert a != labels(ds, batch_size=64, shuffle=True, seed=3, shuffle_buffer=100, epoch=1)
    parts = [labels(ds.shard(r, 3), batch_size=50, shuffle=True, seed=1) for r in range(3)]
    assert [len(p) for p in parts] == [ROWS // 3] * 3
    assert len(set(parts[0]) | set(parts[1]) | set(parts[2])) == 3 * (ROWS // 3)
    assert len(ds.shard(1, 3)) == ROWS // 3 and int(ds.shard(1, 3)[0][1]) == ROWS // 3
    # Resume mid-epoch in a "new process" (a pickled copy).
    it = ds.iter_batches(batch_size=32, shuffle=True, seed=5)
    first = [int(v) for _ in range(3) for v in next(it)[1]]
    state = ds.state_dict()
    assert state["position"] == 96
    rest = [int(v) for b in it for v in b[1]]
    fresh = Dataset(str(tmp_path / "ds"), key=ds._native.key())
    fresh.load_state_dict(state)
    assert [int(v) for b in fresh.iter_batches() for v in b[1]] == rest
    assert sorted(first + rest) == list(range(ROWS))


def test_resume_state_belongs_to_its_dataset(tmp_path: Path) -> None:
    ds = _write(tmp_path / "ds", None)
    it = ds.iter_batches(batch_size=32)
    next(it)
    state = ds.state_dict()
    assert (state["version"], state["rows"]) == (1, ROWS) and state["dataset_id"] == ds.info["dataset_id"]
    # Unencrypted, no storage_options: nothing secret, so it pickles (a resumed copy).
    fresh = pickle.loads(pickle.dumps(ds))
    fresh.load_state_dict(state)
    assert int(next(iter(fresh.iter_batches()))[1][0]) == 32
    # A newer version (fewer rows) must not silently accept the old position.
    write_dataset(str(tmp_path / "ds"), {k: v[:400] for k, v in _sample().items()}, version=2, chunk_bytes=2048)
    v2 = Dataset(str(tmp_path / "ds"))
    with pytest.raises(la.InvalidArgumentError, match="its version is 1, this dataset's is 2"):
        v2.load_state_dict(state)
    other = _write(tmp_path / "other", None)
    with pytest.raises(la.InvalidArgumentError, match="its dataset_id is"):
        other.load_state_dict(state)
    with pytest.raises(la.InvalidArgumentError, match="not a Dataset state"):
        ds.load_state_dict({k: v for k, v in state.items() if k != "rows"})


def test_dataloader_workers(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    ds = _write(tmp_path / "ds", Key.generate())
    two = Dataset(str(tmp_path / "ds"), key=ds._native.key())
    loader = DataLoader(two, batch_size=64, num_workers=2, shuffle=True)
    seen: list[int] = []
    for images, labels, names in loader:
        assert isinstance(images, torch.Tensor) and images.dtype == torch.float32
        assert images.shape[1:] == (4, 4) and labels.dtype == torch.int64
        assert names[0].startswith("row-")
        seen += labels.tolist()
    assert sorted(seen) == list(range(ROWS))


def test_dataloader_spawn_workers(tmp_path: Path) -> None:
    """Spawned workers get the key (pickled only while spawning) and read every row once."""
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    key = Key.generate()
    _write(tmp_path / "ds", key)
    ds = Dataset(str(tmp_path / "ds"), key=key)
    loader = DataLoader(ds, batch_size=100, num_workers=2, multiprocessing_context="spawn")
    seen = [int(v) for _, labels, _ in loader for v in labels]
    assert sorted(seen) == list(range(ROWS))


@pytest.fixture(scope="module")
def s3() -> object:
    """An S3 endpoint: the one scripts/moto.sh exported, or a moto_server started here."""
    if os.environ.get("LEPTON_TEST_S3_BUCKET") and os.environ.get("AWS_ENDPOINT"):
        yield os.environ["AWS_ENDPOINT"], os.environ["LEPTON_TEST_S3_BUCKET"]
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint)
                break
            except OSError:
                time.sleep(0.1)
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/lepton-ds-test", method="PUT"))
        yield endpoint, "lepton-ds-test"
    finally:
        proc.terminate()
        proc.wait()


def test_s3_round_trip(s3: tuple[str, str]) -> None:
    endpoint, bucket = s3
    opts = {
        "aws_endpoint": endpoint,
        "aws_allow_http": "true",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "aws_region": "us-east-1",
        "aws_conditional_put": "etag",
    }
    uri = f"s3://{bucket}/datasets/{os.getpid()}-{time.time_ns()}"
    key = Key.generate()
    ds = write_dataset(uri, _sample(), key=key, chunk_bytes=4096, storage_options=opts)
    assert int(Dataset(uri, key=key, storage_options=opts)[123][1]) == 123
    assert [int(v) for b in ds.iter_batches(100) for v in b[1]] == list(range(ROWS))
    with pytest.raises(la.AlreadyExistsError):
        write_dataset(uri, _sample(), key=key, storage_options=opts)
    with pytest.raises(la.WrongKeyError):
        Dataset(uri, key=Key.generate(), storage_options=opts)


def test_bad_shards_are_typed_errors(tmp_path: Path) -> None:
    ds = _write(tmp_path / "ds", None)
    for rank, world in [(3, 3), (0, 0), (-1, 3)]:
        with pytest.raises(la.InvalidArgumentError, match="rank"):
            ds.shard(rank, world)
