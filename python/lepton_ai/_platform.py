"""``LeptonAI``: a registry of models and datasets in an object store.

    platform = LeptonAI()                          # ~/.lepton/registry (or $LEPTON_HOME/registry)
    platform = LeptonAI("s3://bucket/prefix")      # credentials from AWS_* env or storage_options
    platform.push_model("medical_diagnosis", "model.onnx", metadata={"auc": 0.97})
    model = LeptonAI.load_model("medical_diagnosis", platform=platform)

Versions are immutable and numbered 1, 2, ...; ``version=None`` means the latest committed one.
With ``key=``, models are stored encrypted and decrypted in memory only. Remote registries keep a
verified local cache, so models loaded once keep loading when the network is gone.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from . import _lepton
from ._model import Model, load_model as _load_model
from ._model_file import key_bytes
from ._progress import Progress, progress_callback
from .errors import InvalidArgumentError, KeyRequiredError

__all__ = ["DatasetInfo", "LeptonAI", "ModelInfo"]

logger = logging.getLogger("lepton_ai")

PathLike = Union[str, "os.PathLike[str]"]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """The manifest of one model version in a registry."""

    name: str
    version: int
    size: int
    """Bytes of the ONNX model."""
    stored_size: int
    """Bytes stored (larger than ``size`` when encrypted)."""
    sha256: str
    """SHA-256 of the stored object, checked on every read."""
    encrypted: bool
    created_unix: int
    metadata: Dict[str, Any]
    object: str
    provenance: Dict[str, Any] = dataclasses.field(default_factory=dict)
    """Where the model came from: framework and version, exporter, opset, and ``parity``
    (``{output: {"max_abs_diff", "max_rel_diff"}}`` against the original); empty for ONNX pushed
    as is without any."""

    @classmethod
    def _from_json(cls, text: str) -> "ModelInfo":
        d = json.loads(text)
        d.setdefault("provenance", {})
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """The manifest summary of one dataset split version in a registry."""

    name: str
    split: str
    version: int
    rows: int
    chunks: int
    stored_bytes: int
    """Bytes stored (compressed, encrypted)."""
    raw_bytes: int
    """Bytes before compression."""
    encrypted: bool
    columns: List[Dict[str, Any]]
    """One ``{"name", "dtype", "shape"}`` per column."""
    metadata: Dict[str, str]
    authenticated: bool
    """False when an encrypted manifest was read without the key (not authenticated)."""

    @classmethod
    def _from_json(cls, text: str) -> "DatasetInfo":
        d = json.loads(text)
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


class _platform_method:
    """A static method that, called on an instance, fills in ``platform=`` with it.

    ``LeptonAI.load_model("m", platform=p)`` and ``p.load_model("m")`` do the same thing.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, obj: Any, objtype: Any = None) -> Callable[..., Any]:
        if obj is None:
            return self.func

        @functools.wraps(self.func)
        def bound(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("platform", obj)
            return self.func(*args, **kwargs)

        return bound


class LeptonAI:
    """A registry of models and datasets in an object store.

    Args:
        uri: where the registry lives. ``None``: the local default (``$LEPTON_HOME/registry``,
            else ``~/.lepton/registry``), created on first use. A local path or ``file://``;
            ``memory://`` (kept alive by this object; ``memory://NAME`` is shared in-process);
            ``s3://bucket/prefix``, ``gs://...``, ``az://...`` (credentials and endpoints from the
            usual environment variables, e.g. ``AWS_ENDPOINT``, or ``storage_options``);
            ``http(s)://host/prefix`` for read-only registries.
        key: models pushed are encrypted with it (``lepton_ai.Key``, 32 bytes or 64 hex chars),
            and encrypted models need it to load.
        cache_dir: the local cache folder. Remote registries use ``~/.lepton/cache`` when unset;
            local and in-memory ones use a cache only when it is set.
        storage_options: backend options by ``object_store`` name (``aws_endpoint``,
            ``aws_region``, ``allow_http``, ``timeout``, ``connect_timeout``, ...) plus
            ``max_retries`` and ``retry_timeout``.
        cache_max_bytes: the cache's size bound (default 10 GiB); least recently used first out.
        cache: ``False`` turns the cache off.
        progress: default for transfers: ``None`` automatic, ``True``/``False``, or a callable.

    Opening does not touch the network; an unreachable registry raises ``UnreachableError`` on
    first use, after bounded timeouts and retries.
    """

    def __init__(
        self,
        uri: Optional[PathLike] = None,
        key: Any = None,
        cache_dir: Optional[PathLike] = None,
        *,
        storage_options: Optional[Mapping[str, Any]] = None,
        cache_max_bytes: Optional[int] = None,
        cache: bool = True,
        progress: Progress = None,
    ) -> None:
        uri_str = None if uri is None else os.fspath(uri)
        self._key_raw = key_bytes(key)
        self._storage_options = (
            None if storage_options is None else {str(k): str(v) for k, v in storage_options.items()}
        )
        self._progress = progress
        self._pins: Dict[str, Any] = {}
        self._native = _lepton.Platform(
            uri_str,
            self._key_raw,
            None if cache_dir is None else os.fspath(cache_dir),
            cache_max_bytes,
            not cache,
            self._storage_options,
        )

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
        key: Any = None,
        progress: Progress = None,
        example_inputs: Any = None,
        **export: Any,
    ) -> ModelInfo:
        """Pushes a model (a path, ONNX bytes or a ``Model``) as the next version of ``name``.

        ``metadata`` is any JSON-serializable dict stored in the manifest. ``encrypt`` defaults
        to whether the platform has a key. ``key`` decrypts an encrypted model file given by
        path. Concurrent pushes of one name each get their own version; an interrupted push
        leaves no visible version.

        ``model`` may also be a ``torch.nn.Module``, a scikit-learn estimator or ``Pipeline`` or
        an ``onnx.ModelProto``: it is exported and checked on ``example_inputs`` as
        ``lepton_ai.export_model`` does (its keywords: ``check=``, ``rtol=``, ``input_names=``,
        ...), and the provenance (framework, exporter, opset, parity figures) is recorded as
        ``ModelInfo.provenance``. Raises ``ExportError`` when the export differs from the
        original beyond tolerance.
        """
        from ._export import model_onnx_and_provenance

        onnx, provenance = model_onnx_and_provenance(model, example_inputs, key=key, **export)
        try:
            meta_json = None if metadata is None else json.dumps(dict(metadata))
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"metadata must be JSON-serializable: {e}") from None
        with progress_callback(self._pick(progress), f"push {name}") as cb:
            info = ModelInfo._from_json(
                self._native.push_model(
                    name, onnx, meta_json, encrypt, cb, json.dumps(provenance)
                )
            )
        logger.info("pushed model %s version %d to %s", name, info.version, self.uri)
        return info

    @_platform_method
    def load_model(
        name_or_path: Union[str, PathLike, bytes],
        platform: Optional["LeptonAI"] = None,
        version: Optional[int] = None,
        *,
        key: Any = None,
        progress: Progress = None,
        **kwargs: Any,
    ) -> Model:
        """Loads a model: ``name`` from ``platform`` (latest version unless ``version``), or a
        file path / ONNX bytes when ``platform`` is None (``key`` decrypts an encrypted file).

        Also callable on an instance: ``platform.load_model(name)``. Other keyword arguments go
        to ``lepton_ai.load_model`` (``providers=``, ``strict=``, ...). A model loaded from a
        platform with a key remembers it: ``model.save(path)`` writes an encrypted file
        (``LeptonAI.load_model(path, key=...)`` reads it back; ``model.save(path, decrypt=True)``
        writes plain ONNX).
        """
        if platform is None:
            if version is not None:
                raise InvalidArgumentError(
                    "version= needs a registry: LeptonAI.load_model(name, platform=..., version=...)"
                )
            return _load_model(name_or_path, key=key, **kwargs)
        if not isinstance(name_or_path, str):
            raise InvalidArgumentError(
                f"with platform=, give a model name (str), got {type(name_or_path).__name__}"
            )
        onnx = platform.model_bytes(name_or_path, version, progress=progress)
        model = _load_model(onnx, **kwargs)
        if platform._key_raw is not None:
            # ``model.save(path)`` then encrypts with the platform key (``decrypt=True`` for plain).
            model._source_key = platform._key_raw
        return model

    def model_bytes(
        self, name: str, version: Optional[int] = None, *, progress: Progress = None
    ) -> bytes:
        """The ONNX bytes of ``name`` (decrypted in memory), through the cache."""
        with progress_callback(self._pick(progress), f"pull {name}") as cb:
            info_json, onnx = self._native.model_bytes(name, version, cb)
        info = ModelInfo._from_json(info_json)
        logger.info("loaded model %s version %d from %s", name, info.version, self.uri)
        return onnx

    def list_models(self) -> List[str]:
        """Names of the models with at least one version, sorted."""
        return self._native.list_models()

    def model_versions(self, name: str) -> List[int]:
        """The committed versions of ``name``, ascending (empty if none)."""
        return self._native.model_versions(name)

    def model_info(self, name: str, version: Optional[int] = None) -> ModelInfo:
        """The manifest of ``name`` at ``version`` (latest when None)."""
        return ModelInfo._from_json(self._native.model_info(name, version))

    def delete_model(self, name: str, version: Optional[int] = None) -> None:
        """Deletes one version of ``name``, or all of them when ``version`` is None. Version
        numbers are never reused."""
        self._native.delete_model(name, version)
        logger.info("deleted model %s%s from %s", name, "" if version is None else f" v{version}", self.uri)

    def verify_model(self, name: str, version: Optional[int] = None) -> ModelInfo:
        """Re-reads ``name`` from the store (not the cache), checks its hash and, when encrypted,
        authenticates it with the key. Raises IntegrityError / WrongKeyError on failure."""
        return ModelInfo._from_json(self._native.verify_model(name, version))

    # ----- datasets -----------------------------------------------------------------------

    def _dataset_key(self) -> Any:
        from ._lepton import Key as _Key  # the datasets issue's key class

        if self._key_raw is None:
            raise KeyRequiredError("this platform has no key: open it with LeptonAI(uri, key=...)")
        return _Key.from_bytes(self._key_raw)

    def push_dataset(
        self,
        name: str,
        split: str,
        data: Any,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
        encrypt: Optional[bool] = None,
        chunk_bytes: int = 4 << 20,
        progress: Progress = None,
    ) -> DatasetInfo:
        """Pushes ``data`` as the next version of split ``split`` of dataset ``name``.

        ``data`` is a mapping of column name -> array (one row per leading index; or a list of
        str/bytes), or a ``lepton_ai.Dataset`` (copied). ``encrypt`` defaults to whether the
        platform has a key. ``metadata`` values are stored as strings. Concurrent pushes each get
        their own version; a push that fails leaves no visible version. ``progress`` as for
        :meth:`push_model`.
        """
        from ._dataset import Dataset, write_dataset

        enc = self.encrypted if encrypt is None else bool(encrypt)
        if enc and self._key_raw is None:
            raise KeyRequiredError(
                "encrypt=True needs a key: open the platform with one (LeptonAI(key=...))"
            )
        if isinstance(data, Dataset):
            columns: Mapping[str, Any] = data.to_numpy()
        elif isinstance(data, Mapping):
            columns = data
        else:
            raise InvalidArgumentError(
                "push_dataset takes a mapping of column name -> array, or a lepton_ai.Dataset; "
                f"got {type(data).__name__}"
            )
        version, uri = self._native.claim_dataset(name, split)
        write_dataset(
            uri,
            columns,
            self._dataset_key() if enc else None,
            version=version,
            chunk_bytes=chunk_bytes,
            storage_options=self._storage_options,
            # Binds the files to this item (authenticated in the manifest): a split copied over
            # another one is refused at load.
            metadata={
                **({} if metadata is None else {str(k): str(v) for k, v in metadata.items()}),
                "lepton.item": f"{name}/{split}",
            },
            progress=self._pick(progress),
        )
        self._native.finish_dataset_push(name, split, version)
        logger.info("pushed dataset %s/%s version %d to %s", name, split, version, self.uri)
        return self.dataset_info(name, split, version)

    def load_dataset(
        self, name: str, split: str = "train", version: Optional[int] = None, **kwargs: Any
    ) -> Any:
        """Opens split ``split`` of dataset ``name`` (latest version unless ``version``) as a
        ``lepton_ai.Dataset`` streaming from the store. Other keyword arguments go to
        ``Dataset`` (e.g. ``cache_bytes=``)."""
        from ._dataset import Dataset

        # The version folder's URI, pinned in this process to a view that reads through the
        # registry cache (and works offline once warm); copies in other processes reopen the URI.
        v, uri, pin = self._native.pin_dataset(name, split, version)
        self._pins[uri] = pin
        if self._key_raw is None:
            info = self.dataset_info(name, split, v)
            if info.encrypted:
                raise KeyRequiredError(
                    f"dataset `{name}` split `{split}` version {v} is encrypted; open the "
                    "platform with its key (LeptonAI(uri, key=...))"
                )
        # Never chosen from the (unauthenticated) manifest: with a key, an unencrypted dataset
        # put in place of an encrypted one is refused by the core (KeyRequiredError).
        key = None if self._key_raw is None else self._dataset_key()
        logger.info("opening dataset %s/%s version %d from %s", name, split, v, self.uri)
        return Dataset(uri, key, version=v, storage_options=self._storage_options, **kwargs)

    def list_datasets(self) -> List[str]:
        """Names of the datasets with at least one committed split, sorted."""
        return self._native.list_datasets()

    def dataset_splits(self, name: str) -> List[str]:
        """The splits of ``name`` with at least one committed version, sorted."""
        return self._native.dataset_splits(name)

    def dataset_versions(self, name: str, split: str) -> List[int]:
        """The committed versions of ``name``/``split``, ascending."""
        return self._native.dataset_versions(name, split)

    def dataset_info(self, name: str, split: str, version: Optional[int] = None) -> DatasetInfo:
        """The manifest summary of ``name``/``split`` at ``version`` (latest when None)."""
        return DatasetInfo._from_json(self._native.dataset_info(name, split, version))

    def delete_dataset(
        self, name: str, split: Optional[str] = None, version: Optional[int] = None
    ) -> None:
        """Deletes one version of a split, a whole split (``version=None``), or the whole dataset
        (``split=None``)."""
        self._native.delete_dataset(name, split, version)

    def verify_dataset(self, name: str, split: str, version: Optional[int] = None) -> DatasetInfo:
        """Re-reads every chunk from the store (not the cache), checking hashes and, when
        encrypted, authenticating each with the key."""
        return DatasetInfo._from_json(self._native.verify_dataset(name, split, version))

    def _pick(self, progress: Progress) -> Progress:
        return self._progress if progress is None else progress
