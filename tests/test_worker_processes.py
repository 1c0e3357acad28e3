"""Registry datasets in torch ``DataLoader`` worker processes.

- fork (the Linux default) over S3 while parent threads read the same dataset: workers are forked
  while a parent thread holds the dataset's chunk-cache lock or the S3 client's connection pool.
  Run in a subprocess with a time bound: a hang fails the test instead of stalling the suite.
- a ``memory://`` registry's dataset sent to a spawn worker, or unpickled in another process, is
  a typed error saying the registry lives in one process and what to use instead.

Expected rows come from the pushed ``np.arange``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from torch.utils.data import DataLoader

from backends import make_uri
from lepton_ai import LeptonAI
from lepton_ai.errors import InvalidArgumentError

ROWS = 2000

FORK_STRESS = """
import sys, threading
import numpy as np
from torch.utils.data import DataLoader
from lepton_ai import LeptonAI

uri, rounds = sys.argv[1], int(sys.argv[2])
p = LeptonAI(uri, encrypt=False, cache=False)
p.push_dataset("fork", "train", {"y": np.arange(ROWS, dtype=np.int64)}, chunk_bytes=1024)
ds = p.load_dataset("fork", "train", cache_bytes=4096)
stop = threading.Event()
bad = []

def hammer(seed):
    i = seed
    while not stop.is_set():
        i = (i * 31 + 7) % ROWS
        if int(ds[i][0]) != i:
            bad.append(i)

threads = [threading.Thread(target=hammer, args=(s,)) for s in (1, 2)]
for t in threads:
    t.start()
for _ in range(rounds):
    seen = []
    for (y,) in DataLoader(ds, batch_size=100, num_workers=2, multiprocessing_context="fork"):
        seen.extend(y.tolist())
    assert sorted(seen) == list(range(ROWS)), "a worker read wrong rows"
stop.set()
for t in threads:
    t.join()
assert not bad, bad[:5]
print("ok")
""".replace("ROWS", str(ROWS))


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_forked_dataloader_workers_never_hang(backend, tmp_path):
    uri = make_uri(backend, tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(
        [sys.executable, "-c", FORK_STRESS, uri, "15"], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def _memory_dataset():
    p = LeptonAI("memory://", encrypt=False)
    p.push_dataset("m", "train", {"y": np.arange(ROWS, dtype=np.int64)}, chunk_bytes=1024)
    return p, p.load_dataset("m", "train")


def test_memory_registry_in_a_forked_worker_reads(tmp_path):
    # fork copies the process, memory:// registry included: this works.
    _p, ds = _memory_dataset()
    seen = [v for (y,) in DataLoader(ds, batch_size=100, num_workers=2, multiprocessing_context="fork") for v in y.tolist()]
    assert sorted(seen) == list(range(ROWS))


def test_memory_registry_in_a_spawned_worker_is_a_typed_error():
    _p, ds = _memory_dataset()
    loader = DataLoader(ds, batch_size=100, num_workers=1, multiprocessing_context="spawn")
    with pytest.raises(InvalidArgumentError) as e:
        next(iter(loader))
    text = str(e.value)
    assert "in-memory registry (memory://), which lives in this process only" in text, text
    assert "local folder" in text and "multiprocessing_context='fork'" in text, text


def test_memory_registry_dataset_unpickled_in_another_process_is_a_typed_error():
    _p, ds = _memory_dataset()
    blob = pickle.dumps(ds)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = (
        "import pickle, sys\n"
        "from lepton_ai.errors import InvalidArgumentError\n"
        "try:\n"
        "    pickle.loads(sys.stdin.buffer.read())\n"
        "except InvalidArgumentError as e:\n"
        "    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, env=env, timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert f"lives in process {os.getpid()}, not this one" in out, out
    assert "use a local folder or an object store" in out, out
