//! The one place where `lepton_core::Error` becomes a Python exception.
//!
//! The classes live in `lepton_ai/errors.py` (so they can derive from two builtins, e.g.
//! `NotFoundError(LeptonError, FileNotFoundError)`); here each variant picks its class by name.

use lepton_core::error::{ENCRYPT_NEEDS_KEY, NEEDS_PLATFORM_KEY};
use lepton_core::platform::keyfile::PUSH_NEEDS_KEY;
use lepton_core::{Error, ErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The Python class name (in `lepton_ai.errors`) of each error kind: exhaustive, so a new
/// variant of the core's error cannot go unmapped.
pub fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RuntimeNotFound => "RuntimeNotFoundError",
        ErrorKind::ProviderUnavailable => "ProviderUnavailableError",
        ErrorKind::InvalidModel => "InvalidModelError",
        ErrorKind::InvalidInput => "InvalidInputError",
        ErrorKind::Runtime => "OnnxRuntimeError",
        ErrorKind::WrongKey => "WrongKeyError",
        ErrorKind::Integrity => "IntegrityError",
        ErrorKind::UnsupportedVersion => "UnsupportedVersionError",
        ErrorKind::KeyRequired => "KeyRequiredError",
        ErrorKind::Schema => "SchemaError",
        ErrorKind::IndexOutOfRange => "IndexOutOfRangeError",
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::AlreadyExists => "AlreadyExistsError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::PermissionDenied => "PermissionDeniedError",
        ErrorKind::Unreachable => "UnreachableError",
        ErrorKind::Rollback => "RollbackError",
        ErrorKind::ReadOnly => "ReadOnlyError",
        ErrorKind::Store | ErrorKind::Io => "StorageError",
    }
}

/// The class name of every error kind, in `ErrorKind::ALL` order (tested against
/// `lepton_ai.errors` by `tests/test_errors.py`).
#[pyfunction]
fn _error_classes() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|&k| class_name(k)).collect()
}

/// How Python gives a push its key, or chooses plaintext (the CLI rewrites it into its flags).
const PUSH_KEY_HINT: &str = "LeptonAI(uri, key=lepton_ai.Key.generate()) and keep the key, or set \
     LEPTON_KEY; LeptonAI(uri, encrypt=False) to store in clear";

/// The core's messages say what to do in words; here they get the Python spelling of it.
fn python_message(err: &Error) -> String {
    let message = err.to_string();
    match err {
        Error::KeyRequired(_) => {
            let message = match message.strip_prefix(ENCRYPT_NEEDS_KEY) {
                Some(rest) => format!("encrypt=True needs a key{rest}"),
                None => message,
            };
            if message.starts_with(PUSH_NEEDS_KEY) {
                format!("{message} ({PUSH_KEY_HINT})")
            } else if message.ends_with(NEEDS_PLATFORM_KEY) {
                format!("{message} (LeptonAI(uri, key=...))")
            } else {
                message
            }
        }
        _ => message,
    }
}

/// Converts a core error into the matching `lepton_ai.errors` exception.
pub fn to_py(err: Error) -> PyErr {
    let message = python_message(&err);
    Python::attach(|py| {
        let class = py
            .import("lepton_ai.errors")
            .and_then(|m| m.getattr(class_name(err.kind())));
        match class {
            Ok(class) => match class.call1((message.clone(),)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(e) => e,
            },
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_error_classes, m)?)
}

/// `Result<T, lepton_core::Error>` → `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for lepton_core::Result<T> {
    fn py(self) -> PyResult<T> {
        // The core's log events of this call reach Python now, on the calling thread.
        crate::logging::flush()?;
        self.map_err(to_py)
    }
}
