"""The one mapping of core errors to Python exceptions (``lepton-py/src/errors.rs``): every kind of
``lepton_core::Error`` maps to a class that exists in ``lepton_ai.errors`` and derives from
``LeptonError``, and every class there is the target of some kind."""

from __future__ import annotations

import lepton_ai
import lepton_ai.errors as errors
from lepton_ai import _lepton

#: The exception classes lepton_ai.errors defines (every class there).
CLASSES = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, errors.LeptonError)}


def test_every_error_kind_maps_to_an_existing_class() -> None:
    names = _lepton._error_classes()
    # one per kind of the core enum (20 variants; Store and Io share StorageError)
    assert len(names) == 20
    for name in names:
        cls = getattr(errors, name)
        assert name in CLASSES and name in lepton_ai.__all__
        assert issubclass(cls, errors.LeptonError)
    # ExportError and MissingExtraError are raised by the Python exporter (torch, skl2onnx exist
    # only there), not by the core.
    python_only = {"ExportError", "MissingExtraError"}
    assert set(names) == CLASSES - {"LeptonError"} - python_only
