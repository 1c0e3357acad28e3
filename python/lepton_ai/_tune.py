"""Auto-optimisation: find the fastest safe way to run a model on this machine.

    report = model.autotune(x, objective="latency", budget_s=30)   # x: arrays or a Dataset
    report.best                      # the pick (ONNX Runtime's defaults when nothing beat them)
    report.to_pandas(); report.plot()
    fast = report.load()             # the picked variant with the picked settings

What is searched, and by whom:

- runtime settings (execution providers, intra/inter-op threads, execution mode, graph
  optimization level, and for throughput the batch size) by lepton-core's budgeted successive
  halving (``lepton_core::model::tune``), which declares a winner over ONNX Runtime's default
  session only by more than the measured noise;
- model transforms, here, with onnxruntime's own tools: int8 dynamic and static quantization
  (static calibrated on the given rows) and, on a GPU, fp16. A transform competes in the search
  only if it passes the accuracy gate: with labels, accuracy may drop by at most
  ``max_accuracy_drop``; without, the largest output difference from the original, relative to
  the largest original output, must stay within ``tolerance``.

``LeptonAI.autotune_model`` runs this on a registry model and stores the pick as a profile keyed
by this machine's fingerprint; ``load_model`` applies it on this machine only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import time
from typing import (
    TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple,
)

import numpy as np
import numpy.typing as npt

from . import _lepton
from ._runtime import find_onnxruntime_library
from .errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    from ._model import Model

_Array = npt.NDArray[Any]

__all__ = ["Profile", "TransformCheck", "Trial", "TuneReport", "autotune", "machine_fingerprint"]

#: Transforms tried by default; ``fp16`` only where a CUDA provider is present.
DEFAULT_TRANSFORMS = ("int8-dynamic", "int8-static", "fp16")
#: Batch sizes tried for throughput by default.
DEFAULT_BATCH_SIZES = (1, 16, 64, 256, 1024)
#: Rows used for the accuracy gate and static calibration, at most.
MAX_VALIDATION_ROWS = 4096
_CALIBRATION_ROWS = 256


@dataclasses.dataclass(frozen=True)
class Trial:
    """One measured (or gated) candidate: a model variant with runtime settings.

    ``p50_ms``/``p99_ms`` are milliseconds per run on ``batch_rows`` rows; ``rows_per_s`` is
    ``batch_rows / p50``. ``metric`` is the variant's validation metric (accuracy with labels,
    else the relative largest output difference from the original). ``verdict``: ``baseline``
    (ONNX Runtime's default session), ``winner``, ``within_noise`` (the search's best, not
    better than the baseline beyond the noise), ``eliminated``, ``failed``, or ``rejected``
    (a transform that failed the accuracy gate, never timed).
    """

    variant: str
    providers: Tuple[str, ...]
    intra_op_threads: Optional[int]
    inter_op_threads: Optional[int]
    execution_mode: str
    optimization_level: str
    batch_size: Optional[int]
    batch_rows: int
    runs: int
    rung: int
    p50_ms: float
    p99_ms: float
    rows_per_s: float
    metric: Optional[float]
    verdict: str
    error: Optional[str] = None

    def load_kwargs(self) -> Dict[str, Any]:
        """The ``load_model`` keyword arguments that reproduce these settings."""
        return {
            "providers": list(self.providers),
            "intra_op_threads": self.intra_op_threads,
            "inter_op_threads": self.inter_op_threads,
            "optimization_level": self.optimization_level,
        }


@dataclasses.dataclass(frozen=True)
class TransformCheck:
    """The accuracy gate's verdict on one transform."""

    transform: str
    metric: Optional[float]
    """Accuracy (with labels) or relative largest output difference from the original."""
    drop: Optional[float]
    """Accuracy lost (with labels) or the difference itself."""
    kept: bool
    reason: str


@dataclasses.dataclass(frozen=True)
class Profile:
    """The settings a tune picked for one model on one machine (stored in the registry).

    Attributes:
        fingerprint_id, fingerprint: the machine it was measured on (see
            :func:`machine_fingerprint`).
        objective: ``"latency"`` or ``"throughput"``.
        settings: the picked ``load_model`` settings (and ``batch_size``).
        variant: the picked model variant (``"original"``, ``"int8"``, ...).
        beats_baseline, speedup, noise: the verdict against ONNX Runtime's defaults.
        p50_ms: the pick's median run time, milliseconds.
        rows_per_s: the pick's throughput, rows per second.
        created_unix: when it was measured, seconds since the Unix epoch.
    """

    fingerprint_id: str
    fingerprint: Dict[str, Any]
    objective: str
    settings: Dict[str, Any]
    """``providers``, ``intra_op_threads``, ``inter_op_threads``, ``optimization_level``,
    ``batch_size``."""
    variant: str
    beats_baseline: bool
    speedup: float
    noise: float
    p50_ms: float
    rows_per_s: float
    created_unix: int

    @classmethod
    def _from_json(cls, text: str) -> "Profile":
        d = json.loads(text)
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})

    def load_kwargs(self) -> Dict[str, Any]:
        """The ``load_model`` keyword arguments of this profile.

        Returns:
            ``providers``, ``intra_op_threads``, ``inter_op_threads``, ``optimization_level``.
        """
        s = self.settings
        return {
            "providers": list(s["providers"]),
            "intra_op_threads": s.get("intra_op_threads"),
            "inter_op_threads": s.get("inter_op_threads"),
            "optimization_level": s["optimization_level"],
        }

    @property
    def batch_size(self) -> Optional[int]:
        """The batch size picked for throughput (None: as given)."""
        return self.settings.get("batch_size")


_FINGERPRINT: Optional[Any] = None


def machine_fingerprint() -> Any:
    """This machine's fingerprint (``.id``, ``.cpu``, ``.cores``, ``.gpus``, ``.runtime``,
    ``.providers``); loads ONNX Runtime if needed. Computed once per process.

    Returns:
        The native fingerprint (profiles are kept per fingerprint ``.id``).

    Raises:
        RuntimeNotFoundError: ONNX Runtime's library cannot be found.
    """
    global _FINGERPRINT
    if _FINGERPRINT is None:
        _FINGERPRINT = _lepton.machine_fingerprint(None, find_onnxruntime_library())
    return _FINGERPRINT


class TuneReport:
    """What :func:`autotune` measured.

    Attributes:
        best: the pick (:class:`Trial`); the baseline when nothing beat it beyond the noise.
        baseline: ONNX Runtime's default session on the original model.
        trials: every trial, the baseline first, then the searched ones, then rejected
            transforms.
        checks: the accuracy gate's verdict on each transform.
        noise: relative spread of the final comparison's round medians.
        speedup: the search's best over the baseline (>1: faster), in the final comparison.
        beats_baseline: whether the best beat the baseline by more than ``noise``.
        objective, elapsed_s: what was optimized and how long it took.
        version: with ``LeptonAI.autotune_model``, the registry version the profile is on.
    """

    def __init__(
        self,
        result: Any,
        trials: List[Trial],
        checks: List[TransformCheck],
        variants: Mapping[str, bytes],
        elapsed_s: float,
    ) -> None:
        """Built by :func:`autotune` (not by users) from what the search measured.

        Args:
            result: the native search result.
            trials: every trial, the baseline first.
            checks: the accuracy gate's verdict on each transform.
            variants: variant name -> ONNX bytes.
            elapsed_s: how long the tune took, seconds.
        """
        self._result = result
        self.trials = trials
        self.checks = checks
        self._variants = dict(variants)
        self.objective: str = result.objective
        self.noise: float = result.noise
        self.speedup: float = result.speedup
        self.beats_baseline: bool = result.beats_baseline
        self.elapsed_s = elapsed_s
        self.best = trials[result.best]
        self.baseline = trials[0]
        self.contender = trials[result.contender]
        #: The registry version the profile was stored on (set by ``LeptonAI.autotune_model``).
        self.version: Optional[int] = None

    @property
    def profile(self) -> Profile:
        """The pick as a :class:`Profile` of this machine."""
        return Profile._from_json(self.profile_json())

    def profile_json(self) -> str:
        """The pick as the registry stores it.

        Returns:
            The profile as JSON text.
        """
        return str(self._result.profile_json())

    def best_model_bytes(self) -> bytes:
        """The ONNX bytes of the picked variant.

        Returns:
            The serialized ONNX ``ModelProto`` of the pick (int8 when a quantized variant won).
        """
        return self._variants[self.best.variant]

    def load(self, **kwargs: Any) -> "Model":
        """Loads the picked variant with the picked settings.

        Args:
            **kwargs: :func:`lepton_ai.load_model` keyword arguments overriding the pick's.

        Returns:
            The loaded :class:`lepton_ai.Model`.

        Raises:
            ProviderUnavailableError: a picked provider is unavailable here with ``strict=True``.
            InvalidArgumentError: an unknown keyword argument.
        """
        from ._model import load_model

        args = {**self.best.load_kwargs(), **kwargs}
        return load_model(self.best_model_bytes(), **args)

    def to_rows(self) -> List[Dict[str, Any]]:
        """One dict per trial.

        Returns:
            One dict per trial, the :class:`Trial` fields as keys (what ``pandas.DataFrame`` takes).
        """
        return [dataclasses.asdict(t) for t in self.trials]

    def to_pandas(self) -> Any:
        """The trials as a table (needs pandas).

        Returns:
            A ``pandas.DataFrame``, one row per trial.
        """
        import pandas as pd  # type: ignore[import-untyped]

        return pd.DataFrame(self.to_rows())

    def plot(self, ax: Any = None) -> Any:
        """Bar chart of every timed trial (median, with p99 as the error bar; rows/s for
        throughput), the pick highlighted (needs matplotlib).

        Args:
            ax: the matplotlib Axes to draw on; None: a new figure.

        Returns:
            The matplotlib Axes drawn on.

        Raises:
            ImportError: matplotlib is not installed.
        """
        import matplotlib.pyplot as plt

        timed = [t for t in self.trials if t.runs > 0]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, max(2.0, 0.25 * len(timed))))
        labels = [
            f"{t.variant} {','.join(t.providers)} i{t.intra_op_threads or '-'} "
            f"{t.execution_mode[:3]} {t.optimization_level}"
            + (f" b{t.batch_size}" if t.batch_size else "")
            for t in timed
        ]
        colors = [
            "tab:green" if t is self.best else "tab:gray" if t.verdict == "baseline" else "tab:blue"
            for t in timed
        ]
        if self.objective == "throughput":
            ax.barh(labels, [t.rows_per_s for t in timed], color=colors)
            ax.set_xlabel("rows/s (higher is better)")
        else:
            p50 = [t.p50_ms for t in timed]
            err = [max(0.0, t.p99_ms - t.p50_ms) for t in timed]
            ax.barh(labels, p50, xerr=[[0.0] * len(err), err], color=colors)
            ax.set_xlabel("ms per run, p50 (bar) to p99 (line); lower is better")
        ax.set_title(
            f"autotune ({self.objective}): {self.speedup:.2f}x vs default, noise "
            f"±{self.noise:.0%}, {'win' if self.beats_baseline else 'defaults kept'}"
        )
        return ax

    def __repr__(self) -> str:
        b = self.best
        return (
            f"TuneReport(objective={self.objective!r}, best={b.variant} "
            f"[{','.join(b.providers)} intra={b.intra_op_threads} inter={b.inter_op_threads} "
            f"opt={b.optimization_level} batch={b.batch_size}], speedup={self.speedup:.2f}, "
            f"noise={self.noise:.2f}, beats_baseline={self.beats_baseline}, "
            f"trials={len(self.trials)})"
        )


# ----- validation data ------------------------------------------------------------------------


def _columns(data: Any, input_names: Sequence[str]) -> Dict[str, _Array]:
    """``{name: array}`` from arrays (one, a tuple/list by position, a dict by name) or a
    lepton ``Dataset`` (columns by name)."""
    if hasattr(data, "to_numpy") and hasattr(data, "columns"):
        n = len(data)
        cols = dict(zip(data.columns, data[0 : min(n, MAX_VALIDATION_ROWS)]))
        return {k: np.asarray(v) for k, v in cols.items()}
    if isinstance(data, Mapping):
        return {str(k): np.asarray(v) for k, v in data.items()}
    if isinstance(data, (tuple, list)):
        if len(data) != len(input_names):
            raise InvalidArgumentError(
                f"autotune got {len(data)} input arrays, the model takes {len(input_names)} "
                f"({', '.join(input_names)})"
            )
        return {n: np.asarray(v) for n, v in zip(input_names, data)}
    if len(input_names) != 1:
        raise InvalidArgumentError(
            f"the model takes {len(input_names)} inputs ({', '.join(input_names)}); pass a "
            "tuple or a dict of arrays, or a Dataset with those columns"
        )
    return {input_names[0]: np.asarray(data)}


def _split_inputs(
    cols: Dict[str, _Array], input_names: Sequence[str], labels: Any
) -> Tuple[List[_Array], Optional[_Array]]:
    if all(n in cols for n in input_names):
        inputs = [cols[n] for n in input_names]
    elif len(input_names) == 1:
        feature = [k for k in cols if k != labels and k not in ("label", "labels", "y")]
        if not feature:
            raise InvalidArgumentError(
                f"no column for input `{input_names[0]}` in {sorted(cols)}"
            )
        inputs = [cols[feature[0]]]
    else:
        missing = [n for n in input_names if n not in cols]
        raise InvalidArgumentError(
            f"the data has no column for inputs {missing}; columns: {sorted(cols)}"
        )
    y: Optional[_Array]
    if isinstance(labels, str):
        if labels not in cols:
            raise InvalidArgumentError(f"labels column `{labels}` not in {sorted(cols)}")
        y = cols[labels]
    elif labels is not None:
        y = np.asarray(labels)
    else:
        y = None
    rows = inputs[0].shape[0] if inputs[0].ndim else 1
    if y is not None and y.shape[0] != rows:
        raise InvalidArgumentError(f"{y.shape[0]} labels for {rows} rows")
    return inputs, y


def _run_all(model: Any, inputs: Sequence[_Array], chunk: int = 256) -> List[_Array]:
    """The model's outputs over every row, in chunks."""
    rows = inputs[0].shape[0]
    parts: List[List[_Array]] = []
    for s in range(0, rows, chunk):
        parts.append(model.run_arrays(tuple(x[s : s + chunk] for x in inputs)))
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def _accuracy(outputs: Sequence[_Array], labels: _Array) -> float:
    out = outputs[0]
    predicted = out.argmax(axis=1) if out.ndim == 2 and out.shape[1] > 1 else out.reshape(-1)
    if out.ndim == 2 and out.shape[1] == 1:
        predicted = (out.reshape(-1) > 0.5).astype(labels.dtype)
    return float(np.mean(predicted.reshape(-1) == labels.reshape(-1)))


def _difference(outputs: Sequence[_Array], reference: Sequence[_Array]) -> float:
    """The largest absolute difference over float outputs, relative to the largest reference
    magnitude of that output."""
    worst = 0.0
    for o, r in zip(outputs, reference):
        if not np.issubdtype(r.dtype, np.floating):
            worst = max(worst, 0.0 if np.array_equal(o, r) else float("inf"))
            continue
        scale = float(np.max(np.abs(r))) or 1.0
        worst = max(worst, float(np.max(np.abs(o.astype(np.float64) - r))) / scale)
    return worst


# ----- transforms (onnxruntime's tools) -------------------------------------------------------


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(onnx_bytes: bytes, how: str, calibration: Dict[str, _Array]) -> bytes:
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    # onnxruntime's quantizer logs advice through the root logger on every call; keep it quiet.
    with tempfile.TemporaryDirectory(prefix="lepton-tune-") as d, _quiet_root_logger():
        src, dst = os.path.join(d, "model.onnx"), os.path.join(d, "model.int8.onnx")
        with open(src, "wb") as f:
            f.write(onnx_bytes)
        if how == "int8-dynamic":
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        else:

            # Made with type() rather than a class statement: a class local to this function
            # would be a module-level name to mypy.stubtest that does not exist at run time.
            n = next(iter(calibration.values())).shape[0]
            feeds = iter(
                [{k: v[s : s + 16] for k, v in calibration.items()} for s in range(0, n, 16)]
            )
            rows_type = type(
                "CalibrationRows",
                (CalibrationDataReader,),
                {"get_next": lambda self: next(feeds, None)},
            )

            quantize_static(
                src,
                dst,
                rows_type(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
        with open(dst, "rb") as out:
            return out.read()


def _fp16(onnx_bytes: bytes) -> bytes:
    import onnx
    from onnxruntime.transformers.float16 import (  # type: ignore[import-untyped]
        convert_float_to_float16,
    )

    model = onnx.load_from_string(onnx_bytes)
    return bytes(convert_float_to_float16(model, keep_io_types=True).SerializeToString())


#: name -> (bytes, calibration columns) -> bytes; tests may add a transform of their own.
TRANSFORMS: Dict[str, Callable[[bytes, Dict[str, _Array]], bytes]] = {
    "int8-dynamic": lambda b, cal: _quantize(b, "int8-dynamic", cal),
    "int8-static": lambda b, cal: _quantize(b, "int8-static", cal),
    "fp16": lambda b, cal: _fp16(b),
}


def _gate(
    name: str,
    transformed: bytes,
    inputs: Sequence[_Array],
    labels: Optional[_Array],
    reference: Sequence[_Array],
    base_metric: float,
    max_accuracy_drop: float,
    tolerance: float,
    providers: Sequence[str],
) -> TransformCheck:
    from ._model import load_model

    try:
        model = load_model(transformed, providers=list(providers))
        outputs = _run_all(model, inputs)
    except Exception as e:  # noqa: BLE001 - a transform that can't run is rejected, not fatal
        return TransformCheck(name, None, None, False, f"does not run: {e}")
    if labels is not None:
        metric = _accuracy(outputs, labels)
        drop = base_metric - metric
        kept = drop <= max_accuracy_drop + 1e-12
        why = f"accuracy {metric:.4f} vs {base_metric:.4f} (drop {drop:+.4f}, allowed {max_accuracy_drop})"
    else:
        metric = drop = _difference(outputs, reference)
        kept = bool(np.isfinite(drop)) and drop <= tolerance
        why = f"largest relative output difference {drop:.2e} (allowed {tolerance:.0e})"
    return TransformCheck(name, metric, drop, kept, why)


# ----- the search ------------------------------------------------------------------------------


def autotune(
    model: "Model",
    inputs_or_dataset: Any,
    *,
    objective: str = "latency",
    labels: Any = None,
    max_accuracy_drop: float = 0.005,
    tolerance: float = 1e-2,
    budget_s: float = 60.0,
    transforms: Optional[Sequence[str]] = None,
    batch_sizes: Optional[Sequence[int]] = None,
    providers: Optional[Sequence[str]] = None,
    intra_op_threads: Optional[Sequence[Optional[int]]] = None,
    optimization_levels: Optional[Sequence[str]] = None,
) -> TuneReport:
    """Finds the fastest way to run ``model`` on this machine that keeps its accuracy.

    Args:
        model: the model (its ONNX bytes are what is tuned).
        inputs_or_dataset: validation rows: one array (single-input models), a tuple/list of
            arrays by position, a dict by input name, or a lepton ``Dataset`` whose columns are
            named like the inputs (the first ``MAX_VALIDATION_ROWS`` rows are used). All rows
            go through the accuracy gate; latency is measured on the first row (batch 1, or the
            first ``batch_sizes[0]`` rows), throughput on the rows given (the default session's
            batch), cut or repeated to each batch size.
        objective: ``"latency"`` (median ms per run) or ``"throughput"`` (rows/s).
        labels: class labels (an array, or a column name of the Dataset): the gate compares
            accuracy (argmax of the first output). Default: a ``labels``/``label``/``y`` column
            if the Dataset has one, else the gate compares outputs with the original's.
        max_accuracy_drop: with labels, the accuracy a transform may lose (0.005 = 0.5 points).
        tolerance: without labels, the largest output difference allowed, relative to the
            largest original output.
        budget_s: seconds for the whole tune (transforms, gate, search); the search stops early.
        transforms: transforms to try (default: int8-dynamic, int8-static, and fp16 on a GPU);
            ``()`` tunes runtime settings only.
        batch_sizes: throughput batch sizes to try (default 1, 16, 64, 256, 1024); for latency,
            ``[n]`` measures batches of ``n`` rows instead of 1.
        providers, intra_op_threads, optimization_levels: narrow the search space (default:
            CPU plus CUDA when present; default/1/half/all cores; all, extended, basic).

    Returns:
        :class:`TuneReport`.

    Raises:
        InvalidArgumentError: unknown objective or transform, data that doesn't fit the model,
            or a non-positive budget.
    """
    started = time.perf_counter()
    if objective not in ("latency", "throughput"):
        raise InvalidArgumentError(
            f"unknown objective `{objective}`; use `latency` or `throughput`"
        )
    if not budget_s > 0:
        raise InvalidArgumentError(f"budget_s must be positive, got {budget_s}")
    fp = machine_fingerprint()
    has_cuda = "cuda" in fp.providers
    if transforms is None:
        transforms = [t for t in DEFAULT_TRANSFORMS if t != "fp16" or has_cuda]
    unknown = [t for t in transforms if t not in TRANSFORMS]
    if unknown:
        raise InvalidArgumentError(
            f"unknown transforms {unknown}; known: {', '.join(sorted(TRANSFORMS))}"
        )
    input_names = [i.name for i in model.inputs]
    is_dataset = hasattr(inputs_or_dataset, "columns") and hasattr(inputs_or_dataset, "to_numpy")
    cols = _columns(inputs_or_dataset, input_names)
    if labels is None and is_dataset:
        labels = next((c for c in ("labels", "label", "y") if c in cols), None)
    inputs, y = _split_inputs(cols, input_names, labels)
    inputs = [x[:MAX_VALIDATION_ROWS] for x in inputs]
    if y is not None:
        y = y[:MAX_VALIDATION_ROWS]
    original = model.to_bytes()
    gate_providers = ["cuda", "cpu"] if has_cuda else ["cpu"]

    # The accuracy gate, against the original on the same rows.
    from ._model import load_model

    reference_model = load_model(original, providers=gate_providers)
    reference = _run_all(reference_model, inputs)
    base_metric = _accuracy(reference, y) if y is not None else 0.0
    calibration = {n: x[:_CALIBRATION_ROWS] for n, x in zip(input_names, inputs)}
    variants: Dict[str, bytes] = {"original": original}
    checks: List[TransformCheck] = []
    for name in transforms:
        if time.perf_counter() - started > budget_s * 0.4:
            checks.append(TransformCheck(name, None, None, False, "skipped: out of budget"))
            continue
        try:
            transformed = TRANSFORMS[name](original, calibration)
        except Exception as e:  # noqa: BLE001 - onnxruntime's tools raise many kinds
            checks.append(TransformCheck(name, None, None, False, f"transform failed: {e}"))
            continue
        check = _gate(
            name, transformed, inputs, y, reference, base_metric, max_accuracy_drop, tolerance,
            gate_providers if name == "fp16" else ["cpu"],
        )
        checks.append(check)
        if check.kept:
            variants[name] = transformed

    # The runtime search over the original and the kept variants.
    if objective == "latency":
        rows = batch_sizes[0] if batch_sizes else 1
        timing_inputs = [x[:rows] for x in inputs]
        sizes: List[int] = []
    else:
        timing_inputs = inputs
        sizes = list(batch_sizes) if batch_sizes is not None else list(DEFAULT_BATCH_SIZES)
    # What is left of the caller's budget; when the transforms used it all, the search still takes
    # one run per candidate (the core's rule), never a second of its own.
    left = max(1e-3, budget_s - (time.perf_counter() - started))
    result = _lepton.tune_runtime(
        list(variants.items()),
        [np.ascontiguousarray(x) for x in timing_inputs],
        objective,
        left,
        sizes or None,
        None if providers is None else list(providers),
        None if intra_op_threads is None else list(intra_op_threads),
        None if optimization_levels is None else [str(level) for level in optimization_levels],
        3,
        None,
        find_onnxruntime_library(),
    )
    metrics: Dict[str, Optional[float]] = {"original": base_metric if y is not None else 0.0}
    for c in checks:
        metrics[c.transform] = c.metric
    trials = [
        Trial(
            variant=t.variant,
            providers=tuple(t.providers),
            intra_op_threads=t.intra_op_threads,
            inter_op_threads=t.inter_op_threads,
            execution_mode=t.execution_mode,
            optimization_level=t.optimization_level,
            batch_size=t.batch_size,
            batch_rows=t.batch_rows,
            runs=t.runs,
            rung=t.rung,
            p50_ms=t.p50_ms,
            p99_ms=t.p99_ms,
            rows_per_s=t.rows_per_s,
            metric=metrics.get(t.variant),
            verdict=t.verdict,
            error=t.error,
        )
        for t in result.trials
    ]
    for c in checks:
        if not c.kept:
            trials.append(
                Trial(c.transform, (), None, None, "", "", None, 0, 0, 0, 0.0, 0.0, 0.0,
                      c.metric, "rejected", c.reason)
            )
    return TuneReport(result, trials, checks, variants, time.perf_counter() - started)
