//! Where a dataset reader gets its stored chunk objects: straight from an object store, or
//! through something that keeps copies (the registry's content-addressed cache).
//!
//! The reader checks every chunk against the manifest's hash or authenticates it either way, so
//! a source that serves a stale or corrupted copy produces an error, never wrong rows (and a
//! source that kept a copy is asked to [`forget`](ChunkSource::forget) it, then read again).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// A source of a dataset's stored chunk objects.
pub trait ChunkSource: fmt::Display + Send + Sync {
    /// The stored bytes of the object at `path`. `key` names its content for a source that
    /// keeps copies: the SHA-256 (hex) a format-1 manifest records for it, else a name unique to
    /// that chunk of that dataset version (which the reader verifies itself).
    fn get(&self, path: &Path, key: &str) -> object_store::Result<Bytes>;

    /// Drops the copy of `path` kept under `key`, which the reader found corrupt; returns
    /// whether there was one (then the reader gets it again). The default keeps nothing.
    fn forget(&self, path: &Path, key: &str) -> bool {
        let _ = (path, key);
        false
    }
}

/// Chunks read straight from an object store.
#[derive(Clone, Debug)]
pub struct StoreChunks(pub Arc<dyn ObjectStore>);

impl fmt::Display for StoreChunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl ChunkSource for StoreChunks {
    fn get(&self, path: &Path, _key: &str) -> object_store::Result<Bytes> {
        crate::rt::block_on(async { self.0.get(path).await?.bytes().await })
    }
}
