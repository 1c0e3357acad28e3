//! [`ForkSafeStore`]: a remote store that a forked child rebuilds instead of sharing.
//!
//! An HTTP client (S3, GCS, Azure, HTTP) keeps pooled connections whose tasks run on the runtime
//! of the process that opened them. A forked child (a `DataLoader` worker) has none of that
//! runtime's threads: a request on an inherited pooled connection would wait forever. So each
//! process gets its own client, built from the same configuration on first use there.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use crate::per_process::PerProcess;

/// See the module docs.
type Rebuild = Box<dyn Fn(Option<&Arc<dyn ObjectStore>>) -> Arc<dyn ObjectStore> + Send + Sync>;

pub(crate) struct ForkSafeStore {
    inner: PerProcess<Arc<dyn ObjectStore>, Rebuild>,
    /// What `Display` prints (the store built in this process prints the same).
    name: String,
}

impl ForkSafeStore {
    /// Wraps `store`, which `build` can make again (in a forked child). A child whose `build`
    /// fails keeps using the inherited store.
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        build: impl Fn() -> crate::Result<Arc<dyn ObjectStore>> + Send + Sync + 'static,
    ) -> ForkSafeStore {
        let name = store.to_string();
        let rebuild: Rebuild = Box::new(move |inherited| match (build(), inherited) {
            (Ok(s), _) => s,
            (Err(e), Some(parent)) => {
                tracing::warn!("could not rebuild the store client after fork: {e}");
                parent.clone()
            }
            (Err(e), None) => panic!("could not build the store client: {e}"),
        });
        let inner = PerProcess::with_value(store, rebuild);
        ForkSafeStore { inner, name }
    }

    fn store(&self) -> &Arc<dyn ObjectStore> {
        self.inner.get()
    }
}

impl fmt::Display for ForkSafeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for ForkSafeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ForkSafeStore({})", self.name)
    }
}

#[async_trait]
impl ObjectStore for ForkSafeStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.store().put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.store().put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.store().get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.store().get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.store().delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.store().list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.store().list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.store().list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.store().copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.store().rename_opts(from, to, options).await
    }
}
