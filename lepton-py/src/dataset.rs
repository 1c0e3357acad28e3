//! Python bindings for lepton_core::dataset: `Key`, `DatasetWriter`, `Dataset`, `BatchIter`.
//!
//! Only conversions live here: numpy arrays come in as flat `uint8` views (plus dtype name and
//! row shape, prepared by `lepton_ai/_dataset.py`) and go out as flat `uint8`/`uint64` arrays
//! that own the Rust buffers (no copy). Every fetch, decrypt, decompress and encode runs with the
//! GIL released.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;

use lepton_core::crypto::Key;
use lepton_core::dataset::{
    Batch, BatchIter, Codec, ColumnData, ColumnSpec, DType, Dataset, DatasetInfo, DatasetWriter,
    Filter, IterOptions, ReadOptions, Schema, WriteOptions,
};
use lepton_core::platform::DatasetPush;
use lepton_core::store::open_uri;
use lepton_core::Error;
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use zeroize::Zeroizing;

use crate::dataset_info::PyDatasetVersionInfo;
use crate::errors::IntoPyResult;

/// A key, or a passphrase whose Argon2id salt is not known yet (a writer draws a fresh one, a
/// reader takes the manifest's).
#[derive(Clone)]
enum Secret {
    Key(Key),
    Passphrase(Zeroizing<String>),
}

/// A 32-byte dataset/model key. `repr()` never shows it.
#[pyclass(name = "Key", module = "lepton_ai._lepton", frozen)]
#[derive(Clone)]
pub struct PyKey {
    secret: Secret,
}

#[pymethods]
impl PyKey {
    /// 32 random bytes from the OS.
    #[staticmethod]
    fn generate() -> PyKey {
        PyKey {
            secret: Secret::Key(Key::generate()),
        }
    }

    /// A key from exactly 32 bytes.
    ///
    /// Args:
    ///     data: the 32 key bytes.
    ///
    /// Returns:
    ///     The key.
    ///
    /// Raises:
    ///     InvalidArgumentError: ``data`` is not 32 bytes long.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PyKey> {
        Ok(PyKey {
            secret: Secret::Key(Key::from_bytes(data).py()?),
        })
    }

    /// A key from an environment variable (64 hex digits or 44 base64 characters).
    ///
    /// Args:
    ///     var: the variable's name, e.g. ``"LEPTON_KEY"``.
    ///
    /// Returns:
    ///     The key.
    ///
    /// Raises:
    ///     KeyRequiredError: the variable is not set.
    ///     InvalidArgumentError: it holds no 32-byte key (the message never shows the value).
    #[staticmethod]
    fn from_env(var: &str) -> PyResult<PyKey> {
        Ok(PyKey {
            secret: Secret::Key(Key::from_env(var).py()?),
        })
    }

    /// A key written as text: 64 hex digits or 44 base64 characters.
    ///
    /// Args:
    ///     text: the key; surrounding whitespace is ignored, base64 padding optional.
    ///
    /// Returns:
    ///     The key.
    ///
    /// Raises:
    ///     InvalidArgumentError: the text is not a 32-byte key (never shown in the message).
    #[staticmethod]
    fn from_text(text: &str) -> PyResult<PyKey> {
        Ok(PyKey {
            secret: Secret::Key(Key::from_text(text).py()?),
        })
    }

    /// A key file: 32 raw bytes, or the key as text (64 hex digits or 44 base64 characters).
    ///
    /// Args:
    ///     path: the file (keep it mode 0600).
    ///
    /// Returns:
    ///     The key.
    ///
    /// Raises:
    ///     NotFoundError: the file does not exist.
    ///     InvalidArgumentError: it holds no key, or cannot be read.
    #[staticmethod]
    fn from_file(path: std::path::PathBuf) -> PyResult<PyKey> {
        Ok(PyKey {
            secret: Secret::Key(Key::from_file(&path).py()?),
        })
    }

    /// ``key`` as a ``Key``: what every ``key=`` parameter accepts.
    ///
    /// Args:
    ///     key: a ``Key`` (returned as is), 32 bytes (``bytes``, ``bytearray``,
    ///         ``memoryview``), or text (64 hex digits or 44 base64 characters).
    ///
    /// Returns:
    ///     The key.
    ///
    /// Raises:
    ///     InvalidArgumentError: any other type, or bytes/text that are not a 32-byte key.
    #[staticmethod]
    fn parse(key: &Bound<'_, PyAny>) -> PyResult<PyKey> {
        if let Ok(k) = key.cast::<PyKey>() {
            return Ok(k.get().clone());
        }
        if key.is_instance_of::<pyo3::types::PyString>() {
            let text = Zeroizing::new(key.extract::<String>()?);
            return PyKey::from_text(&text);
        }
        if let Ok(b) = key.cast::<PyBytes>() {
            return PyKey::from_bytes(b.as_bytes());
        }
        if let Ok(b) = key.cast::<pyo3::types::PyByteArray>() {
            let data = Zeroizing::new(b.to_vec());
            return PyKey::from_bytes(&data);
        }
        if key.is_instance_of::<pyo3::types::PyMemoryView>() {
            let b = key.call_method0("tobytes")?;
            return PyKey::from_bytes(b.cast::<PyBytes>()?.as_bytes());
        }
        Err(crate::errors::to_py(Error::InvalidArgument(format!(
            "expected a lepton_ai.Key, 32 bytes, or the key as text (64 hex digits or 44 base64 characters), got {}",
            key.get_type().name()?
        ))))
    }

    /// A key from a passphrase (Argon2id). Without `salt`, the salt is drawn when writing and read
    /// from the manifest when opening.
    ///
    /// Args:
    ///     passphrase: the passphrase (str).
    ///     salt: the Argon2id salt (bytes, at least 16); None: drawn when writing, read from the
    ///         manifest when opening.
    ///
    /// Returns:
    ///     A Key (32 bytes derived with Argon2id).
    ///
    /// Raises:
    ///     InvalidArgumentError: the salt is shorter than 16 bytes.
    #[staticmethod]
    #[pyo3(signature = (passphrase, salt=None))]
    fn from_passphrase(
        py: Python<'_>,
        passphrase: String,
        salt: Option<Vec<u8>>,
    ) -> PyResult<PyKey> {
        let passphrase = Zeroizing::new(passphrase);
        match salt {
            None => Ok(PyKey {
                secret: Secret::Passphrase(passphrase),
            }),
            Some(s) => {
                let key = py
                    .detach(|| Key::from_passphrase(&passphrase, Some(&s)))
                    .py()?;
                Ok(PyKey {
                    secret: Secret::Key(key),
                })
            }
        }
    }

    /// The 32 key bytes (an error for a passphrase key whose salt is not known yet).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match &self.secret {
            Secret::Key(k) => Ok(PyBytes::new(py, k.as_bytes())),
            Secret::Passphrase(_) => Err(crate::errors::to_py(Error::InvalidArgument(
                "a passphrase key has no bytes until its salt is known: pass salt=..., or use it to open or write a dataset".into(),
            ))),
        }
    }

    /// Whether this is a passphrase key without a salt yet.
    #[getter]
    fn is_passphrase(&self) -> bool {
        matches!(self.secret, Secret::Passphrase(_))
    }

    fn __repr__(&self) -> &'static str {
        match self.secret {
            Secret::Key(_) => "Key(<redacted>)",
            Secret::Passphrase(_) => "Key(<passphrase, redacted>)",
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match (other.cast::<PyKey>(), &self.secret) {
            (Ok(o), Secret::Key(a)) => matches!(&o.get().secret, Secret::Key(b) if a == b),
            _ => false,
        }
    }

    fn __hash__(&self) -> u64 {
        0
    }

    /// Pickles as its bytes (or passphrase), but only while a multiprocessing child is being
    /// spawned (a spawn/forkserver DataLoader worker), as `multiprocessing.AuthenticationString`
    /// does; anywhere else (`pickle.dumps`, `torch.save`) it raises `TypeError`, so that the
    /// secret is never written to disk by accident.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let spawning = py
            .import("multiprocessing.context")?
            .getattr("get_spawning_popen")?
            .call0()?;
        if spawning.is_none() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "a Key is not picklable (the pickle would hold the secret): pass keys with \
                 Key.from_env(\"VAR\") or Key.from_passphrase(...) in each process instead",
            ));
        }
        let cls = py.get_type::<PyKey>();
        match &slf.get().secret {
            Secret::Key(k) => Ok((
                cls.getattr("from_bytes")?,
                PyTuple::new(py, [PyBytes::new(py, k.as_bytes())])?,
            )),
            Secret::Passphrase(p) => Ok((
                cls.getattr("from_passphrase")?,
                PyTuple::new(py, [p.as_str()])?,
            )),
        }
    }
}

fn open_store(
    uri: &str,
    storage_options: Option<BTreeMap<String, String>>,
) -> lepton_core::Result<lepton_core::store::StoreLocation> {
    let opts: Vec<(String, String)> = storage_options.unwrap_or_default().into_iter().collect();
    open_uri(uri, &opts)
}

/// The value named `name` among `choices` (the names of a `what` option); else
/// `Error::InvalidArgument` listing them.
fn choose<T: Copy>(what: &str, name: &str, choices: &[(&str, T)]) -> lepton_core::Result<T> {
    let found = choices.iter().find(|(n, _)| *n == name);
    found.map(|&(_, v)| v).ok_or_else(|| {
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
        Error::InvalidArgument(format!(
            "{what} must be {}, got {name:?}",
            names.join(" or ")
        ))
    })
}

/// A writer by URI (`write_dataset`), or the registry's push writer (`LeptonAI.push_dataset`),
/// which claims its version when it opens and advances the latest pointer when it closes.
// One per open writer, behind a mutex: the variants' sizes don't matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pending {
    Plain(DatasetWriter),
    Push(DatasetPush),
}

impl Pending {
    fn writer(&mut self) -> &mut DatasetWriter {
        match self {
            Pending::Plain(w) => w,
            Pending::Push(p) => p,
        }
    }

    fn close(self) -> lepton_core::Result<DatasetInfo> {
        match self {
            Pending::Plain(w) => w.close(),
            Pending::Push(p) => p.close(),
        }
    }
}

/// Writes one dataset version (see `lepton_ai.write_dataset`).
#[pyclass(name = "DatasetWriter", module = "lepton_ai._lepton")]
pub struct PyDatasetWriter {
    pub(crate) inner: Mutex<Option<Pending>>,
}

/// One input column as prepared by `_dataset.py`: (name, dtype, row shape, uint8 data, offsets).
type InColumn<'py> = (
    String,
    String,
    Vec<u64>,
    PyReadonlyArray1<'py, u8>,
    Option<PyReadonlyArray1<'py, u64>>,
);

#[pymethods]
impl PyDatasetWriter {
    #[new]
    #[pyo3(signature = (uri, key=None, version=1, chunk_bytes=4194304, codec="zstd", zstd_level=3, filter="shuffle", storage_options=None, metadata=None, schema=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        uri: &str,
        key: Option<Bound<'_, PyKey>>,
        version: u64,
        chunk_bytes: usize,
        codec: &str,
        zstd_level: i32,
        filter: &str,
        storage_options: Option<BTreeMap<String, String>>,
        metadata: Option<BTreeMap<String, String>>,
        schema: Option<Vec<ColumnSpec>>,
    ) -> PyResult<Self> {
        let codec = choose(
            "codec",
            codec,
            &[("zstd", Codec::Zstd), ("none", Codec::None)],
        )
        .py()?;
        let schema = schema.as_deref().map(Schema::from_spec).transpose().py()?;
        let filter = choose(
            "filter",
            filter,
            &[("shuffle", Filter::Shuffle), ("none", Filter::None)],
        )
        .py()?;
        let key = key.map(|k| k.get().secret.clone());
        let writer = py
            .detach(|| {
                let key = match key {
                    None => None,
                    Some(Secret::Key(k)) => Some(k),
                    Some(Secret::Passphrase(p)) => Some(Key::from_passphrase(&p, None)?),
                };
                let loc = open_store(uri, storage_options)?;
                DatasetWriter::create(
                    loc.store,
                    loc.prefix,
                    WriteOptions {
                        key,
                        version,
                        chunk_bytes,
                        codec,
                        zstd_level,
                        filter,
                        schema,
                        metadata: metadata.unwrap_or_default(),
                    },
                )
            })
            .py()?;
        Ok(PyDatasetWriter {
            inner: Mutex::new(Some(Pending::Plain(writer))),
        })
    }

    /// Appends rows: a list of (name, dtype, row_shape, uint8 data, uint64 offsets or None).
    fn write(&self, py: Python<'_>, columns: Vec<InColumn<'_>>) -> PyResult<()> {
        let mut parts = Vec::with_capacity(columns.len());
        for (name, dtype, shape, data, offsets) in &columns {
            let dtype = DType::parse(dtype).py()?;
            let data = data.as_slice()?;
            let col = match offsets {
                None => ColumnData::from_raw(dtype, shape, data).py()?,
                Some(o) => ColumnData::from_offsets(
                    dtype,
                    Cow::Borrowed(o.as_slice()?),
                    Cow::Borrowed(data),
                )
                .py()?,
            };
            parts.push((name.as_str(), col));
        }
        let mut guard = self.inner.lock().expect("writer lock");
        let w = guard.as_mut().ok_or_else(|| {
            crate::errors::to_py(Error::InvalidArgument("the writer is closed".into()))
        })?;
        py.detach(|| w.writer().write_columns(&parts)).py()
    }

    /// Calls `callback(rows, bytes)` each time the core writer stores a chunk (rows and
    /// uncompressed bytes stored so far); an exception from it stops the write.
    fn set_progress(&self, callback: Py<PyAny>) -> PyResult<()> {
        let mut guard = self.inner.lock().expect("writer lock");
        let w = guard.as_mut().ok_or_else(|| {
            crate::errors::to_py(Error::InvalidArgument("the writer is closed".into()))
        })?;
        w.writer().on_progress(move |rows, bytes| {
            Python::attach(|py| match callback.call1(py, (rows, bytes)) {
                Ok(_) => Ok(()),
                Err(e) => Err(Error::InvalidArgument(format!(
                    "the write was stopped by its progress callback: {e}"
                ))),
            })
        });
        Ok(())
    }

    /// Drops the rows written so far without committing (nothing becomes visible); a no-op on a
    /// closed writer.
    fn abort(&self, py: Python<'_>) {
        let w = self.inner.lock().expect("writer lock").take();
        // Waiting for chunks in flight can take a while: without the GIL.
        py.detach(move || drop(w));
    }

    /// Commits; returns what was written.
    fn close(&self, py: Python<'_>) -> PyResult<PyDatasetVersionInfo> {
        let w = self
            .inner
            .lock()
            .expect("writer lock")
            .take()
            .ok_or_else(|| {
                crate::errors::to_py(Error::InvalidArgument("the writer is closed".into()))
            })?;
        Ok(py.detach(|| w.close()).py()?.into())
    }
}

/// Converts a batch to a list with, per column, a flat uint8 array (fixed) or a pair of
/// (uint64 offsets, uint8 data) arrays (variable): the arrays own the Rust buffers.
fn batch_to_py<'py>(py: Python<'py>, batch: Batch) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for col in batch.columns {
        match col {
            ColumnData::Fixed { data, .. } => out.append(data.into_owned().into_pyarray(py))?,
            ColumnData::Variable { offsets, data, .. } => out.append((
                offsets.into_owned().into_pyarray(py),
                data.into_owned().into_pyarray(py),
            ))?,
        }
    }
    Ok(out)
}

/// An opened dataset version (see `lepton_ai.Dataset`).
#[pyclass(name = "Dataset", module = "lepton_ai._lepton", frozen)]
pub struct PyDataset {
    pub(crate) inner: Dataset,
    pub(crate) key: Option<Key>,
}

#[pymethods]
impl PyDataset {
    /// Opens the dataset at `uri` (latest version unless `version`).
    #[staticmethod]
    #[pyo3(signature = (uri, key=None, version=None, storage_options=None, cache_bytes=268435456, prefetch=None))]
    fn open(
        py: Python<'_>,
        uri: &str,
        key: Option<Bound<'_, PyKey>>,
        version: Option<u64>,
        storage_options: Option<BTreeMap<String, String>>,
        cache_bytes: usize,
        prefetch: Option<usize>,
    ) -> PyResult<PyDataset> {
        let key = key.map(|k| k.get().secret.clone());
        py.detach(|| {
            let loc = open_store(uri, storage_options)?;
            let mut opts = ReadOptions {
                version,
                cache_bytes,
                ..Default::default()
            };
            if let Some(p) = prefetch {
                opts.prefetch = p;
            }
            match key {
                Some(Secret::Passphrase(p)) => {
                    let ds = Dataset::open_with_passphrase(loc.store, loc.prefix, &p, opts)?;
                    // The derived key, so that a pickled copy re-opens without Argon2id.
                    let salt = ds
                        .manifest()
                        .encryption
                        .as_ref()
                        .and_then(|e| e.passphrase.clone())
                        .expect("opened with a passphrase");
                    let key = Key::from_passphrase_params(&p, &salt)?;
                    Ok(PyDataset {
                        inner: ds,
                        key: Some(key),
                    })
                }
                Some(Secret::Key(k)) => Ok(PyDataset {
                    inner: Dataset::open(loc.store, loc.prefix, Some(k.clone()), opts)?,
                    key: Some(k),
                }),
                None => Ok(PyDataset {
                    inner: Dataset::open(loc.store, loc.prefix, None, opts)?,
                    key: None,
                }),
            }
        })
        .py()
    }

    fn __len__(&self) -> usize {
        self.inner.len() as usize
    }

    /// The key this dataset was opened with (for pickling), or None.
    fn key(&self) -> Option<PyKey> {
        self.key.clone().map(|k| PyKey {
            secret: Secret::Key(k),
        })
    }

    /// Rows, bytes, chunks, version, columns, metadata of the version opened.
    fn info(&self) -> PyDatasetVersionInfo {
        self.inner.info().into()
    }

    /// Rows `start..stop` (see `batch_to_py`).
    fn slice<'py>(&self, py: Python<'py>, start: u64, stop: u64) -> PyResult<Bound<'py, PyList>> {
        let b = py.detach(|| self.inner.slice(start, stop)).py()?;
        batch_to_py(py, b)
    }

    /// Benchmark ceiling: (decoded bytes, seconds) of decrypt + decompress of every chunk held
    /// in memory, on `threads` threads. Private (`_decode_ceiling`): for `benches/` only.
    #[pyo3(name = "_decode_ceiling")]
    fn decode_ceiling(&self, py: Python<'_>, threads: usize) -> PyResult<(u64, f64)> {
        py.detach(|| self.inner.decode_ceiling(threads)).py()
    }

    /// Iterates in batches (see `lepton_core::dataset::IterOptions`); `state` (a saved state's
    /// JSON text) resumes that iteration instead, its options and position included; `resume`
    /// (a saved state too) resumes it only if it was saved with these options (the core checks).
    #[pyo3(signature = (batch_size=256, shuffle=false, seed=0, epoch=0, shuffle_buffer=16384, rank=0, world_size=1, drop_last=false, position=0, state=None, worker=0, num_workers=1, pad=false, resume=None))]
    #[allow(clippy::too_many_arguments)]
    fn iter_batches(
        &self,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        epoch: u64,
        shuffle_buffer: usize,
        rank: u64,
        world_size: u64,
        drop_last: bool,
        position: u64,
        state: Option<&str>,
        worker: u64,
        num_workers: u64,
        pad: bool,
        resume: Option<&str>,
    ) -> PyResult<PyBatchIter> {
        let options = match state {
            Some(text) => IterOptions::from_state_json(text).py()?,
            None => IterOptions {
                batch_size,
                shuffle,
                seed,
                epoch,
                shuffle_buffer,
                rank,
                world_size,
                drop_last,
                position,
                worker,
                num_workers,
                pad,
                resume_of: None,
            },
        };
        let options = match resume {
            Some(text) => options.resume_from(text).py()?,
            None => options,
        };
        let it = self.inner.iter_batches(options).py()?;
        Ok(PyBatchIter { inner: it })
    }

    /// Checks that a saved state (JSON text) resumes here: this dataset version, shard
    /// `(rank, world_size)`.
    fn check_state(&self, state: &str, rank: u64, world_size: u64) -> PyResult<()> {
        let state = IterOptions::from_state_json(state).py()?;
        self.inner.check_resume(&state, rank, world_size).py()
    }

    /// Whether random row access is thrashing the chunk cache (the core's rule).
    fn thrashing(&self) -> bool {
        self.inner.thrashing()
    }

    /// Rows each rank reads per epoch (`ceil` of `len / world_size` with `pad`, else `floor`).
    #[staticmethod]
    fn rows_per_rank(len: u64, world_size: u64, pad: bool) -> u64 {
        lepton_core::dataset::rows_per_rank(len, world_size, pad)
    }

    /// Rows `(start, stop)` of shard `rank` of `world_size`.
    fn shard(&self, rank: i64, world_size: i64) -> PyResult<(u64, u64)> {
        // Python ints may be negative; the core's rule covers the rest.
        let (Ok(r), Ok(w)) = (u64::try_from(rank), u64::try_from(world_size)) else {
            return Err(crate::errors::to_py(Error::InvalidArgument(format!(
                "rank and world_size must not be negative, got rank {rank} of world_size \
                 {world_size}"
            ))));
        };
        let r = self.inner.shard(r, w).py()?;
        Ok((r.start, r.end))
    }

    /// Rows of each chunk, in order, from the authenticated manifest (read plans such as Ray's
    /// split work at chunk boundaries so that no chunk is decoded twice).
    fn chunk_rows(&self) -> Vec<u64> {
        self.inner
            .manifest()
            .chunks
            .iter()
            .map(|c| c.rows)
            .collect()
    }
}

/// Batches of a dataset; `state()` is where to resume.
#[pyclass(name = "BatchIter", module = "lepton_ai._lepton")]
pub struct PyBatchIter {
    inner: BatchIter,
}

#[pymethods]
impl PyBatchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let it = &mut self.inner;
        match py.detach(|| it.next()) {
            None => Ok(None),
            Some(b) => Ok(Some(batch_to_py(py, b.py()?)?)),
        }
    }

    /// Rows this rank visits per epoch.
    fn rows(&self) -> u64 {
        self.inner.rows()
    }

    /// Batches left.
    fn __len__(&self) -> usize {
        self.inner.remaining_batches() as usize
    }

    /// The iteration state to resume from, as JSON text (the core's serialization).
    fn state(&self) -> String {
        self.inner.state().to_state_json()
    }
}

/// The fixed-size dtype name a column of numpy dtype `kind`/`itemsize` is stored as (the
/// core's one mapping, `DType::from_array_kind`), or `None` when a fixed column can't hold it.
#[pyfunction]
fn fixed_dtype(kind: char, itemsize: usize) -> Option<&'static str> {
    let kind = u8::try_from(kind).ok()?;
    lepton_core::dtype::DType::from_array_kind(kind, itemsize)
        .filter(|d| d.itemsize().is_some())
        .map(lepton_core::dtype::DType::name)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fixed_dtype, m)?)?;
    m.add_class::<PyKey>()?;
    m.add_class::<PyDatasetWriter>()?;
    m.add_class::<PyDataset>()?;
    m.add_class::<PyBatchIter>()?;
    Ok(())
}
