"""The registry conformance suite in Python: every backend-parametrized test runs against memory,
a local folder and S3.

S3 is moto_server, started by ``scripts/moto.sh`` (sourced by ``scripts/test.sh``), which exports
``AWS_ENDPOINT`` and ``LEPTON_TEST_S3_BUCKET``. Without them the S3 cases FAIL (not skip), saying
so. Models here are tiny hand-written ONNX top levels (``model_fixtures.sized``) unless a test says
otherwise: the registry checks that pushed bytes are a model, then stores them as they are.
"""

from __future__ import annotations

import inspect
import os
import pydoc
import threading
import time
import uuid
from pathlib import Path

import pytest

import lepton_ai
from lepton_ai import LeptonAI
from lepton_ai._model_file import is_encrypted_model_file, read_model_file, save_model_file
from model_fixtures import holding, logistic_regression, sized
from backends import FAST_FAIL, closed_port, make_uri, offline, s3_bucket  # noqa: F401
from lepton_ai.errors import (
    IntegrityError,
    InvalidArgumentError,
    KeyRequiredError,
    NotFoundError,
    ReadOnlyError,
    UnreachableError,
    WrongKeyError,
)

pytestmark = pytest.mark.usefixtures("lepton_home")


def blob(seed: int, n: int = 1000) -> bytes:
    """A model of ``n`` bytes the registry accepts, different per ``seed``."""
    return sized(seed, n)


# ----- conformance ---------------------------------------------------------------------------


def test_push_load_info(uri, tmp_path):
    p = LeptonAI(uri, cache_dir=tmp_path / "cache", encrypt=False)
    info = p.push_model("demo", blob(1), metadata={"auc": 0.97, "labels": ["a", "b"]})
    assert (info.name, info.version, info.size, info.encrypted) == ("demo", 1, 1000, False)
    assert info.metadata == {"auc": 0.97, "labels": ["a", "b"]}
    assert p.model_bytes("demo") == blob(1)
    assert p.model_info("demo") == info
    # from a file path too
    f = tmp_path / "m.onnx"
    f.write_bytes(blob(2))
    assert p.push_model("demo", f).version == 2
    assert p.model_bytes("demo") == blob(2)
    assert p.model_bytes("demo", 1) == blob(1)
    # another handle sees the same registry
    assert LeptonAI(uri, cache=False, encrypt=False).model_versions("demo") == [1, 2]


def test_versions_list_delete(uri):
    p = LeptonAI(uri, encrypt=False)
    assert p.list_models() == []
    for seed in (1, 2, 3):
        p.push_model("a", blob(seed))
    p.push_model("b", blob(9))
    assert p.list_models() == ["a", "b"]
    assert p.model_versions("a") == [1, 2, 3]
    p.delete_model("a", 3)
    assert p.model_info("a").version == 2
    assert p.push_model("a", blob(4)).version == 4  # numbers are never reused
    p.delete_model("b")
    assert p.list_models() == ["a"]
    with pytest.raises(NotFoundError):
        p.delete_model("b")


def test_unknown_and_bad_names(uri):
    p = LeptonAI(uri, encrypt=False)
    p.push_model("known", blob(1))
    with pytest.raises(NotFoundError) as e:
        p.model_bytes("nope")
    assert str(e.value) == f"model `nope` not found; models in {uri}: known"
    with pytest.raises(FileNotFoundError):
        p.model_info("known", 5)
    with pytest.raises(NotFoundError) as e:
        p.model_info("known", 5)
    assert str(e.value) == "model `known` version 5 not found; versions of `known`: 1"
    for bad in ["../x", "a/b", "..", "", "a\\b", ".hidden"]:
        with pytest.raises(InvalidArgumentError, match="invalid model name"):
            p.push_model(bad, blob(1))
        with pytest.raises(ValueError, match="invalid model name"):
            p.model_bytes(bad)
    with pytest.raises(InvalidArgumentError, match="JSON-serializable"):
        p.push_model("m", blob(1), metadata={"x": object()})
    with pytest.raises(InvalidArgumentError, match="path, bytes or a lepton_ai.Model"):
        p.push_model("m", 42)  # type: ignore[arg-type]


def test_concurrent_pushes_each_get_a_version(uri):
    writers, each = 4, 3
    results: list = []
    errors: list = []

    def work(w: int) -> None:
        p = LeptonAI(uri, cache=False, encrypt=False)
        try:
            for i in range(each):
                data = blob(w * each + i)
                results.append((p.push_model("shared", data).version, data))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = sorted(v for v, _ in results)
    assert versions == list(range(1, writers * each + 1))
    p = LeptonAI(uri, cache=False, encrypt=False)
    for v, data in results:
        assert p.model_bytes("shared", v) == data
    assert p.model_info("shared").version == writers * each


class Interrupted(Exception):
    pass


def test_interrupted_push_is_invisible(uri):
    p = LeptonAI(uri, encrypt=False)
    p.push_model("m", blob(1))

    def stop_at_end(done: int, total: int) -> None:
        if total and done == total:
            raise Interrupted("user pressed stop")

    with pytest.raises(Interrupted):
        p.push_model("m", blob(2), progress=stop_at_end)
    assert p.model_versions("m") == [1]
    assert p.model_bytes("m") == blob(1)
    assert p.push_model("m", blob(3)).version == 3


def test_encrypted_models(uri):
    key = os.urandom(32)
    p = LeptonAI(uri, key=key)
    secret = holding(b"secret weights " * 50)
    info = p.push_model("secret", secret)
    assert info.encrypted and info.stored_bytes > info.size and info.stored_size == info.stored_bytes
    assert p.model_bytes("secret") == secret
    assert p.verify_model("secret").version == 1
    with pytest.raises(KeyRequiredError) as e:
        LeptonAI(uri, cache=False).model_bytes("secret")
    assert str(e.value) == (
        "model `secret` version 1 is encrypted; open the platform with its key "
        "(LeptonAI(uri, key=...))"
    )
    with pytest.raises(WrongKeyError, match="wrong key for model `secret` version 1"):
        LeptonAI(uri, key=os.urandom(32), cache=False).model_bytes("secret")
    with pytest.raises(KeyRequiredError, match="encrypt=True needs a key"):
        LeptonAI(uri, encrypt=False).push_model("x", blob(1), encrypt=True)
    assert p.push_model("open", blob(1), encrypt=False).encrypted is False
    with pytest.raises(InvalidArgumentError, match="a key is 32 bytes"):
        LeptonAI(uri, key=b"short")


def test_cache_corruption_is_refetched(uri, tmp_path):
    cache = tmp_path / "cache"
    p = LeptonAI(uri, cache_dir=cache, encrypt=False)
    info = p.push_model("c", blob(5, 5000))
    cached = cache / "objects" / info.sha256[:2] / info.sha256
    assert cached.read_bytes() != b""
    cached.write_bytes(b"corrupted")
    assert p.model_bytes("c") == blob(5, 5000)
    assert cached.stat().st_size == info.stored_bytes == info.stored_size


def test_progress_callback_sees_the_transfer(uri):
    p = LeptonAI(uri, cache=False, encrypt=False)
    seen: list = []
    p.push_model("m", blob(1, 3000), progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 3000) and seen[-1] == (3000, 3000)
    seen.clear()
    assert p.model_bytes("m", progress=lambda d, t: seen.append((d, t))) == blob(1, 3000)
    assert seen[-1] == (3000, 3000)


# ----- one backend ---------------------------------------------------------------------------


def test_default_registry_is_created_under_lepton_home(lepton_home):
    p = LeptonAI()
    assert p.uri == str(lepton_home / "registry")
    p.push_model("m", blob(1))
    assert (lepton_home / "registry" / "models" / "m" / "1" / "manifest.json").is_file()
    assert p.cache_dir is None  # local registries need no cache


def test_named_memory_registries_are_shared():
    name = f"memory://shared-{uuid.uuid4().hex}"
    LeptonAI(name, encrypt=False).push_model("m", blob(1))
    assert LeptonAI(name, encrypt=False).list_models() == ["m"]
    assert LeptonAI("memory://").list_models() == []


def test_unreachable_http_registry_fails_fast():
    uri = f"http://127.0.0.1:{closed_port()}/registry"
    p = LeptonAI(uri, cache=False, storage_options={**FAST_FAIL, "allow_http": "true"})
    assert p.read_only
    t = time.monotonic()
    with pytest.raises(UnreachableError) as e:
        p.model_bytes("m")
    assert time.monotonic() - t < 20
    assert str(e.value).startswith(f"store unreachable at {uri}")
    assert isinstance(e.value, ConnectionError)
    with pytest.raises(ReadOnlyError, match="is read-only"):
        p.push_model("m", blob(1))


def test_https_registry_parses_without_network():
    p = LeptonAI("https://cloud-lepton.ai", cache=False)
    assert p.uri == "https://cloud-lepton.ai" and p.read_only


def test_credentials_in_uris_are_never_printed(caplog):
    uri = f"http://user:PASSWORD@127.0.0.1:{closed_port()}/registry?sig=SASTOKEN"
    p = LeptonAI(uri, cache=False, storage_options={**FAST_FAIL, "allow_http": "true"})
    shown = f"http://***@127.0.0.1:{uri.split(':')[3].split('/')[0]}/registry?***"
    assert p.uri == shown and shown in repr(p)
    with caplog.at_level("DEBUG", logger="lepton_ai"), pytest.raises(UnreachableError) as e:
        p.model_bytes("m")
    for text in (str(e.value), repr(p), caplog.text):
        assert "PASSWORD" not in text and "SASTOKEN" not in text, text
    assert str(e.value).startswith(f"store unreachable at {shown}")


def test_bad_uri_and_options():
    with pytest.raises(InvalidArgumentError, match="unsupported URI scheme `ftp://`"):
        LeptonAI("ftp://host/x")
    with pytest.raises(InvalidArgumentError, match="unknown storage option `nope`"):
        LeptonAI("s3://bucket/x", storage_options={"nope": "1"})
    with pytest.raises(InvalidArgumentError, match="is not a duration"):
        LeptonAI("s3://bucket/x", storage_options={"retry_timeout": "soon"})


def test_s3_cache_serves_offline(tmp_path, caplog):
    uri = make_uri("s3", tmp_path)
    key = os.urandom(32)
    cache = tmp_path / "cache"
    p = LeptonAI(uri, key=key, cache_dir=cache)
    p.push_model("edge", blob(1))
    p.push_model("edge", blob(2))
    with caplog.at_level("INFO", logger="lepton_ai"):
        assert p.model_bytes("edge") == blob(2)
    # the core's tracing events reach Python logging (logger lepton_ai)
    assert f"model `edge` version 2 found in {uri}" in [r.getMessage() for r in caplog.records]
    caplog.clear()
    dead = offline(uri, key, cache)
    with caplog.at_level("INFO", logger="lepton_ai"), pytest.warns(UserWarning) as seen:
        assert dead.model_bytes("edge") == blob(2)
    # the user is told, once, and the log does not claim it came from the registry
    assert [str(w.message) for w in seen] == [
        f"registry {uri} unreachable; serving model `edge` version 2 from the local cache, which "
        f"may be out of date ({str(seen[0].message).split('(', 1)[1]}"
    ]
    assert not [r for r in caplog.records if "found in" in r.getMessage()], caplog.text
    # reported once: as the UserWarning, not also as a log record
    assert not [r for r in caplog.records if "serving model" in r.getMessage()], caplog.text
    with pytest.raises(UnreachableError):
        dead.model_bytes("edge", 1)  # never loaded: not in the cache
    with pytest.raises(UnreachableError):
        dead.push_model("edge", blob(3))


def test_s3_cached_model_loads_offline(tmp_path):
    """A model loaded once loads again with the registry gone (tuning on: profiles aren't cached)."""
    import numpy as np
    import onnxruntime as ort
    from model_fixtures import add_mul

    uri = make_uri("s3", tmp_path)
    key = os.urandom(32)
    cache = tmp_path / "cache"
    LeptonAI(uri, key=key, cache_dir=cache).push_model("net", add_mul())
    LeptonAI(uri, key=key, cache_dir=cache).load_model("net")
    dead = offline(uri, key, cache)
    with pytest.warns(UserWarning, match="serving model `net` version 1 from the local cache"):
        m = dead.load_model("net")
    peer = ort.InferenceSession(add_mul(), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.arange(6, dtype=np.float32).reshape(2, 3) for i in peer.get_inputs()}
    for got, want in zip(m.run(None, feeds), peer.run(None, feeds)):
        np.testing.assert_array_equal(got, want)


def test_tampered_store_object_is_rejected(tmp_path):
    uri = make_uri("local", tmp_path)
    p = LeptonAI(uri, encrypt=False)
    p.push_model("t", blob(1))
    (Path(uri) / "models" / "t" / "1" / "model.onnx").write_bytes(b"evil")
    with pytest.raises(IntegrityError, match="push the model again"):
        p.model_bytes("t")
    with pytest.raises(IntegrityError):
        p.verify_model("t")


def test_crashed_writer_leaves_no_version(tmp_path):
    uri = make_uri("local", tmp_path)
    p = LeptonAI(uri, encrypt=False)
    p.push_model("m", blob(1))
    crashed = Path(uri) / "models" / "m" / "2"
    crashed.mkdir()
    (crashed / "CLAIM").write_text("{}")
    (crashed / "model.onnx").write_bytes(b"half")
    assert p.model_versions("m") == [1]
    assert p.model_bytes("m") == blob(1)
    assert p.push_model("m", blob(3)).version == 3


# ----- encrypted model files -----------------------------------------------------------------


def test_encrypted_model_file_roundtrip(tmp_path):
    key = os.urandom(32)
    path = tmp_path / "m.model"
    onnx = holding(b"graph" * 100)
    save_model_file(path, onnx, key=key)
    raw = path.read_bytes()
    assert raw.startswith(b"LEPTONMF") and b"graph" not in raw
    assert is_encrypted_model_file(path) and not is_encrypted_model_file(onnx)
    assert read_model_file(path, key) == onnx
    assert read_model_file(raw, key.hex()) == onnx
    with pytest.raises(KeyRequiredError, match="is encrypted; pass the key"):
        read_model_file(path)
    with pytest.raises(WrongKeyError):
        read_model_file(path, os.urandom(32))
    with pytest.raises(NotFoundError):
        read_model_file(tmp_path / "missing.model", key)
    save_model_file(tmp_path / "plain.onnx", onnx)
    assert read_model_file(tmp_path / "plain.onnx") == onnx
    with pytest.raises(KeyRequiredError, match="is not encrypted but a key was given"):
        read_model_file(tmp_path / "plain.onnx", key)
    assert sorted(os.listdir(tmp_path)) == ["m.model", "plain.onnx"]  # no temporary leftovers


def test_public_names():
    assert lepton_ai.LeptonAI is LeptonAI
    assert LeptonAI.load_model.__doc__ and LeptonAI.push_model.__doc__


def test_load_model_on_an_instance_is_a_method_filling_in_platform(tmp_path):
    here = LeptonAI(str(tmp_path / "here"), encrypt=False, progress=False)
    there = LeptonAI(str(tmp_path / "there"), encrypt=False, progress=False)
    there.push_model("m", logistic_regression())
    # help() and the signature are the function's own less platform=, as a method of the registry
    want = inspect.signature(LeptonAI.load_model)
    want = want.replace(parameters=[p for p in want.parameters.values() if p.name != "platform"])
    assert inspect.signature(here.load_model) == want
    text = pydoc.render_doc(here.load_model, renderer=pydoc.plaintext)
    assert "method load_model" in text and "load_model(name_or_path" in text, text[:300]
    assert LeptonAI.load_model.__doc__.splitlines()[0] in text
    assert here.load_model.__name__ == "load_model"
    # the instance fills in platform=; one given to the call wins
    assert there.load_model("m").inputs[0].name == "x"
    with pytest.raises(NotFoundError):
        here.load_model("m")
    assert here.load_model("m", platform=there).inputs[0].name == "x"
    # the second positional argument is the version, as help() shows
    there.push_model("m", holding(b"a second version of m"))
    assert there.load_model("m", 1).inputs[0].name == "x"
    with pytest.raises(NotFoundError, match="version 7"):
        there.load_model("m", 7)


# ----- read-only HTTP registries -------------------------------------------------------------


class _QuietHandler(__import__("http.server").server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _ForbiddenHandler(__import__("http.server").server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve():
    """Starts a local HTTP server with a handler; yields a function returning its base URL."""
    import functools
    import http.server

    servers = []

    def start(handler) -> str:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_port}"

    start.folder = lambda d: start(functools.partial(_QuietHandler, directory=str(d)))  # type: ignore[attr-defined]
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_http_registry_serves_a_folder_read_only(tmp_path, serve):
    folder = tmp_path / "published"
    src = LeptonAI(folder, key=b"k" * 32)
    src.push_model("m", blob(1))
    src.push_model("m", blob(2))
    url = serve.folder(folder)
    p = LeptonAI(url, key=b"k" * 32, cache_dir=tmp_path / "cache", storage_options={"allow_http": "true"})
    assert p.model_bytes("m") == blob(2)
    assert p.model_bytes("m", 1) == blob(1)
    assert p.model_versions("m") == [1, 2]  # found by probing, no listing needed
    with pytest.raises(InvalidArgumentError, match="plain HTTP has no listing"):
        p.list_models()
    with pytest.raises(NotFoundError, match="model `zz` not found; check the name"):
        p.model_bytes("zz")
    with pytest.raises(ReadOnlyError):
        p.delete_model("m")


def test_http_forbidden_is_permission_denied(serve):
    url = serve(_ForbiddenHandler)
    p = LeptonAI(url, cache=False, storage_options={"allow_http": "true"}, encrypt=False)
    with pytest.raises(lepton_ai.PermissionDeniedError, match="check the credentials") as e:
        p.model_bytes("m")
    assert isinstance(e.value, PermissionError)


# ----- progress bars -------------------------------------------------------------------------


def test_progress_bars_on_demand_and_off_without_a_terminal(capsys):
    from lepton_ai._progress import auto_enabled, progress_callback

    with progress_callback(None, "x") as cb:
        assert cb is None  # pytest's stderr is not a terminal
    assert auto_enabled() is False
    with progress_callback(False, "x") as cb:
        assert cb is None
    with progress_callback(True, "pull demo") as cb:
        assert cb is not None
        cb(0, 2048)
        cb(2048, 2048)
    assert "pull demo" in capsys.readouterr().err
    mine = []
    with progress_callback(lambda d, t: mine.append(d), "x") as cb:
        assert cb is not None
        cb(5, 10)
    assert mine == [5]


def test_platform_default_progress_applies(tmp_path, capsys):
    p = LeptonAI(tmp_path / "r", progress=True, encrypt=False)
    p.push_model("m", blob(1, 4096))
    assert "push m" in capsys.readouterr().err
    LeptonAI(tmp_path / "r", progress=False, encrypt=False).model_bytes("m")
    assert capsys.readouterr().err == ""


# ----- the cache across processes, and its bound --------------------------------------------


def test_cache_shared_by_processes(tmp_path):
    import subprocess
    import sys

    reg, cache = tmp_path / "reg", tmp_path / "cache"
    LeptonAI(reg, encrypt=False).push_model("m", blob(3, 200_000))
    script = (
        "import sys; from lepton_ai import LeptonAI; from model_fixtures import sized\n"
        f"p = LeptonAI({str(reg)!r}, cache_dir={str(cache)!r}, encrypt=False)\n"
        f"assert p.model_bytes('m') == sized(3, 200_000)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    objects = [f for f in (cache / "objects").rglob("*") if f.is_file()]
    assert len(objects) == 1 and objects[0].stat().st_size == 200_000
    assert list((cache / "tmp").iterdir()) == []  # every write was renamed into place


def test_cache_is_bounded(tmp_path):
    cache = tmp_path / "cache"
    p = LeptonAI(tmp_path / "reg", cache_dir=cache, cache_max_bytes=25_000, encrypt=False)
    for seed in range(5):
        p.push_model(f"m{seed}", blob(seed, 10_000))
    sizes = [f.stat().st_size for f in (cache / "objects").rglob("*") if f.is_file()]
    assert sum(sizes) <= 25_000 and len(sizes) == 2
    # evicted ones are fetched again from the registry
    assert p.model_bytes("m0") == blob(0, 10_000)


def test_s3_credentials_refused_is_permission_denied(serve):
    """moto accepts any credentials, so a server that answers 403 to everything stands in for
    an S3 endpoint refusing ours: the S3 client path must surface PermissionDeniedError."""
    url = serve(_ForbiddenHandler)
    p = LeptonAI(
        "s3://bucket/prefix",
        cache=False,
        storage_options={
            "aws_endpoint": url,
            "aws_allow_http": "true",
            "aws_access_key_id": "wrong",
            "aws_secret_access_key": "wrong",
            "aws_region": "us-east-1",
        },
        encrypt=False,
    )
    with pytest.raises(lepton_ai.PermissionDeniedError, match="check the credentials"):
        p.model_bytes("m")
    with pytest.raises(lepton_ai.PermissionDeniedError):
        p.push_model("m", blob(1))
