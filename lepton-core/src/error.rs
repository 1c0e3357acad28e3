//! The one error type of `lepton-core`.
//!
//! Every fallible function returns [`Result`]. Each variant says what went wrong and, where the
//! caller can do something about it, what to do. Secrets (keys, passphrases) never appear in a
//! message.

/// The error type of every `lepton-core` API.
///
/// `Debug` prints the same readable message as `Display` (then each `caused by:`), so a
/// `fn main() -> Result<(), lepton_core::Error>` that returns one shows real lines, not a struct
/// with `\n` escapes.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- runtime -------------------------------------------------------------------------
    /// The ONNX Runtime shared library could not be found or loaded.
    #[error("could not load ONNX Runtime: {message}\ntried:\n{tried}\nfix: `pip install onnxruntime` (or onnxruntime-gpu), or set ORT_DYLIB_PATH to libonnxruntime.so")]
    RuntimeNotFound {
        /// What failed.
        message: String,
        /// Every location that was tried, one per line.
        tried: String,
    },
    /// A requested execution provider is not available and strict mode forbids falling back.
    #[error("execution provider `{provider}` is not available: {reason}")]
    ProviderUnavailable {
        /// The provider asked for (e.g. `cuda`).
        provider: String,
        /// Why it could not be registered.
        reason: String,
    },

    // ----- models --------------------------------------------------------------------------
    /// The bytes or file given are not a loadable ONNX model.
    #[error("invalid model{}: {reason}", source_name.as_ref().map(|s| format!(" `{s}`")).unwrap_or_default())]
    InvalidModel {
        /// A file name or other label of where the model came from, if known.
        source_name: Option<String>,
        /// What ONNX Runtime (or our checks) said.
        reason: String,
    },
    /// An input given to `run` does not match the model's signature (name, count, dtype or shape).
    #[error("{0}")]
    InvalidInput(String),
    /// ONNX Runtime failed while running a model.
    #[error("ONNX Runtime error: {0}")]
    Runtime(String),

    // ----- datasets ------------------------------------------------------------------------
    /// Authentication failed with the given key: the key is wrong (or the data was tampered with).
    #[error("wrong key for {what}: authentication failed; check that you pass the key the data was written with")]
    WrongKey {
        /// The object that failed to authenticate.
        what: String,
    },
    /// Stored data failed an integrity check (tampered, truncated, swapped or moved).
    #[error("integrity check failed for {what}: {reason}")]
    Integrity {
        /// The object that failed (a chunk, a manifest, a cached file).
        what: String,
        /// What check failed.
        reason: String,
    },
    /// The data was written in a format version this build does not read.
    #[error(
        "{what} uses format version {found}, this build reads up to {supported}; upgrade lepton-ai"
    )]
    UnsupportedVersion {
        /// The object.
        what: String,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The data is encrypted but no key was given, or a key was given for unencrypted data.
    #[error("{0}")]
    KeyRequired(String),
    /// Columns or rows given to a writer disagree (length, dtype, shape).
    #[error("schema error: {0}")]
    Schema(String),
    /// A row index or slice is out of range.
    #[error("index {index} is out of range for {len} rows")]
    IndexOutOfRange {
        /// The index asked for.
        index: i64,
        /// The number of rows.
        len: u64,
    },

    // ----- platform / storage --------------------------------------------------------------
    /// The model, dataset, version or object does not exist.
    #[error("{what} not found{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    NotFound {
        /// What was looked for (kind, name, version or path).
        what: String,
        /// What the user can do, e.g. which names exist.
        hint: Option<String>,
    },
    /// The object already exists (a version was pushed concurrently, or a name is taken).
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A name, URI or argument is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The store refused the credentials.
    #[error("permission denied for {what}: {reason}; check the credentials (environment variables or storage_options)")]
    PermissionDenied {
        /// The object or store.
        what: String,
        /// What the store said (credentials in URLs redacted).
        reason: String,
        /// The store's error (boxed: it keeps `Error` small).
        #[source]
        source: Box<object_store::Error>,
    },
    /// The store could not be reached (after bounded retries).
    #[error("store unreachable at {what}: {reason}")]
    Unreachable {
        /// The endpoint or URI.
        what: String,
        /// What failed, and what to do (credentials in URLs redacted).
        reason: String,
        /// The store's error (boxed: it keeps `Error` small).
        #[source]
        source: Box<object_store::Error>,
    },
    /// The registry served an older version as the latest than this client has seen before (a
    /// stale replica, or someone with write access moving the latest pointer back).
    ///
    /// Pushes to such an item are refused too (as TUF keeps its mark): a new version would hide
    /// the rollback and could reuse a hidden version's number.
    #[error(
        "rollback detected for {what}: the registry says its latest version is {}, but this \
         client has seen version {seen} as the latest; the store may be a stale replica or may \
         have been tampered with. {}; if newer versions were deleted on purpose, remove the \
         item's entry from {marks} (pushes to it are refused until then)",
        latest_text(*latest),
        pin_hint(available)
    )]
    Rollback {
        /// The item (model, or dataset split).
        what: String,
        /// The highest version seen as the latest before.
        seen: u64,
        /// The version the registry resolves as the latest now.
        latest: u64,
        /// The file holding the versions seen.
        marks: String,
        /// The committed versions the store has now, ascending (what a pinned read can ask for).
        available: Vec<u64>,
    },
    /// The store is read-only (e.g. an `http(s)://` registry).
    #[error("{0} is read-only")]
    ReadOnly(String),
    /// Any other object-store error. The message is printed with credentials in URLs
    /// (user:password@, signed query strings) redacted.
    #[error("storage error: {}", crate::store::redact_text(&.0.to_string()))]
    Store(#[source] object_store::Error),
    /// Local I/O failed.
    #[error("I/O error at {path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = self.to_string();
        f.write_str(&message)?;
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let cause = s.to_string();
            // Variants such as `Io` already print their source in the message.
            if !message.contains(&cause) {
                write!(f, "\ncaused by: {cause}")?;
            }
            source = s.source();
        }
        Ok(())
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened at.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Declares [`ErrorKind`] with one kind per listed variant, [`ErrorKind::ALL`] and
/// [`Error::kind`] from one list: `kind` matches exhaustively, so the list names every variant.
macro_rules! error_kinds {
    ($($variant:ident),* $(,)?) => {
        /// The kind of an [`Error`], one per variant: what a binding maps to its own exception
        /// classes (exhaustively, so that a new variant cannot go unmapped).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $(
                #[doc = concat!("[`Error::", stringify!($variant), "`].")]
                $variant,
            )*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant),*];
        }

        impl Error {
            /// The kind of this error.
            pub fn kind(&self) -> ErrorKind {
                match self {
                    $(Error::$variant { .. } => ErrorKind::$variant,)*
                }
            }
        }
    };
}

error_kinds!(
    RuntimeNotFound,
    ProviderUnavailable,
    InvalidModel,
    InvalidInput,
    Runtime,
    WrongKey,
    Integrity,
    UnsupportedVersion,
    KeyRequired,
    Schema,
    IndexOutOfRange,
    NotFound,
    AlreadyExists,
    InvalidArgument,
    PermissionDenied,
    Unreachable,
    Rollback,
    ReadOnly,
    Store,
    Io,
);

/// How a [`Error::Rollback`] message names the latest version (0: the store has none).
fn latest_text(latest: u64) -> String {
    if latest == 0 {
        "none (it holds no version)".into()
    } else {
        latest.to_string()
    }
}

/// How a [`Error::Rollback`] message says to read on: pin one of the versions the store has.
fn pin_hint(available: &[u64]) -> String {
    match available {
        [] => "The store has no committed version of it left to pin".into(),
        [v] => format!("To read on, pin the one version the store has: version={v}"),
        _ => {
            let list: Vec<String> = available.iter().rev().map(u64::to_string).collect();
            format!(
                "To read on, pin one of the versions the store has (version={})",
                list.join(", ")
            )
        }
    }
}

/// Ends the message of an error that opening the registry with its key would fix. Bindings may
/// add how that is spelled in their language.
pub const NEEDS_PLATFORM_KEY: &str = "open the platform with its key";

/// Starts the message of a push asked to encrypt on a platform without a key.
pub const ENCRYPT_NEEDS_KEY: &str = "encrypting needs a key";

impl Error {
    /// The one mapping of object-store errors to [`Error`], for every store operation (get, put,
    /// list, head, delete, conditional put), dataset reads and writes and the registry alike:
    ///
    /// - no credentials configured (the S3 client fell back to the instance metadata service) is
    ///   [`Error::PermissionDenied`] saying none were found and how to give them;
    /// - a failure before any HTTP response (connection refused, timeout, DNS) is
    ///   [`Error::Unreachable`] naming `endpoint` (credentials redacted);
    /// - a conditional create that lost the race is [`Error::AlreadyExists`], whether the store
    ///   answers 409 or 412 (some S3-compatible stores answer `If-None-Match: *` with 412);
    /// - 401 and 403 are [`Error::PermissionDenied`], whatever the operation;
    /// - a missing bucket is [`Error::NotFound`] naming the bucket, a missing object
    ///   [`Error::NotFound`] naming the object;
    /// - anything else is [`Error::Store`]. The store's error stays the `source`.
    pub fn from_store(e: object_store::Error, endpoint: &str) -> Error {
        use crate::store_errors as why;
        use object_store::Error as E;
        let text = why::chain_text(&e);
        if why::is_missing_credentials(&text) {
            return Error::PermissionDenied {
                what: crate::store::redact_uri(endpoint),
                reason: why::missing_credentials_reason(endpoint),
                source: Box::new(e),
            };
        }
        if crate::store::is_transport_error(&e) {
            return Error::Unreachable {
                what: crate::store::redact_uri(endpoint),
                reason: format!(
                    "{}; check the network and the endpoint (a local cache, if warm, still \
                     serves what was loaded once)",
                    crate::store::redact_text(&text)
                ),
                source: Box::new(e),
            };
        }
        if let Some(bucket) = why::missing_bucket(&text, endpoint) {
            return Error::NotFound {
                what: format!(
                    "bucket `{bucket}` (of {})",
                    crate::store::redact_uri(endpoint)
                ),
                hint: Some("create the bucket, or check its name in the URI".into()),
            };
        }
        let denied = matches!(why::http_status(&text), Some(401 | 403));
        match e {
            E::NotFound { path, .. } => Error::NotFound {
                what: path,
                hint: None,
            },
            E::AlreadyExists { path, .. } | E::Precondition { path, .. } => {
                Error::AlreadyExists(path)
            }
            E::PermissionDenied { ref path, .. } | E::Unauthenticated { ref path, .. } => {
                Error::PermissionDenied {
                    what: crate::store::redact_text(path),
                    reason: crate::store::redact_text(&text),
                    source: Box::new(e),
                }
            }
            other if denied => Error::PermissionDenied {
                what: crate::store::redact_uri(endpoint),
                reason: crate::store::redact_text(&text),
                source: Box::new(other),
            },
            other => Error::Store(other),
        }
    }
}

impl From<object_store::Error> for Error {
    /// [`Error::from_store`] with the store unnamed.
    fn from(e: object_store::Error) -> Self {
        Error::from_store(e, "the object store")
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn store_errors_never_print_credentials_in_urls() {
        let secret = "https://alice:hunter2@example.com/bucket/x?X-Amz-Signature=deadbeef";
        let errors = [
            Error::from(object_store::Error::Generic {
                store: "S3",
                source: format!("request to {secret} failed").into(),
            }),
            Error::from(object_store::Error::PermissionDenied {
                path: secret.into(),
                source: format!("403 from {secret}").into(),
            }),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(
                !text.contains("hunter2") && !text.contains("deadbeef"),
                "{text}"
            );
            assert!(text.contains("example.com/bucket/x"), "{text}");
        }
    }

    #[test]
    fn store_errors_have_one_mapping_that_keeps_the_source() {
        use std::error::Error as _;
        // A conditional create answered 412 lost the race, as one answered 409 did.
        for e in [
            object_store::Error::Precondition {
                path: "v/1.manifest".into(),
                source: "412".into(),
            },
            object_store::Error::AlreadyExists {
                path: "v/1.manifest".into(),
                source: "409".into(),
            },
        ] {
            let e = Error::from_store(e, "s3://b/p");
            assert!(
                matches!(&e, Error::AlreadyExists(p) if p == "v/1.manifest"),
                "{e}"
            );
        }
        let e = Error::from(object_store::Error::Unauthenticated {
            path: "x".into(),
            source: "bad token".into(),
        });
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert_eq!(
            e.source().unwrap().to_string(),
            "The operation lacked valid authentication credentials for path x: bad token"
        );
    }

    #[test]
    fn every_variant_has_its_kind() {
        use super::ErrorKind;
        let store = || object_store::Error::NotImplemented {
            operation: "x".into(),
            implementer: "y".into(),
        };
        let all = [
            Error::RuntimeNotFound {
                message: "".into(),
                tried: "".into(),
            },
            Error::ProviderUnavailable {
                provider: "".into(),
                reason: "".into(),
            },
            Error::InvalidModel {
                source_name: None,
                reason: "".into(),
            },
            Error::InvalidInput("".into()),
            Error::Runtime("".into()),
            Error::WrongKey { what: "".into() },
            Error::Integrity {
                what: "".into(),
                reason: "".into(),
            },
            Error::UnsupportedVersion {
                what: "".into(),
                found: 2,
                supported: 1,
            },
            Error::KeyRequired("".into()),
            Error::Schema("".into()),
            Error::IndexOutOfRange { index: 1, len: 0 },
            Error::NotFound {
                what: "".into(),
                hint: None,
            },
            Error::AlreadyExists("".into()),
            Error::InvalidArgument("".into()),
            Error::PermissionDenied {
                what: "".into(),
                reason: "".into(),
                source: Box::new(store()),
            },
            Error::Unreachable {
                what: "".into(),
                reason: "".into(),
                source: Box::new(store()),
            },
            Error::Rollback {
                what: "".into(),
                seen: 2,
                latest: 1,
                marks: "".into(),
                available: vec![1],
            },
            Error::ReadOnly("".into()),
            Error::Store(store()),
            Error::io("x", std::io::Error::other("y")),
        ];
        let kinds: Vec<ErrorKind> = all.iter().map(Error::kind).collect();
        assert_eq!(kinds, ErrorKind::ALL);
    }
}
