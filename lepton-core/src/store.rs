//! Opening object stores from URIs (local path, `file://`, `memory://`, `s3://`, `gs://`, `az://`,
//! `http(s)://`).
//!
//! [`open_uri`] is the one entry point: it picks the backend from the scheme, reads credentials and
//! endpoints from the environment the way `object_store` does (`AmazonS3Builder::from_env`, ...),
//! applies explicit `options` on top, and bounds every request with timeouts and retries so that an
//! unreachable endpoint fails in seconds instead of hanging.
//!
//! Options are `object_store` config keys (`aws_endpoint`, `allow_http`, `timeout`, ...) plus two
//! of ours: `max_retries` (default 3) and `retry_timeout` (default `30s`), which bound the retries
//! of one request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::path::Path;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use crate::per_process::PerProcess;
use crate::{Error, Result};

/// An opened store and the prefix inside it that the URI points at.
#[derive(Clone, Debug)]
pub struct StoreLocation {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix inside the store (empty for the root).
    pub prefix: Path,
}

/// The backend a URI names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// A local folder (a plain path or `file://`).
    Local,
    /// An in-process store (`memory://`).
    Memory,
    /// Amazon S3 or an S3-compatible service (`s3://`, `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage (`az://`, `abfs://`, `azure://`).
    Azure,
    /// A read-only registry served over plain HTTP (`http://`, `https://`).
    Http,
}

impl StoreKind {
    /// The kind of store `uri` names, or an error for an unknown scheme.
    pub fn of(uri: &str) -> Result<StoreKind> {
        let Some((scheme, _)) = uri.split_once("://") else {
            return Ok(StoreKind::Local);
        };
        Ok(match scheme.to_ascii_lowercase().as_str() {
            "file" => StoreKind::Local,
            "memory" => StoreKind::Memory,
            "s3" | "s3a" => StoreKind::S3,
            "gs" => StoreKind::Gcs,
            "az" | "abfs" | "abfss" | "azure" | "adl" => StoreKind::Azure,
            "http" | "https" => StoreKind::Http,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unsupported URI scheme `{other}://` in `{uri}`; use a local path, file://, \
                     memory://, s3://, gs://, az:// or http(s)://"
                )))
            }
        })
    }

    /// Whether the store is reached over the network (and so deserves a local cache).
    pub fn is_remote(self) -> bool {
        matches!(
            self,
            StoreKind::S3 | StoreKind::Gcs | StoreKind::Azure | StoreKind::Http
        )
    }

    /// Whether the store can only be read (plain HTTP has no conditional writes).
    pub fn is_read_only(self) -> bool {
        matches!(self, StoreKind::Http)
    }
}

/// Default per-request bounds; explicit options override them.
const DEFAULT_CONNECT_TIMEOUT: &str = "5s";
const DEFAULT_TIMEOUT: &str = "300s";
const DEFAULT_MAX_RETRIES: usize = 3;
const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the store a URI or plain local path names. Local folders are created if missing.
/// `options` are backend options as `object_store` names them (e.g. `aws_endpoint`), plus
/// `max_retries` and `retry_timeout`.
///
/// `memory://` gives a fresh empty store; `memory://NAME[/PATH]` gives the process-wide store of
/// that name (so two handles on `memory://shared` see the same objects while the process lives).
pub fn open_uri(uri: &str, options: &[(String, String)]) -> Result<StoreLocation> {
    let kind = StoreKind::of(uri)?;
    let (retry, options) = split_retry_options(options)?;
    match kind {
        StoreKind::Local => {
            let local = uri.strip_prefix("file://").unwrap_or(uri);
            if local.is_empty() {
                return Err(Error::InvalidArgument(
                    "empty path; give a folder, e.g. `./registry`".into(),
                ));
            }
            std::fs::create_dir_all(local).map_err(|e| Error::io(local, e))?;
            let abs = std::fs::canonicalize(local).map_err(|e| Error::io(local, e))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&abs)?;
            Ok(StoreLocation {
                store: Arc::new(store),
                prefix: Path::default(),
            })
        }
        StoreKind::Memory => memory_location(uri),
        StoreKind::S3 | StoreKind::Gcs | StoreKind::Azure | StoreKind::Http => {
            let url = url::Url::parse(uri)
                .map_err(|e| Error::InvalidArgument(format!("invalid URI `{uri}`: {e}")))?;
            let prefix = Path::parse(url.path().trim_start_matches('/'))
                .map_err(|e| Error::InvalidArgument(format!("invalid path in URI `{uri}`: {e}")))?;
            let store = build_remote(kind, uri, &url, &options, retry.clone())?;
            // A forked child (a DataLoader worker) builds its own client: see `store_fork`.
            let uri = uri.to_string();
            let rebuild = move || build_remote(kind, &uri, &url, &options, retry.clone());
            let store: Arc<dyn ObjectStore> =
                Arc::new(crate::store_fork::ForkSafeStore::new(store, rebuild));
            Ok(StoreLocation { store, prefix })
        }
    }
}

/// Process-wide named in-memory stores: `memory://NAME` ones live as long as the process;
/// private ones (from [`open_private_memory`]) as long as someone holds them.
enum Named {
    Shared(Arc<dyn ObjectStore>),
    Private(std::sync::Weak<dyn ObjectStore>),
}

fn named_stores() -> std::sync::MutexGuard<'static, HashMap<String, Named>> {
    type Table = Mutex<HashMap<String, Named>>;
    /// Per process (fork-safe): a forked child copies its parent's table if no parent thread
    /// held it at the fork, and starts empty otherwise, rather than wait on that lock forever.
    static NAMED: PerProcess<Table> = PerProcess::new(|inherited: Option<&Table>| {
        let copied = inherited.and_then(|t| t.try_lock().ok()).map(|t| {
            t.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Named::Shared(s) => Named::Shared(s.clone()),
                        Named::Private(w) => Named::Private(w.clone()),
                    };
                    (k.clone(), v)
                })
                .collect()
        });
        Mutex::new(copied.unwrap_or_default())
    });
    NAMED.get().lock().unwrap_or_else(|p| p.into_inner())
}

fn memory_location(uri: &str) -> Result<StoreLocation> {
    let rest = uri["memory://".len()..].trim_matches('/');
    let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = Path::parse(path)
        .map_err(|e| Error::InvalidArgument(format!("invalid path in URI `{uri}`: {e}")))?;
    if name.is_empty() {
        return Ok(StoreLocation {
            store: Arc::new(object_store::memory::InMemory::new()),
            prefix,
        });
    }
    let mut named = named_stores();
    let store = match named.get(name) {
        Some(Named::Shared(s)) => s.clone(),
        Some(Named::Private(w)) => w.upgrade().ok_or_else(|| private_memory_elsewhere(name))?,
        None if name.starts_with(PRIVATE) => return Err(private_memory_elsewhere(name)),
        None => {
            let s: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
            named.insert(name.to_string(), Named::Shared(s.clone()));
            s
        }
    };
    Ok(StoreLocation { store, prefix })
}

/// How private in-memory store names start (then the creating process id and a uuid).
const PRIVATE: &str = "private-";

/// A private in-memory store's name that this process's table does not know: another process's
/// (a pickled dataset unpickled in a spawn or forkserver worker), or one dropped here.
fn private_memory_elsewhere(name: &str) -> Error {
    let owner = name[PRIVATE.len()..]
        .split_once('-')
        .and_then(|(pid, _)| pid.parse::<u32>().ok());
    match owner {
        Some(pid) if pid != std::process::id() => Error::InvalidArgument(format!(
            "the in-memory registry memory://{name} lives in process {pid}, not this one \
             ({}): a memory:// registry exists only in the process that made it (and children \
             it forks), so a worker started with spawn or forkserver cannot open it; for \
             multi-process data loading use a local folder or an object store (s3://, gs://, \
             az://) as the registry",
            std::process::id()
        )),
        _ => Error::NotFound {
            what: format!("in-memory store `memory://{name}`"),
            hint: Some("the registry that owned it was dropped".into()),
        },
    }
}

/// A fresh in-memory store that other handles in this process (and processes it forks) can open
/// by the returned URI (`memory://private-<pid>-<uuid>`) for as long as the returned store is
/// alive; another process gets an error saying so.
pub fn open_private_memory() -> (String, StoreLocation) {
    let name = format!(
        "{PRIVATE}{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let mut named = named_stores();
    named.retain(|_, v| !matches!(v, Named::Private(w) if w.strong_count() == 0));
    named.insert(name.clone(), Named::Private(Arc::downgrade(&store)));
    (
        format!("memory://{name}"),
        StoreLocation {
            store,
            prefix: Path::default(),
        },
    )
}

fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    let v = value.trim();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| Duration::from_secs_f64(x * scale))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "option `{key}` = `{value}` is not a duration; write e.g. `500ms`, `5s` or `2m`"
            ))
        })
}

/// Takes our retry options out of `options`, returning the retry config and the rest.
fn split_retry_options(
    options: &[(String, String)],
) -> Result<(RetryConfig, Vec<(String, String)>)> {
    let mut retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: DEFAULT_MAX_RETRIES,
        retry_timeout: DEFAULT_RETRY_TIMEOUT,
    };
    let mut rest = Vec::new();
    for (k, v) in options {
        match k.to_ascii_lowercase().as_str() {
            "max_retries" => {
                retry.max_retries = v.trim().parse().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "option `max_retries` = `{v}` is not a whole number"
                    ))
                })?
            }
            "retry_timeout" => retry.retry_timeout = parse_duration(k, v)?,
            _ => rest.push((k.clone(), v.clone())),
        }
    }
    Ok((retry, rest))
}

fn unknown_option(uri: &str, key: &str) -> Error {
    Error::InvalidArgument(format!(
        "unknown storage option `{key}` for `{uri}`; use object_store's config keys \
         (e.g. aws_endpoint, aws_region, allow_http, timeout, connect_timeout) or max_retries / \
         retry_timeout"
    ))
}

/// `opts` given to a backend builder `b` through `set`, each key parsed as the backend's config
/// key `K` (an unknown one is named in the error).
fn configure<B, K: std::str::FromStr>(
    mut b: B,
    uri: &str,
    opts: &[(String, String)],
    set: impl Fn(B, K, &str) -> B,
) -> Result<B> {
    for (k, v) in opts {
        let key: K = k
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| unknown_option(uri, k))?;
        b = set(b, key, v);
    }
    Ok(b)
}

fn build_remote(
    kind: StoreKind,
    uri: &str,
    url: &url::Url,
    options: &[(String, String)],
    retry: RetryConfig,
) -> Result<Arc<dyn ObjectStore>> {
    use object_store::ClientConfigKey as C;
    let has = |key: &str| options.iter().any(|(k, _)| k.eq_ignore_ascii_case(key));
    // Bounded requests unless the caller (or the environment) chose otherwise.
    let mut opts: Vec<(String, String)> = Vec::new();
    if !has("connect_timeout") {
        opts.push(("connect_timeout".into(), DEFAULT_CONNECT_TIMEOUT.into()));
    }
    if !has("timeout") {
        opts.push(("timeout".into(), DEFAULT_TIMEOUT.into()));
    }
    opts.extend(options.iter().cloned());
    let store: Arc<dyn ObjectStore> = match kind {
        StoreKind::S3 => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
            let mut b = AmazonS3Builder::from_env().with_url(uri);
            // S3 has had conditional writes (If-None-Match / If-Match) since 2024: the commit
            // protocol needs them, so turn them on unless configured otherwise.
            if b.get_config_value(&K::ConditionalPut).is_none()
                && std::env::var_os("AWS_CONDITIONAL_PUT").is_none()
            {
                b = b.with_config(K::ConditionalPut, "etag");
            }
            let b = configure(b, uri, &opts, |b, key: K, v| b.with_config(key, v))?;
            let endpoint = b
                .get_config_value(&K::Endpoint)
                .or_else(|| b.get_config_value(&K::S3Endpoint));
            check_plain_http(
                endpoint.as_deref(),
                b.get_config_value(&K::Client(C::AllowHttp)).as_deref(),
                "AWS_ALLOW_HTTP=true",
            )?;
            Arc::new(b.with_retry(retry).build()?)
        }
        StoreKind::Gcs => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as K};
            let b = GoogleCloudStorageBuilder::from_env().with_url(uri);
            let b = configure(b, uri, &opts, |b, key: K, v| b.with_config(key, v))?;
            Arc::new(b.with_retry(retry).build()?)
        }
        StoreKind::Azure => {
            use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder};
            let b = MicrosoftAzureBuilder::from_env().with_url(uri);
            let b = configure(b, uri, &opts, |b, key: K, v| b.with_config(key, v))?;
            Arc::new(b.with_retry(retry).build()?)
        }
        StoreKind::Http => {
            let base = &url[..url::Position::BeforePath];
            let b = object_store::http::HttpBuilder::new().with_url(base);
            let b = configure(b, uri, &opts, |b, key: C, v| b.with_config(key, v))?;
            let allow_http = opts
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase().parse::<C>().ok() == Some(C::AllowHttp))
                .map(|(_, v)| v.as_str());
            check_plain_http(Some(base), allow_http, "allow_http=true")?;
            Arc::new(b.with_retry(retry).build()?)
        }
        StoreKind::Local | StoreKind::Memory => unreachable!("not remote"),
    };
    Ok(store)
}

/// A plain `http://` endpoint is refused by the HTTP client unless `allow_http` is set (it
/// would fail every request with "builder error"): say so when opening, naming the option.
fn check_plain_http(
    endpoint: Option<&str>,
    allow_http: Option<&str>,
    env_hint: &str,
) -> Result<()> {
    let Some(endpoint) = endpoint.filter(|e| e.to_ascii_lowercase().starts_with("http://")) else {
        return Ok(());
    };
    if allow_http.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "endpoint {} is plain http://, which is refused unless allowed: set the storage option \
         allow_http=true (or {env_hint} in the environment), or use https://",
        redact_uri(endpoint)
    )))
}

/// `uri` fit to print: user info (`user:password@`) and the query string (SAS tokens, signed
/// URL parameters) replaced by `***`. Other text is kept.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let (scheme, rest) = uri.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let frag = tail[q..].find('#').map(|f| &tail[q + f..]).unwrap_or("");
            format!("{}?***{frag}", &tail[..q])
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// `text` with every URL in it passed through [`redact_uri`].
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // the URL starts at the scheme: letters, digits, `+`, `-`, `.` before `://`
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map(|p| p + 1)
            .unwrap_or(0);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .map(|p| i + p)
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        out.push_str(&redact_uri(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `e` failed before any HTTP response (connect, timeout, DNS, interrupted).
pub fn is_transport_error(e: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<HttpError>() {
            return matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Request
                    | HttpErrorKind::Interrupted
            );
        }
        src = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(StoreKind::of("/tmp/x").unwrap(), StoreKind::Local);
        assert_eq!(StoreKind::of("file:///tmp/x").unwrap(), StoreKind::Local);
        assert_eq!(
            redact_uri("https://user:pw@host:9/reg?sig=SECRET&se=1#f"),
            "https://***@host:9/reg?***#f"
        );
        assert_eq!(redact_uri("s3://bucket/p"), "s3://bucket/p");
        assert_eq!(redact_uri("/tmp/x"), "/tmp/x");
        assert_eq!(
            redact_text("GET http://h/b?sig=SECRET failed (az://a:k@c/p)"),
            "GET http://h/b?*** failed (az://***@c/p)"
        );
        assert_eq!(StoreKind::of("memory://").unwrap(), StoreKind::Memory);
        assert_eq!(StoreKind::of("s3://b/p").unwrap(), StoreKind::S3);
        assert_eq!(StoreKind::of("gs://b/p").unwrap(), StoreKind::Gcs);
        assert_eq!(StoreKind::of("az://c/p").unwrap(), StoreKind::Azure);
        assert_eq!(
            StoreKind::of("https://cloud-lepton.ai").unwrap(),
            StoreKind::Http
        );
        let e = StoreKind::of("ftp://x").unwrap_err().to_string();
        assert!(e.contains("unsupported URI scheme `ftp://`"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("t", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("t", "2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("t", "1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("t", "soon").is_err());
    }

    #[test]
    fn named_memory_stores_are_shared() {
        let a = open_uri("memory://shared-test", &[]).unwrap();
        let b = open_uri("memory://shared-test", &[]).unwrap();
        assert!(Arc::ptr_eq(&a.store, &b.store));
        let c = open_uri("memory://", &[]).unwrap();
        let d = open_uri("memory://", &[]).unwrap();
        assert!(!Arc::ptr_eq(&c.store, &d.store));
        let e = open_uri("memory://shared-test/a/b", &[]).unwrap();
        assert!(Arc::ptr_eq(&a.store, &e.store));
        assert_eq!(e.prefix.as_ref(), "a/b");
        let (uri, private) = open_private_memory();
        let again = open_uri(&format!("{uri}/x"), &[]).unwrap();
        assert!(Arc::ptr_eq(&private.store, &again.store));
        drop((private, again));
        let err = open_uri(&uri, &[]).unwrap_err().to_string();
        assert!(err.contains("was dropped"), "{err}");
    }

    #[test]
    fn another_process_private_memory_store_is_a_typed_error() {
        let other = std::process::id().wrapping_add(1);
        let e = open_uri(&format!("memory://private-{other}-abc/x"), &[]).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("lives in process {other}")),
            "{text}"
        );
        assert!(
            text.contains("use a local folder or an object store"),
            "{text}"
        );
    }

    #[test]
    fn unknown_option_is_an_error() {
        let e = open_uri("s3://bucket/p", &[("no_such".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown storage option `no_such`"), "{e}");
    }

    #[test]
    fn http_uri_parses_without_network() {
        let loc = open_uri("https://cloud-lepton.ai/registry", &[]).unwrap();
        assert_eq!(loc.prefix.as_ref(), "registry");
    }
}
