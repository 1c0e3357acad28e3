//! Python bindings for lepton_core::platform: the native `Platform` class behind
//! `lepton_ai.LeptonAI`, the dataset entries it returns (frozen `DatasetInfo`/`ColumnInfo`; model
//! manifests as frozen `ModelInfo`, in `model_info.rs`); model files are in `model_file.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lepton_core::crypto::Key;
use lepton_core::dataset::{ColumnSpec, ReadOptions, Schema};
use lepton_core::model::ModelOptions;
use lepton_core::platform::{
    DatasetEntry, DatasetPushOptions, Platform, PlatformOptions, ProgressFn, PushOptions,
};
use lepton_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::dataset::{Pending, PyDataset, PyDatasetWriter};
use crate::dataset_info::PyDatasetInfo;
use crate::errors::IntoPyResult;
use crate::model_info::PyModelInfo;

pub(crate) fn key_from(key: Option<&Bound<'_, PyBytes>>) -> PyResult<Option<Key>> {
    key.map(|k| Key::from_bytes(k.as_bytes())).transpose().py()
}

/// A Python progress callable `(done, total)`, plus the exception it raised, if any.
pub(crate) struct Callback {
    pub(crate) func: Option<ProgressFn>,
    raised: Arc<Mutex<Option<PyErr>>>,
}

impl Callback {
    pub(crate) fn new(progress: Option<Py<PyAny>>) -> Callback {
        let raised: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let slot = raised.clone();
        let func = progress.map(|cb| {
            let f: ProgressFn = Arc::new(move |done, total| {
                Python::attach(|py| match cb.call1(py, (done, total)) {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        Err(Error::InvalidArgument(
                            "transfer cancelled by the progress callback".into(),
                        ))
                    }
                })
            });
            f
        });
        Callback { func, raised }
    }

    /// The callback's own exception wins over the error it caused.
    pub(crate) fn finish<T>(self, result: lepton_core::Result<T>) -> PyResult<T> {
        if let Some(e) = self.raised.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        result.py()
    }
}

/// The entry `f` returns (run without the GIL) as a `DatasetInfo`.
fn dataset_entry(
    py: Python<'_>,
    f: impl FnOnce() -> lepton_core::Result<DatasetEntry> + Send,
) -> PyResult<Py<PyDatasetInfo>> {
    PyDatasetInfo::new_py(py, py.detach(f).py()?)
}

/// The options of a model push: metadata and provenance as JSON text, progress through `cb`.
fn push_options(
    metadata_json: Option<String>,
    provenance_json: Option<String>,
    encrypt: Option<bool>,
    cb: &Callback,
) -> PyResult<PushOptions> {
    Ok(PushOptions {
        metadata: PushOptions::metadata_from_json(metadata_json.as_deref()).py()?,
        provenance: PushOptions::metadata_from_json(provenance_json.as_deref()).py()?,
        encrypt,
        progress: cb.func.clone(),
    })
}

/// The registry (lepton_core::platform::Platform).
#[pyclass(name = "Platform", module = "lepton_ai._lepton", frozen)]
pub struct PyPlatform {
    pub(crate) inner: Platform,
    /// The key the datasets it opens carry (so that a pickled copy reopens with it).
    key: Option<Key>,
}

#[pymethods]
impl PyPlatform {
    #[new]
    #[pyo3(signature = (uri=None, key=None, cache_dir=None, cache_max_bytes=None, no_cache=false, storage_options=None, encrypt=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        uri: Option<String>,
        key: Option<Bound<'_, PyBytes>>,
        cache_dir: Option<PathBuf>,
        cache_max_bytes: Option<u64>,
        no_cache: bool,
        storage_options: Option<HashMap<String, String>>,
        encrypt: Option<bool>,
    ) -> PyResult<Self> {
        let key = key_from(key.as_ref())?;
        let options = PlatformOptions {
            key: key.clone(),
            encrypt,
            cache_dir,
            cache_max_bytes,
            no_cache,
            storage_options: storage_options.unwrap_or_default().into_iter().collect(),
        };
        let inner = py.detach(|| Platform::open(uri.as_deref(), options)).py()?;
        Ok(PyPlatform { inner, key })
    }

    /// The URI the registry was opened with.
    #[getter]
    fn uri(&self) -> String {
        self.inner.uri().to_string()
    }

    /// The URI that reopens this registry (in this process or another); may hold credentials.
    #[getter]
    fn reopen_uri(&self) -> String {
        self.inner.reopen_uri().to_string()
    }

    /// Whether `reopen_uri` holds credentials (user info or a query string).
    #[getter]
    fn reopen_uri_is_secret(&self) -> bool {
        let uri = self.inner.reopen_uri();
        lepton_core::store::redact_uri(uri) != uri
    }

    /// Whether the platform has a key.
    #[getter]
    fn has_key(&self) -> bool {
        self.inner.has_key()
    }

    /// The cache folder, or None.
    #[getter]
    fn cache_dir(&self) -> Option<PathBuf> {
        self.inner.cache().map(|c| c.dir().to_path_buf())
    }

    /// Whether the registry lives in this process only (`memory://`).
    #[getter]
    fn process_local(&self) -> bool {
        self.inner.kind() == lepton_core::store::StoreKind::Memory
    }

    /// Whether the registry is read-only (plain HTTP).
    #[getter]
    fn read_only(&self) -> bool {
        self.inner.kind().is_read_only()
    }

    #[pyo3(signature = (name, data, metadata_json=None, encrypt=None, progress=None, provenance_json=None))]
    #[allow(clippy::too_many_arguments)]
    fn push_model(
        &self,
        py: Python<'_>,
        name: String,
        data: Bound<'_, PyBytes>,
        metadata_json: Option<String>,
        encrypt: Option<bool>,
        progress: Option<Py<PyAny>>,
        provenance_json: Option<String>,
    ) -> PyResult<PyModelInfo> {
        let data = data.as_bytes().to_vec();
        let cb = Callback::new(progress);
        let options = push_options(metadata_json, provenance_json, encrypt, &cb)?;
        let result = py.detach(|| self.inner.push_model(&name, &data, &options));
        PyModelInfo::new(py, cb.finish(result)?)
    }

    /// Pushes a model file: one self-contained object, or past `inline_limit` bytes (model and
    /// side files; default 2 GiB) an object set of graph and weights objects.
    #[pyo3(signature = (name, path, inline_limit=None, metadata_json=None, encrypt=None, progress=None, provenance_json=None))]
    #[allow(clippy::too_many_arguments)]
    fn push_model_file(
        &self,
        py: Python<'_>,
        name: String,
        path: PathBuf,
        inline_limit: Option<u64>,
        metadata_json: Option<String>,
        encrypt: Option<bool>,
        progress: Option<Py<PyAny>>,
        provenance_json: Option<String>,
    ) -> PyResult<PyModelInfo> {
        let limit = inline_limit.unwrap_or(ModelOptions::default().inline_limit);
        let cb = Callback::new(progress);
        let options = push_options(metadata_json, provenance_json, encrypt, &cb)?;
        let result = py.detach(|| self.inner.push_model_path(&name, &path, limit, &options));
        PyModelInfo::new(py, cb.finish(result)?)
    }

    #[pyo3(signature = (name, version=None, progress=None))]
    fn model_bytes<'py>(
        &self,
        py: Python<'py>,
        name: String,
        version: Option<u64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(PyModelInfo, Bound<'py, PyBytes>)> {
        let cb = Callback::new(progress);
        let func = cb.func.clone();
        let result = py.detach(|| self.inner.model_bytes_with_progress(&name, version, func));
        let (info, bytes) = cb.finish(result)?;
        Ok((PyModelInfo::new(py, info)?, PyBytes::new(py, &bytes)))
    }

    /// The manifest of `name` at `version`; with `verify`, re-read from the store (not the
    /// cache) and every stored object checked (`Platform::verify_model`).
    #[pyo3(signature = (name, version=None, verify=false, progress=None))]
    fn model_info(
        &self,
        py: Python<'_>,
        name: String,
        version: Option<u64>,
        verify: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyModelInfo> {
        let cb = Callback::new(progress);
        let func = cb.func.clone();
        let result = py.detach(|| match verify {
            false => self.inner.model_info(&name, version),
            true => self.inner.verify_model_with_progress(&name, version, func),
        });
        PyModelInfo::new(py, cb.finish(result)?)
    }

    fn model_versions(&self, py: Python<'_>, name: String) -> PyResult<Vec<u64>> {
        py.detach(|| self.inner.model_versions(&name)).py()
    }

    fn list_models(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_models()).py()
    }

    #[pyo3(signature = (name, version=None))]
    fn delete_model(&self, py: Python<'_>, name: String, version: Option<u64>) -> PyResult<()> {
        py.detach(|| self.inner.delete_model(&name, version)).py()
    }

    /// A writer for the next version of `name`/`split` (claimed now, committed on `close()`).
    #[pyo3(signature = (name, split, encrypt=None, metadata=None, chunk_bytes=None, schema=None))]
    #[allow(clippy::too_many_arguments)]
    fn dataset_writer(
        &self,
        py: Python<'_>,
        name: String,
        split: String,
        encrypt: Option<bool>,
        metadata: Option<BTreeMap<String, String>>,
        chunk_bytes: Option<usize>,
        schema: Option<Vec<ColumnSpec>>,
    ) -> PyResult<PyDatasetWriter> {
        let options = DatasetPushOptions {
            encrypt,
            metadata: metadata.unwrap_or_default(),
            chunk_bytes,
            schema: schema.as_deref().map(Schema::from_spec).transpose().py()?,
        };
        let push = py
            .detach(|| self.inner.dataset_writer(&name, &split, &options))
            .py()?;
        Ok(PyDatasetWriter {
            inner: Mutex::new(Some(Pending::Push(push))),
        })
    }

    /// Opens `name`/`split` at `version` (latest when None), reading through the cache.
    #[pyo3(signature = (name, split, version=None, cache_bytes=268435456, prefetch=None))]
    fn load_dataset(
        &self,
        py: Python<'_>,
        name: String,
        split: String,
        version: Option<u64>,
        cache_bytes: usize,
        prefetch: Option<usize>,
    ) -> PyResult<PyDataset> {
        let mut read = ReadOptions {
            cache_bytes,
            ..Default::default()
        };
        if let Some(p) = prefetch {
            read.prefetch = p;
        }
        let inner = py
            .detach(|| self.inner.load_dataset(&name, &split, version, read))
            .py()?;
        Ok(PyDataset {
            inner,
            key: self.key.clone(),
        })
    }

    fn list_datasets(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_datasets()).py()
    }

    fn dataset_splits(&self, py: Python<'_>, name: String) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.dataset_splits(&name)).py()
    }

    fn dataset_versions(&self, py: Python<'_>, name: String, split: String) -> PyResult<Vec<u64>> {
        py.detach(|| self.inner.dataset_versions(&name, &split))
            .py()
    }

    #[pyo3(signature = (name, split, version=None))]
    fn dataset_info(
        &self,
        py: Python<'_>,
        name: String,
        split: String,
        version: Option<u64>,
    ) -> PyResult<Py<PyDatasetInfo>> {
        dataset_entry(py, || self.inner.dataset_info(&name, &split, version))
    }

    #[pyo3(signature = (name, split=None, version=None))]
    fn delete_dataset(
        &self,
        py: Python<'_>,
        name: String,
        split: Option<String>,
        version: Option<u64>,
    ) -> PyResult<()> {
        py.detach(|| self.inner.delete_dataset(&name, split.as_deref(), version))
            .py()
    }

    #[pyo3(signature = (name, split, version=None, progress=None))]
    fn verify_dataset(
        &self,
        py: Python<'_>,
        name: String,
        split: String,
        version: Option<u64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyDatasetInfo>> {
        let cb = Callback::new(progress);
        let func = cb.func.clone();
        let result = py.detach(|| {
            self.inner
                .verify_dataset_with_progress(&name, &split, version, func)
        });
        PyDatasetInfo::new_py(py, cb.finish(result)?)
    }
}

/// The key a registry opened without one uses: `$LEPTON_KEY`, else the key file (None: none).
#[pyfunction]
fn ambient_key<'py>(py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let found = lepton_core::platform::keyfile::ambient_key().py()?;
    Ok(found.map(|(k, _)| PyBytes::new(py, k.as_bytes())))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ambient_key, m)?)?;
    m.add_class::<PyPlatform>()?;
    Ok(())
}
