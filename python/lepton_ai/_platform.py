"""``LeptonAI``: a registry of models and datasets in an object store.

    platform = LeptonAI()                          # ~/.lepton/registry (or $LEPTON_HOME/registry)
    platform = LeptonAI("s3://bucket/prefix")      # credentials from AWS_* env or storage_options
    platform.push_model("medical_diagnosis", "model.onnx", metadata={"auc": 0.97})
    model = LeptonAI.load_model("medical_diagnosis", platform=platform)

Versions are immutable and numbered 1, 2, ...; ``version=None`` means the latest committed one.
Pushes are encrypted by default (key from ``key=``, ``$LEPTON_KEY`` or ``$LEPTON_HOME/key``;
``encrypt=False`` stores in clear) and decrypted in memory only. Remote registries keep a
verified local cache, so models loaded once keep loading when the network is gone.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _lepton
from ._model import Model, _load_registry_model, load_model as _load_model
from ._model_file import KeyLike, is_encrypted_model_file, key_bytes
from ._progress import Progress, progress_callback
from ._schema_arg import SchemaArg, frame_schema, schema_spec
from ._tune import Profile, TuneReport, machine_fingerprint
from .errors import InvalidArgumentError

__all__ = ["DatasetInfo", "LeptonAI", "ModelInfo"]

logger = logging.getLogger("lepton_ai")

PathLike = Union[str, "os.PathLike[str]"]


#: The manifest of one model version in a registry (a frozen native class): ``name``,
#: ``version``, ``size`` (bytes of the ONNX model), ``stored_bytes`` (bytes stored; larger when
#: encrypted), ``sha256`` (of the stored object, checked on every read), ``encrypted``,
#: ``created_unix``, ``metadata``, ``object``, ``provenance`` (framework and version, exporter,
#: opset, parity figures; empty for ONNX pushed as is), ``format`` (1: one self-contained object,
#: 2: an object set, 3: either, keyed), ``weights_objects`` and ``weights_bytes`` (an object set's
#: weights objects and their plaintext bytes; 0 otherwise).
ModelInfo = _lepton.ModelInfo


#: What the registry knows about one dataset split version (a frozen native class): ``name``,
#: ``split``, ``version``, ``rows``, ``chunks``, ``stored_bytes`` (compressed, encrypted),
#: ``raw_bytes`` (before compression), ``encrypted``, ``columns`` (``ColumnInfo``: ``name``,
#: ``dtype``, ``shape``), ``metadata``, ``authenticated`` (False when an encrypted manifest was read
#: without the key) and ``dataset_id``.
DatasetInfo = _lepton.DatasetInfo


class _PlatformMethod(staticmethod):  # type: ignore[type-arg]
    """A static method that, called on an instance, fills in ``platform=`` with it.

    ``LeptonAI.load_model("m", platform=p)`` and ``p.load_model("m")`` do the same thing. It is a
    ``staticmethod`` (type checkers see the function's own signature, so a typo such as
    ``platfrom=`` is an error) whose instance access is a bound method that fills in
    ``platform=`` (one given to the call wins). The method is built once, here, and bound per
    access by ``types.MethodType`` (a small model loads in well under a millisecond: no wrapper
    is built per call); ``help()`` and ``inspect.signature`` show the function's own signature.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        super().__init__(func)

        @functools.wraps(func)
        def method(platform: Any, /, *args: Any, **kwargs: Any) -> Any:
            platform = kwargs.pop("platform", platform)
            if not args:  # everything by keyword (or nothing: the function says what is missing)
                return func(platform=platform, **kwargs)
            # ``p.load_model("m", 2)``: the positional arguments after the name come after
            # ``platform`` in the function's own signature.
            return func(args[0], platform, *args[1:], **kwargs)

        # The method's own signature: the function's without ``platform`` (which the instance
        # gives; ``platform=`` may still be passed by keyword, and wins).
        signature = inspect.signature(func)
        this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        rest = [p for p in signature.parameters.values() if p.name != "platform"]
        setattr(method, "__signature__", signature.replace(parameters=[this, *rest]))
        self._method = method

    def __get__(self, obj: Any, objtype: Any = None) -> Callable[..., Any]:
        if obj is None:
            func: Callable[..., Any] = self.__func__
            return func
        return types.MethodType(self._method, obj)


if TYPE_CHECKING:
    from ._dataset import Dataset
    from ._writer import DatasetWriter


class LeptonAI:
    """A registry of models and datasets in an object store.

    Args:
        uri: where the registry lives. ``None``: the local default (``$LEPTON_HOME/registry``,
            else ``~/.lepton/registry``), created on first use. A local path or ``file://``;
            ``memory://`` (kept alive by this object; ``memory://NAME`` is shared in-process);
            ``s3://bucket/prefix``, ``gs://...``, ``az://...`` (credentials and endpoints from the
            usual environment variables, e.g. ``AWS_ENDPOINT``, or ``storage_options``);
            ``http(s)://host/prefix`` for read-only registries.
        key: models and datasets pushed are encrypted with it (``lepton_ai.Key``, 32 bytes or 64
            hex chars), and encrypted ones need it to load. ``None``: ``$LEPTON_KEY``, else the
            key file ``$LEPTON_HOME/key`` (the local default registry creates it, mode 0600, on
            its first push). Registries are encrypted by default: a push with no key at all
            raises ``KeyRequiredError``, unless ``encrypt=False``.
        cache_dir: the local cache folder. Remote registries use ``~/.lepton/cache`` when unset;
            local and in-memory ones use a cache only when it is set.
        storage_options: backend options by ``object_store`` name (``aws_endpoint``,
            ``aws_region``, ``allow_http``, ``timeout``, ``connect_timeout``, ...) plus
            ``max_retries`` and ``retry_timeout``.
        cache_max_bytes: the cache's size bound (default 10 GiB); least recently used first out.
        cache: ``False`` turns the cache off.
        progress: default for transfers: ``None`` automatic, ``True``/``False``, or a callable.
        encrypt: ``False`` stores pushes in clear: the explicit choice of plaintext (no key is
            looked up then). ``None`` (default): encrypted, with the key found as above.

    Raises:
        InvalidArgumentError: an unknown URI scheme, a malformed storage option, key,
            ``$LEPTON_KEY`` or key file.
        NotFoundError: a local registry path that does not exist (read-only use).

    Opening does not touch the network; an unreachable registry raises ``UnreachableError`` on
    first use, after bounded timeouts and retries.
    """

    def __init__(
        self,
        uri: Optional[PathLike] = None,
        key: KeyLike = None,
        cache_dir: Optional[PathLike] = None,
        *,
        storage_options: Optional[Mapping[str, Any]] = None,
        cache_max_bytes: Optional[int] = None,
        cache: bool = True,
        progress: Progress = None,
        encrypt: Optional[bool] = None,
    ) -> None:
        uri_str = None if uri is None else os.fspath(uri)
        self._key_raw = key_bytes(key)
        self._storage_options = (
            None if storage_options is None else {str(k): str(v) for k, v in storage_options.items()}
        )
        self._progress = progress
        self._native = _lepton.Platform(
            uri_str,
            self._key_raw,
            None if cache_dir is None else os.fspath(cache_dir),
            cache_max_bytes,
            not cache,
            self._storage_options,
            encrypt,
        )
        # What reopens this registry in another process (a pickled dataset, see load_dataset).
        self._reopen: Dict[str, Any] = {
            "uri": self._native.reopen_uri,
            "uri_is_secret": self._native.reopen_uri_is_secret,
            "process_local": self._native.process_local,
            "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
            "cache_max_bytes": cache_max_bytes,
            "no_cache": not cache,
            "storage_options": self._storage_options,
        }

    def __repr__(self) -> str:
        return f"LeptonAI({self.uri!r}{', encrypted' if self.encrypted else ''})"

    @property
    def uri(self) -> str:
        """The URI (or path) the registry was opened with."""
        return self._native.uri

    @property
    def encrypted(self) -> bool:
        """Whether this platform has a key (pushes are encrypted by default then)."""
        return self._native.has_key

    @property
    def cache_dir(self) -> Optional[str]:
        """The local cache folder, or None."""
        d = self._native.cache_dir
        return None if d is None else os.fspath(d)

    @property
    def read_only(self) -> bool:
        """Whether the registry is read-only (served over plain HTTP)."""
        return self._native.read_only

    # ----- models -------------------------------------------------------------------------

    def push_model(
        self,
        name: str,
        model: Any,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
        encrypt: Optional[bool] = None,
        key: KeyLike = None,
        progress: Progress = None,
        example_inputs: Any = None,
        inline_limit: Optional[int] = None,
        **export: Any,
    ) -> ModelInfo:
        """Pushes a model as the next version of ``name``.

        Concurrent pushes of one name each get their own version; an interrupted push leaves
        no visible version.

        ``model`` may also be a ``torch.nn.Module``, a scikit-learn estimator or ``Pipeline`` or
        an ``onnx.ModelProto``: it is exported and checked on ``example_inputs`` as
        ``lepton_ai.export_model`` does (its keywords: ``check=``, ``rtol=``, ``input_names=``,
        ...), and the provenance (framework, exporter, opset, parity figures) is recorded as
        ``ModelInfo.provenance``. Raises ``ExportError`` when the export differs from the
        original beyond tolerance.

        Args:
            name: the model's name (letters, digits, ``._-``; no ``/``).
            model: an ``.onnx`` (or encrypted ``.model``) file path, the ONNX bytes, a
                loaded :class:`~lepton_ai.Model`, an ``onnx.ModelProto``, a
                ``torch.nn.Module`` or a scikit-learn estimator/``Pipeline`` (the last two
                need ``example_inputs``).
            metadata: any JSON-serializable dict, stored in the manifest.
            encrypt: encrypt with the platform's key (default: yes, unless the platform was opened
                with ``encrypt=False``).
            key: decrypts an encrypted model file given by path or bytes.
            progress: None (a bar for uploads of 1 MiB or more on a terminal or notebook),
                True, False, or a callable ``(done_bytes, total_bytes)``.
            inline_limit: for a path whose model keeps its weights in side files (ONNX external
                data): past this many bytes (model and side files; default 2 GiB, protobuf's
                limit) it is stored as an object set, the graph plus weights objects of at most
                64 MiB each, sealed one by one, never one protobuf; below it, as one
                self-contained model. A lower value is for tests and to bound the memory a push
                or a load takes.
            example_inputs: for a torch module or scikit-learn estimator: the inputs the export
                is traced and parity-checked on (torch: a tensor or tuple of tensors, batch first;
                scikit-learn: a 2-D array ``[rows, features]``).
            **export: the keywords of :func:`lepton_ai.export_model` (``check``, ``rtol``,
                ``atol``, ``input_names``, ``output_names``, ``dynamic_batch``, ``opset``,
                ``zipmap``).

        Returns:
            The new version's manifest (``version``, ``size`` in bytes, ``sha256``, ...;
            ``weights_objects > 0`` for an object set).

        Raises:
            InvalidArgumentError: a bad name, metadata that is not JSON, or an unknown model
                type.
            ExportError: the export failed or differs from the original beyond tolerance.
            MissingExtraError: torch/onnxscript or skl2onnx is missing (names the extra).
            KeyRequiredError: no key (none given, in ``$LEPTON_KEY`` or the key file) and no
                ``encrypt=False``; ``encrypt=True`` without a key; or an encrypted file without
                ``key``.
            ReadOnlyError: the registry is read-only (HTTP).
            PermissionDeniedError, UnreachableError: the store refused or cannot be reached.
        """
        try:
            meta_json = None if metadata is None else json.dumps(dict(metadata))
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"metadata must be JSON-serializable: {e}") from None
        if (
            isinstance(model, (str, os.PathLike))
            and key is None
            and not is_encrypted_model_file(os.fspath(model))
        ):
            # A plain file: the native side reads it (and its side files) and picks one object
            # or an object set by size, so a model past 2 GiB never becomes one protobuf.
            provenance: Dict[str, Any] = {"framework": "onnx", "exporter": None}
            with progress_callback(self._pick(progress), f"push {name}") as cb:
                info = self._native.push_model_file(
                    name,
                    os.fspath(model),
                    inline_limit,
                    meta_json,
                    encrypt,
                    cb,
                    json.dumps(provenance),
                )
        else:
            from ._export import model_onnx_and_provenance

            onnx, provenance = model_onnx_and_provenance(model, example_inputs, key=key, **export)
            with progress_callback(self._pick(progress), f"push {name}") as cb:
                info = self._native.push_model(
                    name, onnx, meta_json, encrypt, cb, json.dumps(provenance)
                )
        logger.info("pushed model %s version %d to %s", name, info.version, self.uri)
        return info

    @staticmethod  # bound to instances by _PlatformMethod below the class
    def load_model(
        name_or_path: Union[str, PathLike, bytes],
        platform: Optional["LeptonAI"] = None,
        version: Optional[int] = None,
        *,
        key: KeyLike = None,
        progress: Progress = None,
        providers: Union[str, Sequence[Union[str, Tuple[str, Dict[str, Any]]]], None] = None,
        strict: bool = False,
        intra_op_threads: Optional[int] = None,
        inter_op_threads: Optional[int] = None,
        optimization_level: Union[str, int, None] = None,
        runtime_path: Optional[PathLike] = None,
        external_data: Optional[Mapping[str, bytes]] = None,
        tuned: bool = True,
    ) -> Model:
        """Loads a model: ``name`` from ``platform``, or a file path / ONNX bytes without one.

        Also callable on an instance: ``platform.load_model(name)`` fills in ``platform``. A
        model loaded from a platform with a key remembers it: ``model.save(path)`` writes an
        encrypted file (``LeptonAI.load_model(path, key=...)`` reads it back;
        ``model.save(path, decrypt=True)`` writes plain ONNX).

        Args:
            name_or_path: with ``platform``, the model's name in the registry; without, the
                path of an ``.onnx`` (or encrypted ``.model``) file, or the model's bytes.
            platform: the registry to load ``name`` from (None: ``name_or_path`` is a file).
            version: the version (1, 2, ...) to load; None for the latest. Needs ``platform``.
            key: decrypts an encrypted model file (``Key``, 32 bytes, 64 hex digits or 44
                base64 characters); a platform's models use the platform's key.
            progress: the download's progress: None (a bar on a terminal or notebook), True,
                False, or a callable ``(done_bytes, total_bytes)``.
            providers: execution providers in priority order, e.g. ``["cuda", "cpu"]``
                (default: CPU).
            strict: raise ProviderUnavailableError instead of falling back to CPU.
            intra_op_threads: threads inside one operator (default: the pool all models of the
                process share, one thread per physical core or ``LEPTON_INTRA_OP_THREADS``; a
                number gives the model its own pool).
            inter_op_threads: threads across parallel graph branches (>1: parallel execution,
                on thread pools of the model's own).
            optimization_level: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``.
            runtime_path: the ONNX Runtime library to load (default: ``ORT_DYLIB_PATH``, then
                the installed ``onnxruntime`` package).
            external_data: without ``platform``, when ``name_or_path`` is the model's bytes:
                its external-data side files, ``{location: bytes}`` (a path finds them next to
                the file by itself).
            tuned: apply the tuning profile ``autotune_model`` stored for this machine (options
                given here win over it; ``model.profile`` says which); profiles of other machines
                are ignored. False: ONNX Runtime's defaults.

        Returns:
            The loaded :class:`~lepton_ai.Model`; ``model(x)`` runs it.

        Raises:
            NotFoundError: no such model, version or file.
            KeyRequiredError: the model is encrypted and no key was given.
            WrongKeyError: the key is not the model's.
            InvalidModelError: the bytes are not a model ONNX Runtime accepts.
            InvalidArgumentError: ``version`` without ``platform``, or a non-str name with one.
            RuntimeNotFoundError: no ONNX Runtime library could be loaded.
            UnreachableError: the registry's store cannot be reached (and nothing is cached).
        """
        options: Dict[str, Any] = dict(
            providers=providers,
            strict=strict,
            intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads,
            optimization_level=optimization_level,
            runtime_path=runtime_path,
        )
        if platform is None:
            if version is not None:
                raise InvalidArgumentError(
                    "version= needs a registry: LeptonAI.load_model(name, platform=..., version=...)"
                )
            return _load_model(name_or_path, key=key, external_data=external_data, **options)
        if external_data is not None:
            raise InvalidArgumentError(
                "external_data= is for a model given as bytes; a registry model carries its weights"
            )
        if not isinstance(name_or_path, str):
            raise InvalidArgumentError(
                f"with platform=, give a model name (str), got {type(name_or_path).__name__}"
            )
        # One native call resolves the version once, looks up this machine's profile there (the
        # options given here win over it), verifies and loads: one object is decrypted in memory
        # and handed to ONNX Runtime without a round trip through Python bytes; an object set's
        # weights objects go to ONNX Runtime as external initializers (no 2 GiB limit).
        tuning = machine_fingerprint().id if tuned else None
        with progress_callback(platform._pick(progress), f"pull {name_or_path}") as cb:
            model = _load_registry_model(
                platform._native, name_or_path, version, progress=cb, tuning=tuning, **options
            )
        applied = model.profile_json
        model.profile = None if applied is None else Profile._from_json(applied)
        if platform._key_raw is not None:
            # ``model.save(path)`` then encrypts with the platform key (``decrypt=True`` for plain).
            model._source_key = platform._key_raw
        return model

    def model_bytes(
        self, name: str, version: Optional[int] = None, *, progress: Progress = None
    ) -> bytes:
        """The ONNX bytes of model ``name``, decrypted in memory, through the cache.

        Args:
            name: the model's name.
            version: the version; None for the latest.
            progress: as for :meth:`push_model`.

        Returns:
            The clear ONNX bytes (``len`` equals the manifest's ``size``).

        Raises:
            NotFoundError: no such model or version.
            KeyRequiredError, WrongKeyError: the model is encrypted and the key is missing or
                not the model's.
            IntegrityError: the stored bytes do not match the manifest's hash.
        """
        return self._pull_model(name, version, progress)[1]

    def _pull_model(
        self, name: str, version: Optional[int], progress: Progress
    ) -> "tuple[ModelInfo, bytes]":
        """The manifest summary and the clear ONNX bytes of ``name``, through the cache."""
        with progress_callback(self._pick(progress), f"pull {name}") as cb:
            info, onnx = self._native.model_bytes(name, version, cb)
        # Where it came from (the registry, or its cache when unreachable: a UserWarning) is
        # logged by the core, through the ``lepton_ai`` logger.
        return info, onnx

    # ----- auto-optimisation ------------------------------------------------------------------

    def profile(self, name: str, version: Optional[int] = None) -> Optional[Profile]:
        """The tuning profile stored for this machine for ``name`` at ``version``.

        Args:
            name: the model's name.
            version: the version; None for the latest.

        Returns:
            This machine's :class:`Profile` for that version, or None when it was not tuned here.

        Raises:
            NotFoundError: no such model or version.
        """
        text = _lepton.get_profile(self._native, name, machine_fingerprint().id, version)
        return None if text is None else Profile._from_json(text)

    def autotune_model(
        self,
        name: str,
        validation: Any,
        *,
        version: Optional[int] = None,
        push: bool = True,
        **kwargs: Any,
    ) -> TuneReport:
        """Tunes ``name`` (latest, or ``version``) on this machine and remembers the pick.

        ``validation`` is ``(dataset name, split)`` (or ``"dataset:split"``, as the CLI takes it) in
        this registry, a ``Dataset``, or arrays
        (see ``Model.autotune``; other keyword arguments go there: ``objective=``, ``labels=``,
        ``max_accuracy_drop=``, ``budget_s=``...). With ``push`` the pick is stored as a profile
        keyed by this machine's fingerprint; when the pick is a transformed model (int8), it is
        pushed first as a new version whose metadata records where it came from, and the
        profile goes with that version. ``report.version`` is the version the profile is on.

        Args:
            name: the model's name.
            validation: what the trials run on (see above).
            version: the version to tune; None for the latest.
            push: store the pick (and a transformed pick as a new version) in the registry.
            **kwargs: :meth:`Model.autotune` options.

        Returns:
            The :class:`TuneReport` (``report.version``: the version the profile is on).

        Raises:
            NotFoundError: no such model, version or validation dataset.
            InvalidArgumentError: an unknown option or validation data that does not fit.
        """
        info, onnx = self._pull_model(name, version, False)
        model = _load_model(onnx)
        data = validation
        if isinstance(validation, str):
            dataset, sep, split = validation.partition(":")
            if not sep or not dataset or not split:
                raise InvalidArgumentError(
                    f"validation={validation!r}: give (dataset, split), 'dataset:split', a "
                    "Dataset or arrays"
                )
            validation = (dataset, split)
            data = validation
        if isinstance(validation, tuple) and len(validation) == 2 and isinstance(validation[0], str):
            data = self.load_dataset(validation[0], split=validation[1])
        report: TuneReport = model.autotune(data, **kwargs)
        report.version = info.version
        if not push:
            return report
        target = info.version
        if report.best.variant != "original":
            check = next(c for c in report.checks if c.transform == report.best.variant)
            metadata = dict(info.metadata or {})
            metadata["autotune"] = {
                "derived_from": {"name": name, "version": info.version, "sha256": info.sha256},
                "transform": report.best.variant,
                "check": check.reason,
                "metric": check.metric,
                "fingerprint": machine_fingerprint().id,
            }
            pushed = self.push_model(name, report.best_model_bytes(), metadata=metadata)
            target = pushed.version
        report.version = _lepton.put_profile(self._native, name, report.profile_json(), target)
        logger.info("stored tuning profile of %s version %d for this machine", name, target)
        return report

    def list_models(self) -> List[str]:
        """Names of the models with at least one version.

        Returns:
            The names, sorted; empty for an empty registry.

        Raises:
            PermissionDeniedError, UnreachableError: the store refused or cannot be reached.
        """
        return self._native.list_models()

    def model_versions(self, name: str) -> List[int]:
        """The committed versions of model ``name``.

        Args:
            name: the model's name.

        Returns:
            The version numbers, ascending; empty when ``name`` has none.

        Raises:
            InvalidArgumentError: ``name`` is not a valid model name.
        """
        return self._native.model_versions(name)

    def model_info(self, name: str, version: Optional[int] = None) -> ModelInfo:
        """The manifest of model ``name`` at ``version``.

        Args:
            name: the model's name.
            version: the version; None for the latest.

        Returns:
            The manifest: ``size``/``stored_bytes`` in bytes, ``sha256``, ``encrypted``,
            ``created_unix`` (seconds), ``metadata``.

        Raises:
            NotFoundError: no such model or version (the message lists the names there).
        """
        return self._native.model_info(name, version)

    def delete_model(self, name: str, version: Optional[int] = None) -> None:
        """Deletes one version of model ``name``, or all of them. A deleted version's number is
        never given to a later push; deleting every version removes the model, and a later push
        of that name starts again at version 1.

        Args:
            name: the model's name.
            version: the version to delete; None deletes every version.

        Raises:
            NotFoundError: no such model or version.
            ReadOnlyError: the registry is read-only.
        """
        self._native.delete_model(name, version)
        logger.info("deleted model %s%s from %s", name, "" if version is None else f" v{version}", self.uri)

    def verify_model(
        self, name: str, version: Optional[int] = None, *, progress: Progress = None
    ) -> ModelInfo:
        """Re-reads model ``name`` from the store (not the cache), checks its hash and, when
        encrypted, authenticates it with the key.

        Args:
            name: the model's name.
            version: the version; None for the latest.
            progress: as for :meth:`push_model`; counts the bytes read and checked (the stored
                graph, then the weights objects of an object set).

        Returns:
            The verified version's manifest.

        Raises:
            IntegrityError: the stored bytes do not match the manifest (tampered, truncated).
            WrongKeyError: the platform's key is not the model's.
            NotFoundError: no such model or version.
        """
        with progress_callback(self._pick(progress), f"verify {name}") as cb:
            return self._native.model_info(name, version, verify=True, progress=cb)

    # ----- datasets -----------------------------------------------------------------------

    def push_dataset(
        self,
        name: str,
        split: str,
        data: Any,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
        encrypt: Optional[bool] = None,
        chunk_bytes: int = 4 << 20,
        schema: Optional[SchemaArg] = None,
        progress: Progress = None,
    ) -> DatasetInfo:
        """Pushes ``data`` as the next version of split ``split`` of dataset ``name``.

        Concurrent pushes each get their own version; a push that fails leaves no visible
        version.

        Args:
            name: the dataset's name.
            split: the split (``"train"``, ``"test"``, ...).
            data: a mapping of column name -> numpy array or torch tensor of shape
                ``(rows, ...)`` (any numeric or bool dtype; every column the same ``rows``), or
                a list of ``str``/``bytes`` (variable length); a stream of such mappings (a
                generator: written as they come, memory bounded by a few chunks; a mapping
                holding a scalar is one row); a list of rows (``[{"text": "a", "label": 1}, ...]``,
                one mapping per row, as ``datasets.Dataset.from_list``); a
                ``lepton_ai.Dataset`` (copied in batches); or a data frame (pandas, polars,
                pyarrow ``Table``/``RecordBatchReader``, Hugging Face ``datasets.Dataset`` or
                streaming ``IterableDataset``).
            metadata: stored with the version; values become strings.
            encrypt: encrypt with the platform's key (default: yes, unless the platform was opened
                with ``encrypt=False``).
            chunk_bytes: uncompressed bytes per chunk (default 4 MiB): the unit of random
                access and of parallel decoding.
            schema: the columns declared up front, as ``Dataset.schema`` reads them back:
                ``{name: (dtype, shape)}`` with ``None`` for each dimension that varies by row
                (``{"tokens": ("int64", (None,))}`` declares variable-length token lists even
                when the first rows share a length), or a ``pyarrow.Schema`` /
                ``datasets.Features``. Default: a pyarrow, polars or Hugging Face frame's own
                schema; else the first batch's columns.
            progress: as for :meth:`push_model`; counts the columns' bytes.

        Returns:
            The new version's summary (``version``, ``rows``, ``chunks``, ``stored_bytes``...).

        Raises:
            SchemaError: columns of different row counts or unsupported dtypes.
            KeyRequiredError: no key (none given, in ``$LEPTON_KEY`` or the key file) and no
                ``encrypt=False``, or ``encrypt=True`` on a platform without a key.
            InvalidArgumentError: a bad name, or ``data`` of another type.
            ReadOnlyError, PermissionDeniedError, UnreachableError: the store refused the write.
        """
        with self.dataset_writer(
            name,
            split,
            metadata=metadata,
            encrypt=encrypt,
            chunk_bytes=chunk_bytes,
            schema=schema if schema is not None else frame_schema(data),
            progress=progress,
        ) as w:
            w._write_all(data)
        return w.info

    def dataset_writer(
        self,
        name: str,
        split: str,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
        encrypt: Optional[bool] = None,
        chunk_bytes: int = 4 << 20,
        schema: Optional[SchemaArg] = None,
        progress: Progress = None,
    ) -> "DatasetWriter[DatasetInfo]":
        """A streaming writer of the next version of split ``split`` of dataset ``name``: give
        it batches (or rows) as they come, with memory bounded by a few chunks whatever the
        total size.

            with platform.dataset_writer("tokens", "train") as w:
                for batch in batches:        # {column: array}, a data frame...
                    w.write(batch)
            w.info.rows

        The version is claimed now and becomes visible when the ``with`` block ends (or on
        ``close()``); an exception inside the block aborts it.

        Args:
            name: the dataset's name.
            split: the split (``"train"``, ``"test"``, ...).
            metadata: stored with the version; values become strings.
            encrypt: encrypt with the platform's key (default: whether the platform has one).
            chunk_bytes: uncompressed bytes per chunk (default 4 MiB).
            schema: the columns declared up front (as for :meth:`push_dataset`); needed for a
                variable-shape column whose first rows may share one shape (``write_row``, a
                first batch of equal lengths). Default: the first batch defines it.
            progress: as for :meth:`push_model`; counts the bytes written (the total is not
                known ahead: ``total_bytes`` is 0).

        Returns:
            The writer; its ``close()`` (and ``info`` after the block) gives the new version's
            ``DatasetInfo``.

        Raises:
            KeyRequiredError: ``encrypt=True`` on a platform without a key.
            SchemaError: ``schema`` declares an unknown dtype or a shape mixing fixed and
                varying (``None``) dimensions.
            InvalidArgumentError: a bad name, or ``schema`` of another type.
            ReadOnlyError, PermissionDeniedError, UnreachableError: the store refused the write.
        """
        from ._writer import DatasetWriter

        native = self._native.dataset_writer(
            name,
            split,
            encrypt,
            None if metadata is None else {str(k): str(v) for k, v in metadata.items()},
            chunk_bytes,
            schema_spec(schema),
        )

        def committed(info: _lepton.DatasetVersionInfo) -> DatasetInfo:
            logger.info("pushed dataset %s/%s version %d to %s", name, split, info.version, self.uri)
            return self.dataset_info(name, split, info.version)

        return DatasetWriter(native, committed, self._pick(progress), f"push {name}/{split}")

    def load_dataset(
        self,
        name: str,
        split: str = "train",
        version: Optional[int] = None,
        *,
        cache_bytes: int = 256 << 20,
    ) -> Dataset:
        """Opens split ``split`` of dataset ``name`` as a :class:`~lepton_ai.Dataset` streaming
        from the store (a torch ``Dataset`` too: ``DataLoader(platform.load_dataset(...))``).

        Args:
            name: the dataset's name in the registry.
            split: the split (``"train"``, ``"test"``, ...).
            version: the version (1, 2, ...); None for the latest.
            cache_bytes: bytes of decoded chunks kept in memory for random access (default
                256 MiB).

        Returns:
            The dataset: ``len(ds)`` rows, ``ds[i]`` a tuple with one value per column,
            ``ds.to_numpy()`` every column, ``ds.iter_batches(n)`` batches.

        Raises:
            NotFoundError: no such dataset, split or version.
            KeyRequiredError: the dataset is encrypted and the platform has no key.
            WrongKeyError: the platform's key is not the dataset's.
            UnreachableError: the registry's store cannot be reached.
        """
        from ._dataset import Dataset

        native = self._native.load_dataset(name, split, version, cache_bytes=cache_bytes)
        logger.info("opening dataset %s/%s version %d from %s", name, split, native.info().version, self.uri)
        # A copy pickled into a DataLoader worker reopens the registry there.
        ds = Dataset._from_registry(native, self._reopen, name, split, self.uri, cache_bytes)
        ds._label = f"{name}/{split}"  # names its progress bars
        return ds

    def list_datasets(self) -> List[str]:
        """Names of the datasets with at least one committed split.

        Returns:
            The names, sorted; empty for an empty registry.
        """
        return self._native.list_datasets()

    def dataset_splits(self, name: str) -> List[str]:
        """The splits of dataset ``name`` with at least one committed version.

        Args:
            name: the dataset's name.

        Returns:
            The split names, sorted; empty when ``name`` has none.

        Raises:
            InvalidArgumentError: ``name`` is not a valid dataset name.
        """
        return self._native.dataset_splits(name)

    def dataset_versions(self, name: str, split: str) -> List[int]:
        """The committed versions of ``name``/``split``.

        Args:
            name: the dataset's name.
            split: the split (``"train"``, ``"test"``, ...).

        Returns:
            The version numbers, ascending; empty when there are none.

        Raises:
            InvalidArgumentError: ``name`` or ``split`` is not a valid name.
        """
        return self._native.dataset_versions(name, split)

    def dataset_info(self, name: str, split: str, version: Optional[int] = None) -> DatasetInfo:
        """The manifest summary of ``name``/``split`` at ``version``.

        Args:
            name: the dataset's name.
            split: the split.
            version: the version; None for the latest.

        Returns:
            ``rows``, ``chunks``, ``stored_bytes``/``raw_bytes``, ``columns`` (name, dtype,
            row shape each), ``metadata``, ``encrypted``, ``authenticated``.

        Raises:
            NotFoundError: no such dataset, split or version.
        """
        return self._native.dataset_info(name, split, version)

    def delete_dataset(
        self, name: str, split: Optional[str] = None, version: Optional[int] = None
    ) -> None:
        """Deletes one version of a split, a whole split, or the whole dataset.

        Args:
            name: the dataset's name.
            split: the split; None deletes every split (then ``version`` must be None).
            version: the version; None deletes every version of ``split``.

        Raises:
            NotFoundError: no such dataset, split or version.
            ReadOnlyError: the registry is read-only.
        """
        self._native.delete_dataset(name, split, version)

    def verify_dataset(
        self, name: str, split: str, version: Optional[int] = None, *, progress: Progress = None
    ) -> DatasetInfo:
        """Re-reads every chunk from the store (not the cache), checking hashes and, when
        encrypted, authenticating each with the key.

        Args:
            name: the dataset's name.
            split: the split.
            version: the version; None for the latest.
            progress: as for :meth:`push_model`; counts the stored bytes of the chunks checked.

        Returns:
            The verified version's summary.

        Raises:
            IntegrityError: a chunk or the manifest was tampered with, truncated or moved.
            WrongKeyError: the platform's key is not the dataset's.
            NotFoundError: no such dataset, split or version, or a missing chunk.
        """
        with progress_callback(self._pick(progress), f"verify {name}/{split}") as cb:
            return self._native.verify_dataset(name, split, version, progress=cb)

    def _pick(self, progress: Progress) -> Progress:
        return self._progress if progress is None else progress


# ``p.load_model(name)`` fills in ``platform=p``; type checkers and stubtest see the staticmethod.
setattr(LeptonAI, "load_model", _PlatformMethod(LeptonAI.load_model))
