"""Batch inference on Ray: the registry's medical model scores the medical test split and a
generated dataset of 1M rows on a local Ray cluster, and the predictions go back to the registry
as datasets.

Run `python examples/medical_diagnosis.py` first (it pushes the `medical` dataset and the
`medical_diagnosis` model to the same platform: the local default registry, or $LEPTON_URI, with
its key from $LEPTON_KEY or $LEPTON_HOME/medical.key). Then:

    python examples/batch_inference_ray.py [--rows 1000000] [--workers 2]

Each step reads a registry dataset with `lepton_ai.ray.read_dataset` (read tasks fetch and decrypt
chunk ranges in the workers), runs `lepton_ai.ray.Predictor` actors over it with `map_batches`
(the model is loaded once per actor, with its tuned profile when there is one), and writes the
scores back with `lepton_ai.ray.write_dataset` (one new version, committed after every task
succeeded). It prints the accuracy on the test split and rows/s for both. The key reaches the
workers as a Ray object (`RegistryRef`), never as a task argument.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from medical_diagnosis import lepton_home, load_or_create_key  # noqa: E402

import lepton_ai.ray as lray  # noqa: E402
from lepton_ai import LeptonAI  # noqa: E402


def score(registry: lray.RegistryRef, dataset: str, split: str, out_split: str, workers: int) -> tuple[dict[str, np.ndarray], float]:
    """Scores `dataset`/`split` with the medical model on `workers` actors, writes the scores as
    `dataset`/`out_split`; returns the scores read back and the rows/s of the whole pass."""
    platform = registry.open()
    output = platform.load_model("medical_diagnosis").outputs[0].name
    start = time.perf_counter()
    scored = lray.read_dataset(registry, dataset, split).map_batches(
        lray.Predictor,
        fn_constructor_kwargs={
            "registry": registry,
            "model": "medical_diagnosis",
            "input_columns": ["images"],
            "keep_columns": ["labels"],
        },
        # Half a CPU per actor: the read and write tasks need the rest (a pool that takes every
        # CPU starves them and the pipeline stalls).
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
        num_cpus=0.5,
        batch_size=4096,
    )
    version = lray.write_dataset(scored, registry, dataset, out_split, metadata={"model": "medical_diagnosis"})
    seconds = time.perf_counter() - start
    back = platform.load_dataset(dataset, out_split, version).to_numpy(progress=False)
    print(f"{dataset}/{out_split} version {version}: {len(back[output])} rows")
    return {"logits": back[output], "labels": back["labels"]}, len(back[output]) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated dataset")
    parser.add_argument("--workers", type=int, default=2, help="Predictor actors and Ray CPUs")
    args = parser.parse_args()

    key = load_or_create_key(lepton_home())
    platform = LeptonAI(os.environ.get("LEPTON_URI") or None, key=key, progress=False)
    if "medical_diagnosis" not in platform.list_models():
        raise SystemExit("no medical_diagnosis model here: run `python examples/medical_diagnosis.py` first")

    # A generated dataset of `--rows` tumours like the test split's (per-feature mean and spread).
    test = platform.load_dataset("medical", "test").to_numpy(progress=False)
    rng = np.random.default_rng(0)
    mean, std = test["images"].mean(axis=0), test["images"].std(axis=0)
    images = (mean + std * rng.standard_normal((args.rows, mean.size))).astype(np.float32)
    labels = np.zeros(args.rows, dtype=np.int64)  # unknown: kept only to carry a column through
    platform.push_dataset("generated", "features", {"images": images, "labels": labels}, chunk_bytes=8 << 20)

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        registry = lray.RegistryRef(platform)
        scores, test_rate = score(registry, "medical", "test", "test_predictions", args.workers)
        predicted = scores["logits"].argmax(axis=1)
        correct = int((predicted == scores["labels"]).sum())
        total = len(predicted)
        print(f"accuracy: {100.0 * correct / total:.2f}% ({correct}/{total} test tumours), {test_rate:,.0f} rows/s")
        generated, rate = score(registry, "generated", "features", "predictions", args.workers)
        benign = float((generated["logits"].argmax(axis=1) == 1).mean())
        print(f"generated: {len(generated['logits']):,} rows scored at {rate:,.0f} rows/s ({100 * benign:.1f}% benign)")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
