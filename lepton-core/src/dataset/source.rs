//! Where a dataset reader gets its stored chunk objects: straight from an object store, or
//! through something that keeps copies (the registry's content-addressed cache).
//!
//! The reader checks every chunk against the manifest's hash and authenticates it either way, so
//! a source that serves a stale or corrupted copy produces an error, never wrong rows.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// A source of a dataset's stored chunk objects.
pub trait ChunkSource: fmt::Display + Send + Sync {
    /// The stored bytes of the object at `path`, whose SHA-256 the manifest says is `sha256`
    /// (hex). A source that caches may key its copies on it.
    fn get(&self, path: &Path, sha256: &str) -> object_store::Result<Bytes>;
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
    fn get(&self, path: &Path, _sha256: &str) -> object_store::Result<Bytes> {
        crate::rt::block_on(async { self.0.get(path).await?.bytes().await })
    }
}
