"""Dataset benchmarks: lepton_ai vs MosaicML streaming (MDS, zstd), Hugging Face datasets (Arrow)
and numpy.load, on the same float32 data (round(N(0,1) * 10, 2)) from local disk.

Measures (medians of --repeats runs, ratios computed within this run):
- sequential read throughput (decoded bytes/s), reading batches from Python;
- the Rust ceiling: zstd decompress + AES-256-GCM decrypt of the same chunks on 2 threads;
- write throughput;
- random single-row latency, warm (chunk cached) and cold (chunk fetched + decoded), vs chunk size.

Usage: PYTHONPATH=python python benches/bench_datasets.py [--mib 256] [--repeats 3]
(build first with scripts/dev-build.sh --release). Data goes to benches/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import lepton_ai as la

ROOT = Path(__file__).resolve().parent / "data"
COLS = 256  # float32 per row: 1 KiB rows


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def lepton_read(path: Path, key: Any, batch: int) -> Callable[[], int]:
    def run() -> int:
        ds = la.Dataset(str(path), key=key)
        n = 0
        for (x,) in ds.iter_batches(batch):
            n += x.nbytes
        return n

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--skip-peers", action="store_true")
    args = ap.parse_args()
    rows = args.mib * 1024 * 1024 // (COLS * 4)
    rng = np.random.default_rng(0)
    data = np.round(rng.standard_normal((rows, COLS)) * 10, 2).astype(np.float32)
    nbytes = data.nbytes
    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    key = la.Key.generate()
    results: dict[str, Any] = {"rows": rows, "bytes": nbytes, "cpus": os.cpu_count()}
    gbs = lambda secs: nbytes / secs / 1e9  # noqa: E731

    # ----- lepton writes (one per configuration) ------------------------------------------
    configs = {
        "zstd+shuffle, encrypted": dict(codec="zstd", filter="shuffle", key=key),
        "zstd, encrypted": dict(codec="zstd", filter="none", key=key),
        "none, encrypted": dict(codec="none", filter="none", key=key),
        "none, unencrypted": dict(codec="none", filter="none", key=None),
    }
    for name, cfg in configs.items():
        path = ROOT / ("lepton-" + name.replace(", ", "-").replace("+", "-"))
        t = time.perf_counter()
        ds = la.write_dataset(str(path), {"x": data}, **cfg)  # type: ignore[arg-type]
        secs = time.perf_counter() - t
        info = ds.info
        results[f"write {name}"] = {"GB/s": round(gbs(secs), 3), "ratio": round(nbytes / info["stored_bytes"], 3)}
        # Read and ceiling alternate, so that load from other processes hits both alike.
        native = la.Dataset(str(path), key=cfg["key"])._native
        reads, ceil = [], []
        for _ in range(args.repeats):
            reads.append(gbs(median_time(lepton_read(path, cfg["key"], args.batch), 1)))
            decoded, s = native._decode_ceiling(2)
            ceil.append(decoded / s / 1e9)
        read, ceiling = statistics.median(reads), statistics.median(ceil)
        results[f"read {name}"] = {
            "GB/s": round(read, 3),
            "ceiling GB/s (2 threads)": round(ceiling, 3),
            "of ceiling": round(read / ceiling, 3),
        }
        print(name, results[f"write {name}"], results[f"read {name}"], flush=True)

    # ----- numpy.load -------------------------------------------------------------------------
    npy = ROOT / "raw.npy"
    np.save(npy, data)
    results["numpy.load GB/s"] = round(gbs(median_time(lambda: np.load(npy), args.repeats)), 3)
    print("numpy.load", results["numpy.load GB/s"], flush=True)

    # ----- random single rows vs chunk size ----------------------------------------------------
    idx = np.random.default_rng(1).integers(0, rows, 2000)
    for chunk_mib in (0.25, 1, 4):
        path = ROOT / f"lepton-random-{chunk_mib}"
        la.write_dataset(str(path), {"x": data[: min(rows, 65536)]}, key=key, chunk_bytes=int(chunk_mib * 2**20))
        ds = la.Dataset(str(path), key=key)
        n = len(ds)
        ds[0]
        t = time.perf_counter()
        for i in range(2000):
            ds[i % 16]  # same chunk: warm
        warm = (time.perf_counter() - t) / 2000
        cold_ds = la.Dataset(str(path), key=key, cache_bytes=1)
        chunk_rows = int(chunk_mib * 2**20) // (COLS * 4)
        cold_idx = [(j * chunk_rows) % n for j in range(1, 41)]
        t = time.perf_counter()
        for i in cold_idx:
            cold_ds[i]  # a different chunk each time, cache of one chunk: fetch + decode
        cold = (time.perf_counter() - t) / len(cold_idx)
        results[f"lepton row latency, {chunk_mib} MiB chunks"] = {"warm us": round(warm * 1e6, 1), "cold us": round(cold * 1e6, 1)}
        print(chunk_mib, results[f"lepton row latency, {chunk_mib} MiB chunks"], flush=True)

    if not args.skip_peers:
        peers(data, idx, args, results, gbs)
    # ratios
    best = results["read zstd+shuffle, encrypted"]["GB/s"]
    if "read MDS GB/s" in results:
        results["lepton zstd / MDS"] = round(best / results["read MDS GB/s"], 2)
        fastest_none = results["read none, encrypted"]["GB/s"]
        results["lepton none encrypted / HF unencrypted"] = round(fastest_none / results["read HF Arrow GB/s"], 2)
    print(json.dumps(results, indent=1))


def peers(data: np.ndarray, idx: np.ndarray, args: argparse.Namespace, results: dict[str, Any], gbs: Callable[[float], float]) -> None:
    rows = data.shape[0]
    # ----- MosaicML streaming (MDS, zstd) ----------------------------------------------------
    from streaming import MDSWriter, StreamingDataset

    mds = ROOT / "mds"
    t = time.perf_counter()
    with MDSWriter(out=str(mds), columns={"x": f"ndarray:float32:{COLS}"}, compression="zstd", size_limit=1 << 26) as w:
        for r in data:
            w.write({"x": r})
    results["write MDS GB/s"] = round(gbs(time.perf_counter() - t), 3)
    cache = ROOT / "mds-cache"

    def read_mds() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        sds = StreamingDataset(local=str(mds), batch_size=args.batch, shuffle=False)
        n = 0
        for s in sds:
            n += s["x"].nbytes
        assert n == data.nbytes

    secs = median_time(read_mds, max(1, args.repeats - 1))
    results["read MDS GB/s"] = round(gbs(secs), 3)
    sds = StreamingDataset(local=str(mds), batch_size=args.batch, shuffle=False)
    sds[0]
    t = time.perf_counter()
    for i in range(2000):
        sds[i % 16]
    results["MDS row latency warm us"] = round((time.perf_counter() - t) / 2000 * 1e6, 1)
    print("MDS", results["write MDS GB/s"], results["read MDS GB/s"], results["MDS row latency warm us"], flush=True)

    # ----- Hugging Face datasets (Arrow) ---------------------------------------------------------
    import datasets
    import pyarrow as pa

    datasets.disable_progress_bars()
    hf_path = ROOT / "hf"
    t = time.perf_counter()
    table = pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), COLS)})
    datasets.Dataset(table).save_to_disk(str(hf_path))
    results["write HF Arrow GB/s"] = round(gbs(time.perf_counter() - t), 3)

    def read_hf() -> None:
        hf = datasets.load_from_disk(str(hf_path)).with_format("numpy")
        n = 0
        for b in hf.iter(batch_size=args.batch):
            n += b["x"].nbytes
        assert n == data.nbytes

    results["read HF Arrow GB/s"] = round(gbs(median_time(read_hf, args.repeats)), 3)
    hf = datasets.load_from_disk(str(hf_path)).with_format("numpy")
    hf[0]
    t = time.perf_counter()
    for i in range(2000):
        hf[int(idx[i])]
    results["HF row latency warm us"] = round((time.perf_counter() - t) / 2000 * 1e6, 1)
    print("HF", results["write HF Arrow GB/s"], results["read HF Arrow GB/s"], results["HF row latency warm us"], flush=True)


if __name__ == "__main__":
    sys.exit(main())
