"""The registry backends the Python suites run against (memory, a local folder, S3 via moto), and
helpers for unreachable endpoints. The fixtures over them live in ``conftest.py``.

S3 is moto_server, started by ``scripts/moto.sh`` (sourced by ``scripts/test.sh``), which exports
``AWS_ENDPOINT`` and ``LEPTON_TEST_S3_BUCKET``. Without them the S3 cases FAIL (not skip), saying
so.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ["memory", "local", "s3"]


def s3_bucket() -> str:
    bucket = os.environ.get("LEPTON_TEST_S3_BUCKET")
    if not bucket or not os.environ.get("AWS_ENDPOINT"):
        pytest.fail(
            "the S3 cases need a local S3 server: run the tests under scripts/test.sh (or "
            "`source scripts/moto.sh` first), which starts moto_server and exports AWS_ENDPOINT "
            "and LEPTON_TEST_S3_BUCKET"
        )
    return bucket


def make_uri(backend: str, tmp_path: Path) -> str:
    tag = uuid.uuid4().hex
    if backend == "memory":
        return f"memory://test-{tag}"
    if backend == "local":
        return str(tmp_path / "registry")
    return f"s3://{s3_bucket()}/test-{tag}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAST_FAIL = {"connect_timeout": "1s", "timeout": "2s", "max_retries": "1", "retry_timeout": "3s"}


def offline(uri: str, key: bytes, cache: Path) -> Any:
    """The registry at ``uri`` with the network gone: same key and cache, its S3 endpoint a
    closed port (failing fast)."""
    from lepton_ai import LeptonAI

    options = {**FAST_FAIL, "aws_endpoint": f"http://127.0.0.1:{closed_port()}"}
    return LeptonAI(uri, key=key, cache_dir=cache, storage_options=options)
