"""Execution providers as onnxruntime's Python API spells them: names, ``(name, {options})``
pairs, and every provider the loaded runtime reports. Expected outputs and provider lists come
from ``onnxruntime.InferenceSession`` with the same ``providers`` argument."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest

import lepton_ai
from lepton_ai import InvalidArgumentError, ProviderUnavailableError
from model_fixtures import logistic_regression

X = np.random.default_rng(0).standard_normal((4, 30)).astype(np.float32)
ONNX = logistic_regression()
OTHERS = [
    "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider",
    "ROCMExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "MIGraphXExecutionProvider",
]


def _want(providers: list) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # onnxruntime warns about providers it does not have
        return ort.InferenceSession(ONNX, providers=providers).run(None, {"x": X})[0]


def _load_recording_warnings(providers: list) -> tuple:
    """The model, and the messages of the UserWarnings loading it raised."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model = lepton_ai.load_model(ONNX, providers=providers)
    return model, [str(w.message) for w in seen if w.category is UserWarning]


def test_onnxruntime_provider_tuples_with_options() -> None:
    providers = [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
    model, seen = _load_recording_warnings(providers)
    np.testing.assert_allclose(model(X), _want(providers), rtol=1e-6)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert model.providers == ["cuda", "cpu"] and seen == []
    else:
        assert model.providers == ["cpu"]
        assert "has no CUDAExecutionProvider" in (model.fallback_reason or "")
        assert seen == [model.fallback_reason]  # one UserWarning, saying why


@pytest.mark.parametrize("name", OTHERS)
def test_other_providers_register_or_report_unavailable(name: str) -> None:
    available = ort.get_available_providers()
    model, seen = _load_recording_warnings([name, "CPUExecutionProvider"])
    np.testing.assert_allclose(model(X), _want([p for p in (name, "CPUExecutionProvider") if p in available]), rtol=1e-6)
    if name in available:
        assert len(model.providers) == 2 and seen == []
    else:
        assert model.providers == ["cpu"]
        assert f"has no {name}; it has " in (model.fallback_reason or "")
        assert seen == [model.fallback_reason]
        with pytest.raises(ProviderUnavailableError, match=name):
            lepton_ai.load_model(ONNX, providers=[(name, {"some_option": "1"})], strict=True)


def test_a_provider_the_runtime_has_is_registered_with_its_options() -> None:
    """The CPU wheel also carries onnxruntime's Azure provider: it is registered by name."""
    available = ort.get_available_providers()
    name = next(p for p in available if p != "CPUExecutionProvider")
    providers = [(name, {}), "CPUExecutionProvider"]
    session = ort.InferenceSession(ONNX, providers=providers)
    model = lepton_ai.load_model(ONNX, providers=providers, strict=True)
    assert len(model.providers) == len(session.get_providers()) == 2
    assert model.fallback_reason is None
    np.testing.assert_allclose(model(X), session.run(None, {"x": X})[0], rtol=1e-6)


def test_malformed_provider_items_are_typed_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="names or \\(name, \\{option: value\\}\\) pairs"):
        lepton_ai.load_model(ONNX, providers=[("CPUExecutionProvider",)])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="unknown execution provider `TPUExecutionProvider`"):
        lepton_ai.load_model(ONNX, providers=["TPUExecutionProvider"])


def test_a_fallback_to_cpu_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    # ROCm is in neither the CPU nor the CUDA onnxruntime wheel: always a fallback here.
    assert "ROCMExecutionProvider" not in ort.get_available_providers()
    with caplog.at_level("DEBUG", logger="lepton_ai"):
        model, seen = _load_recording_warnings(["ROCMExecutionProvider", "CPUExecutionProvider"])
    assert model.providers == ["cpu"]
    assert seen == [model.fallback_reason]  # one UserWarning
    assert not [r for r in caplog.records if "unavailable" in r.getMessage()], caplog.text  # no log record too
