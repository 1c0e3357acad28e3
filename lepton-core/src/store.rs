//! Opening object stores from URIs (local path, `file://`, `memory://`, `s3://`, `gs://`, `az://`,
//! `http(s)://`).
//!
//! CONTRACT (the platform issue extends this: timeouts, retries, env credentials, read-only http):
//! `open_uri(uri, options) -> (store, prefix)`.

use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use crate::{Error, Result};

/// An opened store and the prefix inside it that the URI points at.
#[derive(Clone, Debug)]
pub struct StoreLocation {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix inside the store (empty for the root).
    pub prefix: Path,
}

/// Opens the store a URI or plain local path names. Local folders are created if missing.
/// `options` are backend options as `object_store` names them (e.g. `aws_endpoint`).
pub fn open_uri(uri: &str, options: &[(String, String)]) -> Result<StoreLocation> {
    let is_url = uri.contains("://");
    if !is_url || uri.starts_with("file://") {
        let local = uri.strip_prefix("file://").unwrap_or(uri);
        std::fs::create_dir_all(local).map_err(|e| Error::io(local, e))?;
        let abs = std::fs::canonicalize(local).map_err(|e| Error::io(local, e))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&abs)?;
        return Ok(StoreLocation {
            store: Arc::new(store),
            prefix: Path::default(),
        });
    }
    let url = url::Url::parse(uri)
        .map_err(|e| Error::InvalidArgument(format!("invalid URI `{uri}`: {e}")))?;
    let (store, prefix) = object_store::parse_url_opts(&url, options.iter().cloned())?;
    Ok(StoreLocation {
        store: Arc::from(store),
        prefix,
    })
}
