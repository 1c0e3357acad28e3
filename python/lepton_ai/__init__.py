"""lepton_ai: load and run ONNX models, store datasets encrypted, keep both in a registry.

    from lepton_ai import LeptonAI
    platform = LeptonAI()                      # local default registry, or "s3://bucket/prefix"
    model = LeptonAI.load_model("model.onnx")  # or a registry name with platform=platform
    y = model(x)                               # numpy in -> numpy out, torch in -> torch out
"""

from __future__ import annotations

from ._lepton import __version__
from .errors import *  # noqa: F403 (the exception classes; __all__ below names them)
from ._model import Model, TensorInfo, load_model
from ._dataset import Dataset, DatasetVersionInfo, Key, write_dataset
from ._writer import DatasetWriter
from ._collate import Padded, collate_padded
from ._platform import DatasetInfo, LeptonAI, ModelInfo
from ._export import export_model
from ._tune import Profile, TuneReport, machine_fingerprint

__all__ = [
    "__version__",
    "LeptonAI",
    "Model",
    "TensorInfo",
    "load_model",
    "export_model",
    "ModelInfo",
    "DatasetInfo",
    "DatasetVersionInfo",
    "Dataset",
    "Key",
    "write_dataset",
    "DatasetWriter",
    "collate_padded",
    "Padded",
    "Profile",
    "TuneReport",
    "machine_fingerprint",
    # the exception classes of lepton_ai.errors (tests/test_errors.py checks that all are here)
    "LeptonError",
    "RuntimeNotFoundError",
    "ProviderUnavailableError",
    "InvalidModelError",
    "InvalidInputError",
    "OnnxRuntimeError",
    "WrongKeyError",
    "IntegrityError",
    "UnsupportedVersionError",
    "KeyRequiredError",
    "SchemaError",
    "IndexOutOfRangeError",
    "NotFoundError",
    "AlreadyExistsError",
    "InvalidArgumentError",
    "PermissionDeniedError",
    "UnreachableError",
    "ReadOnlyError",
    "RollbackError",
    "StorageError",
    "ExportError",
    "MissingExtraError",
]
