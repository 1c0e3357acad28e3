"""Type stubs of the native module ``lepton_ai._lepton`` (one section per area)."""

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

__version__: str

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
