"""The exception tree of lepton_ai.

Every error raised by lepton_ai is a :class:`LeptonError`. Each subclass also derives from the
builtin exception a Python user would expect (``FileNotFoundError`` for a missing object,
``ValueError`` for bad input, ...), so ``except FileNotFoundError`` works as well as
``except lepton_ai.NotFoundError``. The native module maps each Rust error variant to one of these
classes by name, in one place (``lepton-py/src/errors.rs``).

Every class here is public (``from lepton_ai.errors import *`` imports them all); ``lepton_ai``
re-exports them and its ``__all__`` names them.
"""


class LeptonError(Exception):
    """Base class of every lepton_ai error."""


class RuntimeNotFoundError(LeptonError, ImportError):
    """ONNX Runtime's shared library could not be found or loaded; the message lists what was tried."""


class ProviderUnavailableError(LeptonError, RuntimeError):
    """A requested execution provider (e.g. CUDA) is unavailable and strict mode forbids fallback."""


class InvalidModelError(LeptonError, ValueError):
    """The file or bytes are not a loadable ONNX model."""


class InvalidInputError(LeptonError, ValueError):
    """An input does not match the model's signature (name, count, dtype or shape)."""


class OnnxRuntimeError(LeptonError, RuntimeError):
    """ONNX Runtime failed while running a model."""


class WrongKeyError(LeptonError):
    """Decryption failed to authenticate: the key is wrong."""


class IntegrityError(LeptonError):
    """Stored data failed an integrity check: tampered, truncated, swapped or moved."""


class UnsupportedVersionError(LeptonError):
    """The data uses a newer format version than this lepton_ai reads."""


class KeyRequiredError(LeptonError, ValueError):
    """The data is encrypted and no key was given (or a key was given for unencrypted data)."""


class SchemaError(LeptonError, ValueError):
    """Columns disagree in length, dtype or shape."""


class IndexOutOfRangeError(LeptonError, IndexError):
    """A row index is out of range."""


class NotFoundError(LeptonError, FileNotFoundError):
    """A model, dataset, version or object does not exist."""


class AlreadyExistsError(LeptonError, FileExistsError):
    """The object already exists (e.g. a concurrent push took that version)."""


class InvalidArgumentError(LeptonError, ValueError):
    """A name, URI or argument is malformed."""


class PermissionDeniedError(LeptonError, PermissionError):
    """The store refused the credentials."""


class UnreachableError(LeptonError, ConnectionError):
    """The store could not be reached (after bounded retries)."""


class RollbackError(IntegrityError, RuntimeError):
    """The registry served an older latest version than this client has seen (a stale replica, or
    tampering with the latest pointer); pinning ``version=`` reads on."""


class ReadOnlyError(LeptonError):
    """The store is read-only (e.g. an http(s) registry)."""


class StorageError(LeptonError, OSError):
    """Any other storage or local I/O error."""


class ExportError(LeptonError, ValueError):
    """Exporting a torch or scikit-learn model to ONNX failed, or the export does not match the
    original on the example inputs (the message names the output and the difference)."""


class MissingExtraError(LeptonError, ImportError):
    """An optional dependency is missing; the message names the extra to install
    (``pip install "lepton-ai-sdk[torch]"``)."""
