//! The registry of models and datasets over an object store.
//!
//! A [`Platform`] opens a registry at a URI (see [`crate::store::open_uri`]) and keeps named,
//! immutably versioned models (and datasets) in it, laid out as [`layout`] describes and committed
//! with the protocol in [`versions`]. With a key, models are stored sealed and decrypted in memory
//! only. Remote registries get a local [`cache`] that keeps serving when the network is gone.
//!
//! ```no_run
//! use lepton_core::platform::{Platform, PlatformOptions, PushOptions};
//! let platform = Platform::open(Some("memory://"), PlatformOptions::default())?;
//! let info = platform.push_model("demo", b"...onnx bytes...", &PushOptions::default())?;
//! let (info, onnx) = platform.model_bytes("demo", None)?;
//! # Ok::<(), lepton_core::Error>(())
//! ```

pub mod cache;
mod cache_writer;
mod cached_chunks;
mod datasets;
pub mod keyfile;
pub mod layout;
mod lifecycle;
pub mod model_file;
mod model_weights;
mod models;
mod profiles;
pub mod rollback;
pub mod versions;

use std::path::PathBuf;
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use crate::crypto::Key;
use crate::error::{ENCRYPT_NEEDS_KEY, NEEDS_PLATFORM_KEY};
use crate::store::{open_private_memory, open_uri, StoreKind};
use crate::{Error, Result};

pub use cache::Cache;
pub use datasets::{DatasetEntry, DatasetPush, DatasetPushOptions};
pub use model_weights::{WeightsObject, WEIGHTS_PART};
pub use models::ModelInfo;
pub use profiles::Tuning;
use versions::RegistryStore;

/// Called during long transfers with `(bytes done, bytes total)`; returning an error aborts the
/// transfer (before anything is committed) with that error.
pub type ProgressFn = Arc<dyn Fn(u64, u64) -> Result<()> + Send + Sync>;

/// How to open a [`Platform`].
#[derive(Clone, Default)]
pub struct PlatformOptions {
    /// The key models are sealed with (and datasets encrypted with). Without it, the key comes
    /// from `$LEPTON_KEY` or the key file (see [`keyfile`]); without any, pushes are refused
    /// unless [`encrypt`](Self::encrypt) chooses plaintext, and encrypted items can't be read.
    pub key: Option<Key>,
    /// `Some(false)`: store pushes in clear by default (the explicit choice of plaintext); no
    /// key is looked up, so a push then needs no key. `None` or `Some(true)`: encrypt.
    pub encrypt: Option<bool>,
    /// Where the local cache lives. Remote registries use `<lepton home>/cache` when unset; local
    /// and in-memory registries use a cache only when this is set.
    pub cache_dir: Option<PathBuf>,
    /// The size bound of the cache in bytes (default [`cache::DEFAULT_MAX_BYTES`]).
    pub cache_max_bytes: Option<u64>,
    /// Turns the cache off even for remote registries.
    pub no_cache: bool,
    /// Backend options (`object_store` config keys, plus `max_retries` / `retry_timeout`).
    pub storage_options: Vec<(String, String)>,
}

impl std::fmt::Debug for PlatformOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformOptions")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("encrypt", &self.encrypt)
            .field("cache_dir", &self.cache_dir)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("no_cache", &self.no_cache)
            .field(
                "storage_options",
                &self
                    .storage_options
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Options of one push.
#[derive(Clone, Default)]
pub struct PushOptions {
    /// Free-form JSON metadata stored in the manifest (must be an object, or null).
    pub metadata: serde_json::Value,
    /// Where a model came from (framework and version, exporter, opset, parity figures): a JSON
    /// object stored as the manifest's `provenance`, or null for none. Models only.
    pub provenance: serde_json::Value,
    /// Seal the item with the platform key: `None` = when the platform has a key.
    pub encrypt: Option<bool>,
    /// Progress reporting (and cancellation).
    pub progress: Option<ProgressFn>,
}

impl PushOptions {
    /// Parses metadata given as JSON text (`None`: no metadata).
    pub fn metadata_from_json(json: Option<&str>) -> Result<serde_json::Value> {
        match json {
            None => Ok(serde_json::Value::Null),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| Error::InvalidArgument(format!("metadata is not valid JSON: {e}"))),
        }
    }
}

/// The lepton home: `$LEPTON_HOME`, else `~/.lepton`.
pub fn lepton_home() -> PathBuf {
    if let Some(h) = std::env::var_os("LEPTON_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".lepton")
}

/// A registry of models and datasets in one object store.
pub struct Platform {
    bucket: RegistryStore,
    prefix: Path,
    kind: StoreKind,
    /// The key; set once, at open or (the local default registry) at its first push.
    key_cell: std::sync::OnceLock<Key>,
    /// Where the key came from (`None` while there is none).
    key_origin: Option<keyfile::KeyOrigin>,
    /// `$LEPTON_KEY` or the key file holds no valid key: only what needs the key fails, saying
    /// so (see [`keyfile::ambient_key_error`]).
    key_unreadable: bool,
    /// Whether pushes store in clear unless asked to encrypt (the explicit choice).
    plaintext: bool,
    /// The key file the first push creates: the local default registry opened without a key.
    creates_key_file: Option<PathBuf>,
    cache: Option<Cache>,
    /// Names this registry in the cache (a hash of the URI).
    scope: String,
    /// The URI that reopens this registry's store (a private name for `memory://`, an absolute
    /// path for local folders).
    base_uri: String,
    /// Whether the store is `object_store`'s own local-folder or in-memory store, whose calls
    /// can run on the calling thread (see [`Platform::block_on_store`]); a store passed to
    /// [`Platform::with_store`] may need the I/O runtime, so it is not assumed.
    inline_io: bool,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("uri", &self.bucket.endpoint)
            .field("encrypted", &self.key().is_some())
            .field("cache", &self.cache.as_ref().map(|c| c.dir().to_path_buf()))
            .finish()
    }
}

impl Platform {
    /// Opens the registry at `uri` (`None`: the local default, `<lepton home>/registry`, created
    /// on first use). Opening does not touch the network: an unreachable remote registry fails on
    /// the first call that needs it, within the configured timeouts.
    pub fn open(uri: Option<&str>, options: PlatformOptions) -> Result<Platform> {
        let uri_given = uri;
        let uri = match uri {
            Some(u) => u.to_string(),
            None => lepton_home().join("registry").display().to_string(),
        };
        let kind = StoreKind::of(&uri)?;
        let mut local_dir = None;
        let (base, loc) = match kind {
            StoreKind::Memory if uri.trim_end_matches('/') == "memory:" => open_private_memory(),
            StoreKind::Local => {
                let loc = open_uri(&uri, &options.storage_options)?;
                let local = uri.strip_prefix("file://").unwrap_or(&uri);
                let abs = std::fs::canonicalize(local).map_err(|e| Error::io(local, e))?;
                let base = abs.display().to_string();
                // A local store's prefix is empty: its objects are under `abs` itself.
                local_dir = Some(abs);
                (base, loc)
            }
            _ => (uri.clone(), open_uri(&uri, &options.storage_options)?),
        };
        let default_local = uri_given.is_none();
        let mut p = Self::with_store(loc.store, loc.prefix, &uri, kind, options)?;
        if p.bucket.high_water.is_some() {
            // Keyed by the URI that reopens it (a local folder's absolute path), not as typed.
            p.bucket.high_water = Some(Arc::new(rollback::HighWater::for_registry(&base)));
        }
        p.base_uri = base;
        p.inline_io = !kind.is_remote();
        p.bucket.local_dir = local_dir;
        if default_local && p.key_origin.is_none() && !p.plaintext {
            p.creates_key_file = Some(keyfile::key_file_path());
        }
        Ok(p)
    }

    /// A URI that [`open_uri`] resolves to `path` of this registry's store (e.g. to open a
    /// dataset version folder directly). `path` must be under [`Platform::prefix`].
    pub fn uri_of(&self, path: &Path) -> String {
        let rel: Vec<_> = path
            .prefix_match(&self.prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
            .unwrap_or_default();
        let base = self.base_uri.trim_end_matches('/');
        if rel.is_empty() {
            base.to_string()
        } else {
            format!("{base}/{}", rel.join("/"))
        }
    }

    /// Wraps an already opened store; `uri` names it in messages and in the cache, `kind` decides
    /// the cache default and whether writes are allowed.
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        uri: &str,
        kind: StoreKind,
        options: PlatformOptions,
    ) -> Result<Platform> {
        let cache_dir = if options.no_cache {
            None
        } else {
            match options.cache_dir {
                Some(d) => Some(d),
                None if kind.is_remote() => Some(lepton_home().join("cache")),
                None => None,
            }
        };
        let cache = cache_dir
            .map(|d| {
                Cache::open(
                    d,
                    options.cache_max_bytes.unwrap_or(cache::DEFAULT_MAX_BYTES),
                )
            })
            .transpose()?;
        let mut key_unreadable = false;
        let (key, key_origin) = match (options.key, options.encrypt) {
            (Some(k), _) => (Some(k), Some(keyfile::KeyOrigin::Given)),
            (None, Some(false)) => (None, None),
            (None, _) => match keyfile::ambient_key() {
                Ok(Some((k, origin))) => (Some(k), Some(origin)),
                Ok(None) => (None, None),
                // Listing and reading plaintext need no key: fail only what uses it.
                Err(e) => {
                    tracing::debug!("no usable ambient key: {e}");
                    key_unreadable = true;
                    (None, None)
                }
            },
        };
        let key_cell = std::sync::OnceLock::new();
        if let Some(k) = key {
            let _ = key_cell.set(k);
        }
        Ok(Platform {
            bucket: RegistryStore {
                store,
                // Printed in messages, reprs and logs: without credentials.
                endpoint: crate::store::redact_uri(uri),
                can_list: kind != StoreKind::Http,
                high_water: (kind != StoreKind::Memory)
                    .then(|| Arc::new(rollback::HighWater::for_registry(uri))),
                local_dir: None,
                latest_found: Arc::default(),
            },
            prefix,
            kind,
            key_cell,
            key_origin,
            key_unreadable,
            plaintext: options.encrypt == Some(false),
            creates_key_file: None,
            scope: cache::sha256_hex(uri.as_bytes())[..16].to_string(),
            base_uri: uri.to_string(),
            cache,
            inline_io: false,
        })
    }

    /// The URI this registry was opened with, fit to print: user info and query string (which
    /// may hold credentials) are replaced by `***`.
    pub fn uri(&self) -> &str {
        &self.bucket.endpoint
    }

    /// The URI that opens this same registry again from this process or another one (an
    /// absolute path for a local folder, a private name for `memory://`). Unlike
    /// [`uri`](Self::uri) it keeps any credentials the URI holds: not for printing.
    pub fn reopen_uri(&self) -> &str {
        &self.base_uri
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.bucket.store
    }

    /// The prefix of the registry inside the store.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The backend kind.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Whether the platform has a key (pushes are sealed by default then).
    pub fn has_key(&self) -> bool {
        self.key().is_some()
    }

    /// The key: passed, from `$LEPTON_KEY`, or from the key file (see [`keyfile`]).
    pub fn key(&self) -> Option<&Key> {
        self.key_cell.get()
    }

    /// Where the key came from (`None` without one).
    pub fn key_origin(&self) -> Option<&keyfile::KeyOrigin> {
        self.key_origin.as_ref()
    }

    /// The key a read of an item uses: the platform's, except that an unencrypted item is read
    /// without a key unless the caller passed one. A key passed explicitly means "this registry
    /// is mine and encrypted", so plaintext found there is refused (it could have been put by
    /// anyone with write access); a key picked up from the environment or the key file does
    /// not make existing plaintext data unreadable.
    pub(crate) fn read_key(&self, item_encrypted: bool) -> Option<&Key> {
        if !item_encrypted && self.key_origin != Some(keyfile::KeyOrigin::Given) {
            return None;
        }
        self.key()
    }

    /// The key a push encrypts with (`None`: store in clear). `encrypt` as asked by the push;
    /// `None` follows the platform: its key, else the explicit choice of plaintext, else the
    /// local default registry's new key file, else [`Error::KeyRequired`].
    pub(crate) fn push_key(&self, encrypt: Option<bool>) -> Result<Option<&Key>> {
        if encrypt == Some(false) || (encrypt.is_none() && self.plaintext) {
            return Ok(None);
        }
        if let Some(k) = self.key() {
            return Ok(Some(k));
        }
        if let Some(e) = self.unusable_ambient_key() {
            return Err(e);
        }
        if let Some(path) = &self.creates_key_file {
            // A new key only for a registry that holds nothing yet: data already there was
            // written under some other key (a lost or moved key file), and a second key would
            // split the registry in two.
            if !path.exists()
                && (!self.list_models()?.is_empty() || !self.list_datasets()?.is_empty())
            {
                return Err(keyfile::key_file_missing(&self.bucket.endpoint, path));
            }
            let k = keyfile::load_or_create_key_file(path)?;
            return Ok(Some(self.key_cell.get_or_init(|| k)));
        }
        if encrypt == Some(true) {
            return Err(Error::KeyRequired(format!(
                "{ENCRYPT_NEEDS_KEY}: {NEEDS_PLATFORM_KEY}"
            )));
        }
        Err(keyfile::push_needs_key(&self.bucket.endpoint))
    }

    /// The local cache, if any.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    fn check_writable(&self) -> Result<()> {
        if self.kind.is_read_only() {
            return Err(Error::ReadOnly(format!(
                "registry {} (served over plain HTTP)",
                self.bucket.endpoint
            )));
        }
        Ok(())
    }
}
