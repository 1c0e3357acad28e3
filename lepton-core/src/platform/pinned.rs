//! A read-only view of one committed dataset version for [`crate::dataset::Dataset`]: the
//! manifest is served from memory (already fetched, or from the cache when offline), chunks come
//! through the content-addressed cache when there is one, and everything else goes to the store.
//!
//! Committed versions are immutable, so serving them from memory or the cache is always correct;
//! every chunk is still checked against the manifest's hash (here before caching, and again by
//! the dataset reader).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use super::cache::{sha256_hex, Cache};

/// See the module docs.
pub(crate) struct PinnedVersion {
    inner: Arc<dyn ObjectStore>,
    cache: Option<Cache>,
    /// Holds the manifest (and answers listing its folder).
    local: InMemory,
    manifest_dir: Path,
    /// Chunk path -> expected SHA-256.
    chunks: HashMap<Path, String>,
}

impl PinnedVersion {
    pub(crate) async fn new(
        inner: Arc<dyn ObjectStore>,
        cache: Option<Cache>,
        manifest_path: Path,
        manifest: Bytes,
        chunks: HashMap<Path, String>,
    ) -> Result<PinnedVersion> {
        let local = InMemory::new();
        local
            .put(&manifest_path, PutPayload::from_bytes(manifest))
            .await?;
        let manifest_dir = Path::from_iter(
            manifest_path
                .parts()
                .collect::<Vec<_>>()
                .split_last()
                .map(|(_, dir)| dir.to_vec())
                .unwrap_or_default(),
        );
        Ok(PinnedVersion {
            inner,
            cache,
            local,
            manifest_dir,
            chunks,
        })
    }

    async fn serve(&self, location: &Path, data: Bytes, options: GetOptions) -> Result<GetResult> {
        let tmp = InMemory::new();
        tmp.put(location, PutPayload::from_bytes(data)).await?;
        tmp.get_opts(location, options).await
    }
}

impl fmt::Debug for PinnedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedVersion({}, {})", self.inner, self.manifest_dir)
    }
}

impl fmt::Display for PinnedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[async_trait::async_trait]
impl ObjectStore for PinnedVersion {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if location.prefix_matches(&self.manifest_dir) {
            return self.local.get_opts(location, options).await;
        }
        let (Some(cache), Some(sha)) = (&self.cache, self.chunks.get(location)) else {
            return self.inner.get_opts(location, options).await;
        };
        if let Some(hit) = cache.get_object(sha) {
            return self.serve(location, Bytes::from(hit), options).await;
        }
        let data = self.inner.get(location).await?.bytes().await?;
        if sha256_hex(&data) == *sha {
            if let Err(e) = cache.put_object(sha, &data) {
                tracing::warn!("could not cache {location}: {e}");
            }
        }
        // A mismatch is reported by the reader's own check, with the chunk's name.
        self.serve(location, data, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        match prefix {
            Some(p) if p.prefix_matches(&self.manifest_dir) => self.local.list(prefix),
            _ => self.inner.list(prefix),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        match prefix {
            Some(p) if p.prefix_matches(&self.manifest_dir) => {
                self.local.list_with_delimiter(prefix).await
            }
            _ => self.inner.list_with_delimiter(prefix).await,
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
