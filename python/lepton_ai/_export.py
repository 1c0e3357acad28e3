"""Models as users have them: a torch ``nn.Module`` or a scikit-learn estimator, exported to ONNX
with the framework's own exporter and checked against the original on example inputs.

    model = lepton_ai.export_model(net, example_inputs=torch.randn(8, 30))
    model.provenance   # {"framework": "torch", "exporter": "torch.onnx (dynamo)", "parity": ...}

Exporting is Python-only by nature (torch, skl2onnx); where the provenance lives in the registry
is lepton-core's rule (the model manifest's ``provenance``).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import io
import os
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from ._model import Model, load_model
from ._model_file import read_model_file
from .errors import ExportError, InvalidArgumentError, MissingExtraError

__all__ = ["export_model", "model_onnx_and_provenance"]

#: The newest ONNX opset each onnxruntime release runs (its docs' compatibility table).
_ORT_MAX_OPSET = [((1, 23), 23), ((1, 21), 22), ((1, 18), 21), ((1, 17), 20)]
#: torch's dynamo exporter needs opset 18 or newer.
_TORCH_MIN_OPSET = 18
#: ``torch.testing.assert_close``'s float32 defaults: |a - b| <= atol + rtol * |b|.
FLOAT32_RTOL = 1.3e-6
FLOAT32_ATOL = 1e-5


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def runtime_max_opset() -> int:
    """The newest default-domain opset the installed onnxruntime runs (20 when unknown)."""
    v = _version("onnxruntime") or _version("onnxruntime-gpu")
    if v is not None:
        try:
            major_minor = tuple(int(p) for p in v.split(".")[:2])
        except ValueError:
            major_minor = (1, 17)
        for since, opset in _ORT_MAX_OPSET:
            if major_minor >= since:
                return opset
    return 20


def _import(module: str, extra: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise MissingExtraError(
            f"exporting needs `{module}` ({e}): pip install \"lepton-ai-sdk[{extra}]\""
        ) from None


def _is_torch_module(model: Any) -> bool:
    torch = _loaded("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _is_sklearn(model: Any) -> bool:
    return _loaded("sklearn") is not None and hasattr(model, "get_params") and (
        hasattr(model, "predict") or hasattr(model, "transform")
    )


def _is_onnx_proto(model: Any) -> bool:
    onnx = _loaded("onnx")
    return onnx is not None and isinstance(model, onnx.ModelProto)


def _loaded(module: str) -> Any:
    """The module if the user already imported it (a model of that kind can only exist then)."""
    import sys

    return sys.modules.get(module)


# ----- parity ---------------------------------------------------------------------------------


def parity(
    expected: Mapping[str, Any], actual: Mapping[str, Any], rtol: float, atol: float
) -> dict[str, dict[str, float]]:
    """``{output: {"max_abs_diff", "max_rel_diff"}}``; raises ExportError over tolerance.

    Integer and bool outputs (class labels) must match exactly.
    """
    figures: dict[str, dict[str, float]] = {}
    failures = []
    for name, want in expected.items():
        got = np.asarray(actual[name])
        want = np.asarray(want)
        if got.size == want.size and got.shape != want.shape:
            want = want.reshape(got.shape)  # e.g. a regressor's (N,) against ONNX's (N, 1)
        if got.shape != want.shape:
            raise ExportError(
                f"output `{name}`: the exported model gives shape {list(got.shape)}, the original "
                f"{list(want.shape)}"
            )
        exact = not np.issubdtype(got.dtype, np.floating) and not np.issubdtype(
            want.dtype, np.floating
        )
        g, w = got.astype(np.float64), want.astype(np.float64)
        diff = np.abs(g - w)
        max_abs = float(diff.max()) if diff.size else 0.0
        nonzero = np.abs(w) > 0
        max_rel = float((diff[nonzero] / np.abs(w[nonzero])).max()) if nonzero.any() else 0.0
        figures[name] = {"max_abs_diff": max_abs, "max_rel_diff": max_rel}
        bound = 0.0 if exact else atol + rtol * np.abs(w)
        over = diff > bound
        if over.any() or np.isnan(g).any() != np.isnan(w).any():
            failures.append(
                f"output `{name}`: {int(over.sum())} of {diff.size} values differ from the original "
                f"(max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g}; "
                + ("labels must match exactly" if exact else f"rtol={rtol:g}, atol={atol:g}")
                + ")"
            )
    if failures:
        raise ExportError(
            "the exported model does not match the original on the example inputs: "
            + "; ".join(failures)
            + " (pass rtol=/atol= to accept, or check=False to skip the check)"
        )
    return figures


# ----- torch ----------------------------------------------------------------------------------


def _torch_inputs(example_inputs: Any) -> tuple[Any, ...]:
    torch = _import("torch", "torch")
    if example_inputs is None:
        raise InvalidArgumentError(
            "exporting a torch module needs example_inputs= (a tensor, or a tuple of tensors, "
            "as the module's forward takes them)"
        )
    if isinstance(example_inputs, (list, tuple)):
        args = tuple(example_inputs)
    else:
        args = (example_inputs,)
    return tuple(a if isinstance(a, torch.Tensor) else torch.as_tensor(a) for a in args)


def _forward_names(module: Any, count: int) -> list[str]:
    try:
        params = [
            p.name
            for p in inspect.signature(module.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    if len(params) >= count:
        return params[:count]
    return [f"input_{i}" for i in range(count)]


def _flat_outputs(out: Any) -> list[Any]:
    if isinstance(out, (list, tuple)):
        return [o for x in out for o in _flat_outputs(x)]
    if isinstance(out, Mapping):
        return [o for x in out.values() for o in _flat_outputs(x)]
    return [out]


def _export_torch(
    module: Any,
    example_inputs: Any,
    input_names: Sequence[str] | None,
    output_names: Sequence[str] | None,
    dynamic_batch: bool,
    opset: int | None,
) -> tuple[bytes, dict[str, Any], dict[str, Any], list[Any]]:
    """(ONNX bytes, provenance, {output: original value}, numpy inputs)."""
    torch = _import("torch", "torch")
    args = _torch_inputs(example_inputs)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            outs = [o.detach().cpu().numpy() for o in _flat_outputs(module(*args))]
        in_names = list(input_names) if input_names else _forward_names(module, len(args))
        if output_names:
            out_names = list(output_names)
        else:
            out_names = ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))]
        if len(in_names) != len(args) or len(out_names) != len(outs):
            raise InvalidArgumentError(
                f"the module takes {len(args)} input(s) and gives {len(outs)} output(s); "
                f"input_names={in_names}, output_names={out_names} do not match"
            )
        target = opset or max(_TORCH_MIN_OPSET, min(runtime_max_opset(), 20))
        onnx_bytes, exporter, reason = _torch_onnx(
            torch, module, args, in_names, out_names, dynamic_batch, target
        )
    finally:
        module.train(was_training)
    provenance: dict[str, Any] = {
        "framework": "torch",
        "framework_version": torch.__version__,
        "exporter": exporter,
        "opset": target,
        "inputs": in_names,
        "outputs": out_names,
        "dynamic_batch": dynamic_batch,
    }
    if reason:
        provenance["fallback_reason"] = reason
    inputs = [a.detach().cpu().numpy() for a in args]
    return onnx_bytes, provenance, dict(zip(out_names, outs)), inputs


def _torch_onnx(
    torch: Any,
    module: Any,
    args: tuple[Any, ...],
    in_names: list[str],
    out_names: list[str],
    dynamic_batch: bool,
    opset: int,
) -> tuple[bytes, str, str | None]:
    """Dynamo first; the TorchScript exporter where dynamo can't. (bytes, exporter, why not)."""
    _import("onnxscript", "torch")  # what the dynamo exporter needs
    batched = [a.dim() >= 1 for a in args]
    dynamo_error: str | None = None
    with warnings.catch_warnings():
        # Exporters warn about their own internals (deprecations, tracer notes): not the user's.
        warnings.simplefilter("ignore")
        try:
            batch = torch.export.Dim("batch") if dynamic_batch else None
            shapes = (
                tuple({0: batch} if b else None for b in batched) if dynamic_batch else None
            )
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                input_names=in_names,
                output_names=out_names,
                opset_version=opset,
                dynamic_shapes=shapes,
                verbose=False,
            )
            return program.model_proto.SerializeToString(), "torch.onnx.export (dynamo)", None
        except Exception as e:  # noqa: BLE001 - any dynamo failure falls back, with its reason
            dynamo_error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        buf = io.BytesIO()
        axes = (
            {n: {0: "batch"} for n, b in zip(in_names, batched) if b}
            | {n: {0: "batch"} for n in out_names}
            if dynamic_batch
            else None
        )
        try:
            torch.onnx.export(
                module,
                args,
                buf,
                dynamo=False,
                input_names=in_names,
                output_names=out_names,
                opset_version=opset,
                dynamic_axes=axes,
            )
        except Exception as e:  # noqa: BLE001 - both failed: say why for both
            raise ExportError(
                f"torch could not export {type(module).__name__} to ONNX: dynamo exporter: "
                f"{dynamo_error}; TorchScript exporter: {type(e).__name__}: {e}"
            ) from e
    return buf.getvalue(), "torch.onnx.export (torchscript)", dynamo_error


# ----- scikit-learn ---------------------------------------------------------------------------


def _export_sklearn(
    estimator: Any,
    example_inputs: Any,
    input_names: Sequence[str] | None,
    zipmap: bool,
    opset: int | None,
) -> tuple[bytes, dict[str, Any], dict[str, Any], list[Any]]:
    sklearn = _import("sklearn", "sklearn")
    skl2onnx = _import("skl2onnx", "sklearn")
    is_classifier = _import("sklearn.base", "sklearn").is_classifier
    float_tensor = _import("skl2onnx.common.data_types", "sklearn").FloatTensorType

    if example_inputs is None:
        raise InvalidArgumentError(
            "exporting a scikit-learn model needs example_inputs= (rows like those it was fit on)"
        )
    x = np.asarray(example_inputs)
    if x.ndim != 2:
        raise InvalidArgumentError(f"example_inputs must be 2-D (rows, features), got shape {x.shape}")
    x = x.astype(np.float32)
    name = input_names[0] if input_names else "X"
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    classifier = is_classifier(estimator)
    options = {id(final): {"zipmap": zipmap}} if classifier else None
    target = opset or min(runtime_max_opset(), skl2onnx.get_latest_tested_opset_version())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto = skl2onnx.convert_sklearn(
                estimator,
                initial_types=[(name, float_tensor([None, x.shape[1]]))],
                target_opset={"": target, "ai.onnx.ml": 3},
                options=options,
            )
    except Exception as e:  # noqa: BLE001 - skl2onnx raises many kinds; say which model failed
        raise ExportError(f"skl2onnx could not convert {type(estimator).__name__}: {e}") from e
    outs = [o.name for o in proto.graph.output]
    expected: dict[str, Any] = {}
    if classifier:
        expected[outs[0]] = estimator.predict(x)
        if len(outs) > 1 and not zipmap:
            expected[outs[1]] = estimator.predict_proba(x)
    elif hasattr(estimator, "predict"):
        expected[outs[0]] = estimator.predict(x)
    else:
        expected[outs[0]] = estimator.transform(x)
    provenance: dict[str, Any] = {
        "framework": "sklearn",
        "framework_version": sklearn.__version__,
        "exporter": f"skl2onnx {skl2onnx.__version__}",
        "opset": target,
        "estimator": type(estimator).__name__,
        "inputs": [name],
        "outputs": outs,
        "zipmap": zipmap if classifier else None,
    }
    return proto.SerializeToString(), provenance, expected, [x]


# ----- entry points ---------------------------------------------------------------------------


def _onnx_opset(onnx_bytes: bytes) -> int | None:
    onnx = _loaded("onnx")
    if onnx is None:
        return None
    proto = onnx.load_from_string(onnx_bytes)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def model_onnx_and_provenance(
    model: Any, example_inputs: Any = None, *, key: Any = None, **export: Any
) -> tuple[bytes, dict[str, Any]]:
    """The ONNX bytes of any accepted model, and its provenance (see :func:`export_model`).

    ``export`` holds :func:`export_model`'s keywords (``check``, ``rtol``, ``input_names``...);
    those left out take its defaults: its signature is the one list of them. ``key`` decrypts
    an encrypted model file.
    """
    bound = inspect.signature(export_model).bind(model, example_inputs, **export)
    if bound.arguments.get("load_kwargs"):
        unknown = ", ".join(sorted(bound.arguments["load_kwargs"]))
        raise TypeError(f"unexpected keyword argument(s) for the export: {unknown}")
    bound.apply_defaults()
    o = bound.arguments
    input_names, output_names, opset = o["input_names"], o["output_names"], o["opset"]
    if isinstance(model, Model):
        prov = dict(getattr(model, "provenance", None) or {})
        return model.to_bytes(), prov or {"framework": "onnx", "exporter": None}
    expected: dict[str, Any] | None = None
    if _is_torch_module(model):
        onnx_bytes, prov, expected, inputs = _export_torch(
            model, example_inputs, input_names, output_names, o["dynamic_batch"], opset
        )
    elif _is_onnx_proto(model):
        onnx_bytes = model.SerializeToString()
        prov = {"framework": "onnx", "exporter": None, "opset": _onnx_opset(onnx_bytes)}
    elif isinstance(model, (bytes, bytearray, memoryview, str, os.PathLike)):
        # A path's external-data side files are read and put inline by the native layer.
        src = bytes(model) if isinstance(model, (bytes, bytearray, memoryview)) else model
        onnx_bytes = read_model_file(src, key)
        prov = {"framework": "onnx", "exporter": None}
    elif _is_sklearn(model):
        onnx_bytes, prov, expected, inputs = _export_sklearn(
            model, example_inputs, input_names, o["zipmap"], opset
        )
    else:
        raise InvalidArgumentError(
            "push_model and export_model take a path, bytes or a lepton_ai.Model, a torch.nn.Module, "
            "a scikit-learn estimator or Pipeline, or an onnx.ModelProto; got "
            f"{type(model).__name__}"
        )
    if expected is not None and o["check"]:
        exported = load_model(onnx_bytes)
        actual = exported.run_dict(*inputs)
        prov["parity"] = parity(
            expected,
            actual,
            FLOAT32_RTOL if o["rtol"] is None else o["rtol"],
            FLOAT32_ATOL if o["atol"] is None else o["atol"],
        )
        prov["parity_rows"] = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else 1
    return onnx_bytes, prov


def export_model(
    model: Any,
    example_inputs: Any = None,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    opset: int | None = None,
    zipmap: bool = False,
    check: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    **load_kwargs: Any,
) -> Model:
    """Exports a model to ONNX, checks it against the original, and loads it.

    Args:
        model: a ``torch.nn.Module`` (exported with ``torch.onnx.export``: the dynamo-based
            exporter, the TorchScript one where dynamo fails), a scikit-learn estimator or
            ``Pipeline`` (skl2onnx), an ``onnx.ModelProto``, a path (side files of external data
            are read and put inline), ONNX bytes or a :class:`Model`.
        example_inputs: what the original runs on for the parity check and the export trace:
            for torch a tensor or a tuple of tensors (batch first); for scikit-learn a 2-D array
            ``[rows, features]`` (exported as float32 input ``X``).
        input_names / output_names: ONNX names; default the names of ``forward``'s parameters
            and ``output`` (``output_0``, ... for several), skl2onnx's for scikit-learn.
        dynamic_batch: the first dimension of every input and output is free (``"batch"``).
        opset: default-domain opset; default the newest one both the exporter and the installed
            onnxruntime support.
        zipmap: scikit-learn classifiers give ``label`` ``int64[N]`` and ``probabilities``
            ``float32[N, classes]`` unless this asks for skl2onnx's ZipMap (a list of dicts).
        check: run the original (torch: ``eval()`` under ``no_grad``; scikit-learn: ``predict``
            / ``predict_proba``) and the export on ``example_inputs``, and compare every output.
        rtol / atol: tolerance, ``|exported - original| <= atol + rtol * |original|``;
            default float32's of ``torch.testing.assert_close`` (1.3e-6, 1e-5); labels exactly.
        load_kwargs: passed to :func:`load_model` (``providers=``, ...).

    Returns:
        The loaded model; ``model.provenance`` is ``{"framework", "framework_version",
        "exporter", "opset", "parity": {output: {"max_abs_diff", "max_rel_diff"}}, ...}``,
        which ``LeptonAI.push_model`` records in the registry.

    Raises:
        ExportError: the exporter failed, or an output differs beyond tolerance (the message
            names the output and the difference).
        MissingExtraError: torch/onnxscript or skl2onnx is not installed (names the extra).
        InvalidArgumentError: an unsupported model kind, or missing/ill-shaped example inputs.
    """
    onnx_bytes, prov = model_onnx_and_provenance(
        model,
        example_inputs,
        input_names=input_names,
        output_names=output_names,
        dynamic_batch=dynamic_batch,
        opset=opset,
        zipmap=zipmap,
        check=check,
        rtol=rtol,
        atol=atol,
    )
    loaded = load_model(onnx_bytes, **load_kwargs)
    loaded.provenance = prov
    return loaded
