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
