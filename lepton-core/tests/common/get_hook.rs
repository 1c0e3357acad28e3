//! A store wrapper for tests that need to see (or break) reads: every call goes to the inner
//! store, and each GET is first shown to a hook, which may count it or panic on it.

use std::sync::Arc;

use futures::stream::BoxStream;
use lepton_core::object_store::path::Path;
use lepton_core::object_store::{
    self as os, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// What a [`GetHook`] calls before each GET: the object's path and the request's options.
pub type OnGet = Box<dyn Fn(&Path, &GetOptions) + Send + Sync>;

/// `inner`, with `on_get` called before every GET (HEADs included: `options.head`).
pub struct GetHook {
    inner: Arc<dyn ObjectStore>,
    on_get: OnGet,
}

impl GetHook {
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        on_get: impl Fn(&Path, &GetOptions) + Send + Sync + 'static,
    ) -> GetHook {
        GetHook {
            inner,
            on_get: Box::new(on_get),
        }
    }
}

impl std::fmt::Debug for GetHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GetHook({})", self.inner)
    }
}

impl std::fmt::Display for GetHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GetHook({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for GetHook {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> os::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> os::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> os::Result<GetResult> {
        (self.on_get)(location, &options);
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, os::Result<Path>>,
    ) -> BoxStream<'static, os::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, os::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> os::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: os::CopyOptions) -> os::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
