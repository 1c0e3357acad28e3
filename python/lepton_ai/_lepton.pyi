"""Type stubs of the native module ``lepton_ai._lepton`` (built from ``lepton-py``)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from typing_extensions import Self

import numpy as np

__version__: str

# ----- models (lepton-py/src/model.rs) ---------------------------------------------------------

_IoTuple = tuple[str, "str | None", str, list["int | str | None"]]

class NativeModel:
    """A loaded ONNX model; ``lepton_ai.Model`` subclasses it."""

    def __new__(
        cls,
        source: bytes | str,
        providers: list[str] | None = None,
        strict: bool = False,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        optimization_level: str | None = None,
        runtime_path: str | None = None,
        python_runtime: str | None = None,
    ) -> Self:
        """Loads from bytes or a file path; ``python_runtime`` is onnxruntime's library path."""
    @property
    def input_specs(self) -> list[_IoTuple]:
        """``[(name, dtype or None, onnx_type, shape)]``."""
    @property
    def output_specs(self) -> list[_IoTuple]:
        """``[(name, dtype or None, onnx_type, shape)]``."""
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
    ) -> list[np.ndarray]:
        """Runs with inputs by position (sequence) or name (mapping); returns numpy arrays."""
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs with numpy arrays by position; other calls go to the subclass's ``_call_slow``."""

def runtime_info() -> tuple[str, str, str] | None:
    """``(path, version, found_by)`` of the loaded ONNX Runtime, or None before the first load."""

# ----- platform (lepton-py/src/platform.rs) ----------------------------------------------------

import os
from typing import Callable

_Progress = Callable[[int, int], None] | None
_PathArg = str | os.PathLike[str]

class DatasetPin:
    """Keeps a pinned dataset view alive."""

class Platform:
    """The registry (lepton_core::platform::Platform); manifests cross as JSON text."""

    def __init__(
        self,
        uri: str | None = None,
        key: bytes | None = None,
        cache_dir: _PathArg | None = None,
        cache_max_bytes: int | None = None,
        no_cache: bool = False,
        storage_options: dict[str, str] | None = None,
    ) -> None: ...
    @property
    def uri(self) -> str: ...
    @property
    def has_key(self) -> bool: ...
    @property
    def cache_dir(self) -> str | None: ...
    @property
    def read_only(self) -> bool: ...
    def push_model(
        self,
        name: str,
        data: bytes,
        metadata_json: str | None = None,
        encrypt: bool | None = None,
        progress: _Progress = None,
    ) -> str: ...
    def model_bytes(
        self, name: str, version: int | None = None, progress: _Progress = None
    ) -> tuple[str, bytes]: ...
    def model_info(self, name: str, version: int | None = None) -> str: ...
    def model_versions(self, name: str) -> list[int]: ...
    def list_models(self) -> list[str]: ...
    def delete_model(self, name: str, version: int | None = None) -> None: ...
    def verify_model(self, name: str, version: int | None = None) -> str: ...
    def claim_dataset(self, name: str, split: str) -> tuple[int, str]: ...
    def finish_dataset_push(self, name: str, split: str, version: int) -> None: ...
    def resolve_dataset(
        self, name: str, split: str, version: int | None = None
    ) -> tuple[int, str]: ...
    def pin_dataset(
        self, name: str, split: str, version: int | None = None
    ) -> tuple[int, str, DatasetPin]: ...
    def list_datasets(self) -> list[str]: ...
    def dataset_splits(self, name: str) -> list[str]: ...
    def dataset_versions(self, name: str, split: str) -> list[int]: ...
    def dataset_info(self, name: str, split: str, version: int | None = None) -> str: ...
    def delete_dataset(
        self, name: str, split: str | None = None, version: int | None = None
    ) -> None: ...
    def verify_dataset(self, name: str, split: str, version: int | None = None) -> str: ...

def is_sealed_model_file(data: bytes) -> bool: ...
def open_model_file(data: bytes, key: bytes | None = None, what: str = "model file") -> bytes: ...
def write_model_file(path: _PathArg, data: bytes, key: bytes | None = None) -> None: ...
def read_model_file(path: _PathArg, key: bytes | None = None) -> bytes: ...

import numpy.typing as npt
from typing import Optional

# ----- datasets ------------------------------------------------------------------------------

class Key:
    """A 32-byte dataset/model key; ``repr()`` never shows it."""

    @staticmethod
    def generate() -> Key: ...
    @staticmethod
    def from_bytes(data: bytes) -> Key: ...
    @staticmethod
    def from_env(var: str) -> Key: ...
    @staticmethod
    def from_passphrase(passphrase: str, salt: Optional[bytes] = None) -> Key: ...
    def to_bytes(self) -> bytes: ...
    @property
    def is_passphrase(self) -> bool: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class DatasetWriter:
    def __init__(
        self,
        uri: str,
        key: Optional[Key] = None,
        version: int = 1,
        chunk_bytes: int = 4194304,
        codec: str = "zstd",
        zstd_level: int = 3,
        filter: str = "shuffle",
        storage_options: Optional[Mapping[str, str]] = None,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> None: ...
    def write(
        self,
        columns: list[
            tuple[str, str, list[int], npt.NDArray[np.uint8], Optional[npt.NDArray[np.uint64]]]
        ],
    ) -> None: ...
    def close(self) -> dict[str, Any]: ...

class Dataset:
    @staticmethod
    def open(
        uri: str,
        key: Optional[Key] = None,
        version: Optional[int] = None,
        storage_options: Optional[Mapping[str, str]] = None,
        cache_bytes: int = 268435456,
        prefetch: Optional[int] = None,
    ) -> Dataset: ...
    def __len__(self) -> int: ...
    def key(self) -> Optional[Key]: ...
    def info(self) -> dict[str, Any]: ...
    def slice(self, start: int, stop: int) -> list[Any]: ...
    def decode_ceiling(self, threads: int) -> tuple[int, float]: ...
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
    ) -> BatchIter: ...

class BatchIter:
    def __iter__(self) -> BatchIter: ...
    def __next__(self) -> list[Any]: ...
    def __len__(self) -> int: ...
    def rows(self) -> int: ...
    def state(self) -> dict[str, Any]: ...
