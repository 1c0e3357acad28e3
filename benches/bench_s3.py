"""Cold dataset read from S3 (moto on loopback) against its ceiling: an 8-thread boto3 download of
the same objects.

One encrypted dataset (default codec: zstd-3 + byte shuffle) of float32 ``round(N(0,1) * 10, 2)``
rows (1 KiB) is pushed to a registry on the moto bucket. Then, alternated round by round:

- lepton: a fresh ``LeptonAI`` on an empty cache folder, ``load_dataset`` and iterate every
  batch (1024 rows) to numpy: fetch, decrypt, decompress, un-shuffle, batches;
- boto3: ``get_object(...).read()`` of every chunk object of that dataset version on an
  8-thread pool (the download alone: no decoding).

``--plain`` measures the transfer alone instead: an unencrypted, uncompressed dataset (no
shuffle) written with ``write_dataset`` and read with ``Dataset(uri)`` (no disk cache), so every
read is cold. ``--chunk-kib`` sets the chunks' uncompressed size (default 4096: 4 MiB).

Prints per round and the medians of each and of the per-round ratios (lepton GB/s / boto3 GB/s,
both over the decoded bytes' size), which ``docs/benchmarks.md`` reports. Also the CPU each side
costs, in CPU-seconds per GB of decoded bytes: this process's (every thread; for lepton including
the cache writes it leaves queued, which finish when the dataset is dropped, after the timed part)
and, when ``MOTO_PID`` is set (``scripts/moto.sh`` exports it), the moto server's, from
``/proc/<pid>/stat``.

Usage (moto must run: ``scripts/moto.sh`` exports its endpoint and bucket):
    source scripts/moto.sh && PYTHONPATH=python python benches/bench_s3.py [--mib 128] [--rounds 5] \
        [--chunk-kib 4096] [--plain]
Build the release extension first (``scripts/dev-build.sh --release``).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import numpy as np

import lepton_ai as la


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chunk-kib", type=int, default=4096)
    ap.add_argument("--plain", action="store_true", help="unencrypted, uncompressed: the transfer alone")
    args = ap.parse_args()
    bucket, endpoint = os.environ["LEPTON_TEST_S3_BUCKET"], os.environ["AWS_ENDPOINT"]
    rows = args.mib * 1024 * 1024 // 1024
    x = np.round(np.random.default_rng(0).standard_normal((rows, 256)) * 10, 2).astype(np.float32)
    key = la.Key.generate()
    prefix = f"bench-s3-{os.getpid()}"
    uri = f"s3://{bucket}/{prefix}"
    work = tempfile.mkdtemp(prefix="lepton-bench-s3-")
    try:
        chunk_bytes = args.chunk_kib << 10
        if args.plain:
            la.write_dataset(uri, {"x": x}, chunk_bytes=chunk_bytes, codec="none", filter="none")
        else:
            la.LeptonAI(uri, key=key, cache=False).push_dataset("bench", "train", {"x": x}, chunk_bytes=chunk_bytes)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
            if o["Key"].endswith(".chunk")
        ]
        assert keys, "the pushed dataset's chunk objects"

        def lepton(i: int) -> float:
            cache = os.path.join(work, f"cache-{i}")
            t = time.perf_counter()
            ds: Any
            if args.plain:
                ds = la.Dataset(uri)
            else:
                ds = la.LeptonAI(uri, key=key, cache_dir=cache).load_dataset("bench", "train")
            n = sum(b[0].nbytes for b in ds.iter_batches(1024))
            secs = time.perf_counter() - t
            assert n == x.nbytes
            # Dropping the dataset finishes its queued cache writes: not timed, but counted in
            # its CPU, and kept out of the next boto3 round.
            del ds
            gc.collect()
            shutil.rmtree(cache, ignore_errors=True)
            return secs

        def boto(_: int) -> float:
            t = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                got = sum(pool.map(lambda k: len(s3.get_object(Bucket=bucket, Key=k)["Body"].read()), keys))
            secs = time.perf_counter() - t
            assert got > 0
            return secs

        moto_pid = os.environ.get("MOTO_PID")

        def moto_cpu() -> float:
            if not moto_pid:
                return float("nan")
            with open(f"/proc/{moto_pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

        def measured(run: Any, i: int) -> tuple[float, float, float]:
            """Seconds of ``run(i)``, and its CPU-seconds per GB: this process's and moto's."""
            cpu, server = time.process_time(), moto_cpu()
            secs = run(i)
            gb = x.nbytes / 1e9
            return secs, (time.process_time() - cpu) / gb, (moto_cpu() - server) / gb

        lepton(-1), boto(-1)  # warm-up: connections, moto's first requests
        results: dict[str, list[float]] = {k: [] for k in ("lepton", "boto3", "ratio", "lepton_cpu", "boto3_cpu", "moto_lepton", "moto_boto3")}
        gbs = lambda s: x.nbytes / s / 1e9  # noqa: E731
        for i in range(args.rounds):
            (a, a_cpu, a_moto), (b, b_cpu, b_moto) = measured(lepton, i), measured(boto, i)
            for k, v in zip(results, (gbs(a), gbs(b), b / a, a_cpu, b_cpu, a_moto, b_moto)):
                results[k].append(v)
            print(
                f"round {i}: lepton {gbs(a):.3f} GB/s, boto3 (8 threads) {gbs(b):.3f} GB/s; CPU-s/GB lepton "
                f"{a_cpu:.2f} (moto {a_moto:.2f}), boto3 {b_cpu:.2f} (moto {b_moto:.2f})",
                flush=True,
            )
        med: dict[str, Any] = {k: round(statistics.median(v), 3) for k, v in results.items()}
        what = "plain" if args.plain else "encrypted, zstd"
        print(f"{args.mib} MiB {what}, {len(keys)} chunks: lepton {med['lepton']} GB/s, boto3 {med['boto3']} GB/s, ratio {med['ratio']}")
        print(
            f"CPU-s per GB: lepton {med['lepton_cpu']} (moto serving it {med['moto_lepton']}), "
            f"boto3 {med['boto3_cpu']} (moto serving it {med['moto_boto3']})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
