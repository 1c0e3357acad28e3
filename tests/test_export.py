"""Models as users have them (torch modules, scikit-learn estimators and pipelines, ONNX protos,
paths, bytes, loaded models) through ``export_model`` / ``push_model`` and the registry, with the
parity figures stored. Expected values come from torch and scikit-learn themselves."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import lepton_ai
from lepton_ai import ExportError, Key, LeptonAI, MissingExtraError, ProviderUnavailableError
from lepton_ai.cli import main as cli_main
from model_fixtures import add_mul


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(
            torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 2)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


class Counting(torch.nn.Module):
    """Multiplies by how often it has been called: the export (a later call, traced) differs
    from the original's first run."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * float(self.calls)


class DataDependent(torch.nn.Module):
    """Branches on a tensor's value: torch.export refuses it, the TorchScript tracer takes it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2.0
        return x * 3.0


def _x(rows: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(rows, 30)).astype(np.float32))


@pytest.fixture
def platform() -> LeptonAI:
    return LeptonAI("memory://", key=Key.generate())


def test_torch_module_round_trips_with_parity_and_dynamic_batch(platform: LeptonAI) -> None:
    net = Net()
    net.train()  # export runs it in eval mode (dropout off) and restores the mode
    info = platform.push_model("net", net, example_inputs=_x(8), metadata={"task": "t"})
    assert net.training
    prov = info.provenance
    assert prov["framework"] == "torch" and prov["framework_version"] == torch.__version__
    assert prov["exporter"] == "torch.onnx.export (dynamo)"
    assert prov["inputs"] == ["images"] and prov["outputs"] == ["output"]
    assert 18 <= prov["opset"] <= 23
    assert set(prov["parity"]) == {"output"}
    assert 0 <= prov["parity"]["output"]["max_abs_diff"] <= 1e-5
    assert platform.model_info("net").provenance == prov  # stored in the manifest
    assert platform.model_info("net").metadata == {"task": "t"}

    model = LeptonAI.load_model("net", platform=platform)
    assert model.inputs[0].name == "images"
    net.eval()
    for rows in (1, 97):
        x = _x(rows, seed=rows)
        with torch.no_grad():
            want = net(x)
        got = model(x)
        assert isinstance(got, torch.Tensor) and got.shape == (rows, 2)
        torch.testing.assert_close(got, want)
    # onnxruntime itself agrees on the stored model at batch 97
    sess = ort.InferenceSession(platform.model_bytes("net"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        sess.run(None, {"images": _x(97).numpy()})[0], net(_x(97)).detach().numpy(), rtol=1.3e-6, atol=1e-5
    )


def test_user_names_and_several_inputs_and_outputs() -> None:
    class Two(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return a + b, a * b

    a, b = _x(5), _x(5, seed=1)
    model = lepton_ai.export_model(
        Two(), (a, b), input_names=["left", "right"], output_names=["sum", "product"]
    )
    assert [i.name for i in model.inputs] == ["left", "right"]
    assert [o.name for o in model.outputs] == ["sum", "product"]
    assert model.provenance is not None
    assert set(model.provenance["parity"]) == {"sum", "product"}
    s, p = model(_x(3), _x(3, seed=2))
    torch.testing.assert_close(s, _x(3) + _x(3, seed=2))
    torch.testing.assert_close(p, _x(3) * _x(3, seed=2))


def test_parity_failure_raises_export_error_naming_the_output(platform: LeptonAI) -> None:
    with pytest.raises(ExportError, match=r"output `scaled`: .*max abs diff [0-9.e+-]+") as e:
        platform.push_model("bad", Counting(), example_inputs=_x(4), output_names=["scaled"])
    assert "check=False" in str(e.value)
    assert platform.list_models() == []  # nothing pushed
    # check=False pushes it, without parity figures
    info = platform.push_model("unchecked", Counting(), example_inputs=_x(4), check=False)
    assert "parity" not in info.provenance and info.provenance["framework"] == "torch"


def test_torchscript_fallback_where_dynamo_cannot() -> None:
    model = lepton_ai.export_model(DataDependent(), torch.ones(4, 3))
    prov = model.provenance
    assert prov is not None
    assert prov["exporter"] == "torch.onnx.export (torchscript)"
    assert prov["fallback_reason"]
    assert prov["parity"]["output"]["max_abs_diff"] == 0.0
    torch.testing.assert_close(model(torch.ones(9, 3)), torch.ones(9, 3) * 2.0)


def test_sklearn_pipeline_scaler_and_classifier(platform: LeptonAI) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    info = platform.push_model("pipe", pipe, example_inputs=x[:100])
    prov = info.provenance
    assert prov["framework"] == "sklearn" and prov["estimator"] == "Pipeline"
    assert prov["exporter"].startswith("skl2onnx ")
    assert set(prov["parity"]) == {"label", "probabilities"}
    assert prov["parity"]["label"]["max_abs_diff"] == 0.0
    model = platform.load_model("pipe")
    x32 = x.astype(np.float32)
    out = model.run_dict(x32)
    assert out["label"].dtype == np.int64 and out["probabilities"].shape == (len(x), 2)
    np.testing.assert_array_equal(out["label"], pipe.predict(x32))
    np.testing.assert_allclose(out["probabilities"], pipe.predict_proba(x32), rtol=1.3e-6, atol=1e-5)


def test_sklearn_zipmap_when_asked_and_a_regressor() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    clf = LogisticRegression(max_iter=5000).fit(x, y)
    zipped = lepton_ai.export_model(clf, x[:10], zipmap=True)
    probs = zipped.run_dict(x[:3].astype(np.float32))["output_probability"]
    assert isinstance(probs, list) and set(probs[0]) == {0, 1}
    want = clf.predict_proba(x[:3].astype(np.float32))
    np.testing.assert_allclose([[p[0], p[1]] for p in probs], want, rtol=1e-5, atol=1e-5)

    xd, yd = load_diabetes(return_X_y=True)
    reg = LinearRegression().fit(xd, yd)
    model = lepton_ai.export_model(reg, xd[:50], atol=1e-3)  # predictions are ~100s: float32
    assert model.provenance is not None and "variable" in model.provenance["parity"]
    np.testing.assert_allclose(
        model(xd.astype(np.float32))[:, 0], reg.predict(xd.astype(np.float32)), rtol=1e-5
    )


def test_onnx_proto_path_bytes_and_model_round_trip(platform: LeptonAI, tmp_path) -> None:
    proto = onnx.load_from_string(add_mul())
    info = platform.push_model("proto", proto)
    assert info.provenance == {"framework": "onnx", "exporter": None, "opset": 17}
    path = tmp_path / "m.onnx"
    path.write_bytes(add_mul())
    for source in (path, add_mul(), LeptonAI.load_model(path)):
        info = platform.push_model("other", source)
        assert info.provenance == {"framework": "onnx", "exporter": None}
        assert platform.model_bytes("other") == add_mul()
    # a loaded export keeps its provenance when pushed
    exported = lepton_ai.export_model(Net(), _x(4))
    assert platform.push_model("again", exported).provenance == exported.provenance


def test_a_misspelled_export_keyword_is_refused_by_name(platform: LeptonAI) -> None:
    # push_model's **export are export_model's keywords, checked against its signature
    with pytest.raises(TypeError, match="chek"):
        platform.push_model("typo", add_mul(), chek=False)
    assert platform.list_models() == []


def test_lepton_info_shows_provenance(capsys, tmp_path) -> None:
    reg = str(tmp_path / "reg")
    LeptonAI(reg, encrypt=False).push_model("net", Net(), example_inputs=_x(4))
    assert cli_main(["--registry", reg, "info", "model", "net"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["provenance"]["framework"] == "torch"
    assert "output" in shown["provenance"]["parity"]


def test_missing_extra_names_what_to_install(monkeypatch) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    clf = LogisticRegression(max_iter=5000).fit(x, y)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(MissingExtraError, match=r'pip install "lepton-ai-sdk\[sklearn\]"'):
        lepton_ai.export_model(clf, x[:5])
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(MissingExtraError, match=r'pip install "lepton-ai-sdk\[torch\]"'):
        lepton_ai.export_model(Net(), _x(4))


def test_export_needs_example_inputs_and_a_known_kind() -> None:
    with pytest.raises(lepton_ai.InvalidArgumentError, match="example_inputs="):
        lepton_ai.export_model(Net())
    with pytest.raises(lepton_ai.InvalidArgumentError, match="torch.nn.Module"):
        lepton_ai.export_model(object())


def test_to_device() -> None:
    model = lepton_ai.export_model(Net(), _x(4))
    assert model.to("cpu") is model
    assert model.to(torch.device("cpu")) is model
    with pytest.raises(lepton_ai.InvalidArgumentError, match="cuda:N"):
        model.to("mps")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        moved = model.to("cuda:0")
        assert moved.providers[0] == "cuda"
        torch.testing.assert_close(moved(_x(3)), model(_x(3)))
    else:
        with pytest.raises(ProviderUnavailableError):
            model.to("cuda")
        with pytest.raises(ProviderUnavailableError):
            model.to("cuda:1")
