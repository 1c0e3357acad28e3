"""Where the time of a ``DataLoader(num_workers=2)`` epoch goes, per batch: wall time, the main
process's CPU, and the workers' CPU (``getrusage`` of the reaped workers), for torch's hand-off
ceilings (ready batches, no decoding; see ``bench_loaders.py``) and lepton's iterable form over
the same 1M x 128 float32 rows at batch 256; then ``cProfile`` of the main process over one
lepton epoch (what it waits in). The numbers behind the hand-off paragraph of
``docs/benchmarks.md``.

Usage: PYTHONPATH=python python benches/profile_loader_handoff.py [--rows 1000000]
       (build first with scripts/dev-build.sh --release). Data goes to --dir and is deleted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from bench_loaders import BATCH, _ReadyBatches, _rows

import lepton_ai as la


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def measure(name: str, make_loader: Callable[[], Any], profile: bool = False) -> None:
    """One epoch of ``make_loader()``: rows/s and per-batch wall, main CPU and workers' CPU."""
    loader = make_loader()
    main0, workers0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    prof = cProfile.Profile() if profile else None
    rows = batches = 0
    if prof is not None:
        prof.enable()
    for batch in loader:
        rows += len(batch["y"])
        batches += 1
    if prof is not None:
        prof.disable()
    del loader  # joins the workers, so that RUSAGE_CHILDREN counts them
    wall = time.perf_counter() - t0
    main = _cpu(resource.RUSAGE_SELF) - main0
    workers = _cpu(resource.RUSAGE_CHILDREN) - workers0
    print(
        f"{name}: {rows / wall:,.0f} rows/s; per batch: wall {wall / batches * 1e6:.0f} us, "
        f"main CPU {main / batches * 1e6:.0f} us, workers CPU {workers / batches * 1e6:.0f} us",
        flush=True,
    )
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
        print(out.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "data" / "handoff")
    args = ap.parse_args()
    from torch.utils.data import DataLoader, IterableDataset

    class Ready(_ReadyBatches, IterableDataset):  # type: ignore[misc]
        pass

    shutil.rmtree(args.dir, ignore_errors=True)
    try:
        ds = la.write_dataset(str(args.dir / "lepton"), _rows(args.rows), progress=False)

        def lepton(workers: int) -> Callable[[], Any]:
            return lambda: DataLoader(
                ds.to_iterable_dataset(batch_size=BATCH, shuffle=True), batch_size=None, num_workers=workers
            )

        for r in range(args.repeats):
            for form in ("per_column", "one_storage", "lepton"):
                measure(f"ceiling {form}", lambda: DataLoader(Ready(args.rows, form), batch_size=None, num_workers=2))
            measure("lepton w2", lepton(2), profile=r == args.repeats - 1)
            measure("lepton w0", lepton(0))
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
