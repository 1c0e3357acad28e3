"""The medical-diagnosis examples run as users run them, and agree with each other.

`examples/medical_diagnosis.py` runs in a subprocess against a fresh local default platform
($LEPTON_HOME in a temporary folder). Then `examples/medical_diagnosis.rs` runs (through
`cargo run`, the way `scripts/main.sh` does, in the dev profile that `cargo test --workspace`
already built in CI, so only the run costs time) on the same home: the same key file, registry,
model and test split. It must print the very same accuracy line: that checks, end to end, that
what Python pushed is what Rust reads and that both runtimes compute the same predictions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lepton_ai._runtime import find_onnxruntime_library

ROOT = Path(__file__).resolve().parent.parent
ACCURACY = re.compile(r"^accuracy: (\d+\.\d\d)% \((\d+)/(\d+) test tumours\)$", re.M)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEPTON_URI", "LEPTON_KEY")}
    env["LEPTON_HOME"] = str(home)
    # The Rust example finds ONNX Runtime as a user's program would; pin the library the Python
    # side uses so both run the same one.
    runtime = find_onnxruntime_library()
    if runtime:
        env["ORT_DYLIB_PATH"] = runtime
    env.update(extra)
    return env


def _run_rust(home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    cargo = shutil.which("cargo")
    assert cargo, "cargo is needed to run examples/medical_diagnosis.rs (install Rust)"
    return subprocess.run(
        [cargo, "run", "--quiet", "-p", "lepton-core", "--example", "medical_diagnosis"],
        cwd=ROOT,
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def python_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    home = tmp_path_factory.mktemp("lepton-home")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "medical_diagnosis.py")],
        cwd=tmp_path_factory.mktemp("cwd"),
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return home, proc


def test_python_example_reaches_the_documented_accuracy(python_run) -> None:
    home, proc = python_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = ACCURACY.search(proc.stdout)
    assert m, f"no accuracy line in:\n{proc.stdout}"
    accuracy, correct, total = float(m[1]), int(m[2]), int(m[3])
    assert total == 143  # a quarter of the 569 tumours of the breast-cancer data
    assert accuracy == pytest.approx(100 * correct / total, abs=0.005)
    assert accuracy >= 95
    assert "reload check: predictions agree" in proc.stdout
    # The progress bar goes to stderr, the results to stdout.
    assert "medical diagnosis" in proc.stderr


def test_python_example_keeps_its_key_private_and_reuses_it(python_run) -> None:
    home, proc = python_run
    key_file = home / "medical.key"
    assert re.fullmatch(r"[0-9a-f]{64}", key_file.read_text().strip())
    assert key_file.stat().st_mode & 0o777 == 0o600
    # What it pushed is encrypted under that key, in the local default registry.
    registry = home / "registry"
    assert (registry / "models" / "medical_diagnosis" / "1" / "model.onnx.sealed").is_file()
    assert (registry / "datasets" / "medical" / "test" / "1").is_dir()


def test_rust_example_prints_the_same_accuracy(python_run) -> None:
    home, py = python_run
    assert py.returncode == 0, py.stderr
    rust = _run_rust(home)
    assert rust.returncode == 0, rust.stdout + rust.stderr
    assert ACCURACY.search(rust.stdout), rust.stdout
    assert ACCURACY.search(rust.stdout)[0] == ACCURACY.search(py.stdout)[0]


def test_rust_example_rejects_a_wrong_key(python_run) -> None:
    home, _ = python_run
    rust = _run_rust(home, LEPTON_KEY="00" * 32)
    assert rust.returncode == 1
    assert "wrong key" in rust.stderr
    assert "accuracy" not in rust.stdout


def test_rust_example_says_what_to_run_first(tmp_path: Path) -> None:
    rust = _run_rust(tmp_path / "empty-home")
    assert rust.returncode == 1
    assert "medical.key" in rust.stderr
    assert "examples/medical_diagnosis.py" in rust.stderr


def test_python_example_refuses_a_damaged_key_file(tmp_path: Path) -> None:
    (tmp_path / "medical.key").write_text("not a key\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "medical_diagnosis.py")],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert "medical.key does not hold a key (64 hex digits)" in proc.stderr
    assert "accuracy" not in proc.stdout


def test_both_examples_share_an_s3_platform(tmp_path: Path) -> None:
    # $LEPTON_URI names the platform for both examples; on S3 (moto_server under scripts/test.sh)
    # the Rust side reads what the Python side pushed, through its verified local cache.
    from backends import s3_bucket

    uri = f"s3://{s3_bucket()}/medical-example-{uuid.uuid4().hex}"
    py = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "medical_diagnosis.py")],
        cwd=tmp_path,
        env=_env(tmp_path / "home", LEPTON_URI=uri),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert py.returncode == 0, py.stdout + py.stderr
    assert not (tmp_path / "home" / "registry").exists()  # nothing went to the local default
    rust = _run_rust(tmp_path / "home", LEPTON_URI=uri)
    assert rust.returncode == 0, rust.stdout + rust.stderr
    assert ACCURACY.search(rust.stdout)[0] == ACCURACY.search(py.stdout)[0]


def test_digits_cnn_example_reaches_95_percent(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits_cnn.py")],
        cwd=tmp_path,
        env=_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"^accuracy: (\d+\.\d\d)% \((\d+)/(\d+) test digits\)$", proc.stdout, re.M)
    assert m, proc.stdout
    assert int(m[3]) == 450  # a quarter of the 1797 digits
    assert float(m[1]) >= 95
    assert "exported with torch.onnx.export (dynamo)" in proc.stdout
