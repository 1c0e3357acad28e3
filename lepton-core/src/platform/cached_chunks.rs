//! The registry's [`ChunkSource`]: chunks of committed dataset versions come through the local
//! content-addressed cache when there is one (so a version read once keeps reading offline), from
//! the store otherwise.
//!
//! Committed versions are immutable, so serving their chunks from the cache is always correct.
//! A format-1 chunk is cached under its SHA-256 and only when its hash matches the manifest's; a
//! format-2 chunk is kept under a name derived from its path and key, unhashed here: the reader
//! authenticates it (AES-GCM) or checks its BLAKE3 anyway, and makes this source
//! [`forget`](ChunkSource::forget) a copy that fails, then reads it again from the store.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;

use super::cache::{is_hex_digest, sha256_hex, Cache};
use super::cache_writer::{Job, Writer};
use crate::dataset::{ChunkSource, StoreChunks};
use crate::per_process::PerProcess;

/// Bytes of chunks waiting to be cached at most: twice the reader's read-ahead (32 MiB of
/// stored objects), so that a burst of read-ahead GETs completing together is kept whole while
/// the disk keeps up.
const QUEUED_BYTES: usize = 2 * crate::dataset::READ_AHEAD_BYTES as usize;

type WriterSlot = PerProcess<Writer, Box<dyn Fn(Option<&Writer>) -> Writer + Send + Sync>>;

/// See the module docs.
pub(crate) struct CachedChunks {
    pub(crate) store: StoreChunks,
    pub(crate) cache: Option<Cache>,
    /// Caches format-2 chunks off the read's critical path (see [`Writer`]); one per process:
    /// a forked child starts its own, and its parent's is never touched there. Dropping it
    /// writes what is queued.
    writer: Option<WriterSlot>,
}

impl CachedChunks {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, cache: Option<Cache>) -> CachedChunks {
        let writer = cache.clone().map(|cache| -> WriterSlot {
            PerProcess::new(Box::new(move |_| {
                let cache = cache.clone();
                Writer::new(
                    QUEUED_BYTES,
                    Arc::new(move |job: &Job| {
                        if let Err(e) = cache.put_unverified(&job.name, &job.data) {
                            tracing::warn!("could not cache {}: {e}", job.what);
                        }
                    }),
                )
            }))
        });
        CachedChunks {
            store: StoreChunks(store),
            cache,
            writer,
        }
    }

    /// Queues `data` to be kept under `name` in the cache (skipped when the queue is full).
    fn keep(&self, name: String, data: Bytes, path: &Path) {
        if let Some(writer) = &self.writer {
            writer.get().push(Job {
                name,
                data,
                what: path.to_string(),
            });
        }
    }
}

impl fmt::Display for CachedChunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.store, f)
    }
}

impl ChunkSource for CachedChunks {
    fn get(&self, path: &Path, key: &str) -> object_store::Result<Bytes> {
        let Some(cache) = &self.cache else {
            return self.store.get(path, key);
        };
        let Some(sha256) = sha256_key(key) else {
            let name = kept_name(path, key);
            if let Some(hit) = cache.get_unverified(&name) {
                return Ok(Bytes::from(hit));
            }
            let data = self.store.get(path, key)?;
            self.keep(name, data.clone(), path);
            return Ok(data);
        };
        if let Some(hit) = cache.get_object(sha256) {
            return Ok(Bytes::from(hit));
        }
        let data = self.store.get(path, sha256)?;
        if sha256_hex(&data) == sha256 {
            if let Err(e) = cache.put_object(sha256, &data) {
                tracing::warn!("could not cache {path}: {e}");
            }
        }
        // A mismatch is reported by the reader's own check, with the chunk's name.
        Ok(data)
    }

    fn forget(&self, path: &Path, key: &str) -> bool {
        match &self.cache {
            Some(cache) if sha256_key(key).is_none() => cache.remove(&kept_name(path, key)),
            _ => false,
        }
    }
}

/// `key` when it is a format-1 chunk's SHA-256 (64 hex digits), which the cache verifies.
fn sha256_key(key: &str) -> Option<&str> {
    is_hex_digest(key).then_some(key)
}

/// The cache name of a format-2 chunk: BLAKE3 of its path and key.
fn kept_name(path: &Path, key: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"lepton-dataset/v2 cached chunk\x00");
    h.update(path.as_ref().as_bytes());
    h.update(b"\x00");
    h.update(key.as_bytes());
    h.finalize().to_hex().to_string()
}
