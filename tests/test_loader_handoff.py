"""The hand-off of batches from ``DataLoader`` workers: each batch's fixed-shape columns in one
file under ``/dev/shm`` (views at 64-byte aligned offsets; torch's shared memory where there is no
``/dev/shm``), the rest as in the main process. Values are checked against the numpy arrays the
dataset was written from (each row carries its index in ``label``) and against
``iter_batches``' batches. The files' lifetimes are checked by the workers' pids: none of a
worker's ``lepton-`` files is left in ``/dev/shm`` once its batches are received, its loader is
abandoned, or (after a kill) a later loader's worker starts."""

from __future__ import annotations

import copy
import functools
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lepton_ai import Dataset, write_dataset

ROWS = 500


def _source() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    return {
        "label": np.arange(ROWS, dtype=np.int64),
        "x": rng.standard_normal((ROWS, 3, 5)).astype(np.float32),
        # Odd row sizes (3 and 1 bytes): the next column's offset must still be aligned.
        "u": rng.integers(0, 255, (ROWS, 3), dtype=np.uint8),
        "flag": rng.integers(0, 2, ROWS).astype(bool),
        "h": rng.standard_normal((ROWS, 2)).astype(np.float16),
        "name": [f"row {i}" for i in range(ROWS)],
        "tokens": [np.arange(i % 9 + 1, dtype=np.int32) * i for i in range(ROWS)],
    }


FIXED = ["label", "x", "u", "flag", "h"]


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return write_dataset(str(tmp_path_factory.mktemp("handoff") / "d"), _source(), chunk_bytes=2048)


def _check_values(batch: dict[str, Any]) -> None:
    src = _source()
    labels = batch["label"].numpy()
    for name in FIXED:
        np.testing.assert_array_equal(batch[name].numpy(), src[name][labels])
        assert batch[name].dtype == torch.from_numpy(src[name][:1]).dtype
    assert batch["name"] == [src["name"][i] for i in labels]
    for got, i in zip(batch["tokens"], labels):
        np.testing.assert_array_equal(got.numpy(), src["tokens"][i])


def _batches_of(ds: Dataset, **options: Any) -> list[tuple[int, ...]]:
    """``iter_batches``' batches (as label tuples), sorted: workers deal out whole batches."""
    return sorted(tuple(b[0].tolist()) for b in ds.iter_batches(**options))


def _sorted_batches(batches: list[dict[str, Any]]) -> list[tuple[int, ...]]:
    return sorted(tuple(b["label"].tolist()) for b in batches)


def _sorted_rows(batches: list[dict[str, Any]]) -> list[int]:
    return sorted(sum((b["label"].tolist() for b in batches), []))


def _batch_bytes(b: dict[str, Any]) -> int:
    """The fixed columns' bytes, each rounded up to 64."""
    return sum(-(-b[n].numel() * b[n].element_size() // 64) * 64 for n in FIXED)


def _record_pid(into: str, worker_id: int) -> None:
    """A ``worker_init_fn``: notes the worker's pid as a file name in ``into``."""
    Path(into, str(os.getpid())).touch()


def _pids(into: Path) -> set[int]:
    return {int(p.name) for p in into.iterdir()}


def _files_of(pids: set[int]) -> list[str]:
    """The ``lepton-<namespace>-<pid>-<n>`` files in /dev/shm of these processes."""
    return [n for n in os.listdir("/dev/shm") if n.startswith("lepton-") and n.split("-")[2] in {str(p) for p in pids}]


def _recording_loader(it: Any, context: str, into: Path, **options: Any) -> DataLoader[Any]:
    """A 2-worker loader of whole batches whose workers note their pids in ``into``."""
    init = functools.partial(_record_pid, str(into))
    return DataLoader(it, batch_size=None, num_workers=2, multiprocessing_context=context, worker_init_fn=init, **options)


def _wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_worker_batches_equal_iter_batches_in_one_aligned_shared_storage(ds: Dataset) -> None:
    it = ds.to_iterable_dataset(batch_size=64)
    batches = list(DataLoader(it, batch_size=None, num_workers=2))
    assert _sorted_batches(batches) == _batches_of(ds, batch_size=64)
    shuffled = list(DataLoader(ds.to_iterable_dataset(batch_size=64, shuffle=True, seed=4), batch_size=None, num_workers=2))
    assert _sorted_rows(shuffled) == list(range(ROWS))
    for b in batches + shuffled:
        _check_values(b)
        storages = {b[n].untyped_storage().data_ptr() for n in FIXED}
        assert len(storages) == 1, "the fixed columns of a batch share one storage"
        # A file of its own, mapped by lepton (torch's shared memory would say is_shared()).
        assert b["x"].untyped_storage().nbytes() == _batch_bytes(b)
        assert not any(b[n].is_shared() for n in FIXED)
        assert all(b[n].data_ptr() % 64 == 0 for n in FIXED)
        assert all(b[n].is_contiguous() for n in FIXED)


def test_columns_and_batches_are_independent(ds: Dataset) -> None:
    batches = list(DataLoader(ds.to_iterable_dataset(batch_size=50), batch_size=None, num_workers=2))
    # Batches 0 and 2 come from worker 0, one after the other: a file each.
    first, second = batches[0], batches[2]
    assert first["x"].untyped_storage().data_ptr() != second["x"].untyped_storage().data_ptr()
    before = {n: first[n].clone() for n in FIXED}
    others = {n: second[n].clone() for n in FIXED}
    first["x"].fill_(7.0)
    first["u"].fill_(255)
    first["h"].fill_(-1.0)
    for n in ("label", "flag"):
        assert torch.equal(first[n], before[n]), n
    assert torch.equal(first["u"], torch.full_like(before["u"], 255))
    assert bool((first["x"] == 7.0).all())
    for n in FIXED:
        assert torch.equal(second[n], others[n]), n


@pytest.mark.parametrize("slab", [256, 1 << 20])
def test_batches_larger_or_smaller_than_a_slab(
    ds: Dataset, slab: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lepton_ai import _handoff

    # Without /dev/shm, batches go in slabs of torch's shared memory. Forked workers see the
    # patched values: 256 bytes holds no batch (each gets a storage of its own size), 1 MiB
    # holds all of a worker's batches.
    monkeypatch.setattr(_handoff, "SHM_DIR", str(tmp_path / "missing"))
    monkeypatch.setattr(_handoff, "SLAB_BYTES", slab)
    batches = list(DataLoader(ds.to_iterable_dataset(batch_size=30, shuffle=True, seed=8), batch_size=None, num_workers=2))
    assert _sorted_rows(batches) == list(range(ROWS))
    for b in batches:
        _check_values(b)
    storages = {b["x"].untyped_storage().data_ptr() for b in batches}
    assert len(storages) == (len(batches) if slab == 256 else 2)


def test_main_process_tensors_share_the_decoded_buffers(ds: Dataset) -> None:
    batches = list(DataLoader(ds.to_iterable_dataset(batch_size=100), batch_size=None))
    for b in batches:
        _check_values(b)
    b = batches[0]
    # Zero-copy: each column has a storage of its own, exactly its size (no shared segment).
    assert len({b[n].untyped_storage().data_ptr() for n in FIXED}) == len(FIXED)
    assert not b["x"].is_shared()


def test_persistent_workers_over_two_epochs(ds: Dataset, tmp_path: Path) -> None:
    loader = _recording_loader(ds.to_iterable_dataset(batch_size=40), "fork", tmp_path, persistent_workers=True)
    for _ in (0, 1):
        batches = list(loader)
        for b in batches:
            _check_values(b)
        assert _sorted_batches(batches) == _batches_of(ds, batch_size=40)
        # The workers live on; each received batch's file was unlinked by the main process.
        pids = _pids(tmp_path)
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        assert _files_of(pids) == []


def _state(pid: int) -> Any:
    """A process's state letter (``Z`` for a zombie), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_by_start_method(ds: Dataset, context: str, tmp_path: Path) -> None:
    batches = list(_recording_loader(ds.to_iterable_dataset(batch_size=128), context, tmp_path))
    for b in batches:
        _check_values(b)
        assert len({b[n].untyped_storage().data_ptr() for n in FIXED}) == 1
        assert b["x"].untyped_storage().nbytes() == _batch_bytes(b)
        assert not b["x"].is_shared()
    assert _sorted_batches(batches) == _batches_of(ds, batch_size=128)
    assert len(_pids(tmp_path)) == 2 and _files_of(_pids(tmp_path)) == []


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_an_abandoned_loader_leaves_no_files(ds: Dataset, context: str, tmp_path: Path) -> None:
    loader = _recording_loader(ds.to_iterable_dataset(batch_size=16), context, tmp_path)
    running = iter(loader)
    _check_values(next(running))
    pids = _pids(tmp_path)
    # The workers run ahead (prefetch_factor=2 each): batches made, not received.
    _wait_for(lambda: len(_files_of(pids)) >= 2, "the workers made batches ahead")
    del running, loader
    assert not any(_alive(p) for p in pids)
    assert _files_of(pids) == []


# Run as a script: a loader whose first worker is killed (SIGKILL) while both have batches made
# ahead, then the process ends at once (as if killed too). The DataLoader's SIGCHLD handler
# would raise in whatever the main thread runs next, so this is not done in the test's process.
_KILLER = """
import functools, os, signal, sys, time
from pathlib import Path
from torch.utils.data import DataLoader
from lepton_ai import Dataset


def record(into, worker_id):
    Path(into, str(os.getpid())).touch()


if __name__ == "__main__":
    path, context, into, how = sys.argv[1:]
    it = Dataset(path).to_iterable_dataset(batch_size=16)
    init = functools.partial(record, into)
    # in_order=False: the main process takes one batch, not also the other worker's it would
    # otherwise receive and hold while waiting for batch 0.
    loader = DataLoader(it, batch_size=None, num_workers=2, multiprocessing_context=context, worker_init_fn=init, in_order=False)
    running = iter(loader)
    next(running)
    deadline = time.monotonic() + 60
    while True:
        # Both workers have made batch files (so both have swept at their start), not received.
        pids = {p.name for p in Path(into).iterdir()}
        owners = {n.split("-")[2] for n in os.listdir("/dev/shm") if n.startswith("lepton-")} & pids
        if len(pids) == 2 and owners == pids:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    victim = min(owners)
    Path(into, "victim").write_text(victim)
    os.kill(int(victim), getattr(signal, how))
    os._exit(0)
"""


_ABANDONER = """
import functools, os, sys, time
from pathlib import Path
from torch.utils.data import DataLoader
from lepton_ai import Dataset


def record(into, worker_id):
    Path(into, str(os.getpid())).touch()


if __name__ == "__main__":
    path, context, into = sys.argv[1:]
    it = Dataset(path).to_iterable_dataset(batch_size=16)
    loader = DataLoader(it, batch_size=None, num_workers=2, multiprocessing_context=context, worker_init_fn=functools.partial(record, into))
    running = iter(loader)
    next(running)
    # Both workers up (torch set their signal handlers before worker_init_fn): one still starting
    # would die by the SIGTERM below, with or without lepton (a race of torch's, under load).
    deadline = time.monotonic() + 120
    while len(os.listdir(into)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    # The script ends mid-epoch: Python's exit terminates the workers.
"""


def _run_loader_script(tmp_path: Path, text: str, context: str, *args: str) -> tuple[Any, Path]:
    """Runs ``text`` as a script (args: a dataset path, ``context``, a folder its workers note
    their pids in, then ``args``); returns the finished process and that folder."""
    import subprocess
    import sys

    path = str(tmp_path / "d")
    write_dataset(path, _source(), chunk_bytes=2048)
    script, pids = tmp_path / "script.py", tmp_path / "pids"
    script.write_text(text)
    pids.mkdir()
    run = [sys.executable, str(script), path, context, str(pids), *args]
    return subprocess.run(run, capture_output=True, text=True, timeout=300), pids


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_a_script_ending_mid_epoch_exits_quietly_and_leaves_no_files(context: str, tmp_path: Path) -> None:
    done, pids = _run_loader_script(tmp_path, _ABANDONER, context)
    # as without lepton's hand-off: no "DataLoader worker ... is killed by signal" at exit
    assert done.returncode == 0 and "killed by signal" not in done.stderr, done.stderr
    workers = {int(p.name) for p in pids.iterdir()}
    _wait_for(lambda: all(_state(w) in ("Z", None) for w in workers), "the workers are gone")
    assert _files_of(workers) == []


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_a_killed_workers_files_are_swept_by_the_next_loader(context: str, tmp_path: Path) -> None:
    done, first_pids = _run_loader_script(tmp_path, _KILLER, context, "SIGKILL")
    assert done.returncode == 0, done.stderr
    path, second_pids = str(tmp_path / "d"), tmp_path / "second"
    second_pids.mkdir()
    victim = int((first_pids / "victim").read_text())
    (first_pids / "victim").unlink()
    (survivor,) = _pids(first_pids) - {victim}
    _wait_for(lambda: _state(victim) in ("Z", None), "the killed worker is gone")
    left = _files_of({victim})
    assert left, "a killed worker cannot unlink its files"
    # The other worker sees its main process gone, exits, and unlinks its own files.
    _wait_for(lambda: _state(survivor) in ("Z", None), "the orphaned worker exits")
    assert _files_of({survivor}) == []
    # The next loader's workers sweep the files of dead pids of this pid namespace as they start.
    it = Dataset(path).to_iterable_dataset(batch_size=16)
    batches = list(_recording_loader(it, context, second_pids))
    assert _sorted_rows(batches) == list(range(ROWS))
    assert [n for n in left if os.path.exists(os.path.join("/dev/shm", n))] == []
    assert _files_of(_pids(second_pids)) == []


def test_a_batch_file_has_one_receiver(tmp_path: Path) -> None:
    from multiprocessing.reduction import ForkingPickler

    from lepton_ai._handoff import Slab, in_one_storage

    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    y = np.arange(20, dtype=np.int64)
    batch = in_one_storage(["x", "y"], (x, y), torch.from_numpy, Slab())
    assert batch.file is not None
    path = batch.file.path
    blob = bytes(ForkingPickler.dumps(batch))
    assert os.path.exists(path)
    got = ForkingPickler.loads(blob)
    # Received: unlinked at once; the mapping stays valid.
    assert not os.path.exists(path)
    np.testing.assert_array_equal(got["x"].numpy(), x)
    np.testing.assert_array_equal(got["y"].numpy(), y)
    with pytest.raises(FileNotFoundError, match="batch file is gone"):
        ForkingPickler.loads(blob)
    # A second transfer of the same batch carries its data through torch instead.
    again = ForkingPickler.loads(bytes(ForkingPickler.dumps(batch)))
    np.testing.assert_array_equal(again["x"].numpy(), x)
    np.testing.assert_array_equal(again["y"].numpy(), y)


def test_stateful_dataloader_resumes_with_shared_storage_batches(ds: Dataset, tmp_path: Path) -> None:
    from torchdata.stateful_dataloader import StatefulDataLoader

    def loader() -> StatefulDataLoader:
        it = ds.to_iterable_dataset(batch_size=32, shuffle=True, seed=1)
        it.set_epoch(1)
        return StatefulDataLoader(it, batch_size=None, num_workers=2, persistent_workers=True)

    full = [b["label"].tolist() for b in loader()]
    first = loader()
    head = []
    for i, b in enumerate(first):
        head.append(b["label"].tolist())
        if i == 4:
            break
    state = first.state_dict()
    del first
    resumed = loader()
    resumed.load_state_dict(state)
    rest = []
    for b in resumed:
        _check_values(b)
        rest.append(b["label"].tolist())
    assert head + rest == full


class _Transformed(torch.utils.data.IterableDataset[dict[str, Any]]):
    """A user's per-batch transform in the workers: a deep copy changed, a column replaced, one
    added, and (every other batch) the batch rebuilt as a plain dict."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __iter__(self) -> Any:
        for i, b in enumerate(self.inner):
            deep = copy.deepcopy(b)
            deep["label"].fill_(-1)
            assert bool((b["label"] >= 0).all()), "a deep copy shares no memory with the batch"
            b["x"] = b["x"] * 2
            b["u_sum"] = b["u"].sum(dim=1)
            yield dict(b) if i % 2 else b


def test_user_transforms_in_workers_cross_intact(ds: Dataset) -> None:
    loader = DataLoader(_Transformed(ds.to_iterable_dataset(batch_size=64)), batch_size=None, num_workers=2)
    src = _source()
    batches = list(loader)
    assert _sorted_rows(batches) == list(range(ROWS))
    for b in batches:
        labels = b["label"].numpy()
        np.testing.assert_array_equal(b["x"].numpy(), src["x"][labels] * 2)
        np.testing.assert_array_equal(b["u_sum"].numpy(), src["u"][labels].sum(axis=1))
        np.testing.assert_array_equal(b["h"].numpy(), src["h"][labels])
        assert list(b) == ["label", "x", "u", "flag", "h", "name", "tokens", "u_sum"]


def test_a_batch_pickles_outside_a_worker(ds: Dataset) -> None:
    import pickle

    batch = next(iter(DataLoader(ds.to_iterable_dataset(batch_size=10), batch_size=None, num_workers=1)))
    again = pickle.loads(pickle.dumps(batch))
    _check_values(again)
    assert again.keys() == batch.keys()


def _pickled(batch: dict[str, Any]) -> bytes:
    import pickle

    return pickle.dumps(batch)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_a_batch_pickled_by_user_code_in_a_worker_holds_its_data(ds: Dataset, context: str) -> None:
    import pickle

    # A user's collate_fn pickles the batch in the worker (as torch.save or an own queue would):
    # the bytes hold the values, not a shared-memory name that dies with the worker.
    it = ds.to_iterable_dataset(batch_size=64)
    loader = DataLoader(it, batch_size=None, num_workers=2, collate_fn=_pickled, multiprocessing_context=context)
    blobs = list(loader)
    # The workers and their slabs are gone now; the pickles still read back.
    batches = [pickle.loads(b) for b in blobs]
    for blob, b in zip(blobs, batches):
        data = sum(b[n].numel() * b[n].element_size() for n in FIXED)
        plain = len(pickle.dumps({n: v.clone() if isinstance(v, torch.Tensor) else v for n, v in b.items()}))
        # The values themselves, compactly (not a name; not the whole shared storage).
        assert data < len(blob) and 0.9 * plain < len(blob) < 1.5 * plain + 1024, (len(blob), plain)
    assert _sorted_batches(batches) == _batches_of(ds, batch_size=64)
    for b in batches:
        _check_values(b)


@pytest.mark.parametrize("where", ["missing", "a file"])
def test_without_dev_shm_batches_fall_back_to_torchs_pickling(
    ds: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    from lepton_ai import _handoff

    # No /dev/shm to put files in (forked workers see the patch): still one storage per batch,
    # in torch's shared memory, pickled by torch.
    path = tmp_path / "shm"
    if where == "a file":
        path.write_bytes(b"")
    monkeypatch.setattr(_handoff, "SHM_DIR", str(path))
    batches = list(DataLoader(ds.to_iterable_dataset(batch_size=64), batch_size=None, num_workers=2))
    assert _sorted_batches(batches) == _batches_of(ds, batch_size=64)
    for b in batches:
        _check_values(b)
        assert len({b[n].untyped_storage().data_ptr() for n in FIXED}) == 1
        assert all(b[n].is_shared() for n in FIXED)


def test_a_full_dev_shm_is_an_error_saying_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from lepton_ai import _handoff

    made = []

    def full(fd: int, offset: int, length: int) -> None:
        made.append(os.readlink(f"/proc/self/fd/{fd}"))
        raise OSError(errno.ENOSPC, "No space left on device")

    # As tmpfs answers when /dev/shm is full (a container's 64 MiB default, say).
    monkeypatch.setattr(_handoff.os, "posix_fallocate", full)
    x = np.zeros((256, 128), dtype=np.float32)
    with pytest.raises(OSError, match=r"has no room for a batch of 131072 bytes: .*--shm-size") as failure:
        _handoff.in_one_storage(["x"], (x,), torch.from_numpy, _handoff.Slab())
    assert failure.value.errno == errno.ENOSPC
    assert made and failure.value.filename == made[0]
    assert not os.path.exists(made[0]), "the file is not left behind"


def test_a_reused_pid_is_not_tripped_by_the_files_of_the_dead_process() -> None:
    from lepton_ai import _handoff

    # A killed worker's files, left under a pid that a new process now has.
    files = _handoff._Files()
    stale = Path("/dev/shm", f"{files.prefix}{os.getpid()}-1")
    stale.write_bytes(b"\x07" * 128)
    path, flat = files.create(128)
    try:
        assert path == str(stale), "the same name, made anew"
        assert flat.numel() == 128 and not bool(flat.any())
    finally:
        os.unlink(path)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_a_terminated_worker_unlinks_its_files(context: str, tmp_path: Path) -> None:
    # SIGTERM: what Python's exit sends daemonic workers still alive, and what a DataLoader sends
    # a worker that did not stop in time.
    done, pids = _run_loader_script(tmp_path, _KILLER, context, "SIGTERM")
    assert done.returncode == 0, done.stderr
    victim = int((pids / "victim").read_text())
    _wait_for(lambda: _state(victim) in ("Z", None), "the terminated worker is gone")
    assert _files_of({victim}) == []
