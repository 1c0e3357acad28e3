"""Store errors say what is wrong, from Python, for datasets and the registry alike.

403: an S3 client pointed at a tiny local HTTP server that answers every request with S3's
``403 AccessDenied`` (what S3 answers under a deny policy). It is a stand-in: the shared moto
server runs without IAM enforcement, and turning that on would deny every other test. A missing
bucket uses the real moto server (``scripts/moto.sh``).
"""

from __future__ import annotations

import http.server
import threading
import uuid

import numpy as np
import pytest

from backends import FAST_FAIL, closed_port, s3_bucket  # noqa: F401
from lepton_ai import Dataset, LeptonAI
from model_fixtures import holding
from lepton_ai.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError, UnreachableError

DENIED = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'


class _DenyAll(http.server.BaseHTTPRequestHandler):
    def _deny(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(DENIED)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(DENIED)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _deny

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def deny_all():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DenyAll)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


def _s3_options(endpoint: str) -> dict[str, str]:
    return {
        **FAST_FAIL,
        "aws_endpoint": endpoint,
        "aws_allow_http": "true",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "aws_region": "us-east-1",
    }


def test_forbidden_is_permission_denied_for_registry_and_dataset_calls(deny_all):
    p = LeptonAI("s3://locked/reg", cache=False, encrypt=False, storage_options=_s3_options(deny_all))
    calls = {
        "list_datasets": lambda: p.list_datasets(),
        "list_models": lambda: p.list_models(),
        "load_dataset": lambda: p.load_dataset("d", "train"),
        "model_bytes": lambda: p.model_bytes("m"),
        "push_model": lambda: p.push_model("m", holding(b"onnx")),
        "push_dataset": lambda: p.push_dataset("d", "train", {"x": np.zeros(3, np.float32)}),
        "delete_model": lambda: p.delete_model("m"),
        "Dataset(uri)": lambda: Dataset("s3://locked/ds", storage_options=_s3_options(deny_all)),
    }
    for name, call in calls.items():
        with pytest.raises(PermissionDeniedError) as e:
            call()
        assert isinstance(e.value, PermissionError), name
        assert str(e.value).startswith("permission denied for "), (name, str(e.value))


def test_missing_bucket_is_not_found_naming_it():
    s3_bucket()  # needs moto
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:12]}"
    p = LeptonAI(f"s3://{bucket}/reg", cache=False, encrypt=False)
    for call in (p.list_datasets, p.list_models):
        with pytest.raises(NotFoundError) as e:
            call()
        assert str(e.value) == (
            f"bucket `{bucket}` (of s3://{bucket}/reg) not found; create the bucket, or check its "
            "name in the URI"
        )


def test_plain_http_endpoint_without_allow_http_names_the_option():
    options = {**_s3_options("http://127.0.0.1:9"), "aws_allow_http": "false"}
    with pytest.raises(InvalidArgumentError, match=r"set the storage option allow_http=true"):
        LeptonAI("s3://b/reg", storage_options=options)


def test_refused_connection_is_unreachable():
    p = LeptonAI("s3://b/reg", cache=False, encrypt=False, storage_options=_s3_options(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(UnreachableError, match="store unreachable at s3://b/reg"):
        p.list_datasets()
