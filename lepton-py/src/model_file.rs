//! Python bindings for `lepton_core::platform::model_file`: model files on disk, plain ONNX or
//! sealed (encrypted) with a key, and the check of which one a file is.

use std::path::PathBuf;

use lepton_core::platform::model_file;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::IntoPyResult;
use crate::platform::key_from;

/// Whether `data` is an encrypted model file.
#[pyfunction]
fn is_sealed_model_file(data: Bound<'_, PyBytes>) -> bool {
    model_file::is_sealed(data.as_bytes())
}

/// Whether the file at `path` is an encrypted model file (false when it can't be read).
#[pyfunction]
fn is_sealed_model_path(path: PathBuf) -> bool {
    model_file::is_sealed_path(&path)
}

/// The ONNX bytes of a model file's contents, decrypted when encrypted.
#[pyfunction]
// `text_signature` because pyo3 cannot render a non-literal default (`what` shows as `...`).
#[pyo3(
    signature = (data, key=None, what="model file".to_string()),
    text_signature = "(data, key=None, what='model file')"
)]
fn open_model_file<'py>(
    py: Python<'py>,
    data: Bound<'py, PyBytes>,
    key: Option<Bound<'py, PyBytes>>,
    what: String,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = key_from(key.as_ref())?;
    let data = data.as_bytes().to_vec();
    let onnx = py
        .detach(|| model_file::open_model_file(&data, key.as_ref(), &what))
        .py()?;
    Ok(PyBytes::new(py, &onnx))
}

/// Writes ONNX bytes to `path`, encrypted when `key` is given (atomically).
#[pyfunction]
#[pyo3(signature = (path, data, key=None))]
fn write_model_file(
    py: Python<'_>,
    path: PathBuf,
    data: Bound<'_, PyBytes>,
    key: Option<Bound<'_, PyBytes>>,
) -> PyResult<()> {
    let key = key_from(key.as_ref())?;
    let data = data.as_bytes().to_vec();
    py.detach(|| model_file::write_model_file(&path, &data, key.as_ref()))
        .py()
}

/// Reads a model file, decrypting it in memory when encrypted.
#[pyfunction]
#[pyo3(signature = (path, key=None))]
fn read_model_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    key: Option<Bound<'py, PyBytes>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = key_from(key.as_ref())?;
    let onnx = py
        .detach(|| model_file::read_model_file(&path, key.as_ref()))
        .py()?;
    Ok(PyBytes::new(py, &onnx))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(is_sealed_model_file, m)?)?;
    m.add_function(wrap_pyfunction!(is_sealed_model_path, m)?)?;
    m.add_function(wrap_pyfunction!(open_model_file, m)?)?;
    m.add_function(wrap_pyfunction!(write_model_file, m)?)?;
    m.add_function(wrap_pyfunction!(read_model_file, m)?)
}
