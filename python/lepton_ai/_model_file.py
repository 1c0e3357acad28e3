"""Encrypted single-file models: what ``Model.save(path, key=...)`` and ``load_model(path, key=...)``
call.

The file format (``docs/platform-layout.md``) is ``lepton-core``'s (``platform/model_file.rs``): this
module only calls it. Plain ``.onnx`` files are read as they are. The clear model never touches
the disk: it is decrypted in memory.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

from . import _lepton
from .errors import InvalidArgumentError

PathLike = Union[str, "os.PathLike[str]"]
#: What every ``key=`` parameter takes: a ``lepton_ai.Key``, its 32 bytes, or the key as text
#: (64 hex digits or 44 base64 characters); None for no key.
KeyLike = Union["_lepton.Key", bytes, bytearray, memoryview, str, None]


def key_bytes(key: KeyLike) -> Optional[bytes]:
    """The 32 raw bytes of ``key`` (``None`` stays ``None``).

    ``key`` is a ``lepton_ai.Key``, 32 bytes, or the key as text (64 hex digits or 44 base64
    characters); ``lepton-core``'s ``Key`` parses it (``_lepton.Key.parse``), the one parser
    of keys that the ``lepton`` command and ``Key.from_env`` use too.

    Raises:
        InvalidArgumentError: anything else, or bytes/text that are not a 32-byte key (the
            message starts with ``key=``, naming where the bad key came from).
    """
    if key is None:
        return None
    try:
        return _lepton.Key.parse(key).to_bytes()
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"key=: {e}") from None


def is_encrypted_model_file(path_or_bytes: Union[PathLike, bytes]) -> bool:
    """Whether a file (or its bytes) is an encrypted lepton model file (false when the file can't
    be read)."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return _lepton.is_sealed_model_file(bytes(path_or_bytes))
    return _lepton.is_sealed_model_path(os.fspath(path_or_bytes))


def read_model_file(path_or_bytes: Union[PathLike, bytes], key: Any = None) -> bytes:
    """The ONNX bytes of a model file (or of its contents), decrypted in memory with ``key`` when
    the file is encrypted. Raises KeyRequiredError / WrongKeyError / NotFoundError."""
    k = key_bytes(key)
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return _lepton.open_model_file(bytes(path_or_bytes), k, "model bytes")
    return _lepton.read_model_file(os.fspath(path_or_bytes), k)


def save_model_file(path: PathLike, onnx: bytes, key: Any = None) -> None:
    """Writes ONNX bytes to ``path`` atomically, encrypted when ``key`` is given."""
    _lepton.write_model_file(os.fspath(path), bytes(onnx), key_bytes(key))
