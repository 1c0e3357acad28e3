"""Finding ONNX Runtime's shared library from Python, without importing onnxruntime.

The ``onnxruntime`` (or ``onnxruntime-gpu``) wheel ships ``onnxruntime/capi/libonnxruntime.so.<ver>``
(``.dylib`` on macOS, ``onnxruntime.dll`` on Windows). ``importlib.util.find_spec`` locates the
package without running its ``__init__`` (which would load a second copy of the runtime), and the
path is handed to the native module, which loads that library once per process. The full search
order (explicit ``runtime_path``, ``ORT_DYLIB_PATH``, this package, the system) is documented in
``lepton_core::model::runtime``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def is_runtime_library(name: str) -> bool:
    """Whether a file name is ONNX Runtime's main library (not a provider plugin)."""
    return (
        name == "onnxruntime.dll"
        or name == "libonnxruntime.so"
        or name.startswith("libonnxruntime.so.")
        or (name.startswith("libonnxruntime.") and name.endswith(".dylib"))
    )


def find_onnxruntime_library() -> str | None:
    """The path of the installed onnxruntime package's runtime library, or None if not installed.

    Returns:
        ``.../onnxruntime/capi/libonnxruntime.so.<version>`` (``.dylib`` / ``.dll`` elsewhere),
        found without importing onnxruntime; the answer is computed once per process.
    """
    if not _FOUND:
        _FOUND.append(_find())
    return _FOUND[0]


#: The one answer of find_onnxruntime_library (a plain memo: an ``lru_cache`` wrapper would hide
#: the signature from ``mypy.stubtest``).
_FOUND: list[str | None] = []


def _find() -> str | None:
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        capi = Path(location) / "capi"
        if not capi.is_dir():
            continue
        libs = sorted(p for p in capi.iterdir() if is_runtime_library(p.name))
        if libs:
            # the versioned name sorts last (".so" < ".so.1.31.1"): prefer it
            return str(libs[-1])
    return None
