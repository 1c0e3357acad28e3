"""Type stubs of the native module lepton_ai._lepton (each issue adds its own section)."""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Tuple, Union

__version__: str

# ----- platform ---------------------------------------------------------------------------------

_Progress = Optional[Callable[[int, int], None]]

class Platform:
    """The registry (lepton_core::platform::Platform); manifests cross as JSON text."""

    def __init__(
        self,
        uri: Optional[str] = None,
        key: Optional[bytes] = None,
        cache_dir: Optional[Union[str, os.PathLike[str]]] = None,
        cache_max_bytes: Optional[int] = None,
        no_cache: bool = False,
        storage_options: Optional[Dict[str, str]] = None,
    ) -> None: ...
    @property
    def uri(self) -> str: ...
    @property
    def has_key(self) -> bool: ...
    @property
    def cache_dir(self) -> Optional[str]: ...
    @property
    def read_only(self) -> bool: ...
    def push_model(
        self,
        name: str,
        data: bytes,
        metadata_json: Optional[str] = None,
        encrypt: Optional[bool] = None,
        progress: _Progress = None,
    ) -> str: ...
    def model_bytes(
        self, name: str, version: Optional[int] = None, progress: _Progress = None
    ) -> Tuple[str, bytes]: ...
    def model_info(self, name: str, version: Optional[int] = None) -> str: ...
    def model_versions(self, name: str) -> List[int]: ...
    def list_models(self) -> List[str]: ...
    def delete_model(self, name: str, version: Optional[int] = None) -> None: ...
    def verify_model(self, name: str, version: Optional[int] = None) -> str: ...

def is_sealed_model_file(data: bytes) -> bool: ...
def open_model_file(data: bytes, key: Optional[bytes] = None, what: str = "model file") -> bytes: ...
def write_model_file(
    path: Union[str, os.PathLike[str]], data: bytes, key: Optional[bytes] = None
) -> None: ...
def read_model_file(path: Union[str, os.PathLike[str]], key: Optional[bytes] = None) -> bytes: ...
