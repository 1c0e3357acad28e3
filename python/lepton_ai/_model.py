"""Models: load an ONNX model and run it on ONNX Runtime (CPU or CUDA).

    import lepton_ai
    model = lepton_ai.load_model("model.onnx")          # or bytes; providers=["cuda", "cpu"]
    y = model(x)                                        # numpy in -> numpy out, torch in -> torch out
    y1, y2 = model(a, b)                                # several inputs/outputs
    named = model.run_dict(x=x)                         # {"output name": array}
    [y] = model.run(None, {"x": x})                     # onnxruntime.InferenceSession style
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union, overload

import numpy as np
import numpy.typing as npt

from . import _lepton
from ._lepton import TensorInfo
from ._model_file import is_encrypted_model_file, read_model_file, save_model_file
from ._runtime import find_onnxruntime_library
from .errors import InvalidArgumentError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["Model", "TensorInfo", "load_model"]


def _is_torch(x: object) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


_NATIVE_CALL = _lepton.NativeModel.__call__


def _torch_to_numpy(x: Any) -> Any:
    """Torch tensors inside a list/tuple/dict (a sequence or map input) as numpy arrays."""
    if _is_torch(x):
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)):
        return [_torch_to_numpy(v) for v in x]
    if isinstance(x, dict):
        return {k: _torch_to_numpy(v) for k, v in x.items()}
    return x


def _numpy_to_torch(x: Any, device: Any) -> Any:
    """An output as torch: arrays (not strings) become tensors on ``device``; lists (sequences)
    are converted element by element; dicts (maps of Python scalars) and None stay as they are."""
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return x
        import torch

        return torch.from_numpy(x).to(device)
    if isinstance(x, list):
        return [_numpy_to_torch(v, device) for v in x]
    return x


class Model(_lepton.NativeModel):
    """An ONNX model loaded on ONNX Runtime. Create it with :func:`load_model`.

    Calling it runs the model: ``model(x)`` (one input), ``model(a, b)`` (by position),
    ``model(a=..., b=...)`` (by name). One output comes back bare, several as a tuple;
    :meth:`run_dict` returns ``{name: output}``. numpy arrays in give numpy arrays out; torch
    tensors in give torch tensors out (on the device of the first torch input); lists and scalars
    are converted to the input's dtype (a value that does not fit it raises
    :class:`~lepton_ai.InvalidInputError` naming the input). Sequence outputs come back as lists,
    map outputs as dicts, an absent optional output as None, as onnxruntime's Python API returns
    them; sequence inputs take lists, map inputs dicts, optional inputs None or nothing.
    Runs release the GIL and may be made from many threads.

    Calls with numpy arrays only are handled entirely in the native base class; everything else
    goes through :meth:`_call_slow`.
    """

    def __init__(self, source: Any, *args: Any, **kwargs: Any) -> None:
        """Loads a model: ``Model(source, ...)`` takes what :func:`load_model` takes.

        Args:
            source: path of an ``.onnx`` (or encrypted ``.model``) file, or the model's bytes.
            *args: passed on as :func:`load_model` passes them.
            **kwargs: :func:`load_model`'s keyword arguments (``providers=``, ``key=``, ...).

        Raises:
            InvalidModelError: the source is not a loadable ONNX model.
            NotFoundError: no file at the path.
            ProviderUnavailableError: a provider is unavailable and ``strict=True``.
        """
        # The native __new__ has loaded the model from the same arguments.
        self._inputs = self.input_infos
        self._outputs = self.output_infos
        self._input_dtypes = {i.name: i.dtype for i in self._inputs}
        self._single_output = len(self._outputs) == 1

    def __reduce__(self) -> Any:
        # A session (with its threads) can't travel to another process; say what can.
        raise TypeError(
            "a lepton_ai Model can't be pickled (to a spawn DataLoader worker, say): load it in "
            "the process that runs it, e.g. in worker_init_fn, from its bytes "
            "(model.to_bytes()), its file or its registry name"
        )

    # ----- signature -------------------------------------------------------------------------
    @property
    def inputs(self) -> list[TensorInfo]:
        """The inputs, in order."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        """The outputs, in order."""
        return list(self._outputs)

    @property
    def providers(self) -> list[str]:
        """Execution providers in use, in priority order (e.g. ``["cuda", "cpu"]``; always ends
        with ``"cpu"``)."""
        return list(self.active_providers)

    @property
    def fallback_reason(self) -> str | None:
        """Why a requested provider is not in :attr:`providers` (non-strict fallback), if so."""
        return self.fallback

    # ----- running ---------------------------------------------------------------------------
    def _convert(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
        """numpy-ready inputs (tuple or dict) and the torch device to return outputs on."""
        device = None
        names = [i.name for i in self._inputs]

        def one(x: Any, name: str | None) -> Any:
            nonlocal device
            if type(x) is np.ndarray or x is None:  # None: an absent optional input
                return x
            if _is_torch(x):
                if device is None:
                    device = x.device
                return x.detach().cpu().numpy()
            if isinstance(x, np.ndarray):
                return x
            dtype = self._input_dtypes.get(name) if name is not None else None
            if dtype is None and (x is None or isinstance(x, (list, tuple, dict))):
                # A sequence, map or absent optional: the native layer converts its elements.
                items = x.values() if isinstance(x, dict) else (x or ())
                first = next((v for v in items if _is_torch(v)), None)
                if device is None and first is not None:
                    device = first.device
                return _torch_to_numpy(x)
            try:
                return np.asarray(x, dtype=None if dtype in (None, "string") else dtype)
            except (OverflowError, ValueError, TypeError) as e:
                raise InvalidInputError(
                    f"input `{name}`: cannot convert {type(x).__name__} to {dtype}: {e}"
                ) from None

        if kwargs:
            if args:
                feeds = dict(zip(names, args))
                for k, v in kwargs.items():
                    if k in feeds:
                        raise TypeError(f"input `{k}` given both by position and by name")
                    feeds[k] = v
            else:
                feeds = dict(kwargs)
            return {k: one(v, k) for k, v in feeds.items()}, device
        return tuple(one(x, names[i] if i < len(names) else None) for i, x in enumerate(args)), device

    def _run(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], Any]:
        if not kwargs:
            for a in args:
                if type(a) is not np.ndarray:
                    break
            else:
                return self.run_arrays(args), None
        feeds, device = self._convert(args, kwargs)
        outputs: list[Any] = self.run_arrays(feeds)
        if device is not None:
            import torch  # only reached when a torch tensor was passed in

            outputs = [_numpy_to_torch(o, device) for o in outputs]
        return outputs, device

    @overload
    def __call__(self, *args: npt.NDArray[Any], **kwargs: npt.NDArray[Any]) -> npt.NDArray[Any]: ...
    @overload
    def __call__(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor: ...
    @overload
    def __call__(self, *args: npt.ArrayLike, **kwargs: npt.ArrayLike) -> npt.NDArray[Any]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the model: numpy in, numpy out; torch in, torch out.

        Args:
            *args: the inputs by position, in the order of :attr:`inputs`: numpy arrays, torch
                tensors (any device; moved to the CPU for ONNX Runtime), or lists/scalars
                (converted to the input's dtype). Each must match its input's dtype and shape
                (``str`` arrays for string inputs; free dimensions such as ``batch`` any size).
            **kwargs: the inputs by name instead (``model(input_ids=..., mask=...)``).

        Returns:
            One output bare, several as a tuple, in the order of :attr:`outputs`: numpy arrays
            of the output's dtype and shape (fresh, owned by the caller); torch tensors on the
            device of the first torch input when any input is a torch tensor. (Type checkers
            see one array or tensor; a tuple of several unpacks the same way.)

        Raises:
            InvalidInputError: a missing, extra or unknown input, or a dtype/rank/shape that
                does not match the model's (the message names the input and what it expects).
            OnnxRuntimeError: ONNX Runtime failed while running the graph.
        """
        # The native base class runs numpy arrays by position without leaving C; everything
        # else (keywords, torch tensors, lists) goes through _call_slow.
        return _NATIVE_CALL(self, *args, **kwargs)

    def _call_slow(self, *args: Any, **kwargs: Any) -> Any:
        """``model(...)`` with keywords, torch tensors, lists or scalars (the native ``__call__``
        handles numpy arrays by position itself)."""
        outputs, _ = self._run(args, kwargs)
        return outputs[0] if self._single_output else tuple(outputs)

    def run_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Runs the model like calling it, and returns every output by name.

        Args:
            *args: the inputs by position, as for ``model(...)``.
            **kwargs: the inputs by name.

        Returns:
            ``{output name: array or tensor}`` in the order of :attr:`outputs`.

        Raises:
            InvalidInputError: an input does not match the model's (name, dtype or shape).
            OnnxRuntimeError: ONNX Runtime failed while running the graph.
        """
        outputs, _ = self._run(args, kwargs)
        return {info.name: out for info, out in zip(self._outputs, outputs)}

    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        run_options: Any = None,
    ) -> list[Any]:
        """``onnxruntime.InferenceSession.run`` compatible.

        Args:
            output_names: the outputs to return, by name; None for all.
            input_feed: ``{input name: numpy array or torch tensor}``.
            run_options: accepted for compatibility; must be None.

        Returns:
            The outputs in ``output_names`` order (numpy arrays; torch tensors for torch
            inputs).

        Raises:
            InvalidInputError: an unknown output name, or an input that does not match.
            NotImplementedError: ``run_options`` is not None.
        """
        if run_options is not None:
            raise NotImplementedError("run_options are not supported; pass None")
        names = None if output_names is None else list(output_names)
        for v in input_feed.values():
            if type(v) is not np.ndarray:
                break
        else:
            return self.run_arrays(input_feed, names)
        feeds, device = self._convert((), input_feed)
        outputs: list[Any] = self.run_arrays(feeds, names)
        if device is not None:
            import torch

            outputs = [_numpy_to_torch(o, device) for o in outputs]
        return outputs

    # ----- auto-optimisation -----------------------------------------------------------------
    #: The tuning profile applied when the model was loaded from a registry (a
    #: :class:`lepton_ai.Profile` of this machine), or None (untuned, or ``tuned=False``).
    profile: Any = None

    def autotune(self, inputs_or_dataset: Any, **kwargs: Any) -> Any:
        """Finds the fastest safe way to run this model on this machine; returns a
        :class:`lepton_ai.TuneReport`. See :func:`lepton_ai._tune.autotune` for the arguments
        (``objective="latency" | "throughput"``, ``labels=``, ``max_accuracy_drop=0.005``,
        ``budget_s=60``, ...). The model itself is not changed: ``report.load()`` loads the
        pick; ``LeptonAI.autotune_model`` also stores it in the registry.

        Args:
            inputs_or_dataset: example inputs (arrays, one row or a batch) or a
                :class:`lepton_ai.Dataset` the trials run on.
            **kwargs: the search options of :func:`lepton_ai._tune.autotune`.

        Returns:
            A :class:`lepton_ai.TuneReport` (every trial, the pick, the speedup).

        Raises:
            InvalidArgumentError: an unknown option or inputs that do not fit the model.
            InvalidInputError: inputs whose dtype or shape the model refuses.
        """
        from ._tune import autotune

        return autotune(self, inputs_or_dataset, **kwargs)

    # ----- torch-like conveniences -----------------------------------------------------------
    def eval(self) -> "Model":
        """Returns self (an ONNX model has no training mode); lets torch-style code run as is.

        Returns:
            This model, unchanged.
        """
        return self

    #: Where the model came from (``lepton_ai.export_model`` fills it in: framework, exporter,
    #: opset, parity figures); ``LeptonAI.push_model`` records it in the registry.
    provenance: dict[str, Any] | None = None

    def to(self, device: Any) -> "Model":
        """torch's habit: ``"cpu"`` returns this model; ``"cuda"`` / ``"cuda:N"`` (or a
        ``torch.device``) returns it loaded on the CUDA execution provider of that device,
        strictly: write ``model = model.to(device)``.

        Args:
            device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.

        Returns:
            This model (``"cpu"``) or a copy loaded on that CUDA device.

        Raises:
            ProviderUnavailableError: no CUDA provider (or no such device) in the loaded runtime.
            InvalidArgumentError: another device kind.
        """
        name = str(device)
        if name == "cpu":
            return self
        if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
            moved = load_model(self.onnx_bytes(), providers=[name], strict=True)
            moved._source_key = self._source_key
            moved.provenance = self.provenance
            return moved
        raise InvalidArgumentError(f"device must be \"cpu\", \"cuda\" or \"cuda:N\", got {name!r}")

    # ----- persistence -----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The ONNX bytes of the model (clear, as loaded).

        Returns:
            The serialized ONNX ``ModelProto``.
        """
        return self.onnx_bytes()

    #: The key of an encrypted source (an encrypted file, or a keyed registry): what
    #: :meth:`save` seals with by default, so a model from an encrypted source never lands on
    #: disk in clear by accident.
    _source_key: Any = None

    def save(self, path: "PathLike", *, key: Any = None, decrypt: bool = False) -> None:
        """Writes the model to one file that :func:`load_model` reads back.

        With ``key`` (a :class:`lepton_ai.Key`, 32 bytes or 64 hex characters) the file is
        encrypted and authenticated, and ``load_model(path, key=key)`` decrypts it in memory.
        Without ``key``, a model that came from an encrypted source (``load_model(path, key=...)``
        of an encrypted file, or ``LeptonAI.load_model(name, platform=...)`` of a platform with a
        key) is encrypted with that source's key; other models are written as plain ONNX.
        ``decrypt=True`` writes plain ONNX even from an encrypted source (the clear model then
        sits on disk: only do it on purpose). The write is atomic: a crash leaves the old file or
        none.

        Args:
            path: the file to write (str or PathLike).
            key: a :class:`lepton_ai.Key`, 32 bytes or 64 hex characters; None: the source's
                key, if any.
            decrypt: write plain ONNX even when the model came from an encrypted source.

        Raises:
            InvalidArgumentError: both ``key`` and ``decrypt=True``.
        """
        if decrypt and key is not None:
            raise InvalidArgumentError("give key= (encrypt) or decrypt=True (plain), not both")
        if key is None and not decrypt:
            key = self._source_key
        save_model_file(path, self.onnx_bytes(), key)

    def __repr__(self) -> str:
        ins = ", ".join(str(i) for i in self._inputs)
        outs = ", ".join(str(o) for o in self._outputs)
        return f"Model(inputs=[{ins}], outputs=[{outs}], providers={self.providers})"


def _side_files(files: Mapping[str, Any]) -> dict[str, bytes]:
    """``{location: bytes}`` from a mapping of bytes-like values."""
    out = {}
    for name, data in files.items():
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"external_data[{name!r}] must be the side file's bytes, got {type(data).__name__}"
            )
        out[str(name)] = bytes(data)
    return out


def load_model(
    source: "PathLike | bytes",
    *,
    providers: str | Sequence[str | tuple[str, dict[str, Any]]] | None = None,
    strict: bool = False,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    optimization_level: str | int | None = None,
    runtime_path: "PathLike | None" = None,
    key: Any = None,
    external_data: Mapping[str, bytes] | None = None,
) -> Model:
    """Loads an ONNX model from a file path or from its bytes.

    Args:
        source: path of an ``.onnx`` file (str or PathLike), or the model's bytes.
        providers: execution providers in priority order: ``"cuda"`` (or ``"cuda:1"``),
            ``"cpu"``; onnxruntime's names (``"CUDAExecutionProvider"``,
            ``"TensorrtExecutionProvider"``, ``"OpenVINOExecutionProvider"``,
            ``"ROCMExecutionProvider"``, ``"CoreMLExecutionProvider"``, ``"DmlExecutionProvider"``
            ...) and onnxruntime's ``(name, {option: value})`` pairs work too; options pass
            through to ONNX Runtime. A provider the loaded runtime lacks falls back to CPU
            (``fallback_reason`` says why), or raises with ``strict``. Default: CPU.
        strict: raise :class:`~lepton_ai.ProviderUnavailableError` instead of falling back to CPU
            when a requested provider is unavailable.
        intra_op_threads: threads inside one operator (default: the thread pool every model of
            the process shares, one thread per physical core or ``LEPTON_INTRA_OP_THREADS``;
            a number gives the model its own pool).
        inter_op_threads: threads across parallel graph branches (>1 enables parallel execution,
            on thread pools of the model's own).
        optimization_level: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"`` (default).
        runtime_path: ONNX Runtime library to load (default: ``ORT_DYLIB_PATH``, then the
            installed ``onnxruntime`` package, then the system library path).
        key: the key of a file written by ``Model.save(path, key=...)``; it is decrypted in
            memory, never written in clear to disk, and the model remembers it so that
            ``model.save(path)`` encrypts again (``decrypt=True`` to write plain ONNX).
        external_data: with ``source`` as bytes, the model's external-data side files as
            ``{location written in the model: file bytes}`` (e.g. ``{"model.onnx_data": ...}``).
            A model loaded by path finds its side files next to the file, as onnxruntime does.
            Either way the weights are put inline: ``to_bytes``, ``save`` and ``push_model``
            keep every weight in one self-contained model.

    Returns:
        The loaded :class:`Model` (its ``inputs``/``outputs`` give names, dtypes and shapes).

    Raises:
        NotFoundError: the file, or an external-data side file it names, does not exist.
        KeyRequiredError: the file is encrypted and no ``key=`` was given (pass it).
        WrongKeyError: ``key`` is not the key the file was saved with.
        InvalidModelError: the data is empty, truncated or not ONNX, or ONNX Runtime rejects it.
        RuntimeNotFoundError: no ONNX Runtime library could be loaded (the message lists where).
        ProviderUnavailableError: with ``strict=True``, a requested provider is unavailable.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        src: Any = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        src = os.fspath(source)
    else:
        raise TypeError(f"load_model expects a path or bytes, got {type(source).__name__}")
    sealed = is_encrypted_model_file(src)
    if key is not None or sealed:
        src = read_model_file(src, key)
    model = Model(
        src,
        **_native_options(
            providers, strict, intra_op_threads, inter_op_threads, optimization_level, runtime_path
        ),
        external_data=None if external_data is None else _side_files(external_data),
    )
    if sealed:
        model._source_key = key
    return model


def _native_options(
    providers: str | Sequence[str | tuple[str, dict[str, Any]]] | None,
    strict: bool,
    intra_op_threads: int | None,
    inter_op_threads: int | None,
    optimization_level: str | int | None,
    runtime_path: "PathLike | None",
) -> dict[str, Any]:
    """:func:`load_model`'s runtime options as ``NativeModel`` takes them."""
    if isinstance(providers, str):
        providers = [providers]
    return dict(
        providers=None if providers is None else list(providers),
        strict=strict,
        intra_op_threads=intra_op_threads,
        inter_op_threads=inter_op_threads,
        optimization_level=None if optimization_level is None else str(optimization_level),
        runtime_path=None if runtime_path is None else os.fspath(runtime_path),
        python_runtime=find_onnxruntime_library(),
    )


def _load_registry_model(
    platform: _lepton.Platform,
    name: str,
    version: int | None,
    progress: Callable[[int, int], Any] | None = None,
    tuning: str | None = None,
    **options: Any,
) -> Model:
    """Model ``name`` at ``version`` (None: latest) loaded by the native registry itself: a model
    stored as one object is decrypted in memory and handed to ONNX Runtime from there (no copy
    through Python bytes); an object set's weights objects go to ONNX Runtime as external
    initializers, so the model is never one protobuf and may pass 2 GiB. ``progress(done,
    total)`` follows the download. ``tuning``: this machine's fingerprint id, to apply its stored
    profile where ``options`` leave a setting unset (``model.profile_json`` says which was).
    ``options`` are :func:`_native_options`' keywords (:func:`load_model`'s runtime ones, every
    one given); errors as :meth:`LeptonAI.load_model`."""
    return Model(
        name,
        **_native_options(**options),
        platform=platform,
        version=version,
        progress=progress,
        tuning=tuning,
    )
