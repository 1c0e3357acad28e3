"""Does ``providers=["cuda", "cpu"]`` really run on the GPU? (issue 6; Python half)

Loads a float32 MLP twice through ``lepton_ai.load_model``: once with ``providers=["cuda", "cpu"]``
and once with ``providers=["cpu"]``; prints the providers each reports (and the fallback reason),
the largest difference between the two outputs, and the throughput (rows/s, median of repeats)
at a few batch sizes, CUDA vs CPU, with the ratio. The last line is ``RESULT {json}`` for tools.

The model is generated here (no download, no ``onnx`` package needed: the GPU machine may not
have it, and the 64 MiB a device call carries is taken by the onnxruntime-gpu bundle), by the
small protobuf writer below; ``--model PATH`` runs a given ONNX file instead (one float input
``[N, features]``). ``--write-model PATH`` only writes the generated model (for the Rust check).

Usage (from the project root)::

    PYTHONPATH=python python benches/gpu/gpu_check.py [--quick] [--require-cuda]

Exit status: 0, or 1 when ``--require-cuda`` is given and CUDA is not the first provider in
use, or the CUDA and CPU outputs differ beyond the tolerance; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# ----- a minimal ONNX writer (protobuf wire format, only the fields an MLP needs) -------------
_FLOAT = 1  # TensorProto.FLOAT


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields: negative values are 10-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(field: int, n: int) -> bytes:
    return _varint(field << 3) + _varint(n)


def _bytes(field: int, data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little-endian float32)."""
    a = np.ascontiguousarray(array, dtype="<f4")
    dims = b"".join(_int(1, d) for d in a.shape)
    return dims + _int(2, _FLOAT) + _bytes(8, name) + _bytes(9, a.tobytes())


def _value_info(name: str, dims: list[int | str]) -> bytes:
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2}}}."""
    shape = b"".join(
        _bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims
    )
    tensor_type = _int(1, _FLOAT) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def _node(op: str, inputs: list[str], outputs: list[str], name: str) -> bytes:
    """NodeProto: input=1, output=2, name=3, op_type=4."""
    return (
        b"".join(_bytes(1, i) for i in inputs)
        + b"".join(_bytes(2, o) for o in outputs)
        + _bytes(3, name)
        + _bytes(4, op)
    )


def mlp_onnx(features: int, hidden: int, layers: int, outputs: int, seed: int = 0) -> bytes:
    """A float32 MLP ``x[N, features] -> (MatMul, Add, Relu) * layers -> MatMul, Add -> y[N,
    outputs]`` as ONNX bytes (IR 8, opset 17), weights scaled so activations stay near 1."""
    rng = np.random.default_rng(seed)
    sizes = [features] + [hidden] * layers + [outputs]
    nodes, inits = [], []
    cur = "x"
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(
            (2.0 / fan_in) ** 0.5
        )
        b = rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.01)
        inits += [_tensor(f"w{i}", w), _tensor(f"b{i}", b)]
        last = i == len(sizes) - 2
        nodes.append(_node("MatMul", [cur, f"w{i}"], [f"m{i}"], f"matmul{i}"))
        nodes.append(_node("Add", [f"m{i}", f"b{i}"], ["y" if last else f"a{i}"], f"add{i}"))
        if not last:
            nodes.append(_node("Relu", [f"a{i}"], [f"r{i}"], f"relu{i}"))
            cur = f"r{i}"
    graph = (
        b"".join(_bytes(1, n) for n in nodes)
        + _bytes(2, "mlp")
        + b"".join(_bytes(5, t) for t in inits)
        + _bytes(11, _value_info("x", ["N", features]))
        + _bytes(12, _value_info("y", ["N", outputs]))
    )
    opset = _bytes(1, "") + _int(2, 17)
    return _int(1, 8) + _bytes(2, "lepton-gpu-check") + _bytes(7, graph) + _bytes(8, opset)


# ----- the check -------------------------------------------------------------------------------
def _time(model: Any, x: np.ndarray, repeats: int) -> float:
    """Median seconds of one ``model.run`` on ``x`` (after two warm-up runs)."""
    for _ in range(2):
        model.run(None, {"x": x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.run(None, {"x": x})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Runs the check; returns the exit status (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny model, few repeats (for tests)")
    p.add_argument("--require-cuda", action="store_true", help="exit 1 unless CUDA is active")
    p.add_argument("--model", type=Path, help="an ONNX file with one float input [N, features]")
    p.add_argument("--write-model", type=Path, help="write the generated MLP there and exit")
    p.add_argument("--features", type=int, default=1024)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batches", default="1,32,256", help="comma-separated batch sizes")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--tolerance", type=float, default=1e-2,
                   help="max |cuda - cpu| / max |cpu| allowed (CUDA may use TF32 matmuls)")
    a = p.parse_args(argv)
    if a.quick:
        a.features, a.hidden, a.layers, a.repeats = 64, 128, 2, 3
    try:
        batches = [int(b) for b in a.batches.split(",")]
        if not batches or min(batches) < 1:
            raise ValueError
    except ValueError:
        p.error(f"--batches must be positive integers like 1,32,256, got {a.batches!r}")

    if a.model is None:
        onnx_bytes: bytes | Path = mlp_onnx(a.features, a.hidden, a.layers, 16)
        what = f"generated MLP {a.features}->{a.hidden}x{a.layers}->16 float32"
    else:
        onnx_bytes = a.model
        what = str(a.model)
    if a.write_model is not None:
        assert isinstance(onnx_bytes, bytes), "--write-model writes the generated model"
        a.write_model.write_bytes(onnx_bytes)
        print(f"wrote {a.write_model} ({len(onnx_bytes) / 2**20:.1f} MiB): {what}")
        return 0

    import lepton_ai

    cuda = lepton_ai.load_model(onnx_bytes, providers=["cuda", "cpu"])
    cpu = lepton_ai.load_model(onnx_bytes, providers=["cpu"])
    cuda_active = cuda.providers[0].startswith("cuda")
    print(f"[python] model: {what}")
    print(f"[python] providers=['cuda','cpu'] -> {cuda.providers}"
          f"  fallback_reason: {cuda.fallback_reason}")
    print(f"[python] providers=['cpu']        -> {cpu.providers}")
    try:
        lepton_ai.load_model(onnx_bytes, providers=["cuda", "cpu"], strict=True)
        strict = "loads"
    except lepton_ai.ProviderUnavailableError as e:
        strict = f"ProviderUnavailableError: {str(e).splitlines()[0]}"
    print(f"[python] strict=True: {strict}")

    features = cpu.inputs[0].shape[-1]
    if not isinstance(features, int):
        features = a.features
    rng = np.random.default_rng(1)
    x = rng.standard_normal((max(batches), features), dtype=np.float32)
    ref = cpu.run(None, {"x": x})[0]
    got = cuda.run(None, {"x": x})[0]
    max_abs = float(np.max(np.abs(got - ref)))
    rel = max_abs / max(float(np.max(np.abs(ref))), 1e-30)
    close = rel <= a.tolerance
    print(f"[python] max |cuda - cpu| = {max_abs:.3g} (relative {rel:.3g}, "
          f"tolerance {a.tolerance:g}): {'OK' if close else 'MISMATCH'}")

    rows = []
    print(f"[python] {'batch':>6} {'cuda rows/s':>14} {'cpu rows/s':>14} {'cuda/cpu':>9}"
          f"   (median of {a.repeats})")
    for b in batches:
        xb = np.ascontiguousarray(x[:b])
        t_cuda, t_cpu = _time(cuda, xb, a.repeats), _time(cpu, xb, a.repeats)
        row = {"batch": b, "cuda_rows_s": b / t_cuda, "cpu_rows_s": b / t_cpu,
               "ratio": t_cpu / t_cuda}
        rows.append(row)
        print(f"[python] {b:>6} {row['cuda_rows_s']:>14,.0f} {row['cpu_rows_s']:>14,.0f}"
              f" {row['ratio']:>8.2f}x")

    ok = close and (cuda_active or not a.require_cuda)
    if not cuda_active:
        print("[python] CUDA NOT ACTIVE: the 'cuda' column ran on the CPU (fallback)"
              + ("; failing (--require-cuda)" if a.require_cuda else ""))
    result = {"providers": cuda.providers, "cpu_providers": cpu.providers,
              "cuda_active": cuda_active, "fallback_reason": cuda.fallback_reason,
              "strict": strict, "max_abs_diff": max_abs, "max_rel_diff": rel,
              "within_tolerance": close, "rows": rows, "ok": ok}
    print("RESULT " + json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
