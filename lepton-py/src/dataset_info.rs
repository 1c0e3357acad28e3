//! What a dataset version is, as frozen Python classes built from the core's one
//! `lepton_core::dataset::DatasetInfo`: `DatasetVersionInfo` (a dataset opened or written by
//! URI) and its subclass `DatasetInfo` (a registry entry: plus name, split and whether the
//! manifest was authenticated), with `ColumnInfo` for each column.

use std::collections::BTreeMap;

use lepton_core::dataset::{Column, DatasetInfo};
use lepton_core::platform::DatasetEntry;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList};

/// One column of a dataset: name, dtype name, per-row shape (`None` for each dimension that
/// varies by row, as `Dataset.schema` spells it).
#[pyclass(name = "ColumnInfo", module = "lepton_ai._lepton", frozen, get_all, eq)]
#[derive(Clone, PartialEq)]
pub struct PyColumnInfo {
    name: String,
    dtype: String,
    shape: Vec<Option<u64>>,
}

impl From<&Column> for PyColumnInfo {
    fn from(c: &Column) -> Self {
        PyColumnInfo {
            name: c.name.clone(),
            dtype: c.dtype.name().to_string(),
            shape: c.spec_shape(),
        }
    }
}

#[pymethods]
impl PyColumnInfo {
    fn __repr__(&self) -> String {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or("None".to_string(), |n| n.to_string()))
            .collect();
        format!(
            "ColumnInfo(name={:?}, dtype={:?}, shape=[{}])",
            self.name,
            self.dtype,
            dims.join(", ")
        )
    }
}

/// One committed dataset version (`lepton_core::dataset::DatasetInfo`). `info["rows"]`,
/// `keys()` and `to_dict()` keep code written for the dict it replaces working.
#[pyclass(
    name = "DatasetVersionInfo",
    module = "lepton_ai._lepton",
    frozen,
    subclass,
    get_all,
    eq
)]
#[derive(Clone, PartialEq)]
pub struct PyDatasetVersionInfo {
    version: u64,
    rows: u64,
    chunks: u64,
    stored_bytes: u64,
    raw_bytes: u64,
    encrypted: bool,
    columns: Vec<PyColumnInfo>,
    metadata: BTreeMap<String, String>,
    dataset_id: String,
}

/// The keys of the dict `Dataset.info` and `DatasetWriter.close()` returned before.
const KEYS: [&str; 9] = [
    "rows",
    "stored_bytes",
    "raw_bytes",
    "chunks",
    "version",
    "dataset_id",
    "encrypted",
    "columns",
    "metadata",
];

impl From<DatasetInfo> for PyDatasetVersionInfo {
    fn from(info: DatasetInfo) -> Self {
        PyDatasetVersionInfo {
            columns: info.columns.iter().map(PyColumnInfo::from).collect(),
            version: info.version,
            rows: info.rows,
            chunks: info.chunks,
            stored_bytes: info.stored_bytes,
            raw_bytes: info.raw_bytes,
            encrypted: info.encrypted,
            metadata: info.metadata,
            dataset_id: info.dataset_id,
        }
    }
}

#[pymethods]
impl PyDatasetVersionInfo {
    /// The field `key` as the old dict held it (`columns` as `(name, dtype, shape)` tuples).
    fn __getitem__<'py>(slf: &Bound<'py, Self>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        if key == "columns" {
            let me = slf.get();
            let cols = me.columns.iter();
            let tuples: Vec<_> = cols.map(|c| (&c.name, &c.dtype, &c.shape)).collect();
            return tuples.into_pyobject(slf.py()).map(Bound::into_any);
        }
        if !KEYS.contains(&key) {
            return Err(PyKeyError::new_err(key.to_string()));
        }
        slf.getattr(key)
    }

    /// The names `__getitem__` takes.
    fn keys(&self) -> Vec<&'static str> {
        KEYS.to_vec()
    }

    /// Whether `key` is one of [`keys`](Self::keys) (`"rows" in info`, as on the dict).
    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.extract::<String>()
            .is_ok_and(|k| KEYS.contains(&k.as_str()))
    }

    /// Iterates over the keys, as iterating the dict did.
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyIterator>> {
        PyList::new(slf.py(), KEYS)?.try_iter()
    }

    /// `info[key]`, or `default` when `key` is not one of the keys (as the dict's `get`).
    ///
    /// Args:
    ///     key: a field name, one of `keys()`.
    ///     default: what any other key gives.
    ///
    /// Returns:
    ///     The field (`columns` as `(name, dtype, shape)` tuples), or `default`.
    #[pyo3(signature = (key, default=None, /))]
    fn get<'py>(
        slf: &Bound<'py, Self>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match key.extract::<String>() {
            Ok(k) if KEYS.contains(&k.as_str()) => Self::__getitem__(slf, &k),
            _ => Ok(default.unwrap_or_else(|| slf.py().None().into_bound(slf.py()))),
        }
    }

    /// The number of keys, as `len()` of the dict.
    fn __len__(&self) -> usize {
        KEYS.len()
    }

    /// `info[key]` for each key, as the dict's `values()`.
    fn values<'py>(slf: &Bound<'py, Self>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        KEYS.iter().map(|k| Self::__getitem__(slf, k)).collect()
    }

    /// `(key, info[key])` pairs, as the dict's `items()`.
    fn items<'py>(slf: &Bound<'py, Self>) -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>> {
        KEYS.iter()
            .map(|k| Ok((*k, Self::__getitem__(slf, k)?)))
            .collect()
    }

    /// The fields as the dict this class replaces.
    fn to_dict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(slf.py());
        for key in KEYS {
            d.set_item(key, Self::__getitem__(slf, key)?)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "DatasetVersionInfo(version={}, rows={}, chunks={}, stored_bytes={}, encrypted={})",
            self.version,
            self.rows,
            self.chunks,
            self.stored_bytes,
            if self.encrypted { "True" } else { "False" }
        )
    }
}

/// What the registry knows about one dataset split version
/// (`lepton_core::platform::DatasetEntry`): a `DatasetVersionInfo` plus its name and split.
#[pyclass(
    name = "DatasetInfo",
    module = "lepton_ai._lepton",
    frozen,
    extends = PyDatasetVersionInfo,
    get_all
)]
pub struct PyDatasetInfo {
    name: String,
    split: String,
    authenticated: bool,
}

impl PyDatasetInfo {
    /// The Python object of registry entry `e`.
    pub(crate) fn new_py(py: Python<'_>, e: DatasetEntry) -> PyResult<Py<PyDatasetInfo>> {
        let entry = PyDatasetInfo {
            name: e.name,
            split: e.split,
            authenticated: e.authenticated,
        };
        let base = PyDatasetVersionInfo::from(e.info);
        Py::new(py, PyClassInitializer::from(base).add_subclass(entry))
    }
}

#[pymethods]
impl PyDatasetInfo {
    /// Equal when name, split, authentication and the version's fields all are (the base's
    /// equality alone would ignore which dataset and split this is).
    fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<PyDatasetInfo>() else {
            return false;
        };
        let (a, b) = (slf.get(), other.get());
        (&a.name, &a.split, a.authenticated) == (&b.name, &b.split, b.authenticated)
            && slf.as_super().get() == other.as_super().get()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let me = slf.get();
        let v = slf.as_super().get();
        format!(
            "DatasetInfo(name={:?}, split={:?}, version={}, rows={}, chunks={}, stored_bytes={}, \
             encrypted={})",
            me.name,
            me.split,
            v.version,
            v.rows,
            v.chunks,
            v.stored_bytes,
            if v.encrypted { "True" } else { "False" }
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyColumnInfo>()?;
    m.add_class::<PyDatasetVersionInfo>()?;
    m.add_class::<PyDatasetInfo>()
}
