//! Writing a dataset: rows in, chunks encoded in parallel (rayon) and uploaded, then one
//! conditional manifest put that commits the version.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};

use super::chunk::{self, ChunkIds, EncodeParams};
use super::manifest::{self, ChunkEntry, Codec, Filter, Manifest, FORMAT_VERSION};
use super::schema::{Column, ColumnData, DType, Schema};
use crate::crypto::Key;
use crate::{Error, Result};

/// Options of a [`DatasetWriter`].
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Encrypt with this key (`None`: unencrypted; chunk hashes still guard integrity).
    pub key: Option<Key>,
    /// The version to commit (default 1). Committing a version that exists fails with
    /// [`Error::AlreadyExists`].
    pub version: u64,
    /// Target payload bytes per chunk before compression (default 4 MiB).
    pub chunk_bytes: usize,
    /// Compression (default zstd; a chunk that zstd shrinks by less than 5 % is stored as is).
    pub codec: Codec,
    /// zstd level (default 3).
    pub zstd_level: i32,
    /// Filter of fixed-size columns before compression (default: byte shuffle; measured on
    /// float32 data, same ratio but zstd decodes the shuffled bytes 1.5-1.8x faster and encodes
    /// them faster, which more than pays for the un-shuffle pass; see docs/benchmarks.md).
    pub filter: Filter,
    /// The schema, if known up front; otherwise the first write defines it.
    pub schema: Option<Schema>,
    /// User metadata stored (and authenticated) in the manifest.
    pub metadata: BTreeMap<String, String>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            key: None,
            version: 1,
            chunk_bytes: 4 << 20,
            codec: Codec::Zstd,
            zstd_level: 3,
            filter: Filter::Shuffle,
            schema: None,
            metadata: BTreeMap::new(),
        }
    }
}

/// What one dataset version holds: what a committed write produced, what a reader opened, and
/// (with where it lives) what the registry lists as a [`crate::platform::DatasetEntry`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatasetInfo {
    /// Rows.
    pub rows: u64,
    /// Stored bytes of all chunks (compressed, encrypted).
    pub stored_bytes: u64,
    /// Payload bytes of all chunks (uncompressed).
    pub raw_bytes: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// The schema.
    pub columns: Vec<Column>,
    /// The version committed.
    pub version: u64,
    /// The write's random id (hex).
    pub dataset_id: String,
    /// Whether the chunks are encrypted.
    pub encrypted: bool,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

impl DatasetInfo {
    pub(crate) fn of(m: &Manifest) -> DatasetInfo {
        DatasetInfo {
            rows: m.rows,
            stored_bytes: m.chunks.iter().map(|c| c.stored_len).sum(),
            raw_bytes: m.chunks.iter().map(|c| c.raw_len).sum(),
            chunks: m.chunks.len() as u64,
            columns: m.schema.columns.clone(),
            version: m.version,
            dataset_id: m.dataset_id.clone(),
            encrypted: m.encryption.is_some(),
            metadata: m.metadata.clone(),
        }
    }
}

/// A chunk's index, and its entry plus the digest of its payload (see [`DatasetWriter::content`]).
type Done = (u64, Result<(ChunkEntry, Option<blake3::Hash>)>);

/// Writes one version of a dataset under a prefix of an object store.
///
/// Rows go in by [`write_columns`](Self::write_columns) or [`write_batch`](Self::write_batch)
/// (any number of calls); chunks are encoded and uploaded in the background as they fill;
/// [`close`](Self::close) commits. Dropped before `close`, nothing becomes visible (the
/// uploaded chunks are unreferenced objects under `data/<dataset id>/`).
pub struct DatasetWriter {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    options: WriteOptions,
    ids: ChunkIds,
    dataset_id: String,
    params: EncodeParams,
    schema: Option<Arc<Schema>>,
    pending: Vec<ColumnData<'static>>,
    pending_rows: usize,
    pending_bytes: usize,
    next_index: u64,
    in_flight: usize,
    max_in_flight: usize,
    entries: Vec<Option<ChunkEntry>>,
    /// Per chunk, the digest of its payload, when [`DatasetWriter::record_content`] asked.
    digests: Vec<Option<blake3::Hash>>,
    /// The key of those digests (`None`: plain BLAKE3 for an unencrypted dataset), when asked.
    content_key: Option<Option<[u8; 32]>>,
    tx: mpsc::Sender<Done>,
    rx: mpsc::Receiver<Done>,
    error: Option<Error>,
    /// Rows and uncompressed bytes of the chunks stored so far, and who is told about them.
    stored: (u64, u64),
    progress: Option<Progress>,
}

/// Told `(rows, bytes)` stored so far each time a chunk is stored (see
/// [`DatasetWriter::on_progress`]).
type Progress = Box<dyn FnMut(u64, u64) -> Result<()> + Send>;

impl std::fmt::Debug for DatasetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetWriter")
            .field("prefix", &self.prefix.as_ref())
            .field("version", &self.options.version)
            .field("dataset_id", &self.dataset_id)
            .finish_non_exhaustive()
    }
}

impl DatasetWriter {
    /// A writer for `options.version` of the dataset at `prefix` in `store`. Fails with
    /// [`Error::AlreadyExists`] if that version is already committed (checked again, atomically,
    /// at [`close`](Self::close)).
    pub fn create(
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        options: WriteOptions,
    ) -> Result<DatasetWriter> {
        if options.chunk_bytes == 0 {
            return Err(Error::InvalidArgument(
                "chunk_bytes must be positive".into(),
            ));
        }
        if !(-7..=22).contains(&options.zstd_level) {
            return Err(Error::InvalidArgument(format!(
                "zstd_level must be in -7..=22, got {}",
                options.zstd_level
            )));
        }
        if let Some(s) = &options.schema {
            s.validate()?;
        }
        let mpath = manifest::manifest_path(&prefix, options.version);
        match crate::pools::block_on(store.head(&mpath)) {
            Ok(_) => return Err(already_exists(store.as_ref(), &prefix, options.version)),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                return Err(Error::from_store(
                    e,
                    &super::location(store.as_ref(), &prefix),
                ))
            }
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).expect("the OS random source failed");
        let (tx, rx) = mpsc::channel();
        let params = EncodeParams {
            filter: options.filter,
            codec: options.codec,
            zstd_level: options.zstd_level,
            chunk_key: options
                .key
                .as_ref()
                .map(|k| k.derive(super::format::CHUNK_KEY_PURPOSE)),
        };
        let schema = options.schema.clone().map(Arc::new);
        Ok(DatasetWriter {
            store,
            prefix,
            ids: ChunkIds {
                format_version: FORMAT_VERSION,
                dataset_id: id,
                version: options.version,
            },
            dataset_id: hex::encode(id),
            params,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            next_index: 0,
            in_flight: 0,
            max_in_flight: 2 * crate::pools::cpu().current_num_threads() + 2,
            entries: Vec::new(),
            digests: Vec::new(),
            content_key: None,
            tx,
            rx,
            error: None,
            stored: (0, 0),
            progress: None,
            schema,
            options,
        })
    }

    /// Calls `f(rows, bytes)` each time a chunk is stored, with the rows and uncompressed
    /// bytes stored so far (the total is not known ahead: rows may keep coming). An error from
    /// `f` stops the write: the `write_*` or [`close`](Self::close) call waiting returns it.
    pub fn on_progress(&mut self, f: impl FnMut(u64, u64) -> Result<()> + Send + 'static) {
        self.progress = Some(Box::new(f));
    }

    /// The schema (known after the first write, or from the options).
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_deref()
    }

    /// Appends rows given as named columns (every column of the schema, any order). The first
    /// write defines the schema (in the order given) unless the options fixed it.
    pub fn write_columns(&mut self, columns: &[(&str, ColumnData<'_>)]) -> Result<()> {
        if self.schema.is_none() {
            let cols = columns
                .iter()
                .map(|(n, c)| column_of(n, c))
                .collect::<Result<_>>()?;
            self.schema = Some(Arc::new(Schema::new(cols)?));
        }
        let schema = self.schema.clone().expect("set above");
        if columns.len() != schema.columns.len() {
            let given: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
            let names = schema.names();
            let extra: Vec<&str> = given
                .iter()
                .copied()
                .filter(|n| !names.contains(n))
                .collect();
            let hint = if self.options.schema.is_some() && !extra.is_empty() {
                format!(
                    "; the schema declares every column: add {extra:?} to it (a dtype alone for \
                     one value per row)"
                )
            } else {
                String::new()
            };
            return Err(Error::Schema(format!(
                "expected the columns {names:?}, got {given:?}{hint}"
            )));
        }
        let mut ordered = Vec::with_capacity(columns.len());
        for c in &schema.columns {
            let (_, data) = columns.iter().find(|(n, _)| *n == c.name).ok_or_else(|| {
                Error::Schema(format!(
                    "column `{}` is missing; expected the columns {:?}",
                    c.name,
                    schema.names()
                ))
            })?;
            // A declared column converts numbers given in another dtype (Python ints, numpy's
            // default int64) when that is safe.
            let data = match self.options.schema {
                Some(_) => super::schema_cast::cast_to_declared(c, data.clone())?,
                None => data.clone(),
            };
            ordered.push(match data {
                // Rows that happen to share a shape, in a variable-shape column.
                ColumnData::Fixed {
                    dtype,
                    row_shape,
                    rows,
                    data,
                } if c.variable_ndim == Some(row_shape.len() as u32) => {
                    super::ragged::from_fixed(dtype, &row_shape, rows, &data)
                }
                other => other,
            });
        }
        self.write_batch(&ordered)
    }

    /// Appends rows given as columns in schema order (the schema must be known: from the
    /// options or an earlier [`write_columns`](Self::write_columns)).
    pub fn write_batch(&mut self, columns: &[ColumnData<'_>]) -> Result<()> {
        let schema = self.schema.clone().ok_or_else(|| {
            Error::Schema(
                "the schema is not known yet: call write_columns first or set WriteOptions::schema"
                    .into(),
            )
        })?;
        check_batch(&schema, columns)?;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let rows = columns.first().map_or(0, |c| c.rows());
        let fixed_row_bytes: usize = schema.columns.iter().filter_map(|c| c.row_bytes()).sum();
        let all_fixed = schema.columns.iter().all(|c| c.row_bytes().is_some());
        let mut start = 0;
        while start < rows {
            // How many rows fit in the chunk being filled.
            let take = if all_fixed {
                let target = (self.options.chunk_bytes / fixed_row_bytes.max(1)).max(1);
                target
                    .saturating_sub(self.pending_rows)
                    .max(1)
                    .min(rows - start)
            } else {
                let mut bytes = self.pending_bytes;
                let mut n = 0;
                while start + n < rows && (n == 0 || bytes < self.options.chunk_bytes) {
                    bytes += row_size(columns, start + n, fixed_row_bytes);
                    n += 1;
                }
                n
            };
            self.append_pending(&schema, columns, start, take);
            start += take;
            let full = if all_fixed {
                self.pending_rows * fixed_row_bytes.max(1) >= self.options.chunk_bytes
            } else {
                self.pending_bytes >= self.options.chunk_bytes
            };
            if full {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn append_pending(
        &mut self,
        schema: &Schema,
        columns: &[ColumnData<'_>],
        start: usize,
        n: usize,
    ) {
        if self.pending.is_empty() {
            // Room for a whole chunk up front, from the pool: no regrowth copies, no fresh pages.
            let fixed_row_bytes: usize = schema.columns.iter().filter_map(|c| c.row_bytes()).sum();
            let chunk_rows = self.options.chunk_bytes / fixed_row_bytes.max(1) + 1;
            self.pending = schema
                .columns
                .iter()
                .map(|c| match c.row_bytes() {
                    Some(rb) => ColumnData::Fixed {
                        dtype: c.dtype,
                        row_shape: c.shape.clone(),
                        rows: 0,
                        data: Cow::Owned({
                            let mut b =
                                super::buffers::take(rb.saturating_mul(chunk_rows).min(64 << 20));
                            b.clear();
                            b
                        }),
                    },
                    None => ColumnData::Variable {
                        dtype: c.dtype,
                        offsets: Cow::Owned(vec![0]),
                        data: Cow::Owned(Vec::new()),
                    },
                })
                .collect();
        }
        for (p, c) in self.pending.iter_mut().zip(columns) {
            match (p, c) {
                (
                    ColumnData::Fixed { rows, data, .. },
                    ColumnData::Fixed {
                        rows: crows,
                        data: cdata,
                        ..
                    },
                ) => {
                    let rb = if *crows == 0 { 0 } else { cdata.len() / crows };
                    data.to_mut()
                        .extend_from_slice(&cdata[start * rb..(start + n) * rb]);
                    *rows += n;
                    self.pending_bytes += n * rb;
                }
                (
                    ColumnData::Variable { offsets, data, .. },
                    ColumnData::Variable {
                        offsets: co,
                        data: cd,
                        ..
                    },
                ) => {
                    let (a, b) = (co[start] as usize, co[start + n] as usize);
                    let cur = data.len() as u64;
                    data.to_mut().extend_from_slice(&cd[a..b]);
                    offsets.to_mut().extend(
                        co[start + 1..=start + n]
                            .iter()
                            .map(|x| x - co[start] + cur),
                    );
                    self.pending_bytes += b - a + 8 * n;
                }
                _ => unreachable!("checked by check_batch"),
            }
        }
        self.pending_rows += n;
    }

    /// Sends the pending rows off as one chunk.
    fn flush(&mut self) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        while self.in_flight >= self.max_in_flight {
            self.receive_one()?;
        }
        let parts = std::mem::take(&mut self.pending);
        let rows = std::mem::replace(&mut self.pending_rows, 0);
        self.pending_bytes = 0;
        let index = self.next_index;
        self.next_index += 1;
        self.entries.push(None);
        self.digests.push(None);
        self.in_flight += 1;
        let schema = self.schema.clone().expect("known once rows are pending");
        let (ids, params, tx) = (self.ids.clone(), self.params.clone(), self.tx.clone());
        let store = self.store.clone();
        let path = manifest::chunk_path(&self.prefix, &self.dataset_id, index);
        let content_key = self.content_key;
        crate::pools::cpu().spawn(move || {
            let payload = chunk::build_payload(parts);
            let digest =
                content_key.map(|k| content_hasher(k.as_ref()).update(&payload).finalize());
            let result = chunk::encode(payload, rows, index, &schema, &ids, &params).and_then(
                |(entry, stored)| {
                    crate::pools::block_on(store.put(&path, stored.into())).map_err(|e| {
                        Error::from_store(e, &super::location(store.as_ref(), &path))
                    })?;
                    Ok((entry, digest))
                },
            );
            let _ = tx.send((index, result));
        });
        Ok(())
    }

    fn receive_one(&mut self) -> Result<()> {
        let (index, result) = self.rx.recv().expect("the writer holds a sender");
        self.in_flight -= 1;
        match result {
            Ok((e, digest)) => {
                self.stored.0 += e.rows;
                self.stored.1 += e.raw_len;
                self.entries[index as usize] = Some(e);
                self.digests[index as usize] = digest;
                match &mut self.progress {
                    Some(f) => f(self.stored.0, self.stored.1),
                    None => Ok(()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Asks the writer to record a digest of the rows written (see [`Manifest::content`]): what
    /// the registry compares to tell a push of the rows its latest version holds. Keyed (with a
    /// key derived from the dataset key) when encrypted, so the manifest, stored in clear,
    /// reveals nothing about the rows to whoever lacks the key. Call before the first write.
    pub(crate) fn record_content(&mut self) {
        self.content_key = Some(
            self.options
                .key
                .as_ref()
                .map(|k| *k.derive(super::format::CONTENT_KEY_PURPOSE).as_bytes()),
        );
    }

    /// Uploads the last chunk, waits for every chunk, then commits the manifest with a
    /// conditional put. Returns what was written; [`Error::AlreadyExists`] if another writer
    /// committed this version first.
    pub fn close(mut self) -> Result<DatasetInfo> {
        let m = self.finish()?;
        self.commit(&m)
    }

    /// Uploads the last chunk and waits for every chunk; returns the manifest that
    /// [`commit`](Self::commit) makes visible (or [`discard`](Self::discard) drops).
    pub(crate) fn finish(&mut self) -> Result<Manifest> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let schema = self
            .schema
            .clone()
            .ok_or_else(|| Error::Schema("nothing was written and no schema was given".into()))?;
        self.flush()?;
        let mut first_error = None;
        while self.in_flight > 0 {
            if let Err(e) = self.receive_one() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let chunks: Vec<ChunkEntry> = self
            .entries
            .drain(..)
            .map(|e| e.expect("every chunk reported"))
            .collect();
        let content = self.content_key.map(|key| {
            // The schema, then each chunk's rows and payload digest, in order.
            let mut h = content_hasher(key.as_ref());
            h.update(&serde_json::to_vec(&*schema).expect("schema serializes"));
            for (c, d) in chunks.iter().zip(&self.digests) {
                h.update(&c.rows.to_le_bytes());
                h.update(d.expect("digest recorded").as_bytes());
            }
            h.finalize().to_hex().to_string()
        });
        Ok(Manifest {
            format_version: FORMAT_VERSION,
            dataset_id: self.dataset_id.clone(),
            version: self.options.version,
            rows: chunks.iter().map(|c| c.rows).sum(),
            schema: (*schema).clone(),
            filter: self.options.filter,
            zstd_level: self.options.zstd_level,
            encryption: self
                .options
                .key
                .as_ref()
                .map(|k| manifest::encryption_for(k, &self.dataset_id)),
            chunks,
            metadata: self.options.metadata.clone(),
            content,
        })
    }

    /// Deletes the chunks [`finish`](Self::finish) uploaded, committing nothing (a push whose
    /// rows the latest version already holds).
    pub(crate) fn discard(self, m: &Manifest) -> Result<()> {
        for index in 0..m.chunks.len() as u64 {
            let path = manifest::chunk_path(&self.prefix, &self.dataset_id, index);
            match crate::pools::block_on(self.store.delete(&path)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(Error::from_store(
                        e,
                        &super::location(self.store.as_ref(), &path),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Commits `m` (from [`finish`](Self::finish)) with a conditional put.
    pub(crate) fn commit(&self, m: &Manifest) -> Result<DatasetInfo> {
        let bytes = manifest::encode(m, self.options.key.as_ref());
        let path = manifest::manifest_path(&self.prefix, self.options.version);
        let put = crate::pools::block_on(self.store.put_opts(
            &path,
            bytes.into(),
            PutOptions::from(PutMode::Create),
        ));
        match put {
            Ok(_) => Ok(DatasetInfo::of(m)),
            // Lost the race to another writer: 409, or 412 from stores that answer
            // `If-None-Match: *` so (as the registry's commit treats them).
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Err(already_exists(
                self.store.as_ref(),
                &self.prefix,
                self.options.version,
            )),
            Err(e) => Err(Error::from_store(
                e,
                &super::location(self.store.as_ref(), &self.prefix),
            )),
        }
    }
}

/// BLAKE3 of content digests: keyed for an encrypted dataset.
fn content_hasher(key: Option<&[u8; 32]>) -> blake3::Hasher {
    match key {
        Some(k) => blake3::Hasher::new_keyed(k),
        None => blake3::Hasher::new(),
    }
}

fn already_exists(store: &dyn ObjectStore, prefix: &Path, version: u64) -> Error {
    Error::AlreadyExists(format!(
        "version {version} of the dataset at `{}` (pass another version number)",
        super::location(store, prefix)
    ))
}

fn row_size(columns: &[ColumnData<'_>], row: usize, fixed_row_bytes: usize) -> usize {
    fixed_row_bytes
        + columns
            .iter()
            .map(|c| match c {
                ColumnData::Variable { offsets, .. } => {
                    (offsets[row + 1] - offsets[row]) as usize + 8
                }
                ColumnData::Fixed { .. } => 0,
            })
            .sum::<usize>()
}

/// Checks that a batch matches the schema: count, dtype, row shape, equal lengths, offsets.
fn check_batch(schema: &Schema, columns: &[ColumnData<'_>]) -> Result<()> {
    if columns.len() != schema.columns.len() {
        return Err(Error::Schema(format!(
            "expected {} columns ({:?}), got {}",
            schema.columns.len(),
            schema.names(),
            columns.len()
        )));
    }
    let rows = columns.first().map_or(0, |c| c.rows());
    for (c, d) in schema.columns.iter().zip(columns) {
        if d.dtype() != c.dtype {
            return Err(Error::Schema(format!(
                "column `{}` is {}, got {}",
                c.name,
                c.dtype,
                d.dtype()
            )));
        }
        c.check_fixed_dims(d)?;
        let variable = matches!(d, ColumnData::Variable { .. });
        if variable != c.row_bytes().is_none() {
            return Err(Error::Schema(format!(
                "column `{}` holds {}, got {}{}",
                c.name,
                kind(c.row_bytes().is_none(), c.dtype),
                kind(variable, d.dtype()),
                declare_variable_hint(c, d.variable_ndim()?.map_or(c.shape.len(), |n| n as usize)),
            )));
        }
        if d.row_shape() != c.shape.as_slice() {
            return Err(Error::Schema(format!(
                "column `{}` has rows of shape {:?}, got {:?}{}",
                c.name,
                c.shape,
                d.row_shape(),
                declare_variable_hint(c, d.row_shape().len()),
            )));
        }
        if let (Some(n), Some(got)) = (c.variable_ndim, d.variable_ndim()?) {
            if n != got {
                return Err(Error::Schema(format!(
                    "column `{}` holds {n}-dimensional rows, got {got}-dimensional ones",
                    c.name
                )));
            }
        }
        if d.rows() != rows {
            return Err(Error::Schema(format!(
                "columns disagree in length: `{}` has {} rows, `{}` has {rows} (a batch holds \
                 one entry per row in every column; one row whose values are arrays goes to \
                 write_row, or in a list of rows in Python)",
                c.name,
                d.rows(),
                schema.columns[0].name
            )));
        }
        match d {
            ColumnData::Fixed { data, rows: r, .. } => {
                if Some(data.len()) != c.row_bytes().map(|b| b * r) {
                    return Err(Error::Schema(format!(
                        "column `{}`: data length does not match its rows",
                        c.name
                    )));
                }
            }
            ColumnData::Variable { offsets, data, .. } => {
                check_offsets_for(&c.name, offsets, data.len())?;
            }
        }
    }
    Ok(())
}

/// The schema column that data `c` written first under `name` defines.
fn column_of(name: &str, c: &ColumnData<'_>) -> Result<Column> {
    match c.variable_ndim()? {
        Some(ndim) => Ok(Column::variable_shape(name, c.dtype(), ndim)),
        None if matches!(c, ColumnData::Variable { .. }) && !c.dtype().is_variable() => {
            Err(Error::Schema(format!(
                "column `{name}`: the first batch of a variable-shape column needs at least one \
                 row (its rank is not known yet)"
            )))
        }
        None => Ok(Column::new(name, c.dtype(), c.row_shape().to_vec())),
    }
}

/// For a fixed-shape column given rows of another shape: how to declare it variable-shape
/// (`ndim` dimensions, each `None`) where the writer starts. Empty for other columns.
fn declare_variable_hint(c: &Column, ndim: usize) -> String {
    if c.variable_ndim.is_some() || c.dtype.is_variable() || ndim == 0 {
        return String::new();
    }
    let dims = vec!["None"; ndim].join(", ");
    let dims = if ndim == 1 { format!("{dims},") } else { dims };
    format!(
        "; if the rows of `{name}` vary in shape, declare it variable-shape where the writer \
         starts (earlier rows fixed its shape otherwise): schema={{\"{name}\": (\"{dtype}\", \
         ({dims}))}} in Python, WriteOptions::schema with Column::variable_shape in Rust",
        name = c.name,
        dtype = c.dtype,
    )
}

/// How errors name what a column holds.
fn kind(variable: bool, dtype: DType) -> String {
    match (variable, dtype.is_variable()) {
        (_, true) => format!("{dtype} values"),
        (true, false) => format!("variable-shape {dtype} rows"),
        (false, false) => format!("fixed-shape {dtype} rows"),
    }
}

fn check_offsets_for(name: &str, offsets: &[u64], len: usize) -> Result<()> {
    super::schema::check_offsets(offsets, len)
        .map_err(|e| Error::Schema(format!("column `{name}`: {e}")))
}
