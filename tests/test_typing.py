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


USER = ROOT / "tests" / "typing_user"


def test_package_stubtest_covers_every_module() -> None:
    # The whole package, not only the native stub: every public function's runtime signature
    # equals the one type checkers see (one allowlisted type-only alias, explained in the file).
    result = _run(
        "mypy.stubtest", "lepton_ai", "--mypy-config-file", "pyproject.toml",
        "--allowlist", str(ROOT / "tests" / "stubtest-allowlist.txt"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout


def test_user_script_is_precisely_typed_and_typos_are_errors_under_mypy_strict() -> None:
    # user_script.py asserts (assert_type) that load_model, load_dataset and model(x) give
    # Model, Dataset, ndarray / Tensor, not Any; typos.py holds `platfrom=`, `splt=` and results
    # assigned to the wrong type, one per line. One mypy run checks both (mypy over torch's
    # stubs is slow).
    result = _run(
        "mypy", "--strict", "--config-file", "pyproject.toml",
        str(USER / "user_script.py"), str(USER / "typos.py"),
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "user_script.py" not in out, out
    assert 'typos.py:10: error: Unexpected keyword argument "platfrom" for "load_model"' in out, out
    assert 'typos.py:11: error: Unexpected keyword argument "splt" for "load_dataset"' in out, out
    assert 'typos.py:12: error: Incompatible types in assignment (expression has type "int"' in out, out
    assert 'typos.py:13: error: Incompatible types in assignment (expression has type "ndarray' in out, out
    assert "Found 4 errors in 1 file" in out, out


def _pyright(*files: str) -> subprocess.CompletedProcess[str]:
    # basedpyright bundles pyright and node (pip-installed, offline); strict mode, see
    # tests/typing_user/pyrightconfig.json. It reads this interpreter's sys.path (PYTHONPATH).
    exe = Path(sys.executable).with_name("basedpyright")
    env = dict(os.environ)
    if env.get("PYTHONPATH"):  # relative entries (PYTHONPATH=python) would move with cwd
        env["PYTHONPATH"] = os.pathsep.join(
            str((ROOT / p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep) if p
        )
    return subprocess.run(
        [str(exe), "--pythonpath", sys.executable, *files],
        cwd=USER, env=env, capture_output=True, text=True, timeout=600,
    )


def test_user_script_is_precisely_typed_under_pyright_strict() -> None:
    result = _pyright("user_script.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout, result.stdout


def test_typos_are_type_errors_under_pyright_strict() -> None:
    out = _pyright("typos.py").stdout
    assert 'typos.py:10:34 - error: No parameter named "platfrom"' in out, out
    assert 'typos.py:11:42 - error: No parameter named "splt"' in out, out
    assert 'typos.py:12:10 - error: Type "int" is not assignable to declared type "str"' in out, out
    assert 'typos.py:13:10 - error: Type "NDArray[Any]" is not assignable' in out, out


def test_top_level_all_lists_every_error() -> None:
    import lepton_ai
    import lepton_ai.errors

    classes = {n for n, v in vars(lepton_ai.errors).items() if isinstance(v, type)}
    assert classes <= set(lepton_ai.__all__)
    for name in lepton_ai.__all__:
        assert hasattr(lepton_ai, name), name
