"""The Rust block of docs/guide.md is `examples/rust_quickstart.rs` (minus its `//!` header), and
that example builds (`cargo test --workspace` compiles every example) and runs as the guide says:
with LEPTON_KEY set and a `model.onnx` in the working folder, on the local default platform."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from lepton_ai._runtime import find_onnxruntime_library
from test_docs import _tiny_model

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "rust_quickstart.rs"


def test_guide_rust_block_is_the_example() -> None:
    blocks = re.findall(r"^```rust\n(.*?)^```", (ROOT / "docs" / "guide.md").read_text(), re.S | re.M)
    source = "".join(
        line for line in EXAMPLE.read_text().splitlines(True) if not line.startswith("//!")
    ).lstrip("\n")
    assert blocks == [source], "update docs/guide.md's rust block from examples/rust_quickstart.rs"


def test_guide_rust_example_runs(tmp_path: Path) -> None:
    cargo = shutil.which("cargo")
    assert cargo, "cargo is needed to run examples/rust_quickstart.rs (install Rust)"
    _tiny_model(tmp_path / "model.onnx")
    env = {k: v for k, v in os.environ.items() if k != "LEPTON_URI"}
    env.update(LEPTON_HOME=str(tmp_path / "home"), LEPTON_KEY="ab" * 32)
    runtime = find_onnxruntime_library()
    if runtime:
        env["ORT_DYLIB_PATH"] = runtime
    proc = subprocess.run(
        [cargo, "run", "--quiet", "--manifest-path", str(ROOT / "Cargo.toml"), "-p", "lepton-core",
         "--example", "rust_quickstart"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "scored 100 rows"
    # It pushed to the local default registry, encrypted under LEPTON_KEY.
    registry = tmp_path / "home" / "registry"
    assert (registry / "models" / "medical_diagnosis" / "1" / "model.onnx.sealed").is_file()
    assert (registry / "datasets" / "medical" / "test" / "1").is_dir()
