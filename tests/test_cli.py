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
from model_fixtures import holding


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


def model_file(tmp_path: Path, content: bytes = holding(b"onnx-ish bytes")) -> Path:
    p = tmp_path / "m.onnx"
    p.write_bytes(content)
    return p


def test_push_ls_info_pull_rm(capsys, tmp_path, reg):
    f = model_file(tmp_path)
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "model", "m", str(f), "--metadata", '{"auc": 0.9}')[:2] == (
        0,
        "pushed m version 1\n",
    )
    f2 = tmp_path / "m2.onnx"
    f2.write_bytes(holding(b"other onnx-ish bytes"))
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "model", "m", str(f2))[1] == "pushed m version 2\n"
    assert run(capsys, "-r", reg, "ls", "models")[1] == "m\n"
    assert run(capsys, "-r", reg, "ls", "model", "m")[1] == "1\n2\n"
    code, out, _ = run(capsys, "-r", reg, "info", "model", "m", "--version", "1")
    info = json.loads(out)
    assert (code, info["version"], info["metadata"], info["versions"]) == (0, 1, {"auc": 0.9}, [1, 2])
    out_file = tmp_path / "pulled.onnx"
    assert run(capsys, "-r", reg, "pull", "model", "m", "--output", str(out_file))[0] == 0
    assert out_file.read_bytes() == f2.read_bytes()
    assert run(capsys, "-r", reg, "verify", "model")[1].startswith("ok      m v1")
    assert run(capsys, "-r", reg, "rm", "model", "m", "--version", "1", "--yes")[1] == "removed m version 1\n"
    assert LeptonAI(reg).model_versions("m") == [2]
    assert run(capsys, "-r", reg, "rm", "model", "m", "--yes")[0] == 0
    assert LeptonAI(reg).list_models() == []


def test_registry_from_environment(capsys, tmp_path, reg, monkeypatch):
    monkeypatch.setenv("LEPTON_URI", reg)
    run(capsys, "push", "--no-encrypt", "model", "env", str(model_file(tmp_path)))
    assert LeptonAI(reg).list_models() == ["env"]


def test_encrypted_push_pull_and_verify(capsys, tmp_path, reg, monkeypatch):
    key = os.urandom(32)
    key_file = tmp_path / "key"
    key_file.write_text(key.hex())
    f = model_file(tmp_path, holding(b"secret graph bytes"))
    code, out, _ = run(capsys, "-r", reg, "--key-file", str(key_file), "push", "model", "s", str(f))
    assert (code, out) == (0, "pushed s version 1 (encrypted)\n")
    # without the key: a clear error, exit status 1
    code, _, err = run(capsys, "-r", reg, "pull", "model", "s")
    assert code == 1
    assert err == (
        "lepton: error: model `s` version 1 is encrypted; pass --key-file FILE or set $LEPTON_KEY "
        "(64 hex digits or 44 base64 characters)\n"
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
    run(capsys, "-r", reg, "push", "--no-encrypt", "model", "t", str(model_file(tmp_path)))
    (Path(reg) / "models" / "t" / "1" / "model.onnx").write_bytes(b"tampered")
    code, out, _ = run(capsys, "-r", reg, "verify", "model")
    assert code == 1 and "FAILED  t v1: integrity check failed" in out


def test_errors_are_one_line_with_status_1(capsys, reg, tmp_path):
    Path(reg).mkdir()
    code, _, err = run(capsys, "-r", reg, "info", "model", "nope")
    assert (code, err) == (1, f"lepton: error: model `nope` not found; {reg} has no models; push_model one first\n")
    code, _, err = run(capsys, "-r", reg, "push", "model", "../evil", str(model_file(tmp_path)))
    assert code == 1 and err.startswith("lepton: error: invalid model name \"../evil\"")
    code, _, err = run(capsys, "-r", reg, "push", "model", "m", str(model_file(tmp_path)), "--metadata", "{")
    assert code == 1 and "--metadata is not valid JSON" in err


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
    code, out, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "med", str(src), "--metadata", '{"n": 20}')
    assert (code, out) == (0, "pushed med/train version 1 (20 rows)\n"), err
    run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "med", str(src), "--split", "test")
    assert run(capsys, "-r", reg, "ls", "datasets")[1] == "med\n"
    assert run(capsys, "-r", reg, "ls", "datasets", "med")[1] == "test\ntrain\n"
    assert run(capsys, "-r", reg, "ls", "datasets", "med", "--split", "test")[1] == "1\n"
    info = json.loads(run(capsys, "-r", reg, "info", "dataset", "med")[1])
    assert (info["rows"], info["metadata"], info["versions"]) == (20, {"n": "20"}, [1])
    out_file = tmp_path / "back.npz"
    assert run(capsys, "-r", reg, "pull", "dataset", "med", "--output", str(out_file))[0] == 0
    with np.load(out_file) as back:
        np.testing.assert_array_equal(back["x"], x)
        offsets = back["name.offsets"]  # text as UTF-8 bytes + offsets: trailing NULs survive
        assert [back["name"][offsets[i] : offsets[i + 1]].tobytes().decode() for i in range(20)] == [
            f"r{i}" for i in range(20)
        ]
    code, out, _ = run(capsys, "-r", reg, "verify", "datasets")
    assert code == 0 and out.count("ok      med/") == 2
    assert run(capsys, "-r", reg, "rm", "dataset", "med", "--split", "test", "--yes")[1] == "removed med/test (all versions)\n"
    assert LeptonAI(reg).dataset_splits("med") == ["train"]
    code, _, err = run(capsys, "-r", reg, "rm", "dataset", "med", "--version", "1")
    assert code == 1 and "--version needs --split" in err
    code, _, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "med", str(tmp_path / "missing.npz"))
    assert code == 1 and "cannot read" in err and ".npz" in err


def test_closed_pipe_exits_quietly(tmp_path, reg):
    # `lepton ls models | head -1`: the reader leaves early; no traceback, status 141 like Unix tools.
    platform = LeptonAI(reg, encrypt=False)
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


def test_global_options_also_after_the_command(capsys, tmp_path, reg):
    f = model_file(tmp_path)
    assert run(capsys, "push", "--no-encrypt", "model", "m", str(f), "--registry", reg, "--no-progress")[0] == 0
    assert run(capsys, "ls", "models", "-r", reg)[1] == "m\n"
    # before the command still works, and a value given there is not reset by the subcommand
    assert run(capsys, "-r", reg, "ls", "models", "-v")[1] == "m\n"
    assert run(capsys, "-o", "timeout=5s", "-r", reg, "ls", "models", "-o", "retry_timeout=1s")[0] == 0


def test_version(capsys):
    import lepton_ai

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"lepton {lepton_ai.__version__} (lepton-ai-sdk)\n"


def test_names_that_do_not_exist_fail(capsys, tmp_path, reg):
    run(capsys, "-r", reg, "push", "--no-encrypt", "model", "m", str(model_file(tmp_path)))
    code, out, err = run(capsys, "-r", reg, "ls", "models", "nosuch")
    assert (code, out, err) == (1, "", f"lepton: error: model `nosuch` not found in {reg} (there: m)\n")
    code, out, err = run(capsys, "-r", reg, "ls", "datasets", "nosuch")
    assert (code, out, err) == (1, "", f"lepton: error: dataset `nosuch` not found in {reg} (there: none)\n")


def test_reading_a_missing_local_registry_fails_and_creates_nothing(capsys, tmp_path, monkeypatch):
    missing = tmp_path / "no-such-registry"
    for argv in (["ls", "models"], ["info", "model", "m"], ["verify", "datasets"], ["pull", "model", "m"]):
        code, out, err = run(capsys, "-r", str(missing), *argv)
        assert (code, out) == (1, ""), argv
        assert err == (
            f"lepton: error: registry folder {missing} does not exist (from --registry); "
            "check the path, or push a model or dataset there first\n"
        )
    monkeypatch.setenv("LEPTON_URI", f"file://{missing}")
    code, _, err = run(capsys, "ls", "datasets")
    assert code == 1 and "(from $LEPTON_URI)" in err
    assert not missing.exists()


def test_push_dataset_from_npy_parquet_and_csv(capsys, tmp_path, reg):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "n", str(tmp_path / "x.npy"))[:2] == (
        0, "pushed n/train version 1 (7 rows)\n",
    )
    run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "n", str(tmp_path / "x.npy"), "--split", "f", "--column", "feat")
    rec = np.zeros(4, dtype=[("a", np.int32), ("b", np.float64, (2,))])
    rec["a"] = [1, 2, 3, 4]
    rec["b"] = np.arange(8.0).reshape(4, 2)
    np.save(tmp_path / "rec.npy", rec)
    run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "n", str(tmp_path / "rec.npy"), "--split", "rec")

    table = pa.table({"id": [3, 1, 2], "label": ["cat", "dog", "émeu"], "v": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]})
    pq.write_table(table, tmp_path / "t.parquet")
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "p", str(tmp_path / "t.parquet"))[0] == 0
    (tmp_path / "t.csv").write_text("id,score,name\n1,0.5,a\n2,1.5,bb\n3,-2,ccc\n")
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "c", str(tmp_path / "t.csv"))[0] == 0

    p = LeptonAI(reg)
    np.testing.assert_array_equal(p.load_dataset("n").to_numpy()["x"], x)
    np.testing.assert_array_equal(p.load_dataset("n", "f").to_numpy()["feat"], x)
    back = p.load_dataset("n", "rec").to_numpy()
    np.testing.assert_array_equal(back["a"], rec["a"])
    np.testing.assert_array_equal(back["b"], rec["b"])
    back = p.load_dataset("p").to_numpy()
    # expected values from pyarrow's own conversion of the same table
    np.testing.assert_array_equal(back["id"], table.column("id").to_numpy())
    assert list(back["label"]) == table.column("label").to_pylist()
    # a Parquet list column is variable-shape, even when its rows happen to share a length
    assert [row.tolist() for row in back["v"]] == table.column("v").to_pylist()
    back = p.load_dataset("c").to_numpy()
    # expected values and dtypes from pandas' own reader of the same file
    import pandas as pd

    expected = pd.read_csv(tmp_path / "t.csv")
    np.testing.assert_array_equal(back["id"], expected["id"].to_numpy())
    assert back["id"].dtype == expected["id"].dtype and back["score"].dtype == expected["score"].dtype
    np.testing.assert_array_equal(back["score"], expected["score"].to_numpy())
    assert list(back["name"]) == list(expected["name"])


def test_push_dataset_parquet_with_a_ragged_list_column(capsys, tmp_path, reg):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "ids": pa.array([[1, 2, 3], [4], [], [5, 6]], pa.list_(pa.int64())),
            "xy": pa.array([[0.5, 1.5], [2.5, 3.5], [4.5, 5.5], [6.5, 7.5]], pa.list_(pa.float32(), 2)),
            "label": [0, 1, 0, 1],
        }
    )
    pq.write_table(table, tmp_path / "r.parquet")
    code, out, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "r", str(tmp_path / "r.parquet"))
    assert (code, out, err) == (0, "pushed r/train version 1 (4 rows)\n", "")
    ds = LeptonAI(reg).load_dataset("r")
    assert ds.schema == {"ids": ("int64", (None,)), "xy": ("float32", (2,)), "label": ("int64", ())}
    # expected values from pyarrow's own reading of the file
    want = pq.read_table(tmp_path / "r.parquet")
    back = ds.to_arrow()
    for name in want.column_names:
        assert back.column(name).to_pylist() == want.column(name).to_pylist(), name


def test_push_dataset_csv_quoting_and_missing_values(capsys, tmp_path, reg):
    import numpy as np
    import pandas as pd

    quoted = tmp_path / "q.csv"
    quoted.write_text('name,score,ok\n"Smith, J",1.5,true\n"O""Brien",2,false\n')
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "q", str(quoted))[0] == 0
    back = LeptonAI(reg).load_dataset("q").to_numpy()
    expected = pd.read_csv(quoted)
    assert list(back["name"]) == list(expected["name"])
    np.testing.assert_array_equal(back["score"], expected["score"].to_numpy())
    np.testing.assert_array_equal(back["ok"], expected["ok"].to_numpy())
    # pandas reads these cells as missing (NaN); a dataset refuses them instead of storing -1/NaN
    for i, text in enumerate(["a,b\n1,\n,2\n", "a,b\n1,NA\n2,3\n"]):
        path = tmp_path / f"miss{i}.csv"
        path.write_text(text)
        assert pd.read_csv(path).isna().to_numpy().any()
        code, _, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", f"m{i}", str(path))
        assert code != 0 and "missing value" in err, err
        assert f"m{i}" not in LeptonAI(reg).list_datasets()

    code, _, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "q", str(tmp_path / "t.txt"))
    assert (code, err) == (
        1, f"lepton: error: cannot push {tmp_path / 't.txt'} as a dataset: expected a .npz, .npy, .parquet or .csv file\n",
    )
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    code, _, err = run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "q", str(tmp_path / "bad.npy"))
    assert code == 1 and err.startswith(f"lepton: error: cannot read {tmp_path / 'bad.npy'} as .npy")


def test_base64_key_in_the_environment_and_in_a_key_file(capsys, tmp_path, reg, monkeypatch):
    import base64

    key = os.urandom(32)
    monkeypatch.setenv("LEPTON_KEY", base64.b64encode(key).decode())
    f = model_file(tmp_path, holding(b"b64 secret"))
    assert run(capsys, "-r", reg, "push", "model", "s", str(f))[1] == "pushed s version 1 (encrypted)\n"
    # the same key as hex in a key file, and as raw bytes, opens it
    monkeypatch.delenv("LEPTON_KEY")
    for i, content in enumerate([key.hex().encode() + b"\n", key, base64.b64encode(key)]):
        kf = tmp_path / f"k{i}"
        kf.write_bytes(content)
        code, out, _ = run(capsys, "-r", reg, "--key-file", str(kf), "verify", "model", "s")
        assert code == 0 and out.startswith("ok      s v1"), content
    monkeypatch.setenv("LEPTON_KEY", "tooshort")
    # Listing needs no key: a malformed $LEPTON_KEY fails only what uses the key, naming it.
    assert run(capsys, "-r", reg, "ls", "models")[:2] == (0, "s\n")
    bad_env = (
        "lepton: error: environment variable LEPTON_KEY: a key as text is 64 hex digits or 44 base64 "
        "characters (32 bytes); got 8 characters\n"
    )
    for argv in (["push", "model", "t", str(f)], ["pull", "model", "s", "--decrypt", "--output", str(tmp_path / "o")]):
        code, _, err = run(capsys, "-r", reg, *argv)
        assert (code, err) == (1, bad_env), argv
    code, out, _ = run(capsys, "-r", reg, "verify", "model", "s")
    assert (code, out) == (1, f"FAILED  s v1: {bad_env[len('lepton: error: '):]}")
    assert LeptonAI(reg, encrypt=False).list_models() == ["s"]


def test_pushing_identical_content_returns_the_latest_version(capsys, tmp_path, reg, monkeypatch):
    import numpy as np

    monkeypatch.setenv("LEPTON_KEY", os.urandom(32).hex())
    f = model_file(tmp_path)
    assert run(capsys, "-r", reg, "push", "model", "m", str(f))[1] == "pushed m version 1 (encrypted)\n"
    assert run(capsys, "-r", reg, "push", "model", "m", str(f))[1] == (
        "m version 1 already holds this model; nothing pushed\n"
    )
    assert LeptonAI(reg, key=os.environ["LEPTON_KEY"]).model_versions("m") == [1]
    f.write_bytes(holding(b"changed"))
    assert run(capsys, "-r", reg, "push", "model", "m", str(f))[1] == "pushed m version 2 (encrypted)\n"

    src = tmp_path / "d.npz"
    np.savez(src, x=np.arange(10.0), name=np.array([f"r{i}" for i in range(10)]))
    assert run(capsys, "-r", reg, "push", "dataset", "d", str(src))[1] == "pushed d/train version 1 (10 rows) (encrypted)\n"
    assert run(capsys, "-r", reg, "push", "dataset", "d", str(src))[1] == (
        "d/train version 1 already holds these rows; nothing pushed\n"
    )
    # other metadata, or one changed value, is a new version (the unchanged push used up the
    # number 2 it claimed, as a failed push does)
    assert run(capsys, "-r", reg, "push", "dataset", "d", str(src), "--metadata", '{"a": 1}')[1].startswith(
        "pushed d/train version 3"
    )
    np.savez(src, x=np.arange(10.0) + 1e-9, name=np.array([f"r{i}" for i in range(10)]))
    assert run(capsys, "-r", reg, "push", "dataset", "d", str(src), "--metadata", '{"a": 1}')[1].startswith(
        "pushed d/train version 4"
    )
    assert LeptonAI(reg, key=os.environ["LEPTON_KEY"]).dataset_versions("d", "train") == [1, 3, 4]


def test_rm_asks_on_a_terminal_refuses_without_one_and_lists_on_dry_run(capsys, tmp_path, reg, monkeypatch):
    import numpy as np

    src = tmp_path / "d.npz"
    np.savez(src, x=np.arange(4.0))
    for split in ("train", "test"):
        assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "med", str(src), "--split", split)[0] == 0
    # not a terminal and no --yes: refused, naming --yes; nothing removed
    code, _, err = run(capsys, "-r", reg, "rm", "dataset", "med")
    assert code == 1 and "pass --yes to remove without asking" in err, err
    assert LeptonAI(reg).dataset_splits("med") == ["test", "train"]
    # --dry-run lists every version it would remove
    code, out, _ = run(capsys, "-r", reg, "rm", "dataset", "med", "--dry-run")
    assert (code, out) == (0, "would remove med/test v1\nwould remove med/train v1\n")
    assert LeptonAI(reg).dataset_splits("med") == ["test", "train"]
    # on a terminal it asks: "n" keeps everything, "y" removes
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert run(capsys, "-r", reg, "rm", "dataset", "med")[0] == 1
    assert LeptonAI(reg).dataset_splits("med") == ["test", "train"]

    def end_of_input(prompt: str) -> str:
        raise EOFError  # Ctrl-D at the question: keeps everything, no traceback

    monkeypatch.setattr("builtins.input", end_of_input)
    assert run(capsys, "-r", reg, "rm", "dataset", "med")[0] == 1
    assert LeptonAI(reg).dataset_splits("med") == ["test", "train"]
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "y")
    code, out, err = run(capsys, "-r", reg, "rm", "dataset", "med")
    assert code == 0 and asked == ["remove 2 version(s)? [y/N] "], (out, err)
    assert "med/train v1" in err
    assert LeptonAI(reg).list_datasets() == []


def test_a_variable_shape_column_in_info_and_pull(capsys, tmp_path, reg):
    import numpy as np

    from lepton_ai import LeptonAI

    tok = [np.arange(3, dtype=np.int32), np.arange(1, dtype=np.int32), np.arange(4, dtype=np.int32)]
    img = [np.ones((2, 3), np.float32), np.zeros((1, 2), np.float32), np.full((2, 2), 5, np.float32)]
    y = np.array([0, 1, 2])
    LeptonAI(reg, encrypt=False).push_dataset("r", "t", {"tok": tok, "img": img, "y": y})
    code, out, _ = run(capsys, "-r", reg, "info", "dataset", "r", "--split", "t")
    shapes = {c["name"]: c["shape"] for c in json.loads(out)["columns"]}
    assert code == 0 and shapes == {"tok": [None], "img": [None, None], "y": []}, out
    dest = tmp_path / "r.npz"
    code, _, err = run(capsys, "-r", reg, "pull", "dataset", "r", "--split", "t", "--output", str(dest))
    assert code == 0, err
    with np.load(dest, allow_pickle=False) as npz:  # numpy reads it without pickles
        assert npz.files == [
            "__lepton_schema__", "tok", "tok.offsets", "tok.shapes", "img", "img.offsets", "img.shapes", "y"
        ]
        for name, want in (("tok", tok), ("img", img)):
            values, offsets, shapes = npz[name], npz[name + ".offsets"], npz[name + ".shapes"]
            got = [values[offsets[i] : offsets[i + 1]].reshape(shapes[i]) for i in range(len(want))]
            for g, w in zip(got, want):
                assert g.dtype == w.dtype
                np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(npz["y"], y)
    # Pushed back, the layout is a variable-shape column again (even rows of one shape).
    same = tmp_path / "same.npz"
    np.savez(same, **{"v": np.arange(4.0), "v.offsets": np.array([0, 2, 4]), "v.shapes": np.array([[2], [2]])})
    assert run(capsys, "-r", reg, "push", "--no-encrypt", "dataset", "back", str(same))[0] == 0
    back = LeptonAI(reg).load_dataset("back", "train")
    assert back.schema == {"v": ("float64", (None,))}
    assert [r.tolist() for r in back.to_numpy()["v"]] == [[0.0, 1.0], [2.0, 3.0]]


def test_a_malformed_key_file_fails_only_what_needs_the_key(capsys, tmp_path, reg, monkeypatch):
    import numpy as np

    from lepton_ai import Key

    key = Key.generate()
    LeptonAI(reg, key=key).push_dataset("secret", "train", {"x": np.arange(3)})
    LeptonAI(reg, encrypt=False).push_dataset("open", "train", {"x": np.arange(4)})
    monkeypatch.setenv("LEPTON_KEY", key.to_bytes().hex())  # never used in place of the named file
    bad_key = tmp_path / "badkey"
    bad_key.write_text("not a key")
    bad = f"key file {bad_key} holds neither 32 raw bytes nor a key as text (64 hex digits or 44 base64 characters)"
    code, out, err = run(capsys, "-r", reg, "--key-file", str(bad_key), "ls", "datasets")
    assert (code, out.split(), err) == (0, ["open", "secret"], "")
    dest = tmp_path / "open.npz"
    code, _, err = run(capsys, "-r", reg, "--key-file", str(bad_key), "pull", "dataset", "open", "--output", str(dest))
    assert code == 0, err
    with np.load(dest) as npz:
        np.testing.assert_array_equal(npz["x"], np.arange(4))
    code, _, err = run(capsys, "-r", reg, "--key-file", str(bad_key), "pull", "dataset", "secret", "--output", str(dest))
    assert (code, err) == (1, f"lepton: error: {bad}\n")
    code, out, _ = run(capsys, "-r", reg, "--key-file", str(bad_key), "verify", "dataset", "secret")
    assert code == 1 and f"FAILED  secret/train v1: {bad}" in out, out
    code, _, err = run(capsys, "-r", reg, "--key-file", str(bad_key), "push", "dataset", "more", str(dest))
    assert (code, err) == (1, f"lepton: error: {bad}\n")  # an encrypting push reads the key first
