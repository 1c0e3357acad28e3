"""The one mapping of core errors to Python exceptions (``lepton-py/src/errors.rs``): every kind of
``lepton_core::Error`` maps to a class that exists in ``lepton_ai.errors`` and derives from
``LeptonError``, and every class there is the target of some kind."""

from __future__ import annotations

import lepton_ai.errors as errors
from lepton_ai import _lepton


def test_every_error_kind_maps_to_an_existing_class() -> None:
    names = _lepton._error_classes()
    # one per kind of the core enum (20 variants; Store and Io share StorageError)
    assert len(names) == 20
    for name in names:
        cls = getattr(errors, name)
        assert name in errors.__all__
        assert issubclass(cls, errors.LeptonError)
    # ExportError and MissingExtraError are raised by the Python exporter (torch, skl2onnx exist
    # only there), not by the core.
    python_only = {"ExportError", "MissingExtraError"}
    assert set(names) == set(errors.__all__) - {"LeptonError"} - python_only
