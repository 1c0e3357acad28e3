"""Fixtures shared by the test modules (plain helpers live in ``backends.py``)."""

from __future__ import annotations

import pytest

from backends import BACKENDS, make_uri


@pytest.fixture(autouse=True)
def lepton_home(tmp_path, monkeypatch):
    """Gives every test its own ``LEPTON_HOME`` (default registry, cache, key file) and no
    ``LEPTON_KEY``, so that no test reads or writes the real home folder, and no test's key
    leaks into another's. Subprocesses inherit both."""
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LEPTON_KEY", raising=False)
    return tmp_path / "home"


@pytest.fixture(params=BACKENDS)
def uri(request, tmp_path) -> str:
    """A fresh, empty registry on each backend."""
    return make_uri(request.param, tmp_path)
