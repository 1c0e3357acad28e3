"""The type information users see: ``_lepton.pyi`` matches the built extension (mypy.stubtest), and
the pure-Python package type-checks under ``[tool.mypy]`` in pyproject.toml.

Both run as subprocesses of this interpreter with this environment (``PYTHONPATH=python`` with
``scripts/dev-build.sh`` here; the ``maturin develop`` install in CI), so they check the very
extension the other tests import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "python" / "lepton_ai" / "_lepton.pyi"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _stubtest(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # No allowlist: every name and signature of the native module is visible to stubtest (the
    # one default pyo3 cannot render has a `text_signature` in lepton-py/src/platform.rs).
    return _run(
        "mypy.stubtest",
        "lepton_ai._lepton",
        "--mypy-config-file",
        "pyproject.toml",
        env=env,
    )


def test_native_stub_matches_the_extension() -> None:
    result = _stubtest()
    assert result.returncode == 0, result.stdout + result.stderr


def test_stubtest_catches_a_stub_that_drifted(tmp_path: Path) -> None:
    # The same stub with one default changed, found first through MYPYPATH: stubtest must fail
    # on exactly that parameter (so the test above is not green by accident).
    pkg = tmp_path / "lepton_ai"
    pkg.mkdir()
    (pkg / "__init__.pyi").write_text("")
    text = STUB.read_text()
    assert "batch_size: int = 256," in text
    (pkg / "_lepton.pyi").write_text(text.replace("batch_size: int = 256,", "batch_size: int = 512,"))
    env = dict(os.environ, MYPYPATH=str(tmp_path))
    result = _stubtest(env)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "lepton_ai._lepton.Dataset.iter_batches" in out, out
    assert 'parameter "batch_size" has a default value of 256' in out, out
    assert "Found 1 error" in out, out


def test_package_type_checks() -> None:
    result = _run("mypy", "--config-file", "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout
