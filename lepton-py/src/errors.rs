//! The one place where `lepton_core::Error` becomes a Python exception.
//!
//! The classes live in `lepton_ai/errors.py` (so they can derive from two builtins, e.g.
//! `NotFoundError(LeptonError, FileNotFoundError)`); here each variant picks its class by name.

use lepton_core::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The Python class name (in `lepton_ai.errors`) of each error variant.
fn class_name(err: &Error) -> &'static str {
    match err {
        Error::RuntimeNotFound { .. } => "RuntimeNotFoundError",
        Error::ProviderUnavailable { .. } => "ProviderUnavailableError",
        Error::InvalidModel { .. } => "InvalidModelError",
        Error::InvalidInput(_) => "InvalidInputError",
        Error::Runtime(_) => "OnnxRuntimeError",
        Error::WrongKey { .. } => "WrongKeyError",
        Error::Integrity { .. } => "IntegrityError",
        Error::UnsupportedVersion { .. } => "UnsupportedVersionError",
        Error::KeyRequired(_) => "KeyRequiredError",
        Error::Schema(_) => "SchemaError",
        Error::IndexOutOfRange { .. } => "IndexOutOfRangeError",
        Error::NotFound { .. } => "NotFoundError",
        Error::AlreadyExists(_) => "AlreadyExistsError",
        Error::InvalidArgument(_) => "InvalidArgumentError",
        Error::PermissionDenied { .. } => "PermissionDeniedError",
        Error::Unreachable { .. } => "UnreachableError",
        Error::ReadOnly(_) => "ReadOnlyError",
        Error::Store(_) | Error::Io { .. } => "StorageError",
        _ => "LeptonError",
    }
}

/// Converts a core error into the matching `lepton_ai.errors` exception.
pub fn to_py(err: Error) -> PyErr {
    let message = err.to_string();
    Python::attach(|py| {
        let class = py
            .import("lepton_ai.errors")
            .and_then(|m| m.getattr(class_name(&err)));
        match class {
            Ok(class) => match class.call1((message.clone(),)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(e) => e,
            },
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

/// `Result<T, lepton_core::Error>` → `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for lepton_core::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
