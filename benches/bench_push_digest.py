"""What the content digest costs a registry push (the digest that lets a push of unchanged rows
add no version): ``LeptonAI.push_dataset`` (digest computed in the encode threads, plus the
registry's claim and latest-version lookups) against ``write_dataset`` (no digest) of the same
rows, unencrypted and encrypted, alternated in one run; medians.

    scripts/dev-build.sh --release && PYTHONPATH=python python benches/bench_push_digest.py
    PYTHONPATH=python python benches/bench_push_digest.py --mib 512 --rounds 7

Measured on the shared 2-core dev machine (128 MiB float32, 5 rounds): push/write time 0.89x
unencrypted and 1.10x encrypted, within the run's noise: the digest is not measurable there.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import numpy as np

from lepton_ai import Key, LeptonAI, write_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=128, help="MiB of float32 rows to write")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal((args.mib * 2048, 128)).astype(np.float32)
    for encrypted in (False, True):
        key = Key.generate() if encrypted else None
        plain: list[float] = []
        push: list[float] = []
        for _ in range(args.rounds):
            d = tempfile.mkdtemp()
            try:
                t = time.perf_counter()
                write_dataset(f"{d}/w", {"x": x}, key=key, progress=False)
                plain.append(time.perf_counter() - t)
                p = LeptonAI(f"{d}/reg", key=key, encrypt=encrypted, progress=False)
                t = time.perf_counter()
                p.push_dataset("d", "train", {"x": x})
                push.append(time.perf_counter() - t)
            finally:
                shutil.rmtree(d)
        mw, mp = statistics.median(plain), statistics.median(push)
        print(
            f"encrypted={encrypted}: write_dataset {args.mib / mw:.0f} MiB/s, push_dataset "
            f"{args.mib / mp:.0f} MiB/s, push/write time {mp / mw:.2f}x"
        )


if __name__ == "__main__":
    main()
