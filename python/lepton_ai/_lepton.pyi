"""Type stubs of the native module ``lepton_ai._lepton`` (built from ``lepton-py/src``).

Checked against the built extension by ``mypy.stubtest`` (``tests/test_typing.py``): keep every
signature here equal to the ``#[pyo3(signature = ...)]`` in the Rust binding.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Callable, ClassVar, Iterator, Mapping, Optional, Sequence, SupportsIndex, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import Self, disjoint_base, final

__all__ = [
    "__version__",
    "NativeModel",
    "runtime_info",
    "fixed_dtype",
    "Key",
    "DatasetWriter",
    "Dataset",
    "BatchIter",
    "Platform",
    "ColumnInfo",
    "DatasetInfo",
    "DatasetVersionInfo",
    "ModelInfo",
    "TensorInfo",
    "is_sealed_model_file",
    "is_sealed_model_path",
    "open_model_file",
    "write_model_file",
    "read_model_file",
    "_error_classes",
    "ambient_key",
    "TuneTrial",
    "TuneResult",
    "Fingerprint",
    "machine_fingerprint",
    "tune_runtime",
    "put_profile",
    "get_profile",
]

__version__: str

_PathArg = str | os.PathLike[str]

# ----- models (lepton-py/src/model.rs) ---------------------------------------------------------

@final
class TensorInfo:
    """A model input or output.

    ``dtype`` is a numpy dtype name (``"float32"``, ``"int64"``, ``"bool"``, ``"string"``...) or
    None for anything that is not a tensor: a sequence (pass a list of arrays; it comes back as a
    list), a map (a dict), or a type lepton cannot exchange; ``onnx_type`` says which
    (``Sequence<Tensor<f32>(dyn)>``, ``Map<String, f32>``...). ``shape`` items are ints (fixed),
    strs (named free dimensions such as ``"batch"``) or None (unnamed free). It unpacks and
    indexes as the tuple ``(name, dtype, shape, onnx_type)`` and equals that tuple; ``_fields``
    and ``_asdict()`` are a NamedTuple's. ``numpy_dtype`` is the numpy dtype of its arrays
    (object for strings: ``np.dtype("string")`` does not exist).
    """

    _fields: ClassVar[tuple[str, str, str, str]]
    __match_args__: ClassVar[tuple[str, str, str, str]]
    def __new__(
        cls, name: str, dtype: str | None, shape: Sequence[int | str | None], onnx_type: str
    ) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str | None: ...
    @property
    def shape(self) -> tuple[int | str | None, ...]: ...
    @property
    def onnx_type(self) -> str: ...
    def _asdict(self) -> dict[str, Any]:
        """The fields as a dict, in tuple order (as a NamedTuple's ``_asdict()``)."""
    @property
    def numpy_dtype(self) -> np.dtype[Any] | None:
        """``np.dtype(dtype)``; ``np.dtype(object)`` for strings; None when not a tensor."""
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, key: SupportsIndex, /) -> Any: ...
    @overload
    def __getitem__(self, key: slice, /) -> tuple[Any, ...]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __lt__(self, value: object, /) -> bool: ...
    def __le__(self, value: object, /) -> bool: ...
    def __gt__(self, value: object, /) -> bool: ...
    def __ge__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[TensorInfo], tuple[str, str | None, tuple[int | str | None, ...], str]]: ...

@disjoint_base
class NativeModel:
    """A loaded ONNX model; ``lepton_ai.Model`` subclasses it."""

    def __new__(
        cls,
        source: bytes | _PathArg,
        providers: list[str | tuple[str, dict[str, Any]]] | None = None,
        strict: bool = False,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        optimization_level: str | None = None,
        runtime_path: _PathArg | None = None,
        python_runtime: _PathArg | None = None,
        external_data: Mapping[str, bytes] | None = None,
        platform: Platform | None = None,
        version: int | None = None,
        progress: Callable[[int, int], Any] | None = None,
        tuning: str | None = None,
    ) -> Self:
        """Loads from bytes or a file path; ``python_runtime`` is onnxruntime's library path;
        ``external_data`` maps side-file names to their bytes (bytes sources only). With
        ``platform``, ``source`` is a model name in that registry (at ``version``; None: latest),
        loaded by the registry (an object set's weights as external initializers; ``progress``
        follows the download); ``tuning`` (a machine fingerprint id) applies that machine's
        stored profile where the options given are None (see ``profile_json``)."""
    @property
    def profile_json(self) -> str | None:
        """The tuning profile (JSON) a registry load with ``tuning`` applied, or None."""
    @property
    def input_infos(self) -> list[TensorInfo]:
        """The inputs, in order."""
    @property
    def output_infos(self) -> list[TensorInfo]:
        """The outputs, in order."""
    @property
    def active_providers(self) -> list[str]:
        """Active execution providers, e.g. ``["cpu"]``."""
    @property
    def fallback(self) -> str | None:
        """Why a requested provider was dropped, if one was."""
    def onnx_bytes(self) -> bytes:
        """The ONNX bytes."""
    def run_arrays(
        self,
        inputs: Sequence[Any] | Mapping[str, Any],
        output_names: list[str] | None = None,
    ) -> list[npt.NDArray[Any]]:
        """Runs with inputs by position (sequence) or name (mapping); returns numpy arrays."""
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs with numpy arrays by position; other calls go to the subclass's ``_call_slow``."""

def runtime_info() -> tuple[str, str, str] | None:
    """``(path, version, found_by)`` of the loaded ONNX Runtime, or None before the first load."""

# ----- datasets (lepton-py/src/dataset.rs) -----------------------------------------------------

def fixed_dtype(kind: str, itemsize: int) -> str | None:
    """The fixed-size dtype name (``"float32"``...) a column of numpy ``dtype.kind`` ``kind``
    and ``itemsize`` bytes is stored as, or None when a fixed-shape column can't hold it."""


@final
class Key:
    """A 32-byte dataset/model key; ``repr()`` never shows it; pickles only while a multiprocessing worker is spawned (else TypeError)."""

    @staticmethod
    def generate() -> Key:
        """32 random bytes from the OS."""
    @staticmethod
    def from_bytes(data: bytes) -> Key:
        """A key from exactly 32 bytes."""
    @staticmethod
    def from_env(var: str) -> Key:
        """A key from an environment variable (64 hex digits or base64)."""
    @staticmethod
    def from_text(text: str) -> Key:
        """A key written as text: 64 hex digits or 44 base64 characters."""
    @staticmethod
    def from_file(path: str | os.PathLike[str]) -> Key:
        """A key file: 32 raw bytes, or the key as text (64 hex digits or 44 base64 characters)."""
    @staticmethod
    def parse(key: Key | bytes | bytearray | memoryview | str) -> Key:
        """``key`` as a ``Key``: a Key as is, 32 bytes, or text (64 hex digits / 44 base64 chars)."""
    @staticmethod
    def from_passphrase(passphrase: str, salt: Optional[bytes] = None) -> Key:
        """A key from a passphrase (Argon2id); without ``salt`` it is drawn/read per dataset."""
    def to_bytes(self) -> bytes:
        """The 32 key bytes (an error for a passphrase key whose salt is not known yet)."""
    @property
    def is_passphrase(self) -> bool:
        """Whether this is a passphrase key without a salt yet."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Callable[..., Key], tuple[bytes | str]]: ...

#: One column as ``_dataset._prepare_column`` makes it: (name, dtype, row shape, uint8 data,
#: uint64 offsets for str/bytes columns or None).
_InColumn = tuple[str, str, list[int], npt.NDArray[np.uint8], Optional[npt.NDArray[np.uint64]]]

@final
class DatasetWriter:
    """Writes one dataset version (see ``lepton_ai.write_dataset``)."""

    def __new__(
        cls,
        uri: str,
        key: Optional[Key] = None,
        version: int = 1,
        chunk_bytes: int = 4194304,
        codec: str = "zstd",
        zstd_level: int = 3,
        filter: str = "shuffle",
        storage_options: Optional[Mapping[str, str]] = None,
        metadata: Optional[Mapping[str, str]] = None,
        schema: Optional[Sequence[tuple[str, str, Sequence[Optional[int]]]]] = None,
    ) -> Self: ...
    def write(self, columns: Sequence[_InColumn]) -> None:
        """Appends rows, one entry per column."""
    def set_progress(self, callback: Callable[[int, int], None]) -> None:
        """Calls ``callback(rows, bytes)`` each time a chunk is stored (totals so far)."""
    def abort(self) -> None:
        """Drops the rows written so far without committing."""
    def close(self) -> DatasetVersionInfo:
        """Commits the version; returns what was written."""

@final
class Dataset:
    """An opened dataset version (``lepton_ai.Dataset`` wraps it)."""

    @staticmethod
    def open(
        uri: str,
        key: Optional[Key] = None,
        version: Optional[int] = None,
        storage_options: Optional[Mapping[str, str]] = None,
        cache_bytes: int = 268435456,
        prefetch: Optional[int] = None,
    ) -> Dataset:
        """Opens the dataset at ``uri`` (latest version unless ``version``)."""
    def __len__(self) -> int: ...
    def key(self) -> Optional[Key]:
        """The key this dataset was opened with (for pickling), or None."""
    def info(self) -> DatasetVersionInfo:
        """Rows, bytes, chunks, version, columns, metadata of the version opened."""
    def slice(self, start: int, stop: int) -> list[Any]:
        """Rows ``[start, stop)``, one flat array (plus offsets) per column."""
    def _decode_ceiling(self, threads: int) -> tuple[int, float]:
        """Benchmark ceiling (``benches/`` only): ``(decoded bytes, seconds)`` of decrypt +
        decompress of every chunk."""
    def iter_batches(
        self,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        shuffle_buffer: int = 16384,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        position: int = 0,
        state: Optional[str] = None,
        worker: int = 0,
        num_workers: int = 1,
        pad: bool = False,
        resume: Optional[str] = None,
    ) -> BatchIter:
        """Batches in order or shuffled, for one rank of ``world_size`` (and one loader worker
        of ``num_workers``), from ``position``; or the iteration a saved ``state`` (JSON text)
        describes; ``resume`` resumes a saved state made with these options."""
    def thrashing(self) -> bool:
        """Whether random row access is thrashing the chunk cache."""
    @staticmethod
    def rows_per_rank(len: int, world_size: int, pad: bool) -> int:
        """Rows each rank reads per epoch."""
    def check_state(self, state: str, rank: int, world_size: int) -> None:
        """Checks that a saved state resumes here (this dataset version, this shard)."""
    def shard(self, rank: int, world_size: int) -> tuple[int, int]:
        """Rows ``(start, stop)`` of shard ``rank`` of ``world_size``."""
    def chunk_rows(self) -> list[int]:
        """Rows of each chunk, in order (from the authenticated manifest)."""

@final
class BatchIter:
    """Batches of a dataset; ``state()`` is where to resume."""

    def __iter__(self) -> BatchIter: ...
    def __next__(self) -> list[Any]: ...
    def __len__(self) -> int:
        """Batches left."""
    def rows(self) -> int:
        """Rows this rank visits per epoch."""
    def state(self) -> str:
        """The iteration state to resume from, as JSON text."""

# ----- platform (lepton-py/src/platform.rs) ----------------------------------------------------

_Progress = Callable[[int, int], None] | None

@final
class ColumnInfo:
    """One column of a dataset."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str:
        """The dtype name (``float32``, ``int64``, ``string``, ``bytes``, ...)."""
    @property
    def shape(self) -> list[int | None]:
        """The shape of one row: ``None`` for each dimension of a variable-shape column (each row
        its own shape), as ``Dataset.schema`` spells it."""

@disjoint_base
class DatasetVersionInfo:
    """One committed dataset version: what ``Dataset.info`` and ``DatasetWriter.close()`` give.
    ``info["rows"]``, ``keys()`` and ``to_dict()`` read it as the dict it replaces."""

    @property
    def version(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def chunks(self) -> int: ...
    @property
    def stored_bytes(self) -> int:
        """Bytes stored (compressed, encrypted)."""
    @property
    def raw_bytes(self) -> int:
        """Bytes before compression."""
    @property
    def encrypted(self) -> bool: ...
    @property
    def columns(self) -> list[ColumnInfo]: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def dataset_id(self) -> str:
        """The writer's random id (hex) of this version."""
    def __getitem__(self, key: str, /) -> Any:
        """The field ``key`` (``columns`` as ``(name, dtype, shape)`` tuples); KeyError if none."""
    def keys(self) -> list[str]:
        """The names ``__getitem__`` takes."""
    def __contains__(self, key: object, /) -> bool:
        """Whether ``key`` is one of :meth:`keys`."""
    def __iter__(self) -> Iterator[str]:
        """The keys, as iterating the old dict gave them."""
    def get(self, key: str, default: Any = None, /) -> Any:
        """``info[key]``, or ``default`` when ``key`` is not one of :meth:`keys` (as ``dict.get``).

        Args:
            key: a field name, one of :meth:`keys`.
            default: what any other key gives.

        Returns:
            The field (``columns`` as ``(name, dtype, shape)`` tuples), or ``default``.
        """
    def items(self) -> list[tuple[str, Any]]:
        """``(key, info[key])`` pairs."""
    def values(self) -> list[Any]:
        """``info[key]`` for each key."""
    def __len__(self) -> int:
        """The number of keys."""
    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (``columns`` as ``(name, dtype, shape)`` tuples)."""

@final
class DatasetInfo(DatasetVersionInfo):
    """What the registry knows about one dataset split version."""

    @property
    def name(self) -> str: ...
    @property
    def split(self) -> str: ...
    @property
    def authenticated(self) -> bool:
        """False when an encrypted manifest was read without the key (not authenticated)."""

@final
class ModelInfo:
    """The manifest of one model version in a registry."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def size(self) -> int:
        """Bytes of the ONNX model (an object set's graph only)."""
    @property
    def stored_bytes(self) -> int:
        """Bytes stored (larger than ``size`` when encrypted); spelled as ``DatasetInfo`` does."""
    @property
    def stored_size(self) -> int:
        """``stored_bytes`` under its earlier name."""
    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the stored object, checked on every read."""
    @property
    def encrypted(self) -> bool: ...
    @property
    def created_unix(self) -> int:
        """When it was pushed, seconds since the Unix epoch."""
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def object(self) -> str:
        """The stored object's name inside the version folder."""
    @property
    def provenance(self) -> dict[str, Any]:
        """Where the model came from (framework and version, exporter, opset, parity); empty
        for ONNX pushed as is."""
    @property
    def format(self) -> int:
        """Manifest format: 1 for one self-contained object, 2 for an object set, 3 for either
        when keyed (its MAC covers fields older readers do not know; ``weights_objects`` tells
        which)."""
    @property
    def weights_objects(self) -> int:
        """How many weights objects an object set has (0: one self-contained object)."""
    @property
    def weights_bytes(self) -> int:
        """Plaintext bytes of those weights objects (``size`` counts the graph only)."""

@final
class Platform:
    """The registry (lepton_core::platform::Platform); model manifests cross as ``ModelInfo``,
    dataset entries as ``DatasetInfo``."""

    def __new__(
        cls,
        uri: str | None = None,
        key: bytes | None = None,
        cache_dir: _PathArg | None = None,
        cache_max_bytes: int | None = None,
        no_cache: bool = False,
        storage_options: Mapping[str, str] | None = None,
        encrypt: bool | None = None,
    ) -> Self: ...
    @property
    def uri(self) -> str:
        """The URI the registry was opened with."""
    @property
    def reopen_uri(self) -> str:
        """The URI that reopens this registry (in this process or another); may hold credentials."""
    @property
    def reopen_uri_is_secret(self) -> bool:
        """Whether ``reopen_uri`` holds credentials (user info or a query string)."""
    @property
    def has_key(self) -> bool:
        """Whether the platform has a key."""
    @property
    def cache_dir(self) -> pathlib.Path | None:
        """The cache folder, or None."""
    @property
    def process_local(self) -> bool:
        """Whether the registry lives in this process only (``memory://``)."""
    @property
    def read_only(self) -> bool:
        """Whether the registry is read-only (plain HTTP)."""
    def push_model(
        self,
        name: str,
        data: bytes,
        metadata_json: str | None = None,
        encrypt: bool | None = None,
        progress: _Progress = None,
        provenance_json: str | None = None,
    ) -> ModelInfo: ...
    def push_model_file(
        self,
        name: str,
        path: _PathArg,
        inline_limit: int | None = None,
        metadata_json: str | None = None,
        encrypt: bool | None = None,
        progress: _Progress = None,
        provenance_json: str | None = None,
    ) -> ModelInfo:
        """Pushes a model file: one self-contained object, or past ``inline_limit`` bytes (model
        and side files; default 2 GiB) an object set of graph and weights objects."""
    def model_bytes(
        self, name: str, version: int | None = None, progress: _Progress = None
    ) -> tuple[ModelInfo, bytes]: ...
    def model_info(
        self, name: str, version: int | None = None, verify: bool = False, progress: _Progress = None
    ) -> ModelInfo:
        """The manifest of ``name`` at ``version``; with ``verify``, re-read from the store (not
        the cache) and every stored object checked."""
    def model_versions(self, name: str) -> list[int]: ...
    def list_models(self) -> list[str]: ...
    def delete_model(self, name: str, version: int | None = None) -> None: ...
    def dataset_writer(
        self,
        name: str,
        split: str,
        encrypt: bool | None = None,
        metadata: Mapping[str, str] | None = None,
        chunk_bytes: int | None = None,
        schema: Sequence[tuple[str, str, Sequence[int | None]]] | None = None,
    ) -> DatasetWriter:
        """A writer for the next version of ``name``/``split`` (claimed now, committed on ``close()``)."""
    def load_dataset(
        self,
        name: str,
        split: str,
        version: int | None = None,
        cache_bytes: int = 268435456,
        prefetch: int | None = None,
    ) -> Dataset:
        """Opens ``name``/``split`` at ``version`` (latest when None), reading through the cache."""
    def list_datasets(self) -> list[str]: ...
    def dataset_splits(self, name: str) -> list[str]: ...
    def dataset_versions(self, name: str, split: str) -> list[int]: ...
    def dataset_info(self, name: str, split: str, version: int | None = None) -> DatasetInfo: ...
    def delete_dataset(
        self, name: str, split: str | None = None, version: int | None = None
    ) -> None: ...
    def verify_dataset(
        self, name: str, split: str, version: int | None = None, progress: _Progress = None
    ) -> DatasetInfo: ...

# ----- errors (lepton-py/src/errors.rs) --------------------------------------------------------

def _error_classes() -> list[str]:
    """The ``lepton_ai.errors`` class name of every core error kind."""

def is_sealed_model_file(data: bytes) -> bool:
    """Whether ``data`` is an encrypted model file."""

def is_sealed_model_path(path: str) -> bool:
    """Whether the file at ``path`` is an encrypted model file (false when it can't be read)."""

def open_model_file(data: bytes, key: bytes | None = None, what: str = "model file") -> bytes:
    """The ONNX bytes of a model file's contents, decrypted when encrypted."""

def write_model_file(path: _PathArg, data: bytes, key: bytes | None = None) -> None:
    """Writes ONNX bytes to ``path``, encrypted when ``key`` is given (atomically)."""

def read_model_file(path: _PathArg, key: bytes | None = None) -> bytes:
    """Reads a model file, decrypting it in memory when encrypted."""

# ----- tuning (lepton-py/src/tune.rs) ----------------------------------------------------------

@final
class TuneTrial:
    """One measured candidate of a search (lepton_core::model::tune::Trial)."""

    @property
    def variant(self) -> str: ...
    @property
    def providers(self) -> list[str]: ...
    @property
    def intra_op_threads(self) -> int | None: ...
    @property
    def inter_op_threads(self) -> int | None: ...
    @property
    def execution_mode(self) -> str: ...
    @property
    def optimization_level(self) -> str: ...
    @property
    def batch_size(self) -> int | None: ...
    @property
    def rung(self) -> int: ...
    @property
    def runs(self) -> int: ...
    @property
    def batch_rows(self) -> int: ...
    @property
    def p50_ms(self) -> float: ...
    @property
    def p99_ms(self) -> float: ...
    @property
    def rows_per_s(self) -> float: ...
    @property
    def verdict(self) -> str: ...
    @property
    def error(self) -> str | None: ...

@final
class TuneResult:
    """What a search found (lepton_core::model::tune::TuneResult)."""

    @property
    def objective(self) -> str:
        """``"latency"`` or ``"throughput"``."""
    @property
    def trials(self) -> list[TuneTrial]:
        """Every candidate, the baseline (ONNX Runtime's default session) first."""
    @property
    def best(self) -> int:
        """Index of the pick in `trials` (0, the baseline, when nothing beat it beyond the noise)."""
    @property
    def contender(self) -> int:
        """Index of the search's best in `trials`."""
    @property
    def noise(self) -> float:
        """Relative spread of the final comparison's round medians."""
    @property
    def speedup(self) -> float:
        """The contender's advantage over the baseline (>1 is faster)."""
    @property
    def beats_baseline(self) -> bool:
        """Whether the contender beat the baseline by more than the noise."""
    @property
    def elapsed_s(self) -> float:
        """Seconds the search took."""
    def profile_json(self) -> str:
        """The profile of the pick on this machine, as JSON (what the registry stores)."""

@final
class Fingerprint:
    """This machine's fingerprint (lepton_core::model::Fingerprint)."""

    @property
    def id(self) -> str: ...
    @property
    def cpu(self) -> str: ...
    @property
    def cores(self) -> int: ...
    @property
    def gpus(self) -> list[str]: ...
    @property
    def runtime(self) -> str: ...
    @property
    def providers(self) -> list[str]: ...

def machine_fingerprint(
    runtime_path: _PathArg | None = None, python_runtime: _PathArg | None = None
) -> Fingerprint:
    """This machine's fingerprint; loads ONNX Runtime first if needed."""

def tune_runtime(
    variants: Sequence[tuple[str, bytes]],
    inputs: Sequence[Any],
    objective: str,
    budget_s: float,
    batch_sizes: Sequence[int] | None = None,
    providers: Sequence[str] | None = None,
    intra_op_threads: Sequence[int | None] | None = None,
    optimization_levels: Sequence[str] | None = None,
    min_runs: int = 3,
    runtime_path: _PathArg | None = None,
    python_runtime: _PathArg | None = None,
) -> TuneResult:
    """Searches runtime settings over ``variants`` (``[(label, onnx bytes)]``, the original
    first) on ``inputs`` (numpy arrays by position); see lepton_core::model::tune::tune."""

def put_profile(platform: Platform, name: str, profile_json: str, version: int | None = None) -> int:
    """Stores a profile (JSON) for ``name`` at ``version`` (None: latest); returns the version."""

def get_profile(
    platform: Platform, name: str, fingerprint_id: str, version: int | None = None
) -> str | None:
    """The stored profile (JSON) of ``name`` at ``version`` for ``fingerprint_id``, or None."""

def ambient_key() -> bytes | None:
    """The key a registry opened without one uses: ``$LEPTON_KEY``, else ``$LEPTON_HOME/key``."""
