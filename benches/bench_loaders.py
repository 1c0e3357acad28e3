"""Training-loop benchmarks: one shuffled epoch at batch 256 over 1M rows x 128 float32 (512 MiB,
more than the default 256 MiB cache), and a 4 GiB write from a generator with its peak RSS.

Contenders, alternated within each repeat (medians of --repeats; ratios within this run):
- lepton ``iter_batches(256, shuffle=True)`` (the core's chunk-aware order, numpy batches);
- lepton ``to_iterable_dataset(batch_size=256, shuffle=True)`` + ``DataLoader(batch_size=None)``
  with ``num_workers=0`` and ``num_workers=2`` (torch tensors);
- MosaicML ``StreamingDataset(shuffle=True)`` + ``DataLoader(batch_size=256, num_workers=2)`` on
  the first --mosaic-rows rows as MDS shards (zstd; its writer takes rows one by one, so the full
  1M rows would take ~12 minutes to convert), timed over its first --mosaic-batches batches (the
  rate over a prefix includes its start-up, as ours does);
- the map-style ``DataLoader(ds, batch_size=256, shuffle=True)`` over --map-batches batches (each
  sampled row decodes a chunk once the data outgrows the cache: the warning names the fast form);
- the hand-off ceiling: a trivial ``IterableDataset`` that yields one ready batch
  ``{"x": (256, 128) float32, "y": (256,) int64}`` per step, the same rows in all, through
  ``DataLoader(batch_size=None, num_workers=2)``, in three forms: a tensor per column (torch's
  default: a shared segment and a file descriptor fetched from the worker, each), one shared
  storage per batch (one segment, a descriptor per tensor), and lepton's form (the same batch
  through ``lepton_ai._handoff``: one file per batch in ``/dev/shm``, pickled by name, mapped
  and unlinked by the main process); no decoding at all,
  so no loader handing batches over that way can be faster;
- a user option on the lepton w2 loader: ``prefetch_factor=8``.

Usage: PYTHONPATH=python python benches/bench_loaders.py [--rows 1000000] [--repeats 3]
       [--write-gib 4, 0 to skip] (build first with scripts/dev-build.sh --release). Data goes to --dir
(default benches/data/loaders, git-ignored) and is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

import lepton_ai as la

COLS = 128
BATCH = 256


def _rows(rows: int, step: int = 65536) -> Iterator[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    for start in range(0, rows, step):
        n = min(step, rows - start)
        yield {
            "x": np.round(rng.standard_normal((n, COLS), dtype=np.float32) * 10, 2),
            "y": np.arange(start, start + n, dtype=np.int64),
        }


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    t = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t


def lepton_iter(ds: la.Dataset) -> Callable[[], int]:
    def run() -> int:
        return sum(len(y) for _, y in ds.iter_batches(BATCH, shuffle=True, seed=0))

    return run


def lepton_loader(ds: la.Dataset, workers: int) -> Callable[[], int]:
    from torch.utils.data import DataLoader

    def run() -> int:
        it = ds.to_iterable_dataset(batch_size=BATCH, shuffle=True, seed=0)
        return sum(len(b["y"]) for b in DataLoader(it, batch_size=None, num_workers=workers))

    return run


def lepton_loader_prefetch(ds: la.Dataset, prefetch_factor: int) -> Callable[[], int]:
    from torch.utils.data import DataLoader

    def run() -> int:
        it = ds.to_iterable_dataset(batch_size=BATCH, shuffle=True, seed=0)
        loader = DataLoader(it, batch_size=None, num_workers=2, prefetch_factor=prefetch_factor)
        return sum(len(b["y"]) for b in loader)

    return run


class _ReadyBatches:
    """A trivial ``IterableDataset`` body: ``rows`` rows as ready batches, split between the
    workers, in ``form``: "per_column", "one_storage" or "lepton" (see the module docs)."""

    def __init__(self, rows: int, form: str) -> None:
        self.rows, self.form = rows, form

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import torch
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        workers = info.num_workers if info is not None else 1
        x = np.random.default_rng(0).standard_normal((BATCH, COLS), dtype=np.float32)
        y = np.arange(BATCH, dtype=np.int64)
        from lepton_ai._handoff import Slab, in_one_storage

        slab = Slab()
        for _ in range(self.rows // BATCH // workers):
            if self.form == "per_column":
                yield {"x": torch.from_numpy(x.copy()), "y": torch.from_numpy(y.copy())}
                continue
            if self.form == "lepton":
                yield in_one_storage(["x", "y"], (x, y), torch.from_numpy, slab)
                continue
            flat = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage(x.nbytes + y.nbytes).share_memory_())
            xb, yb = flat[: x.nbytes], flat[x.nbytes :]
            xb.numpy()[:] = x.view(np.uint8).reshape(-1)
            yb.numpy()[:] = y.view(np.uint8)
            yield {"x": xb.view(torch.float32).view(BATCH, COLS), "y": yb.view(torch.int64)}


def handoff_ceiling(rows: int, form: str) -> Callable[[], int]:
    from torch.utils.data import DataLoader, IterableDataset

    class Ready(_ReadyBatches, IterableDataset):  # type: ignore[misc]
        pass

    def run() -> int:
        return sum(len(b["y"]) for b in DataLoader(Ready(rows, form), batch_size=None, num_workers=2))

    return run


def lepton_map_style(ds: la.Dataset, batches: int) -> Callable[[], int]:
    from torch.utils.data import DataLoader

    def run() -> int:
        n = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, (_, y) in enumerate(DataLoader(ds, batch_size=BATCH, shuffle=True)):
                n += len(y)
                if i + 1 == batches:
                    break
        return n

    return run


def mosaic_write(path: Path, rows: int) -> None:
    from streaming import MDSWriter

    with MDSWriter(out=str(path), columns={"x": "ndarray:float32:128", "y": "int64"}, compression="zstd") as w:
        for b in _rows(rows):
            for x, y in zip(b["x"], b["y"]):
                w.write({"x": x, "y": int(y)})


def mosaic_loader(path: Path, batches: int) -> Callable[[], int]:
    from streaming import StreamingDataset
    from torch.utils.data import DataLoader

    def run() -> int:
        ds = StreamingDataset(local=str(path), shuffle=True, shuffle_seed=0, batch_size=BATCH)
        n = 0
        for i, b in enumerate(DataLoader(ds, batch_size=BATCH, num_workers=2)):
            n += len(b["y"])
            if i + 1 == batches:
                break
        return n

    return run


def _high_water_rss() -> int:
    """This process's peak resident memory in bytes (``VmHWM``; unlike ``ru_maxrss`` it is not
    inherited from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_from_generator(path: Path, gib: float) -> dict[str, Any]:
    """Runs in a child process: writes ``gib`` GiB from a generator of 8 MiB batches and reports
    its peak RSS, next to the RSS before the first batch (interpreter, numpy, lepton, one batch)."""
    rows_per_batch = (8 << 20) // (COLS * 4)
    batches = int(gib * (1 << 30)) // (rows_per_batch * COLS * 4)
    base = np.arange(COLS, dtype=np.float32)

    def gen() -> Iterator[dict[str, np.ndarray]]:
        for i in range(batches):
            # Compressible values (a small disk footprint), made fresh for every batch.
            yield {"x": np.broadcast_to(base + i, (rows_per_batch, COLS)).copy()}

    first = next(gen())
    before = _high_water_rss()
    del first
    t = time.perf_counter()
    ds = la.write_dataset(str(path), gen(), progress=False)
    secs = time.perf_counter() - t
    peak = _high_water_rss()
    return {
        "bytes": batches * rows_per_batch * COLS * 4,
        "rows": len(ds),
        "seconds": secs,
        "rss_before_bytes": before,
        "peak_rss_bytes": peak,
        "chunk_bytes": 4 << 20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mosaic-batches", type=int, default=400)
    ap.add_argument("--mosaic-rows", type=int, default=100_000)
    ap.add_argument("--map-batches", type=int, default=8)
    ap.add_argument("--write-gib", type=float, default=4.0)
    ap.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "data" / "loaders")
    ap.add_argument("--child-write", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_write is not None:
        print(json.dumps(write_from_generator(args.child_write, args.write_gib)))
        return

    root: Path = args.dir
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    results: dict[str, Any] = {"rows": args.rows, "cols": COLS, "batch": BATCH, "cpus": os.cpu_count()}
    try:
        n, secs = _timed(lambda: len(la.write_dataset(str(root / "lepton"), _rows(args.rows), progress=False)))
        results["lepton_write_rows_per_s"] = n / secs
        ds = la.Dataset(str(root / "lepton"))
        results["lepton_stored_bytes"] = ds.info["stored_bytes"]
        # MDSWriter takes rows one at a time (~0.7 ms each here): its copy holds the first
        # --mosaic-rows rows; its read rate per row does not depend on the total.
        _, secs = _timed(lambda: (mosaic_write(root / "mds", min(args.rows, args.mosaic_rows)), 0)[1])
        results["mosaic_rows"] = min(args.rows, args.mosaic_rows)
        results["mosaic_write_seconds"] = secs

        contenders: dict[str, Callable[[], int]] = {
            "iter_batches": lepton_iter(ds),
            "iterable_w0": lepton_loader(ds, 0),
            "iterable_w2": lepton_loader(ds, 2),
            "mosaic_w2": mosaic_loader(root / "mds", args.mosaic_batches),
            "map_style_w0": lepton_map_style(la.Dataset(str(root / "lepton")), args.map_batches),
            "ceiling_per_column_w2": handoff_ceiling(args.rows, "per_column"),
            "ceiling_one_storage_w2": handoff_ceiling(args.rows, "one_storage"),
            "ceiling_lepton_w2": handoff_ceiling(args.rows, "lepton"),
            "iterable_w2_prefetch8": lepton_loader_prefetch(ds, 8),
        }
        rates: dict[str, list[float]] = {k: [] for k in contenders}
        for r in range(args.repeats):
            for name, fn in contenders.items():
                n, secs = _timed(fn)
                rates[name].append(n / secs)
                print(f"repeat {r} {name}: {n / secs:,.0f} rows/s ({n} rows)", file=sys.stderr)
        med = {k: statistics.median(v) for k, v in rates.items()}
        results["rows_per_s"] = med
        results["iterable_w0_vs_iter_batches"] = med["iterable_w0"] / med["iter_batches"]
        results["iterable_w2_vs_mosaic_w2"] = med["iterable_w2"] / med["mosaic_w2"]
        results["iterable_w2_vs_map_style"] = med["iterable_w2"] / med["map_style_w0"]
        for ceiling in ("per_column", "one_storage", "lepton"):
            results[f"iterable_w2_vs_ceiling_{ceiling}"] = med["iterable_w2"] / med[f"ceiling_{ceiling}_w2"]
            results[f"ceiling_{ceiling}_vs_mosaic_w2"] = med[f"ceiling_{ceiling}_w2"] / med["mosaic_w2"]
        results["iterable_w2_prefetch8_vs_mosaic_w2"] = med["iterable_w2_prefetch8"] / med["mosaic_w2"]
        del ds
        shutil.rmtree(root / "lepton")
        shutil.rmtree(root / "mds")

        if args.write_gib > 0:
            child = subprocess.run(
                [sys.executable, __file__, "--child-write", str(root / "gen"), "--write-gib", str(args.write_gib)],
                capture_output=True,
                text=True,
                check=True,
            )
            results["generator_write"] = json.loads(child.stdout)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
