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
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;

use super::cache::{is_hex_digest, sha256_hex, Cache};
use crate::dataset::{ChunkSource, StoreChunks};

/// See the module docs.
pub(crate) struct CachedChunks {
    pub(crate) store: StoreChunks,
    pub(crate) cache: Option<Cache>,
    /// Cache writes of format-2 chunks, off the read's critical path; joined when this source
    /// is dropped (by the process that started them: a forked child has none of those threads).
    writes: Mutex<(u32, Vec<JoinHandle<()>>)>,
}

impl CachedChunks {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, cache: Option<Cache>) -> CachedChunks {
        CachedChunks {
            store: StoreChunks(store),
            cache,
            writes: Mutex::new((std::process::id(), Vec::new())),
        }
    }

    /// Keeps `data` under `name` in the cache on a thread of its own (inline when none starts).
    fn keep(&self, cache: &Cache, name: String, data: Bytes, path: &Path) {
        let (cache, what) = (cache.clone(), path.to_string());
        let write = move || {
            if let Err(e) = cache.put_unverified(&name, &data) {
                tracing::warn!("could not cache {what}: {e}");
            }
        };
        let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        if writes.0 != std::process::id() {
            // Forked: the parent's writers do not exist here; their handles are leaked, not
            // detached or joined.
            std::mem::forget(std::mem::take(&mut writes.1));
            writes.0 = std::process::id();
        }
        writes.1.retain(|h| !h.is_finished());
        match std::thread::Builder::new()
            .name("lepton-cache-write".into())
            .spawn(write)
        {
            Ok(h) => writes.1.push(h),
            Err(e) => tracing::warn!("could not start a cache writer ({e}); not caching {path}"),
        }
    }
}

impl Drop for CachedChunks {
    fn drop(&mut self) {
        let writes = self.writes.get_mut().unwrap_or_else(|e| e.into_inner());
        if writes.0 == std::process::id() {
            for h in writes.1.drain(..) {
                let _ = h.join();
            }
        } else {
            std::mem::forget(std::mem::take(&mut writes.1));
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
            self.keep(cache, name, data.clone(), path);
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
