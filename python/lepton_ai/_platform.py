"""The LeptonAI registry (platform issue). Until then only LeptonAI.load_model(path) works."""

from __future__ import annotations

from typing import Any

from ._model import Model, load_model


class LeptonAI:
    """A registry of models and datasets in an object store."""

    @staticmethod
    def load_model(name_or_path: Any, platform: "LeptonAI | None" = None, **kwargs: Any) -> Model:
        """Loads a model from a file, bytes, or (with ``platform``) the registry."""
        if platform is not None:
            raise NotImplementedError("the registry is not implemented yet")
        return load_model(name_or_path, **kwargs)
