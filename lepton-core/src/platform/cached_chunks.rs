//! The registry's [`ChunkSource`]: chunks of committed dataset versions come through the local
//! content-addressed cache when there is one (so a version read once keeps reading offline), from
//! the store otherwise.
//!
//! Committed versions are immutable, so serving their chunks from the cache is always correct;
//! a chunk is cached only when its hash matches the manifest's, and the dataset reader checks it
//! again.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;

use super::cache::{sha256_hex, Cache};
use crate::dataset::{ChunkSource, StoreChunks};

/// See the module docs.
pub(crate) struct CachedChunks {
    pub(crate) store: StoreChunks,
    pub(crate) cache: Option<Cache>,
}

impl CachedChunks {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, cache: Option<Cache>) -> CachedChunks {
        CachedChunks {
            store: StoreChunks(store),
            cache,
        }
    }
}

impl fmt::Display for CachedChunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.store, f)
    }
}

impl ChunkSource for CachedChunks {
    fn get(&self, path: &Path, sha256: &str) -> object_store::Result<Bytes> {
        let Some(cache) = &self.cache else {
            return self.store.get(path, sha256);
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
}
