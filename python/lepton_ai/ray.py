"""Ray: registry datasets as Ray Data datasets, Ray datasets back into the registry, and batch
inference on Ray actors (``pip install "lepton-ai-sdk[ray]"``).

    import ray
    import lepton_ai.ray as lray
    from lepton_ai import LeptonAI

    platform = LeptonAI("s3://bucket/registry", key=key)
    registry = lray.RegistryRef(platform)          # the key travels once, as a Ray object
    ds = lray.read_dataset(registry, "medical", "test")
    scored = ds.map_batches(
        lray.Predictor,
        fn_constructor_kwargs={"registry": registry, "model": "medical_diagnosis",
                               "input_columns": ["images"], "keep_columns": ["labels"]},
        concurrency=2, batch_size=1024,
    )
    lray.write_dataset(scored, registry, "medical", "predictions")

How the key reaches the workers (see ``docs/scaling.md``, trust boundary): ``RegistryRef`` puts
the key, the registry URI and ``storage_options`` in Ray's object store once (``ray.put``) and
keeps only the ``ObjectRef``. Read tasks, write tasks and ``Predictor`` actors carry that ref
nested in their arguments, never the value, so task specs, the dashboard's task arguments, reprs
and logs hold an object id, not the key; each worker fetches the value with ``ray.get`` and keeps
it in memory only. Everyone who can run code on the cluster (or read its object store) can read
it: the cluster is inside the trust boundary, its logs and dashboard are not.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ._platform import LeptonAI
from .errors import InvalidArgumentError, MissingExtraError

try:
    import ray
    from ray.data import Datasink, Datasource, ReadTask
    from ray.data.block import BlockAccessor, BlockMetadata
    from ray.data.datasource.datasink import WriteResult
except ImportError:  # pragma: no cover - exercised only without the extra
    # (No `as e`: a module-level name that Python deletes again, which stubtest reports.)
    raise MissingExtraError('lepton_ai.ray needs `ray[data]`: pip install "lepton-ai-sdk[ray]"') from None

if TYPE_CHECKING:
    from ray.data._internal.execution.interfaces import TaskContext

    from ._model import Model

__all__ = ["Predictor", "RegistryRef", "read_dataset", "write_dataset"]

#: Staging splits of a write in flight are named ``<split>.ray-<write id>-<task>-<block>``.
_STAGING = ".ray-"


class RegistryRef:
    """A registry that Ray tasks and actors can open, its secrets kept out of their arguments.

    The key (bytes), the URI that reopens the registry (which may carry credentials) and its
    ``storage_options`` are put in Ray's object store once; this object holds the ``ObjectRef``
    and the printable URI only, so pickling it (Ray ships it to every task) copies no secret.
    Needs ``ray.init()`` first; lives as long as the driver holds it.

    Args:
        platform: an opened registry (its key, cache and storage options are used), or a
            registry URI (then ``key`` and ``storage_options`` apply).
        key: with a URI: the registry key (``Key``, 32 bytes, 64 hex digits or 44 base64
            characters); None for an unencrypted registry.
        storage_options: with a URI: backend options as ``LeptonAI`` takes them.

    Raises:
        InvalidArgumentError: a ``memory://`` registry (it lives in one process; Ray workers are
            other processes: use a folder or an object store), or ``key``/``storage_options``
            given with an opened ``LeptonAI``.
    """

    def __init__(
        self,
        platform: Union[LeptonAI, str, "os.PathLike[str]"],
        *,
        key: Any = None,
        storage_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if not isinstance(platform, LeptonAI):
            platform = LeptonAI(os.fspath(platform), key=key, storage_options=storage_options)
        elif key is not None or storage_options is not None:
            raise InvalidArgumentError(
                "key= and storage_options= go with a registry URI; an opened LeptonAI brings its own"
            )
        if platform.uri.startswith("memory://"):
            raise InvalidArgumentError(
                f"registry {platform.uri!r} lives in this process's memory and Ray workers are other "
                "processes: use a local folder or an object store (s3://, gs://, az://)"
            )
        self.uri = platform.uri
        """The registry's printable URI (no credentials)."""
        secrets = dict(platform._reopen)
        secrets["key"] = platform._key_raw
        self._secrets = ray.put(secrets)

    def __repr__(self) -> str:
        return f"RegistryRef({self.uri!r})"

    def open(self) -> LeptonAI:
        """The registry, opened in this process (a task, an actor or the driver); one handle per
        process is kept and reused.

        Returns:
            The ``LeptonAI`` registry, with the key and options it was shared with.

        Raises:
            UnreachableError, PermissionDeniedError: on first use, when the store cannot be used.
        """
        ref_id = self._secrets.hex()
        platform = _OPENED.get(ref_id)
        if platform is None:
            s = ray.get(self._secrets)
            platform = LeptonAI(
                s["uri"],
                key=s["key"],
                cache_dir=s["cache_dir"],
                storage_options=s["storage_options"],
                cache_max_bytes=s["cache_max_bytes"],
                cache=not s["no_cache"],
                progress=False,
            )
            _OPENED[ref_id] = platform
        return platform


#: Registries opened in this process, by the id of the ObjectRef that shared them.
_OPENED: dict[str, LeptonAI] = {}


def _registry(platform_or_uri: Union[RegistryRef, LeptonAI, str, "os.PathLike[str]"]) -> RegistryRef:
    return platform_or_uri if isinstance(platform_or_uri, RegistryRef) else RegistryRef(platform_or_uri)


# ----- read ----------------------------------------------------------------------------------


def read_dataset(
    platform_or_uri: Union[RegistryRef, LeptonAI, str, "os.PathLike[str]"],
    name: str,
    split: str,
    version: Optional[int] = None,
    *,
    columns: Optional[Sequence[str]] = None,
    override_num_blocks: Optional[int] = None,
    concurrency: Optional[int] = None,
) -> "ray.data.Dataset":
    """Split ``split`` of registry dataset ``name`` as a ``ray.data.Dataset``, read by Ray tasks
    that each fetch and decrypt a contiguous range of chunks.

    The version is fixed when this is called (the latest one when ``version`` is None), so every
    task reads the same version. Rows come in the stored order when Ray preserves order
    (``DataContext.get_current().execution_options.preserve_order = True``).

    Args:
        platform_or_uri: a ``RegistryRef`` (shares the key once for many reads and writes), an
            opened ``LeptonAI``, or a registry URI (no key: an unencrypted registry).
        name: the dataset's name.
        split: the split.
        version: the version; None for the latest.
        columns: the columns to read (default: all, in stored order).
        override_num_blocks: the number of read tasks (at most one per chunk; default: one per
            64 MiB of data, since each task costs a scheduling round and a manifest read).
        concurrency: the most read tasks running at once (default: as many as Ray's CPUs allow).

    Returns:
        A lazy ``ray.data.Dataset`` with one column per dataset column: numeric columns in their
        stored dtype (tensor columns for rows of shape ``(d1, ...)``), ``str``/``bytes`` as
        object columns.

    Raises:
        NotFoundError: no such dataset, split or version.
        KeyRequiredError, WrongKeyError: the dataset is encrypted and the key is missing or wrong.
        InvalidArgumentError: an unknown column, or a ``memory://`` registry.
    """
    registry = _registry(platform_or_uri)
    opened = registry.open().load_dataset(name, split, version)
    picked = list(columns) if columns is not None else opened.columns
    unknown = [c for c in picked if c not in opened.columns]
    if unknown:
        raise InvalidArgumentError(f"dataset {name!r}/{split!r} has no column {unknown[0]!r}; it has {opened.columns}")
    raw_bytes = int(opened.info["raw_bytes"])
    if override_num_blocks is None:
        override_num_blocks = max(1, -(-raw_bytes // _TASK_BYTES))
    source = _LeptonDatasource(
        registry,
        name,
        split,
        opened.version,
        picked,
        opened._native.chunk_rows(),
        raw_bytes,
    )
    dataset: ray.data.Dataset = ray.data.read_datasource(
        source, override_num_blocks=override_num_blocks, concurrency=concurrency
    )
    return dataset


#: Default data per read task. Measured in benches/bench_ray.py (docs/scaling.md): one task per
#: 4 MiB chunk read at 0.41x one process's speed, 64 MiB tasks at 0.69x.
_TASK_BYTES = 64 << 20


def _chunk_ranges(chunk_rows: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """Contiguous row ranges ``[start, stop)`` on chunk boundaries, at most ``parts`` of them,
    balanced by rows (each chunk belongs to exactly one range)."""
    starts = [0, *itertools.accumulate(chunk_rows)]
    total = starts[-1]
    parts = max(1, min(parts, len(chunk_rows)))
    ranges: list[tuple[int, int]] = []
    c = 0
    for p in range(1, parts + 1):
        target = total * p // parts
        first = c
        while c < len(chunk_rows) and (starts[c + 1] <= target or c == first):
            c += 1
        if c > first:
            ranges.append((starts[first], starts[c]))
    if c < len(chunk_rows):
        ranges[-1] = (ranges[-1][0], total)
    return ranges


class _LeptonDatasource(Datasource):
    """Ray Data source over one registry dataset version: one read task per chunk range."""

    def __init__(
        self,
        registry: RegistryRef,
        name: str,
        split: str,
        version: int,
        columns: list[str],
        chunk_rows: list[int],
        raw_bytes: int,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._registry = registry
        self._name, self._split, self._version = name, split, version
        self._columns = columns
        self._chunk_rows = chunk_rows
        self._raw_bytes = raw_bytes

    def get_name(self) -> str:
        return "LeptonRead"

    def estimate_inmemory_data_size(self) -> Optional[int]:
        return self._raw_bytes

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: Optional[int] = None, data_context: Any = None
    ) -> list[ReadTask]:
        rows = max(1, sum(self._chunk_rows))
        tasks = []
        for start, stop in _chunk_ranges(self._chunk_rows, parallelism):
            meta = BlockMetadata(
                num_rows=stop - start,
                size_bytes=self._raw_bytes * (stop - start) // rows,
                input_files=None,
                exec_stats=None,
            )
            task = _ReadRange(self._registry, self._name, self._split, self._version, self._columns, start, stop)
            tasks.append(ReadTask(task, meta, per_task_row_limit=per_task_row_limit))
        return tasks


#: A read task hands Ray blocks of about this many rows' bytes (Ray's default target block size).
_BLOCK_BYTES = 128 << 20


class _ReadRange:
    """One read task: rows ``[start, stop)`` (whole chunks) of one dataset version, fetched and
    decrypted in the worker. Pickles as the registry's ObjectRef and plain numbers."""

    def __init__(
        self, registry: RegistryRef, name: str, split: str, version: int, columns: list[str], start: int, stop: int
    ) -> None:
        self.registry, self.name, self.split, self.version = registry, name, split, version
        self.columns, self.start, self.stop = columns, start, stop

    def __call__(self) -> Iterator[Any]:
        # Each chunk is read once here: no point caching decoded chunks beyond the one in use.
        ds = self.registry.open().load_dataset(self.name, self.split, self.version, cache_bytes=0)
        picked = [ds.columns.index(c) for c in self.columns]
        row_bytes = max(1, int(ds.info["raw_bytes"]) // max(1, len(ds)))
        step = max(1, _BLOCK_BYTES // row_bytes)
        for a in range(self.start, self.stop, step):
            b = min(self.stop, a + step)
            values = ds[a:b]
            yield BlockAccessor.batch_to_block({ds.columns[i]: values[i] for i in picked})


# ----- write ---------------------------------------------------------------------------------


def write_dataset(
    ray_ds: "ray.data.Dataset",
    platform: Union[RegistryRef, LeptonAI, str, "os.PathLike[str]"],
    name: str,
    split: str,
    *,
    metadata: Optional[Mapping[str, Any]] = None,
    chunk_bytes: int = 4 << 20,
) -> int:
    """Writes a Ray dataset as one new version of ``name``/``split``, committed only after every
    write task succeeded.

    Each write task pushes its blocks, encrypted with the registry key, as staging splits
    ``<split>.ray-<id>-<task>-<block>``; then the driver streams them, in task order, into one
    writer that commits the version atomically as ``push_dataset`` does, and deletes them. A
    failed task (or commit) deletes the staging splits and leaves no new version of ``split``.
    Row order follows Ray's block order (``preserve_order`` keeps the input's).

    Args:
        ray_ds: the dataset to write (every block with the same columns; numeric, bool, tensor,
            ``str`` or ``bytes`` columns).
        platform: a ``RegistryRef``, an opened ``LeptonAI`` or a registry URI.
        name: the dataset's name.
        split: the split to add a version to.
        metadata: stored with the version; values become strings.
        chunk_bytes: uncompressed bytes per chunk of the committed version.

    Returns:
        The committed version number.

    Raises:
        SchemaError: blocks with unsupported dtypes or columns that disagree.
        InvalidArgumentError: a bad name, or a ``memory://`` registry.
        ReadOnlyError, PermissionDeniedError, UnreachableError: the store refused the write.
    """
    sink = _LeptonDatasink(_registry(platform), name, split, metadata, chunk_bytes)
    ray_ds.write_datasink(sink)
    if sink.committed is None:  # pragma: no cover - Ray raises before this when a task failed
        raise InvalidArgumentError("the Ray write finished without committing a version")
    return sink.committed


class _LeptonDatasink(Datasink[list[str]]):
    """Ray Data sink: staging splits per task, one committed version on the driver."""

    def __init__(
        self, registry: RegistryRef, name: str, split: str, metadata: Optional[Mapping[str, Any]], chunk_bytes: int
    ) -> None:
        self._registry = registry
        self._name, self._split = name, split
        self._metadata = None if metadata is None else {str(k): str(v) for k, v in metadata.items()}
        self._chunk_bytes = chunk_bytes
        self._prefix = f"{split}{_STAGING}{uuid.uuid4().hex[:12]}-"
        self.committed: Optional[int] = None

    def get_name(self) -> str:
        return "LeptonWrite"

    def write(self, blocks: Iterable[Any], ctx: "TaskContext") -> list[str]:
        platform = self._registry.open()
        staged = []
        for i, block in enumerate(blocks):
            columns = BlockAccessor.for_block(block).to_batch_format("numpy")
            if not columns or len(next(iter(columns.values()))) == 0:
                continue
            staging = f"{self._prefix}{ctx.task_idx:06d}-{i:06d}"
            platform.push_dataset(self._name, staging, columns, chunk_bytes=self._chunk_bytes, progress=False)
            staged.append(staging)
        return staged

    def on_write_complete(self, write_result: WriteResult[list[str]]) -> None:
        from ._dataset import _prepare_columns

        platform = self._registry.open()
        staged = sorted(s for r in write_result.write_returns for s in r)
        writer = platform._native.dataset_writer(self._name, self._split, None, self._metadata, self._chunk_bytes)
        try:
            for staging in staged:
                part = platform.load_dataset(self._name, staging)
                # One staging split (one Ray block) in memory at a time.
                writer.write(_prepare_columns(part.to_numpy(progress=False)))
            self.committed = int(writer.close()["version"])
        finally:
            self._clean(platform)

    def on_write_failed(self, error: Exception) -> None:
        self._clean(self._registry.open())

    def _clean(self, platform: LeptonAI) -> None:
        for split in platform.dataset_splits(self._name):
            if split.startswith(self._prefix):
                platform.delete_dataset(self._name, split)


# ----- batch inference -------------------------------------------------------------------------


class Predictor:
    """A callable class for ``ray.data.Dataset.map_batches``: loads a registry model once per
    actor (with this machine's tuned profile when the registry has one) and runs it on numpy
    batches.

        ds.map_batches(Predictor, fn_constructor_kwargs={"registry": registry, "model": "m"},
                       concurrency=2, batch_size=1024)

    Args:
        registry: a ``RegistryRef`` (the key stays out of the actor's arguments), or the URI of an
            unencrypted registry.
        model: the model's name in the registry.
        version: the model version; None for the latest (fixed when the actor starts).
        input_columns: the batch columns fed to the model's inputs, by position (default: the
            model's input names).
        keep_columns: batch columns copied to the output unchanged (labels, ids).
        providers: execution providers, as ``LeptonAI.load_model`` takes them.

    Raises:
        NotFoundError: no such model or version.
        InvalidArgumentError: ``input_columns`` of another length than the model's inputs.
    """

    def __init__(
        self,
        registry: Union[RegistryRef, str],
        model: str,
        version: Optional[int] = None,
        *,
        input_columns: Optional[Sequence[str]] = None,
        keep_columns: Sequence[str] = (),
        providers: Any = None,
    ) -> None:
        platform = _registry(registry).open()
        self.model: Model = platform.load_model(model, version=version, providers=providers)
        """The loaded model (one per actor)."""
        names = [t.name for t in self.model.inputs]
        self._inputs = list(input_columns) if input_columns is not None else names
        if len(self._inputs) != len(names):
            raise InvalidArgumentError(
                f"model {model!r} takes {len(names)} inputs {names}; input_columns names {len(self._inputs)}"
            )
        self._keep = list(keep_columns)

    def __call__(self, batch: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        """Runs the model on one batch.

        Args:
            batch: column name -> numpy array (Ray's ``batch_format="numpy"``), with the input
                columns and ``keep_columns``.

        Returns:
            Output name -> array (one row per input row), then the kept columns.

        Raises:
            InvalidArgumentError: an input or kept column is missing from the batch.
            InvalidInputError: the arrays do not fit the model's inputs (dtype, shape).
        """
        missing = [c for c in (*self._inputs, *self._keep) if c not in batch]
        if missing:
            raise InvalidArgumentError(f"the batch has no column {missing[0]!r}; it has {sorted(batch)}")
        out: dict[str, npt.NDArray[Any]] = self.model.run_dict(*(np.ascontiguousarray(batch[c]) for c in self._inputs))
        out.update({c: batch[c] for c in self._keep})
        return out
