"""Smoke test of an installed lepton-ai-sdk wheel (scripts/smoke-wheel.sh runs it in a fresh venv
per CPython, with no Rust toolchain and nothing but the wheel and its PyPI dependencies).

1. Loads a real ONNX model that ships inside the onnxruntime wheel (``datasets/sigmoid.onnx``:
   x float32 [3, 4, 5] -> sigmoid(x)) and checks the output against onnxruntime's own
   ``InferenceSession`` on the same input (the peer, not our output, is the reference).
2. Pushes that model and an encrypted dataset to a registry in a temporary folder, reads both
   back with the key, checks the rows and the model's outputs, and that a wrong key is refused.
3. Runs the ``lepton`` command (``--version`` and ``ls``).

Prints one line: the versions of Python, lepton_ai and onnxruntime it ran with.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np


def main() -> None:
    import onnxruntime as ort

    import lepton_ai
    from lepton_ai import Key, LeptonAI, WrongKeyError

    model_path = str(resources.files("onnxruntime") / "datasets" / "sigmoid.onnx")
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    # The peer: onnxruntime's own Python API on the same model and input.
    (expected,) = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )

    model = LeptonAI.load_model(model_path)
    y = model(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (3, 4, 5)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)

    with tempfile.TemporaryDirectory() as tmp:
        key = Key.generate()
        platform = LeptonAI(Path(tmp) / "registry", key=key)
        features = np.random.default_rng(1).normal(size=(500, 4, 5)).astype(np.float32)
        labels = np.arange(500, dtype=np.int64) % 3
        info = platform.push_dataset("smoke", "train", {"x": features, "y": labels})
        assert info.encrypted and info.rows == 500 and info.version == 1, info
        platform.push_model("sigmoid", model_path)

        back = LeptonAI(Path(tmp) / "registry", key=key)
        cols = back.load_dataset("smoke", split="train").to_numpy()
        np.testing.assert_array_equal(cols["x"], features)
        np.testing.assert_array_equal(cols["y"], labels)
        reloaded = LeptonAI.load_model("sigmoid", platform=back)
        np.testing.assert_allclose(reloaded(x), expected, rtol=1e-6, atol=1e-7)

        try:
            LeptonAI(Path(tmp) / "registry", key=Key.generate()).load_dataset(
                "smoke", split="train"
            ).to_numpy()
        except WrongKeyError:
            pass
        else:
            raise AssertionError("a wrong key read the encrypted dataset")

        cli = Path(sys.executable).with_name("lepton")
        version = subprocess.run(
            [str(cli), "--version"], check=True, capture_output=True, text=True
        ).stdout.strip()
        assert lepton_ai.__version__ in version, version
        listed = subprocess.run(
            [str(cli), "--registry", str(Path(tmp) / "registry"), "ls", "datasets"],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        assert listed == ["smoke"], listed

    print(
        f"python {sys.version.split()[0]}, lepton_ai {lepton_ai.__version__}, "
        f"onnxruntime {ort.__version__}: model, encrypted dataset and CLI ok"
    )


if __name__ == "__main__":
    main()
