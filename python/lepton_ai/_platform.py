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
from ._model_file import key_bytes, read_model_file
from ._progress import Progress, progress_callback
from ._tune import Profile, TuneReport, machine_fingerprint
from .errors import InvalidArgumentError

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

    @classmethod
    def _from_json(cls, text: str) -> "ModelInfo":
        d = json.loads(text)
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


#: What the registry knows about one dataset split version (a frozen native class): ``name``,
#: ``split``, ``version``, ``rows``, ``chunks``, ``stored_bytes`` (compressed, encrypted),
#: ``raw_bytes`` (before compression), ``encrypted``, ``columns`` (``ColumnInfo``: ``name``,
#: ``dtype``, ``shape``), ``metadata``, ``authenticated`` (False when an encrypted manifest was read
#: without the key) and ``dataset_id``.
DatasetInfo = _lepton.DatasetInfo


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


def _model_onnx_bytes(model: Any, key: Any) -> bytes:
    """The ONNX bytes of a path, bytes or Model given to push_model."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return read_model_file(bytes(model), key)
    if isinstance(model, (str, os.PathLike)):
        return read_model_file(model, key)
    if isinstance(model, Model):
        return model.to_bytes()
    for attr in ("bytes", "onnx_bytes"):
        method = getattr(model, attr, None)
        if callable(method):
            return bytes(method())
    raise InvalidArgumentError(
        f"push_model takes a path, bytes or a lepton_ai.Model, got {type(model).__name__}"
    )


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
        self._native = _lepton.Platform(
            uri_str,
            self._key_raw,
            None if cache_dir is None else os.fspath(cache_dir),
            cache_max_bytes,
            not cache,
            self._storage_options,
        )
        # What reopens this registry in another process (a pickled dataset, see load_dataset).
        self._reopen: Dict[str, Any] = {
            "uri": self._native.reopen_uri,
            "uri_is_secret": self._native.reopen_uri_is_secret,
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
        model: Union[PathLike, bytes, Model],
        *,
        metadata: Optional[Mapping[str, Any]] = None,
        encrypt: Optional[bool] = None,
        key: Any = None,
        progress: Progress = None,
    ) -> ModelInfo:
        """Pushes a model (a path, ONNX bytes or a ``Model``) as the next version of ``name``.

        ``metadata`` is any JSON-serializable dict stored in the manifest. ``encrypt`` defaults
        to whether the platform has a key. ``key`` decrypts an encrypted model file given by
        path. Concurrent pushes of one name each get their own version; an interrupted push
        leaves no visible version.
        """
        onnx = _model_onnx_bytes(model, key)
        try:
            meta_json = None if metadata is None else json.dumps(dict(metadata))
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"metadata must be JSON-serializable: {e}") from None
        with progress_callback(self._pick(progress), f"push {name}") as cb:
            info = ModelInfo._from_json(
                self._native.push_model(name, onnx, meta_json, encrypt, cb)
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
        tuned: bool = True,
        **kwargs: Any,
    ) -> Model:
        """Loads a model: ``name`` from ``platform`` (latest version unless ``version``), or a
        file path / ONNX bytes when ``platform`` is None (``key`` decrypts an encrypted file).

        Also callable on an instance: ``platform.load_model(name)``. Other keyword arguments go
        to ``lepton_ai.load_model`` (``providers=``, ``strict=``, ...). A model loaded from a
        platform with a key remembers it: ``model.save(path)`` writes an encrypted file
        (``LeptonAI.load_model(path, key=...)`` reads it back; ``model.save(path, decrypt=True)``
        writes plain ONNX).

        With ``tuned=True`` (the default) the tuning profile stored for this machine by
        ``autotune_model`` is applied (keyword arguments given here win over it) and
        ``model.profile`` says which; profiles of other machines are ignored.
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
        info, onnx = platform._pull_model(name_or_path, version, progress)
        profile = platform._profile(name_or_path, info.version) if tuned else None
        if profile is not None:
            kwargs = {**profile.load_kwargs(), **{k: v for k, v in kwargs.items() if v is not None}}
        model = _load_model(onnx, **kwargs)
        model.profile = profile
        if platform._key_raw is not None:
            # ``model.save(path)`` then encrypts with the platform key (``decrypt=True`` for plain).
            model._source_key = platform._key_raw
        return model

    def model_bytes(
        self, name: str, version: Optional[int] = None, *, progress: Progress = None
    ) -> bytes:
        """The ONNX bytes of ``name`` (decrypted in memory), through the cache."""
        return self._pull_model(name, version, progress)[1]

    def _pull_model(
        self, name: str, version: Optional[int], progress: Progress
    ) -> "tuple[ModelInfo, bytes]":
        with progress_callback(self._pick(progress), f"pull {name}") as cb:
            info_json, onnx = self._native.model_bytes(name, version, cb)
        info = ModelInfo._from_json(info_json)
        logger.info("loaded model %s version %d from %s", name, info.version, self.uri)
        return info, onnx

    # ----- auto-optimisation ------------------------------------------------------------------

    def _profile(self, name: str, version: Optional[int] = None) -> Optional[Profile]:
        """This machine's stored profile of ``name`` at ``version`` (latest when None)."""
        text = _lepton.get_profile(self._native, name, machine_fingerprint().id, version)
        return None if text is None else Profile._from_json(text)

    def profile(self, name: str, version: Optional[int] = None) -> Optional[Profile]:
        """The tuning profile stored for this machine for ``name`` at ``version`` (latest when
        None), or None."""
        return self._profile(name, version)

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

        ``validation`` is ``(dataset name, split)`` in this registry, a ``Dataset``, or arrays
        (see ``Model.autotune``; other keyword arguments go there: ``objective=``, ``labels=``,
        ``max_accuracy_drop=``, ``budget_s=``...). With ``push`` the pick is stored as a profile
        keyed by this machine's fingerprint; when the pick is a transformed model (int8), it is
        pushed first as a new version whose metadata records where it came from, and the
        profile goes with that version. ``report.version`` is the version the profile is on.
        """
        info, onnx = self._pull_model(name, version, False)
        model = _load_model(onnx)
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
        from ._dataset import Dataset, _prepare_columns, _write_prepared

        if isinstance(data, Dataset):
            columns: Mapping[str, Any] = data.to_numpy()
        elif isinstance(data, Mapping):
            columns = data
        else:
            raise InvalidArgumentError(
                "push_dataset takes a mapping of column name -> array, or a lepton_ai.Dataset; "
                f"got {type(data).__name__}"
            )
        prepared = _prepare_columns(columns)
        writer = self._native.dataset_writer(
            name,
            split,
            encrypt,
            None if metadata is None else {str(k): str(v) for k, v in metadata.items()},
            chunk_bytes,
        )
        version = _write_prepared(writer, prepared, self._pick(progress), f"push {name}/{split}")["version"]
        logger.info("pushed dataset %s/%s version %d to %s", name, split, version, self.uri)
        return self.dataset_info(name, split, version)

    def load_dataset(
        self, name: str, split: str = "train", version: Optional[int] = None, **kwargs: Any
    ) -> Any:
        """Opens split ``split`` of dataset ``name`` (latest version unless ``version``) as a
        ``lepton_ai.Dataset`` streaming from the store through the registry's cache (so it keeps
        working offline once read). Keyword arguments: ``cache_bytes=``, ``prefetch=``. A copy
        pickled into a DataLoader worker reopens the registry there."""
        from ._dataset import Dataset

        native = self._native.load_dataset(name, split, version, **kwargs)
        logger.info("opening dataset %s/%s version %d from %s", name, split, native.info()["version"], self.uri)
        return Dataset._from_registry(
            native, self._reopen, name, split, self.uri, kwargs.get("cache_bytes", 256 << 20)
        )

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
        return self._native.dataset_info(name, split, version)

    def delete_dataset(
        self, name: str, split: Optional[str] = None, version: Optional[int] = None
    ) -> None:
        """Deletes one version of a split, a whole split (``version=None``), or the whole dataset
        (``split=None``)."""
        self._native.delete_dataset(name, split, version)

    def verify_dataset(self, name: str, split: str, version: Optional[int] = None) -> DatasetInfo:
        """Re-reads every chunk from the store (not the cache), checking hashes and, when
        encrypted, authenticating each with the key."""
        return self._native.verify_dataset(name, split, version)

    def _pick(self, progress: Progress) -> Progress:
        return self._progress if progress is None else progress
