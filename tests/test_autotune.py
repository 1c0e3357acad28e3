"""Auto-optimisation: the report's structure, the accuracy gate, and profiles kept per machine in
the registry. Budgets are tiny and nothing here is timed: speed is measured in
``benches/bench_autotune.py``. Models come from ``tests/model_fixtures.py``; data from
scikit-learn's breast-cancer set (the medical example's data)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from sklearn.datasets import load_breast_cancer

import lepton_ai._tune as tune
from lepton_ai import Key, LeptonAI, load_model, machine_fingerprint
from lepton_ai.cli import main as cli_main
from lepton_ai.errors import InvalidArgumentError
from model_fixtures import logistic_regression

#: A small search space, so each tune takes a second or two.
SMALL = dict(intra_op_threads=[None, 1], optimization_levels=["all", "basic"])


@pytest.fixture(scope="module")
def medical() -> dict[str, np.ndarray]:
    """Breast-cancer features standardized (float32 [569, 30]) and labels (int64 [569])."""
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    return {"x": x, "labels": y.astype(np.int64)}


def fitted_logreg(medical: dict[str, np.ndarray]) -> bytes:
    """The fixture's logistic-regression graph with weights fitted by scikit-learn."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=1000).fit(medical["x"], medical["labels"])
    model = onnx.load_from_string(logistic_regression())
    coef = clf.coef_.astype(np.float32)[0]
    w = np.stack([-coef, coef], axis=1) / 2
    b = np.array([-clf.intercept_[0], clf.intercept_[0]], dtype=np.float32) / 2
    for init in model.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(w if init.name == "W" else b, init.name))
    return model.SerializeToString()


def ort_accuracy(onnx_bytes: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy by onnxruntime's own session (the peer)."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    [p] = session.run(None, {"x": x})
    return float(np.mean(p.argmax(axis=1) == y))


def break_weights(onnx_bytes: bytes, _calibration: object) -> bytes:
    """A 'transform' that ruins the model: flips the sign of every weight."""
    model = onnx.load_from_string(onnx_bytes)
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        init.CopyFrom(numpy_helper.from_array((-arr).astype(arr.dtype), init.name))
    return model.SerializeToString()


def copy_model(onnx_bytes: bytes, _calibration: object) -> bytes:
    """A 'transform' that changes nothing."""
    return onnx_bytes


@pytest.fixture
def custom_transforms(monkeypatch):
    monkeypatch.setitem(tune.TRANSFORMS, "broken", break_weights)
    monkeypatch.setitem(tune.TRANSFORMS, "copy", copy_model)


def test_report_structure(medical):
    model = load_model(fitted_logreg(medical))
    report = model.autotune(medical["x"][:1], budget_s=1.5, transforms=(), **SMALL)
    assert report.objective == "latency"
    assert report.baseline is report.trials[0]
    assert report.baseline.verdict == "baseline"
    assert report.baseline.providers == ("cpu",) and report.baseline.intra_op_threads is None
    assert report.best.verdict in ("baseline", "winner")
    assert report.best.verdict == ("winner" if report.beats_baseline else "baseline")
    if report.beats_baseline:
        assert report.speedup > 1 + report.noise
    timed = [t for t in report.trials if t.verdict != "failed"]
    assert len(timed) >= 4 and all(t.runs >= 1 and t.p50_ms > 0 for t in timed)
    assert all(t.p99_ms >= t.p50_ms for t in timed)
    rows = report.to_rows()
    assert len(rows) == len(report.trials)
    assert {"variant", "providers", "p50_ms", "p99_ms", "rows_per_s", "metric", "verdict"} <= set(rows[0])
    df = report.to_pandas()
    assert list(df["verdict"])[0] == "baseline" and len(df) == len(rows)
    import matplotlib

    matplotlib.use("Agg")
    ax = report.plot()
    assert len(ax.patches) == len(timed)
    # The pick loads and computes what the original computes.
    fast = report.load()
    np.testing.assert_allclose(fast(medical["x"]), model(medical["x"]), rtol=1e-5, atol=1e-6)
    profile = report.profile
    assert profile.fingerprint_id == machine_fingerprint().id
    assert profile.settings["providers"] == list(report.best.providers)


def test_throughput_tries_batch_sizes(medical):
    model = load_model(fitted_logreg(medical))
    report = model.autotune(
        medical["x"][:32], objective="throughput", batch_sizes=[8, 64], budget_s=1.5,
        transforms=(), intra_op_threads=[None], optimization_levels=["all"],
    )
    assert report.baseline.batch_rows == 32
    assert {t.batch_size for t in report.trials} >= {8, 64}
    for t in report.trials:
        assert t.rows_per_s == pytest.approx(t.batch_rows / (t.p50_ms / 1e3), rel=1e-9)


def test_accuracy_gate_rejects_a_broken_transform(medical, custom_transforms):
    onnx_bytes = fitted_logreg(medical)
    x, y = medical["x"], medical["labels"]
    report = load_model(onnx_bytes).autotune(
        x, labels=y, transforms=["broken", "copy"], budget_s=2.0, **SMALL
    )
    # Every row goes through the gate; latency is timed on one row.
    assert report.baseline.batch_rows == 1
    checks = {c.transform: c for c in report.checks}
    broken = checks["broken"]
    assert not broken.kept
    # The gate's accuracy is the one onnxruntime's own session gives the broken model.
    assert broken.metric == pytest.approx(ort_accuracy(break_weights(onnx_bytes, None), x, y))
    assert broken.drop == pytest.approx(ort_accuracy(onnx_bytes, x, y) - broken.metric)
    assert broken.drop > 0.5
    assert checks["copy"].kept and checks["copy"].drop == 0.0
    rejected = [t for t in report.trials if t.verdict == "rejected"]
    assert [t.variant for t in rejected] == ["broken"]
    assert rejected[0].runs == 0
    assert all(t.variant != "broken" for t in report.trials if t.runs > 0)
    assert report.best.variant in ("original", "copy")


def test_gate_without_labels_compares_outputs(medical, custom_transforms):
    report = load_model(fitted_logreg(medical)).autotune(
        medical["x"], transforms=["broken"], budget_s=1.0, **SMALL
    )
    [check] = report.checks
    assert not check.kept and check.metric > 1e-2


def test_int8_dynamic_is_judged_by_accuracy(medical):
    onnx_bytes = fitted_logreg(medical)
    x, y = medical["x"], medical["labels"]
    report = load_model(onnx_bytes).autotune(
        x, labels=y, transforms=["int8-dynamic"], budget_s=2.0, **SMALL
    )
    [check] = report.checks
    assert check.metric is not None
    assert check.kept == (ort_accuracy(onnx_bytes, x, y) - check.metric <= 0.005 + 1e-12)


def test_bad_arguments_are_named(medical):
    model = load_model(fitted_logreg(medical))
    with pytest.raises(InvalidArgumentError, match="unknown objective `fast`"):
        model.autotune(medical["x"], objective="fast")
    with pytest.raises(InvalidArgumentError, match="unknown transforms"):
        model.autotune(medical["x"], transforms=["int4"])
    with pytest.raises(InvalidArgumentError, match="2 input arrays, the model takes 1"):
        model.autotune((medical["x"], medical["x"]))


@pytest.fixture
def registry(medical):
    platform = LeptonAI("memory://", key=Key.generate())
    platform.push_model("medical", fitted_logreg(medical))
    platform.push_dataset("medical", "test", {"x": medical["x"], "labels": medical["labels"]})
    return platform


def test_profile_is_stored_and_applied_on_reload(registry):
    report = registry.autotune_model("medical", ("medical", "test"), budget_s=2.0, **SMALL)
    assert report.version in registry.model_versions("medical")
    model = registry.load_model("medical")
    assert model.profile is not None
    assert model.profile == report.profile
    assert model.profile.fingerprint_id == machine_fingerprint().id
    assert registry.profile("medical", report.version) == model.profile
    assert registry.load_model("medical", tuned=False).profile is None
    if report.best.variant != "original":
        # The transformed model is a new version that says where it came from.
        meta = registry.model_info("medical", report.version).metadata["autotune"]
        assert meta["derived_from"]["version"] == 1
        assert meta["transform"] == report.best.variant


def profile_for(fingerprint_id: str, providers: list[str], cores_delta: int = 0) -> str:
    fp = machine_fingerprint()
    return json.dumps(
        {
            "fingerprint_id": fingerprint_id,
            "fingerprint": {
                "cpu": fp.cpu, "cores": fp.cores + cores_delta, "gpus": list(fp.gpus),
                "runtime": fp.runtime, "providers": list(fp.providers),
            },
            "objective": "latency",
            "settings": {
                "providers": providers, "intra_op_threads": 1, "inter_op_threads": None,
                "optimization_level": "basic", "batch_size": None,
            },
            "variant": "original", "beats_baseline": True, "speedup": 1.5, "noise": 0.1,
            "p50_ms": 1.0, "rows_per_s": 1000.0, "created_unix": 0,
        }
    )


def test_profile_settings_reach_the_session(registry):
    """A profile asking for CUDA: on a machine without it the session falls back (and says
    so); with it, CUDA is used. Either way the profile, not the defaults, built the session."""
    from lepton_ai import _lepton

    _lepton.put_profile(registry._native, "medical", profile_for(machine_fingerprint().id, ["cuda", "cpu"]))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model = registry.load_model("medical")
    assert model.profile is not None and model.profile.settings["providers"] == ["cuda", "cpu"]
    assert model.providers[0] == "cuda" or "cuda" in (model.fallback_reason or "")
    # a fallback is also a UserWarning; no fallback, no warning
    assert [str(w.message) for w in seen if w.category is UserWarning] == (
        [model.fallback_reason] if model.fallback_reason else []
    )
    untuned = registry.load_model("medical", tuned=False)
    assert untuned.profile is None and untuned.fallback_reason is None
    # Arguments given to load_model win over the profile.
    assert registry.load_model("medical", providers=["cpu"]).fallback_reason is None


def test_profile_of_another_machine_is_ignored(registry):
    from lepton_ai import _lepton

    here = machine_fingerprint().id
    other = "0123456789abcdef" if here != "0123456789abcdef" else "fedcba9876543210"
    _lepton.put_profile(registry._native, "medical", profile_for(other, ["cuda", "cpu"], 1))
    assert registry.load_model("medical").profile is None
    # Another machine's profile copied under this machine's name is ignored too.
    _lepton.put_profile(registry._native, "medical", profile_for(here, ["cuda", "cpu"], 1))
    model = registry.load_model("medical")
    assert model.profile is None and model.fallback_reason is None


def test_cli_tune(tmp_path, medical, capsys, monkeypatch):
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LEPTON_KEY", raising=False)
    monkeypatch.delenv("LEPTON_URI", raising=False)
    reg = tmp_path / "reg"
    platform = LeptonAI(reg, encrypt=False)
    platform.push_model("medical", fitted_logreg(medical))
    platform.push_dataset("medical", "test", {"x": medical["x"], "labels": medical["labels"]})
    assert cli_main(["--registry", str(reg), "--no-progress", "tune", "medical",
                     "--validation", "medical:test", "--budget", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "medical" and out["stored"] is True
    assert set(out["transforms"]) == {"int8-dynamic", "int8-static"}
    assert LeptonAI(reg, encrypt=False).load_model("medical").profile is not None
    assert cli_main(["--registry", str(reg), "tune", "medical", "--validation", "medical"]) == 1
    assert "DATASET:SPLIT" in capsys.readouterr().err


def test_keyed_registry_ignores_a_profile_written_without_its_key(medical):
    """Whoever can write to the store but lacks the key cannot choose a keyed user's providers."""
    from lepton_ai import _lepton

    keyed = LeptonAI("memory://autotune-mac", key=Key.generate())
    keyed.push_model("medical", fitted_logreg(medical))
    intruder = LeptonAI("memory://autotune-mac", encrypt=False)  # same store, no key
    _lepton.put_profile(intruder._native, "medical", profile_for(machine_fingerprint().id, ["cuda", "cpu"]))
    assert intruder.profile("medical") is not None  # readable without a key...
    model = keyed.load_model("medical")
    assert model.profile is None and model.fallback_reason is None  # ...but not applied with one


def test_fp16_transform_can_be_asked_for_on_cpu(medical):
    """fp16 is tried by default only with CUDA; asked for, it is built by onnxruntime's converter
    (float16 weights, float32 inputs and outputs kept) and judged like any transform."""
    onnx_bytes = fitted_logreg(medical)
    x, y = medical["x"], medical["labels"]
    report = load_model(onnx_bytes).autotune(x, labels=y, transforms=["fp16"], budget_s=1.5, **SMALL)
    [check] = report.checks
    assert check.metric is not None, check.reason
    assert check.kept == (ort_accuracy(onnx_bytes, x, y) - check.metric <= 0.005 + 1e-12)
    if check.kept:
        fp16 = onnx.load_from_string(report._variants["fp16"])
        assert {i.data_type for i in fp16.graph.initializer} == {onnx.TensorProto.FLOAT16}
        assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_validation_given_as_the_cli_spells_it(registry):
    # "dataset:split" (the CLI's form) names the same split as the tuple
    report = registry.autotune_model("medical", "medical:test", budget_s=1.0, push=False, **SMALL)
    assert report.best is not None
    with pytest.raises(InvalidArgumentError, match="dataset:split"):
        registry.autotune_model("medical", "medical-test", budget_s=1.0, push=False, **SMALL)


def test_search_gets_only_what_is_left_of_a_small_budget(medical, monkeypatch):
    # A budget under a second was rounded up to one second for the runtime search.
    seen = []
    real = tune._lepton.tune_runtime

    def spy(*args, **kwargs):
        seen.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(tune._lepton, "tune_runtime", spy)
    model = load_model(fitted_logreg(medical))
    model.autotune(medical["x"][:1], budget_s=0.3, transforms=(), **SMALL)
    assert len(seen) == 1 and 0 < seen[0] <= 0.3
