"""Fixtures shared by the test modules (plain helpers live in ``backends.py``)."""

from __future__ import annotations

import pytest

from backends import BACKENDS, make_uri


@pytest.fixture
def lepton_home(tmp_path, monkeypatch):
    """Keeps the default registry and cache out of the real home folder (the registry suites use
    it for every test: ``pytestmark = pytest.mark.usefixtures("lepton_home")``)."""
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(params=BACKENDS)
def uri(request, tmp_path) -> str:
    """A fresh, empty registry on each backend."""
    return make_uri(request.param, tmp_path)
