//! Reading a dataset: open (authenticate the manifest), random access through a bounded LRU
//! cache of decoded chunks, slices.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use lru::LruCache;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rayon::prelude::*;

use super::chunk::{self, ChunkIds, ColumnBuilder, DecodedChunk};
use super::iter::{BatchIter, IterOptions};
use super::manifest::{self, ChunkEntry, Manifest};
use super::schema::{Batch, Schema};
use super::source::{ChunkSource, StoreChunks};
use super::writer::DatasetInfo;
use crate::crypto::Key;
use crate::per_process::PerProcess;
use crate::{Error, Result};

/// Options of [`Dataset::open`].
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The version to open (default: the highest committed).
    pub version: Option<u64>,
    /// Bytes of decoded chunks kept for random access (default 256 MiB; at least one chunk is
    /// always kept).
    pub cache_bytes: usize,
    /// Chunks decoded ahead of a sequential iteration (default: 2 × rayon threads + 1; 0: none).
    /// Small chunks are fetched further ahead, up to 32 MiB of stored objects (at most 64
    /// chunks), so that enough GETs are in flight to keep a network link busy.
    pub prefetch: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            version: None,
            cache_bytes: 256 << 20,
            prefetch: 2 * crate::pools::cpu().current_num_threads() + 1,
        }
    }
}

struct Cache {
    lru: LruCache<u32, Arc<DecodedChunk>>,
    bytes: usize,
}

fn empty_cache(_inherited: Option<&Mutex<Cache>>) -> Mutex<Cache> {
    Mutex::new(Cache {
        lru: LruCache::unbounded(),
        bytes: 0,
    })
}

pub(crate) struct Inner {
    source: Arc<dyn ChunkSource>,
    prefix: Path,
    manifest: Manifest,
    ids: ChunkIds,
    chunk_key: Option<Key>,
    /// `starts[i]` is the first row of chunk `i`; `starts[chunks] == rows`.
    starts: Vec<u64>,
    /// Per process: a forked child (a `DataLoader` worker) starts with an empty cache of its
    /// own instead of waiting on a lock a parent thread may have held at the fork.
    cache: PerProcess<Mutex<Cache>>,
    /// Chunk lookups through the cache and how many missed (see [`Dataset::thrashing`]).
    lookups: AtomicU64,
    misses: AtomicU64,
    options: ReadOptions,
}

/// An opened, authenticated dataset version. Cheap to clone (shared cache); `Send + Sync`.
#[derive(Clone)]
pub struct Dataset {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("prefix", &self.inner.prefix.as_ref())
            .field("version", &self.inner.manifest.version)
            .field("rows", &self.inner.manifest.rows)
            .field("encrypted", &self.inner.manifest.encryption.is_some())
            .finish()
    }
}

/// The committed versions of the dataset at `prefix`, ascending.
pub fn versions(store: &dyn ObjectStore, prefix: &Path) -> Result<Vec<u64>> {
    let dir = prefix.clone().join("manifests");
    let metas: Vec<_> = crate::pools::block_on(store.list(Some(&dir)).try_collect())
        .map_err(|e| Error::from_store(e, &super::location(store, prefix)))?;
    let mut v: Vec<u64> = metas
        .iter()
        .filter_map(|m| m.location.filename().and_then(manifest::version_of))
        .collect();
    v.sort_unstable();
    Ok(v)
}

fn manifest_bytes(
    store: &dyn ObjectStore,
    prefix: &Path,
    version: Option<u64>,
) -> Result<(u64, Vec<u8>, String)> {
    let all = versions(store, prefix)?;
    let v = match version {
        Some(v) => v,
        None => *all.last().ok_or_else(|| Error::NotFound {
            what: format!("dataset at `{}`", super::location(store, prefix)),
            hint: Some("no committed version there (no manifests/): check the path, or the writer did not close()".into()),
        })?,
    };
    let path = manifest::manifest_path(prefix, v);
    match crate::pools::block_on(async { store.get(&path).await?.bytes().await }) {
        Ok(b) => {
            let what = format!(
                "manifest of version {v} of the dataset at `{}`",
                super::location(store, prefix)
            );
            Ok((v, b.to_vec(), what))
        }
        Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound {
            what: format!(
                "version {v} of the dataset at `{}`",
                super::location(store, prefix)
            ),
            hint: Some(format!("committed versions: {all:?}")),
        }),
        Err(e) => Err(Error::from_store(e, &super::location(store, prefix))),
    }
}

impl Dataset {
    /// Opens (the latest or `options.version` of) the dataset at `prefix`: reads the manifest
    /// and authenticates it with `key` (required if and only if the dataset is encrypted).
    pub fn open(
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        key: Option<Key>,
        options: ReadOptions,
    ) -> Result<Dataset> {
        let (v, bytes, what) = manifest_bytes(store.as_ref(), &prefix, options.version)?;
        Dataset::open_manifest(
            Arc::new(StoreChunks(store)),
            prefix,
            v,
            &bytes,
            &what,
            key,
            options,
        )
    }

    /// Opens version `version` of a dataset from its manifest bytes (already fetched, e.g. by
    /// the registry, possibly from its cache), reading chunks from `source`: authenticates the
    /// manifest with `key` (required if and only if the dataset is encrypted) as
    /// [`open`](Self::open) does. `what` names the manifest in errors.
    pub fn open_manifest(
        source: Arc<dyn ChunkSource>,
        prefix: Path,
        version: u64,
        manifest: &[u8],
        what: &str,
        key: Option<Key>,
        options: ReadOptions,
    ) -> Result<Dataset> {
        let m = manifest::parse(manifest, what)?.verify(key.as_ref(), Some(version))?;
        Dataset::from_manifest(source, prefix, m, key, options)
    }

    /// Opens a dataset written with a passphrase-derived key ([`Key::from_passphrase`]): the
    /// Argon2id salt and costs come from the manifest, then it is authenticated as by
    /// [`open`](Self::open).
    pub fn open_with_passphrase(
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        passphrase: &str,
        options: ReadOptions,
    ) -> Result<Dataset> {
        let (v, bytes, what) = manifest_bytes(store.as_ref(), &prefix, options.version)?;
        let unverified = manifest::parse(&bytes, &what)?;
        let params = match &unverified.peek().encryption {
            Some(e) => e.passphrase.clone().ok_or_else(|| {
                Error::KeyRequired(format!("{what}: this dataset's key is not derived from a passphrase; pass the key itself"))
            })?,
            None => {
                return Err(Error::KeyRequired(format!(
                    "{what} is not encrypted: open it without a passphrase"
                )))
            }
        };
        let key = Key::from_passphrase_params(passphrase, &params)?;
        let m = unverified.verify(Some(&key), Some(v))?;
        Dataset::from_manifest(Arc::new(StoreChunks(store)), prefix, m, Some(key), options)
    }

    fn from_manifest(
        source: Arc<dyn ChunkSource>,
        prefix: Path,
        manifest: Manifest,
        key: Option<Key>,
        options: ReadOptions,
    ) -> Result<Dataset> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(&manifest.dataset_id, &mut id).expect("checked by verify");
        let mut starts = Vec::with_capacity(manifest.chunks.len() + 1);
        let mut acc = 0;
        starts.push(0);
        for c in &manifest.chunks {
            acc += c.rows;
            starts.push(acc);
        }
        Ok(Dataset {
            inner: Arc::new(Inner {
                ids: ChunkIds {
                    format_version: manifest.format_version,
                    dataset_id: id,
                    version: manifest.version,
                },
                chunk_key: key.map(|k| k.derive(super::format::CHUNK_KEY_PURPOSE)),
                source,
                prefix,
                manifest,
                starts,
                cache: PerProcess::new(empty_cache),
                lookups: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                options,
            }),
        })
    }

    /// Number of rows.
    pub fn len(&self) -> u64 {
        self.inner.manifest.rows
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.inner.manifest.schema
    }

    /// The authenticated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// Rows, bytes, chunks, columns, version.
    pub fn info(&self) -> DatasetInfo {
        DatasetInfo::of(&self.inner.manifest)
    }

    /// The version opened.
    pub fn version(&self) -> u64 {
        self.inner.manifest.version
    }

    /// Number of chunks.
    pub fn num_chunks(&self) -> usize {
        self.inner.manifest.chunks.len()
    }

    /// The read options.
    pub fn options(&self) -> &ReadOptions {
        &self.inner.options
    }

    /// First row of chunk `i` (`i == num_chunks()` gives `len()`).
    pub(crate) fn chunk_start(&self, i: usize) -> u64 {
        self.inner.starts[i]
    }

    /// Fetches and decodes chunk `index` without the cache.
    pub fn fetch_chunk(&self, index: usize) -> Result<DecodedChunk> {
        let stored = self.fetch_stored(index)?;
        self.decode_stored(index, &stored)
    }

    /// The stored bytes of chunk `index`: the I/O half of [`fetch_chunk`](Self::fetch_chunk).
    pub(crate) fn fetch_stored(&self, index: usize) -> Result<bytes::Bytes> {
        let (_, path, what) = self.chunk_names(index)?;
        self.stored_chunk(&path, &self.source_key(index), &what)
    }

    /// Chunk `index`'s manifest entry, object path, and name in errors.
    fn chunk_names(&self, index: usize) -> Result<(&ChunkEntry, Path, String)> {
        let inner = &self.inner;
        let entry = inner
            .manifest
            .chunks
            .get(index)
            .ok_or(Error::IndexOutOfRange {
                index: index as i64,
                len: inner.manifest.chunks.len() as u64,
            })?;
        let path = manifest::chunk_path(&inner.prefix, &inner.manifest.dataset_id, index as u64);
        let what = format!(
            "chunk {index} of version {} of the dataset at `{}`",
            inner.manifest.version,
            super::location(inner.source.as_ref(), &inner.prefix)
        );
        Ok((entry, path, what))
    }

    /// Decodes chunk `index` from its `stored` bytes: the CPU half of
    /// [`fetch_chunk`](Self::fetch_chunk). A kept copy that fails to verify is forgotten by the
    /// source and the object read again.
    pub(crate) fn decode_stored(&self, index: usize, stored: &[u8]) -> Result<DecodedChunk> {
        let inner = &self.inner;
        let (entry, path, what) = self.chunk_names(index)?;
        let key = self.source_key(index);
        let decode = |stored: &[u8]| {
            chunk::decode(
                stored,
                entry,
                index as u64,
                &inner.manifest.schema,
                inner.manifest.filter,
                &inner.ids,
                inner.chunk_key.as_ref(),
                &what,
            )
        };
        match decode(stored) {
            // A corrupt kept copy: dropped, and the object read again from the store.
            Err(Error::Integrity { .. }) if inner.source.forget(&path, &key) => {
                decode(&self.stored_chunk(&path, &key, &what)?)
            }
            r => r,
        }
    }

    /// What a [`ChunkSource`] keys chunk `index` on: its SHA-256 in a format-1 manifest, else a
    /// name unique to it (dataset id, version, index).
    fn source_key(&self, index: usize) -> String {
        let m = &self.inner.manifest;
        match &m.chunks[index].sha256 {
            Some(h) => h.clone(),
            None => format!("{}/{}/{index}", m.dataset_id, m.version),
        }
    }

    /// The stored bytes of a chunk object; `what` names the chunk in errors.
    fn stored_chunk(&self, path: &Path, key: &str, what: &str) -> Result<bytes::Bytes> {
        let inner = &self.inner;
        match inner.source.get(path, key) {
            Ok(b) => Ok(b),
            Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound {
                what: what.into(),
                hint: Some(format!("the object `{path}` is missing: the dataset is incomplete; rewrite it or restore the object")),
            }),
            Err(e) => Err(Error::from_store(
                e,
                &super::location(inner.source.as_ref(), &inner.prefix),
            )),
        }
    }

    /// Chunk `index`, decoded, through the LRU cache.
    pub fn chunk(&self, index: usize) -> Result<Arc<DecodedChunk>> {
        self.inner.lookups.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = self
            .inner
            .cache
            .get()
            .lock()
            .expect("cache lock")
            .lru
            .get(&(index as u32))
        {
            return Ok(c.clone());
        }
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        let c = Arc::new(self.fetch_chunk(index)?);
        let mut cache = self.inner.cache.get().lock().expect("cache lock");
        if cache.lru.put(index as u32, c.clone()).is_none() {
            cache.bytes += c.memory();
        }
        while cache.bytes > self.inner.options.cache_bytes && cache.lru.len() > 1 {
            if let Some((_, old)) = cache.lru.pop_lru() {
                cache.bytes -= old.memory();
            }
        }
        Ok(c)
    }

    /// Whether random access is thrashing the chunk cache: every chunk decoded twice on
    /// average, and over an eighth of the lookups missing (a shuffling sampler over more data
    /// than `cache_bytes`, each row decoding a whole chunk). Sequential reads and data that fit
    /// the cache never qualify; [`iter_batches`](Self::iter_batches) with `shuffle` is the
    /// chunk-aware way to read in random order.
    pub fn thrashing(&self) -> bool {
        let (lookups, misses) = (
            self.inner.lookups.load(Ordering::Relaxed),
            self.inner.misses.load(Ordering::Relaxed),
        );
        misses > 2 * self.num_chunks() as u64 && misses * 8 > lookups
    }

    /// The chunk holding `row` and the row's index inside it.
    pub(crate) fn locate(&self, row: u64) -> (usize, usize) {
        let c = self.inner.starts.partition_point(|&s| s <= row) - 1;
        (c, (row - self.inner.starts[c]) as usize)
    }

    /// Row `row` as a one-row batch.
    pub fn get(&self, row: u64) -> Result<Batch> {
        self.slice(row, row + 1)
    }

    /// Rows `start..end` as one batch (chunks fetched in parallel).
    pub fn slice(&self, start: u64, end: u64) -> Result<Batch> {
        let len = self.len();
        if start >= len && !(start == end && start == len) {
            return Err(Error::IndexOutOfRange {
                index: start as i64,
                len,
            });
        }
        if end > len || end < start {
            return Err(Error::IndexOutOfRange {
                index: end as i64,
                len,
            });
        }
        let mut runs = Vec::new();
        let mut row = start;
        while row < end {
            let (c, r) = self.locate(row);
            let n = (self.inner.starts[c + 1] - row).min(end - row);
            runs.push((c, r, n as usize));
            row += n;
        }
        let chunks: Vec<Arc<DecodedChunk>> = if runs.len() > 1 {
            // On this process's pool: rayon's global pool has no threads in a forked child.
            crate::pools::cpu().install(|| {
                runs.par_iter()
                    .map(|&(c, _, _)| self.chunk(c))
                    .collect::<Result<_>>()
            })?
        } else {
            runs.iter()
                .map(|&(c, _, _)| self.chunk(c))
                .collect::<Result<_>>()?
        };
        Ok(self.gather(
            runs.iter()
                .zip(&chunks)
                .map(|(&(_, r, n), c)| (c.as_ref(), r, n)),
            (end - start) as usize,
        ))
    }

    /// Assembles a batch from runs `(chunk, first row, rows)`.
    pub(crate) fn gather<'c>(
        &self,
        runs: impl Iterator<Item = (&'c DecodedChunk, usize, usize)> + Clone,
        rows: usize,
    ) -> Batch {
        let schema = self.schema();
        let columns = (0..schema.columns.len())
            .map(|col| {
                let mut b = ColumnBuilder::new(schema, col, rows);
                for (c, r, n) in runs.clone() {
                    c.append(col, r, n, &mut b);
                }
                b.finish(schema, col)
            })
            .collect();
        Batch { columns }
    }

    /// Benchmark ceiling: reads every stored chunk into memory, then times only AES-256-GCM
    /// decryption (C2SP) and zstd decompression of all of them on `threads` threads (no
    /// un-filtering, no parsing, no copies out). Returns (decoded bytes, seconds).
    ///
    /// For `benches/` only (hidden from the documented API; it may change or go).
    #[doc(hidden)]
    pub fn decode_ceiling(&self, threads: usize) -> Result<(u64, f64)> {
        let inner = &self.inner;
        let stored: Vec<bytes::Bytes> = (0..self.num_chunks())
            .map(|i| {
                let path =
                    manifest::chunk_path(&inner.prefix, &inner.manifest.dataset_id, i as u64);
                inner
                    .source
                    .get(&path, &self.source_key(i))
                    .map_err(Error::from)
            })
            .collect::<Result<_>>()?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let started = std::time::Instant::now();
        let total = pool.install(|| {
            stored
                .par_iter()
                .enumerate()
                .map(|(i, s)| {
                    let e = &inner.manifest.chunks[i];
                    let body = match &inner.chunk_key {
                        Some(k) => {
                            let ctx = chunk::context(
                                &inner.ids,
                                i as u64,
                                e.codec,
                                inner.manifest.filter,
                                e.raw_len,
                            );
                            crate::crypto::c2sp::open(k.as_bytes(), &ctx, s)
                                .map_err(|e| crate::crypto::open_error(e, "chunk"))?
                        }
                        None => s.to_vec(),
                    };
                    let n = match e.codec {
                        manifest::Codec::Zstd => chunk::decompress(&body, e.raw_len as usize)
                            .map_err(|reason| Error::Integrity {
                                what: format!("chunk {i}"),
                                reason,
                            })?
                            .len(),
                        manifest::Codec::None => body.len(),
                    };
                    Ok(n as u64)
                })
                .sum::<Result<u64>>()
        })?;
        Ok((total, started.elapsed().as_secs_f64()))
    }

    /// All rows as one batch.
    pub fn to_batch(&self) -> Result<Batch> {
        self.slice(0, self.len())
    }

    /// Iterates in batches: sequential or shuffled, sharded, resumable (see [`IterOptions`]).
    pub fn iter_batches(&self, options: IterOptions) -> Result<BatchIter> {
        BatchIter::new(self.clone(), options)
    }
}
