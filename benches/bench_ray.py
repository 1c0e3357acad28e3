"""Ray read throughput from S3 (moto_server): ``lepton_ai.ray.read_dataset`` with 1 and 2
concurrent read tasks (default task size: 64 MiB), and with one task per chunk, against one
process reading the same registry dataset (``platform.load_dataset(...).to_numpy()``).

One encrypted dataset of ``--mib`` MiB (float32, 1 KiB rows, 4 MiB chunks) is pushed to a registry
on the local S3; the registry cache is off, so every run fetches every chunk from S3. The three
contenders run in turn, their order rotated each round; medians of ``--repeats`` rounds; ratios
against the single process of the same run (the machine is shared and noisy). Ray reads end with
the blocks in Ray's object store (``materialize()``); the single process ends with numpy arrays.

Usage (a release build, and a local S3):
    scripts/dev-build.sh --release
    source scripts/moto.sh && PYTHONPATH=python python benches/bench_ray.py [--mib 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from typing import Any, Callable

import numpy as np
import ray

import lepton_ai.ray as lray
from lepton_ai import Key, LeptonAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bucket = os.environ.get("LEPTON_TEST_S3_BUCKET")
    if not bucket or not os.environ.get("AWS_ENDPOINT"):
        raise SystemExit("needs a local S3: `source scripts/moto.sh` first")

    uri = f"s3://{bucket}/bench-ray-{uuid.uuid4().hex[:8]}"
    platform = LeptonAI(uri, key=Key.generate(), cache=False, progress=False)
    rows = args.mib << 10
    data = np.round(np.random.default_rng(0).normal(size=(rows, 256)) * 10, 2).astype(np.float32)
    info = platform.push_dataset("bench", "train", {"x": data}, chunk_bytes=4 << 20)
    del data

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    registry = lray.RegistryRef(platform)

    def single() -> int:
        return len(platform.load_dataset("bench", "train").to_numpy(progress=False)["x"])

    def on_ray(workers: int, tasks: int | None = None) -> Callable[[], int]:
        def run() -> int:
            ds = lray.read_dataset(
                registry, "bench", "train", concurrency=workers, override_num_blocks=tasks
            ).materialize()
            n = ds.count()
            del ds
            return n

        return run

    contenders: dict[str, Callable[[], int]] = {
        "single process": single,
        "ray, 1 read task at a time": on_ray(1),
        "ray, 2 read tasks at a time": on_ray(2),
        "ray, 2 at a time, one task per chunk": on_ray(2, info.chunks),
    }
    for fn in contenders.values():  # warm-up: imports, worker start-up
        assert fn() == rows
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t)
    ray.shutdown()
    platform.delete_dataset("bench")

    mib = info.raw_bytes / 2**20
    base = statistics.median(times["single process"])
    results: dict[str, Any] = {"MiB": round(mib, 1), "chunks": info.chunks, "repeats": args.repeats}
    for name, ts in times.items():
        med = statistics.median(ts)
        results[name] = {"MiB/s": round(mib / med, 1), "vs single process": round(base / med, 3)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
