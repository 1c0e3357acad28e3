"""The ``lepton`` command, run in-process (``main(argv)``) against a local-folder registry, plus
one real subprocess run of the installed entry point's module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lepton_ai import LeptonAI
from lepton_ai.cli import main


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LEPTON_KEY", raising=False)
    monkeypatch.delenv("LEPTON_URI", raising=False)


@pytest.fixture
def reg(tmp_path) -> str:
    return str(tmp_path / "reg")


def run(capsys, *argv: str) -> tuple:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def model_file(tmp_path: Path, content: bytes = b"\x08\x07onnx-ish bytes") -> Path:
    p = tmp_path / "m.onnx"
    p.write_bytes(content)
    return p


def test_push_ls_info_pull_rm(capsys, tmp_path, reg):
    f = model_file(tmp_path)
    assert run(capsys, "-r", reg, "push", "model", "m", str(f), "--metadata", '{"auc": 0.9}')[:2] == (
        0,
        "pushed m version 1\n",
    )
    assert run(capsys, "-r", reg, "push", "model", "m", str(f))[1] == "pushed m version 2\n"
    assert run(capsys, "-r", reg, "ls", "models")[1] == "m\n"
    assert run(capsys, "-r", reg, "ls", "model", "m")[1] == "1\n2\n"
    code, out, _ = run(capsys, "-r", reg, "info", "model", "m", "--version", "1")
    info = json.loads(out)
    assert (code, info["version"], info["metadata"], info["versions"]) == (0, 1, {"auc": 0.9}, [1, 2])
    out_file = tmp_path / "pulled.onnx"
    assert run(capsys, "-r", reg, "pull", "model", "m", "--output", str(out_file))[0] == 0
    assert out_file.read_bytes() == f.read_bytes()
    assert run(capsys, "-r", reg, "verify", "model")[1].startswith("ok      m v1")
    assert run(capsys, "-r", reg, "rm", "model", "m", "--version", "1")[1] == "removed m version 1\n"
    assert LeptonAI(reg).model_versions("m") == [2]
    assert run(capsys, "-r", reg, "rm", "model", "m")[0] == 0
    assert LeptonAI(reg).list_models() == []


def test_registry_from_environment(capsys, tmp_path, reg, monkeypatch):
    monkeypatch.setenv("LEPTON_URI", reg)
    run(capsys, "push", "model", "env", str(model_file(tmp_path)))
    assert LeptonAI(reg).list_models() == ["env"]


def test_encrypted_push_pull_and_verify(capsys, tmp_path, reg, monkeypatch):
    key = os.urandom(32)
    key_file = tmp_path / "key"
    key_file.write_text(key.hex())
    f = model_file(tmp_path, b"\x08\x07 secret graph bytes")
    code, out, _ = run(capsys, "-r", reg, "--key-file", str(key_file), "push", "model", "s", str(f))
    assert (code, out) == (0, "pushed s version 1 (encrypted)\n")
    # without the key: a clear error, exit status 1
    code, _, err = run(capsys, "-r", reg, "pull", "model", "s")
    assert code == 1
    assert err == (
        "lepton: error: model `s` version 1 is encrypted; open the platform with its key "
        "(LeptonAI(uri, key=...))\n"
    )
    # with the key from the environment: the pulled file stays encrypted unless --decrypt
    monkeypatch.setenv("LEPTON_KEY", key.hex())
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "-r", reg, "pull", "model", "s")[0] == 0
    assert (tmp_path / "s.model").read_bytes().startswith(b"LEPTONMF")
    assert run(capsys, "-r", reg, "pull", "model", "s", "--decrypt")[0] == 0
    assert (tmp_path / "s.onnx").read_bytes() == f.read_bytes()
    assert run(capsys, "-r", reg, "verify", "model", "s")[0] == 0
    # a wrong key fails verification
    monkeypatch.setenv("LEPTON_KEY", os.urandom(32).hex())
    code, out, _ = run(capsys, "-r", reg, "verify", "model", "s")
    assert code == 1 and out.startswith("FAILED  s v1: wrong key for model `s` version 1")


def test_verify_detects_tampering(capsys, tmp_path, reg):
    run(capsys, "-r", reg, "push", "model", "t", str(model_file(tmp_path)))
    (Path(reg) / "models" / "t" / "1" / "model.onnx").write_bytes(b"tampered")
    code, out, _ = run(capsys, "-r", reg, "verify", "model")
    assert code == 1 and "FAILED  t v1: integrity check failed" in out


def test_errors_are_one_line_with_status_1(capsys, reg, tmp_path):
    code, _, err = run(capsys, "-r", reg, "info", "model", "nope")
    assert (code, err) == (1, f"lepton: error: model `nope` not found; {reg} has no models; push_model one first\n")
    code, _, err = run(capsys, "-r", reg, "push", "model", "../evil", str(model_file(tmp_path)))
    assert code == 1 and err.startswith("lepton: error: invalid model name \"../evil\"")
    code, _, err = run(capsys, "-r", reg, "push", "model", "m", str(model_file(tmp_path)), "--metadata", "{")
    assert code == 1 and "--metadata is not valid JSON" in err
    bad_key = tmp_path / "badkey"
    bad_key.write_text("not a key")
    code, _, err = run(capsys, "-r", reg, "--key-file", str(bad_key), "ls", "models")
    assert code == 1 and "holds neither 32 raw bytes nor 64 hex characters" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["ls", "tables"])
    assert e.value.code == 2
    assert "expected model or dataset, got 'tables'" in capsys.readouterr().err


def test_help_runs_as_a_program():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(
        [sys.executable, "-m", "lepton_ai.cli", "--help"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    for command in ("ls", "push", "pull", "info", "verify", "rm"):
        assert command in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "lepton_ai.cli", "push", "--help"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and "--metadata" in r.stdout


def test_datasets_push_ls_info_pull_verify_rm(capsys, tmp_path, reg):
    import numpy as np

    src = tmp_path / "train.npz"
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.savez(src, x=x, y=np.arange(20), name=np.array([f"r{i}" for i in range(20)]))
    code, out, err = run(capsys, "-r", reg, "push", "dataset", "med", str(src), "--metadata", '{"n": 20}')
    assert (code, out) == (0, "pushed med/train version 1 (20 rows)\n"), err
    run(capsys, "-r", reg, "push", "dataset", "med", str(src), "--split", "test")
    assert run(capsys, "-r", reg, "ls", "datasets")[1] == "med\n"
    assert run(capsys, "-r", reg, "ls", "datasets", "med")[1] == "test\ntrain\n"
    assert run(capsys, "-r", reg, "ls", "datasets", "med", "--split", "test")[1] == "1\n"
    info = json.loads(run(capsys, "-r", reg, "info", "dataset", "med")[1])
    assert (info["rows"], info["metadata"], info["versions"]) == (20, {"n": "20"}, [1])
    out_file = tmp_path / "back.npz"
    assert run(capsys, "-r", reg, "pull", "dataset", "med", "--output", str(out_file))[0] == 0
    with np.load(out_file) as back:
        np.testing.assert_array_equal(back["x"], x)
        assert list(back["name"]) == [f"r{i}" for i in range(20)]
    code, out, _ = run(capsys, "-r", reg, "verify", "datasets")
    assert code == 0 and out.count("ok      med/") == 2
    assert run(capsys, "-r", reg, "rm", "dataset", "med", "--split", "test")[1] == "removed med/test (all versions)\n"
    assert LeptonAI(reg).dataset_splits("med") == ["train"]
    code, _, err = run(capsys, "-r", reg, "rm", "dataset", "med", "--version", "1")
    assert code == 1 and "--version needs --split" in err
    code, _, err = run(capsys, "-r", reg, "push", "dataset", "med", str(tmp_path / "missing.npz"))
    assert code == 1 and "cannot read" in err and ".npz" in err


def test_closed_pipe_exits_quietly(tmp_path, reg):
    # `lepton ls models | head -1`: the reader leaves early; no traceback, status 141 like Unix tools.
    platform = LeptonAI(reg)
    for i in range(3):
        platform.push_model(f"m{i}", model_file(tmp_path).read_bytes())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "LEPTON_URI": reg}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom lepton_ai.cli import main\n"
         "sys.stdout.reconfigure(line_buffering=True)\nsys.exit(main(['ls', 'models']))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait() == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err
