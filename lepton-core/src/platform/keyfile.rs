//! Where a registry's key comes from when none is passed, and the key file.
//!
//! Registries are encrypted by default: storing in clear is an explicit choice
//! ([`PlatformOptions::encrypt`](super::PlatformOptions::encrypt) = `Some(false)`). The key is, in
//! order: the one passed, else `$LEPTON_KEY` (64 hex digits or 44 base64 characters), else the
//! key file `<lepton home>/key` (see [`key_file_path`]). The local default registry creates that
//! file (mode 0600) on its first push when none of them exists; any other registry refuses to
//! push without a key ([`Error::KeyRequired`] starting with [`PUSH_NEEDS_KEY`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::crypto::Key;
use crate::{Error, Result};

/// The environment variable a key is read from when none is passed.
pub const KEY_ENV: &str = "LEPTON_KEY";

/// Starts the message of a push refused for want of a key (no key passed, none in
/// [`KEY_ENV`], no key file) without an explicit choice of plaintext. Bindings add how a key is
/// given, or plaintext chosen, in their language.
pub const PUSH_NEEDS_KEY: &str = "pushing needs a key";

/// Where a key came from (explicit keys are held to stricter reads: see
/// [`super::Platform::read_key`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Passed by the caller.
    Given,
    /// Read from [`KEY_ENV`].
    Env,
    /// Read from (or created as) this key file.
    File(PathBuf),
}

/// The key file of this lepton home: `<lepton home>/key`.
pub fn key_file_path() -> PathBuf {
    super::lepton_home().join("key")
}

/// The key from [`KEY_ENV`], else from the key file, else `None`. A variable or file that holds
/// no valid key is an error (never silently ignored).
pub fn ambient_key() -> Result<Option<(Key, KeyOrigin)>> {
    if std::env::var(KEY_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        return Ok(Some((Key::from_env(KEY_ENV)?, KeyOrigin::Env)));
    }
    let path = key_file_path();
    match std::fs::metadata(&path) {
        Ok(meta) => {
            warn_if_shared(&path, &meta);
            Ok(Some((Key::from_file(&path)?, KeyOrigin::File(path))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Why the ambient key ([`ambient_key`]) cannot be used, read again: the error of `$LEPTON_KEY`
/// or of the key file, which names its source. `None` when it can be read now.
pub fn ambient_key_error() -> Option<Error> {
    ambient_key().err()
}

impl super::Platform {
    /// Why `$LEPTON_KEY` or the key file holds no usable key, when the platform was opened
    /// without a key because of that (the error names the source).
    pub(crate) fn unusable_ambient_key(&self) -> Option<Error> {
        self.key_unreadable.then(ambient_key_error).flatten()
    }

    /// The error of an operation on `what` that needs the key the platform does not have: why
    /// `$LEPTON_KEY` or the key file could not be used (naming it) when that is the reason, else
    /// [`Error::KeyRequired`] saying to open the platform with its key.
    pub(crate) fn missing_key(&self, what: &str) -> Error {
        if let Some(e) = self.unusable_ambient_key() {
            return e;
        }
        Error::KeyRequired(format!(
            "{what} is encrypted; {}",
            crate::error::NEEDS_PLATFORM_KEY
        ))
    }
}

/// Warns (a `UserWarning` in Python) when other users may read the key file, as ssh does for
/// private keys; it is still used.
fn warn_if_shared(path: &Path, meta: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                user_warning = true,
                "the key file {} is readable by other users (mode {mode:o}); make it private: \
                 chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
}

/// The message of a push refused for want of a key.
pub fn push_needs_key(registry: &str) -> Error {
    Error::KeyRequired(format!(
        "{PUSH_NEEDS_KEY}: registries are encrypted by default, and pushing to {registry} found \
         no key (none was given, ${KEY_ENV} is not set, and there is no key file at {}); give \
         one, or choose to store in clear explicitly",
        key_file_path().display()
    ))
}

/// A push to the local default registry that already holds data finds no key file at `path`.
pub fn key_file_missing(registry: &str, path: &Path) -> Error {
    Error::KeyRequired(format!(
        "{PUSH_NEEDS_KEY}: the registry {registry} already holds models or datasets, but there \
         is no key file at {} (and ${KEY_ENV} is not set); data encrypted under the lost key \
         can't be read with a new one. Restore the key file from your backup (or set ${KEY_ENV} to the \
         registry's key); or choose to store in clear explicitly",
        path.display()
    ))
}

/// The key in the key file at `path`, creating the file with a fresh random key (mode 0600, as
/// 64 hex digits and a newline) when there is none. Safe against a concurrent creator: the file
/// is written aside and linked into place, so a reader never sees half a key and exactly one
/// key wins.
pub fn load_or_create_key_file(path: &Path) -> Result<Key> {
    if path.exists() {
        return Key::from_file(path);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let key = Key::generate();
    let tmp = dir.join(format!(".key-{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = write_private(
        &tmp,
        format!("{}\n", hex::encode(key.as_bytes())).as_bytes(),
    );
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new key file; back it up: without it the registry's data can't be read");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Key::from_file(path),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Creates `path` readable and writable by its owner only, with `data` in it.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home").join("key");
        let a = load_or_create_key_file(&path).unwrap();
        let b = load_or_create_key_file(&path).unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim(), hex::encode(a.as_bytes()));
        // nothing left aside
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
