//! `ModelInfo`: a registry model manifest (lepton_core::platform::ModelInfo) as a frozen class
//! with typed fields, so Python (and stubtest) sees every field.

use lepton_core::platform::ModelInfo;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The manifest of one model version in a registry.
#[pyclass(name = "ModelInfo", module = "lepton_ai._lepton", frozen, get_all)]
pub struct PyModelInfo {
    name: String,
    version: u64,
    size: u64,
    stored_bytes: u64,
    sha256: String,
    encrypted: bool,
    created_unix: u64,
    metadata: Py<PyDict>,
    object: String,
    provenance: Py<PyDict>,
    format: u32,
    weights_objects: usize,
    weights_bytes: u64,
}

impl PyModelInfo {
    /// Converts a manifest; its JSON objects (metadata, provenance) become dicts.
    pub fn new(py: Python<'_>, info: ModelInfo) -> PyResult<PyModelInfo> {
        let loads = py.import("json")?.getattr("loads")?;
        let dict = |value: serde_json::Map<String, serde_json::Value>| -> PyResult<Py<PyDict>> {
            let text = serde_json::Value::Object(value).to_string();
            Ok(loads.call1((text,))?.cast_into::<PyDict>()?.unbind())
        };
        Ok(PyModelInfo {
            weights_objects: info.weights.len(),
            weights_bytes: info.weights.iter().map(|w| w.size).sum(),
            metadata: dict(info.metadata)?,
            provenance: dict(info.provenance)?,
            name: info.name,
            version: info.version,
            size: info.size,
            stored_bytes: info.stored_bytes,
            sha256: info.sha256,
            encrypted: info.encrypted,
            created_unix: info.created_unix,
            object: info.object,
            format: info.format,
        })
    }

    /// Every field but the dicts, for equality.
    #[allow(clippy::type_complexity)]
    fn scalars(&self) -> (&str, u64, u64, u64, &str, bool, u64, &str, u32, usize, u64) {
        (
            &self.name,
            self.version,
            self.size,
            self.stored_bytes,
            &self.sha256,
            self.encrypted,
            self.created_unix,
            &self.object,
            self.format,
            self.weights_objects,
            self.weights_bytes,
        )
    }
}

#[pymethods]
impl PyModelInfo {
    fn __repr__(&self) -> String {
        format!(
            "ModelInfo(name={:?}, version={}, size={}, stored_bytes={}, encrypted={}, format={})",
            self.name,
            self.version,
            self.size,
            self.stored_bytes,
            if self.encrypted { "True" } else { "False" },
            self.format
        )
    }

    /// `stored_bytes` under its earlier name (kept so that code written for it still runs).
    #[getter]
    fn stored_size(&self) -> u64 {
        self.stored_bytes
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<PyModelInfo>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.scalars() == other.scalars()
            && self.metadata.bind(py).eq(other.metadata.bind(py))?
            && self.provenance.bind(py).eq(other.provenance.bind(py))?)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModelInfo>()
}
